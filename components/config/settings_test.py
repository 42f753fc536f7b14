import pytest
from pydantic import ValidationError

from components.config import Profile, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("RECO_"):
            monkeypatch.delenv(name)


def test_local_profile_has_embedded_defaults() -> None:
    settings = load_settings()
    assert settings.profile is Profile.LOCAL
    assert settings.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert settings.lake.root == ".reco/lake"
    assert settings.mlflow.tracking_uri == "sqlite:///.reco/mlflow.db"
    assert settings.postgres.dsn is None
    assert settings.kafka.events_topic == "events.v1"
    assert settings.kafka.dead_letter_topic == "events.dlq.v1"


def test_cluster_profile_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECO_PROFILE", "cluster")
    settings = load_settings()
    assert settings.profile is Profile.CLUSTER
    assert settings.kafka.bootstrap_servers == "kafka:9092"
    assert settings.lake.root == "s3://reco-lake"
    assert settings.postgres.dsn is not None and settings.postgres.dsn.startswith("postgresql://")
    assert settings.ingestor.metrics_port == 9102
    assert settings.features.registry.startswith("postgresql+psycopg://")


def test_nested_variable_overrides_one_value_of_the_profile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RECO_PROFILE", "cluster")
    monkeypatch.setenv("RECO_KAFKA__BOOTSTRAP_SERVERS", "k1:9092,k2:9092")
    monkeypatch.setenv("RECO_KAFKA__SESSION_TIMEOUT_MS", "6000")
    settings = load_settings()
    assert settings.kafka.bootstrap_servers == "k1:9092,k2:9092"
    assert settings.kafka.session_timeout_ms == 6000
    assert settings.kafka.events_topic == "events.v1"
    assert settings.redis.url == "redis://redis:6379/0"


def test_home_moves_every_local_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECO_HOME", "/var/lib/reco")
    settings = load_settings()
    assert settings.lake.root == "/var/lib/reco/lake"
    assert settings.mlflow.tracking_uri == "sqlite:////var/lib/reco/mlflow.db"


def test_keyword_overrides_win_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECO_REDIS__KEY_PREFIX", "from-env:")
    settings = load_settings(redis={"url": "redis://127.0.0.1:6379/3", "key_prefix": "t:"})
    assert settings.redis.key_prefix == "t:"
    assert settings.redis.url.endswith("/3")


def test_bad_value_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECO_KAFKA__SESSION_TIMEOUT_MS", "10")
    with pytest.raises(ValidationError) as info:
        load_settings()
    assert info.value.errors()[0]["loc"] == ("kafka", "session_timeout_ms")


def test_unknown_profile_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECO_PROFILE", "production")
    with pytest.raises(ValidationError) as info:
        load_settings()
    assert info.value.errors()[0]["loc"] == ("profile",)


def test_misspelt_nested_variable_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECO_KAFKA__BOOTSTRAP_SERVER", "typo:9092")
    with pytest.raises(ValidationError) as info:
        load_settings()
    assert ("kafka", "bootstrap_server") in [e["loc"] for e in info.value.errors()]
