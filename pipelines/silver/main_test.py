import json
import uuid
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
    write_bronze(store, values)
    assert main(["--all"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["dt"], line["row_count"]) for line in lines[:-1]] == [("2026-11-20", 2), ("2026-11-21", 1)]
    assert lines[-1]["rows"] == 3 and lines[-1]["dates"] == 2


def test_missing_date_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECO_LAKE__ROOT", str(tmp_path / "lake"))
    assert main(["--date", "2026-01-01"]) == 1
