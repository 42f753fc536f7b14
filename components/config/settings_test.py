from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from components.config import Profile, Settings, load_settings
from components.config.settings import UnknownSettingError, is_not_setting, setting_names


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
    with pytest.raises(UnknownSettingError) as info:
        load_settings()
    assert info.value.unknown == [("RECO_KAFKA__BOOTSTRAP_SERVER", "RECO_KAFKA__BOOTSTRAP_SERVERS")]


@pytest.mark.parametrize(
    ("variable", "meant"),
    [
        ("RECO_SERVNG__PORT", "RECO_SERVING__PORT"),  # a misspelt section
        ("RECO_SERVING__PROT", "RECO_SERVING__PORT"),  # a misspelt field
        ("RECO_SERVING_PORT", "RECO_SERVING__PORT"),  # one underscore where two belong
        ("RECO_EXPLORATION_SHARE", "RECO_EXPLORATION__SHARE"),
        ("RECO_PROFIL", "RECO_PROFILE"),
        ("reco_servng__port", "RECO_SERVING__PORT"),  # read case-insensitively, so checked so too
    ],
)
def test_unknown_variable_names_the_closest_setting(
    monkeypatch: pytest.MonkeyPatch, variable: str, meant: str
) -> None:
    monkeypatch.setenv(variable, "8080")
    with pytest.raises(UnknownSettingError) as info:
        load_settings()
    assert info.value.unknown == [(variable.upper(), meant)]
    message = str(info.value)
    assert f"{variable.upper()} is not a reco setting (did you mean {meant}?)" in message
    assert "the environment" in message
    # Callers that report bad settings (ValueError, like pydantic's ValidationError) report this.
    assert isinstance(info.value, ValueError)


def test_every_unknown_variable_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECO_SERVING_PORT", "1")
    monkeypatch.setenv("RECO_QQQ", "1")
    with pytest.raises(UnknownSettingError) as info:
        load_settings()
    assert info.value.unknown == [("RECO_QQQ", None), ("RECO_SERVING_PORT", "RECO_SERVING__PORT")]
    assert "RECO_QQQ is not a reco setting;" in str(info.value)


def test_variables_that_are_not_settings_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECO_TEST_SLOT", "3")  # Pants' execution slot, under RECO_TEST_*
    monkeypatch.setenv("RECO_TANSU_BINARY", "/opt/tansu")
    monkeypatch.setenv("RECO_GIT_COMMIT", "abc123")
    assert load_settings().serving.port == 8080
    assert is_not_setting("RECO_TEST_PGHOST") and not is_not_setting("RECO_TESTS")


def test_a_section_as_json_is_a_known_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECO_SERVING", '{"port": 9000}')
    assert load_settings().serving.port == 9000


def test_unknown_variable_in_a_dotenv_file_fails(tmp_path: Path) -> None:
    env_file = tmp_path / "reco.env"
    env_file.write_text("RECO_SERVING__PORT=9001\n")
    assert Settings(_env_file=env_file).serving.port == 9001  # type: ignore[call-arg]
    env_file.write_text("RECO_SERVNG__PORT=9001\n")
    expected = r"in the \.env file: RECO_SERVNG__PORT .*RECO_SERVING__PORT"
    with pytest.raises(UnknownSettingError, match=expected):
        Settings(_env_file=env_file)  # type: ignore[call-arg]


def test_setting_names_walk_every_section() -> None:
    names = setting_names()
    assert names[:2] == ["RECO_PROFILE", "RECO_HOME"]
    assert "RECO_KAFKA__BOOTSTRAP_SERVERS" in names and "RECO_FEEDBACK__METRICS_PORT" in names
    counted = 2
    for name, field in Settings.model_fields.items():
        if name not in ("profile", "home"):
            model = field.annotation
            assert isinstance(model, type) and issubclass(model, BaseModel), name
            counted += len(model.model_fields)
    assert len(names) == counted
    assert len(set(names)) == len(names)


def test_every_field_has_a_description() -> None:
    missing = [
        f"{model.__name__}.{name}"
        for model in [Settings, *(f.annotation for f in Settings.model_fields.values())]
        if isinstance(model, type) and issubclass(model, BaseModel)
        for name, field in model.model_fields.items()
        if not (field.description and field.description.strip())
    ]
    assert missing == []
