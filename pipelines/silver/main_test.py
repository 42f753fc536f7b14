import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from components.lake import LakeStore
from components.testing.lake import write_bronze
from pipelines.silver.main import main


def test_builds_every_bronze_date(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RECO_LAKE__ROOT", str(tmp_path / "lake"))
    store = LakeStore(str(tmp_path / "lake"))
    values = []
    for i, day in enumerate(["2026-11-20", "2026-11-20", "2026-11-21"]):
        value = orjson.dumps(
            {
                "event_id": str(uuid.uuid4()),
                "type": "view",
                "user_id": "u",
                "article_id": "a",
                "ts": f"{day}T10:00:0{i}Z",
            }
        )
        values.append(value)
    # Received when they happened: the result holds whatever today's date.
    write_bronze(store, values, ingested_at=datetime(2026, 11, 21, 12, tzinfo=UTC))
    assert main(["--all"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["dt"], line["row_count"]) for line in lines[:-1]] == [("2026-11-20", 2), ("2026-11-21", 1)]
    assert lines[-1]["rows"] == 3 and lines[-1]["dates"] == 2


def test_missing_date_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECO_LAKE__ROOT", str(tmp_path / "lake"))
    assert main(["--date", "2026-01-01"]) == 1


def test_a_backfill_build_records_its_lateness(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from datetime import UTC, datetime, timedelta

    monkeypatch.setenv("RECO_LAKE__ROOT", str(tmp_path / "lake"))
    store = LakeStore(str(tmp_path / "lake"))
    day = datetime(2026, 11, 20, 10, tzinfo=UTC)  # received 50 days later: a backfill
    values = [
        orjson.dumps(
            {
                "event_id": str(uuid.uuid4()),
                "type": "view",
                "user_id": "u",
                "article_id": "a",
                "ts": day.isoformat(),
            }
        )
        for _ in range(3)
    ]
    write_bronze(store, values, ingested_at=day + timedelta(days=50))
    assert main(["--date", "2026-11-20", "--lateness-days", "60"]) == 0
    first = json.loads(capsys.readouterr().out.splitlines()[0])
    assert (first["row_count"], first["lateness_days"], first["backfill"]) == (3, 60, True)
    assert main(["--date", "2026-11-20"]) == 0  # the recorded rule
    assert json.loads(capsys.readouterr().out.splitlines()[0])["row_count"] == 3
    with pytest.raises(SystemExit):
        main(["--date", "2026-11-20", "--lateness-days", "-1"])
