"""One typed settings object for every reco process (environment variables prefixed RECO_)."""

from components.config.settings import (
    CollectorSettings,
    FeaturesSettings,
    IngestorSettings,
    KafkaSettings,
    LakeSettings,
    MlflowSettings,
    PostgresSettings,
    Profile,
    RedisSettings,
    Settings,
    UnknownSettingError,
    load_settings,
    settings_env,
)

__all__ = [
    "CollectorSettings",
    "FeaturesSettings",
    "IngestorSettings",
    "KafkaSettings",
    "LakeSettings",
    "MlflowSettings",
    "PostgresSettings",
    "Profile",
    "RedisSettings",
    "Settings",
    "UnknownSettingError",
    "load_settings",
    "settings_env",
]
