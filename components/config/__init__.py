"""One typed settings object for every reco process (environment variables prefixed RECO_)."""

from components.config.settings import (
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
    "KafkaSettings",
    "LakeSettings",
    "MlflowSettings",
    "PostgresSettings",
    "Profile",
    "RedisSettings",
    "Settings",
    "load_settings",
]
