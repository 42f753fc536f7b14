import json
from pathlib import Path

import pytest

from components.runtime.tansu import TansuBroker
from components.testing.fixtures import Topics
from pipelines.simulate.main import main


def test_writes_days_to_files_and_prints_a_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "--days",
            "2",
            "--users",
            "300",
            "--articles-per-day",
            "20",
            "--start",
            "2026-02-02",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["days"] == 2 and summary["events"] > 0
    assert (tmp_path / "events-2026-02-03.jsonl").exists()
    lines = sum(1 for p in tmp_path.glob("events-*.jsonl") for _ in p.open())
    assert lines == summary["events"]


def test_produces_to_kafka_from_settings(
    kafka_broker: TansuBroker,
    kafka_topics: Topics,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RECO_KAFKA__BOOTSTRAP_SERVERS", kafka_broker.bootstrap_servers)
    code = main(
        [
            "--days",
            "1",
            "--users",
            "200",
            "--articles-per-day",
            "20",
            "--kafka",
            "--topic",
            kafka_topics.events,
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["events"] > 0 and "out" not in summary


def test_bad_settings_exit_with_the_field_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--new-visitor-share", "1.5", "--out", str(tmp_path)]) == 2
    assert "new_visitor_share" in capsys.readouterr().err


def test_bad_date_is_refused_by_name() -> None:
    with pytest.raises(SystemExit):
        main(["--start", "yesterday"])
