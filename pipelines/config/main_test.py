"""The settings command line: `show` lists every variable with its source and masks secrets;
an unknown variable is named with its closest setting."""

import json
import os
from pathlib import Path

import pytest

from components.config.reference import settings_rows
from pipelines.config.main import main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("RECO_"):
            monkeypatch.delenv(name)


def _show(capsys: pytest.CaptureFixture[str]) -> dict[str, dict[str, str]]:
    assert main(["show", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    return {row["name"]: row for row in out["settings"]} | {"profile": out["profile"]}


def test_show_lists_every_variable_with_its_source(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RECO_PROFILE", "cluster")
    monkeypatch.setenv("RECO_SERVING__PORT", "9000")
    monkeypatch.setenv("RECO_COLLECTOR", '{"max_batch": 100}')
    shown = _show(capsys)
    assert shown.pop("profile") == "cluster"
    assert list(shown) == [row.name for row in settings_rows()]
    assert shown["RECO_SERVING__PORT"] == {"name": "RECO_SERVING__PORT", "value": "9000", "source": "env"}
    assert shown["RECO_PROFILE"]["source"] == "env"
    assert shown["RECO_KAFKA__BOOTSTRAP_SERVERS"] == {
        "name": "RECO_KAFKA__BOOTSTRAP_SERVERS",
        "value": "kafka:9092",
        "source": "profile cluster",
    }
    assert shown["RECO_KAFKA__EVENTS_TOPIC"]["source"] == "default"
    assert shown["RECO_COLLECTOR__MAX_BATCH"] == {
        "name": "RECO_COLLECTOR__MAX_BATCH",
        "value": "100",
        "source": "env (RECO_COLLECTOR)",
    }
    assert shown["RECO_MLFLOW__ARTIFACT_ROOT"]["value"] == "unset"


def test_show_masks_secrets(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RECO_SERVING__ADMIN_TOKEN", "s3cret-admin-token")
    monkeypatch.setenv("RECO_POSTGRES__DSN", "postgresql://reco:db-pass-123@db:5432/reco")
    monkeypatch.setenv("RECO_ALERTS__WEBHOOK_URL", "https://hooks.example/s3cret-admin-token")
    shown = _show(capsys)
    assert shown["RECO_SERVING__ADMIN_TOKEN"]["value"] == "***"
    assert shown["RECO_POSTGRES__DSN"]["value"] == "postgresql://reco:***@db:5432/reco"
    assert shown["RECO_ALERTS__WEBHOOK_URL"]["value"] == "https://hooks.example/***"
    assert main(["show"]) == 0
    table = capsys.readouterr().out
    assert table.startswith("profile: local\n")
    assert "s3cret" not in table and "db-pass" not in table
    assert any(line.split() == ["RECO_SERVING__ADMIN_TOKEN", "***", "env"] for line in table.splitlines())


def test_show_reports_an_unknown_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RECO_SERVNG__PORT", "9000")
    assert main(["show"]) == 2
    err = capsys.readouterr().err
    assert "RECO_SERVNG__PORT is not a reco setting (did you mean RECO_SERVING__PORT?)" in err
