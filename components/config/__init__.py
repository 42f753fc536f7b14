"""One typed settings object for every reco process (environment variables prefixed RECO_)."""

from components.config.settings import (
    CollectorSettings,
    IngestorSettings,
    KafkaSettings,
    LakeSettings,
    MlflowSettings,
    PostgresSettings,
    Profile,
    RedisSettings,
    Settings,
    load_settings,
)

__all__ = [
    "CollectorSettings",
    "IngestorSettings",
    "KafkaSettings",
    "LakeSettings",
    "MlflowSettings",
    "PostgresSettings",
    "Profile",
    "RedisSettings",
    "Settings",
    "load_settings",
]
