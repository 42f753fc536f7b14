"""The import command line: events through a column mapping, articles, and its mistakes."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from components.lake import LakeStore
from components.lake.silver import read_manifest
from pipelines.importer.main import main

# Relative to the run: history from 40 days ago, past the live 30-day limit.
HISTORY = (datetime.now(UTC) - timedelta(days=40)).replace(hour=8, minute=0, second=0, microsecond=0)


@pytest.fixture
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LakeStore:
    monkeypatch.setenv("RECO_LAKE__ROOT", str(tmp_path / "lake"))
    return LakeStore(str(tmp_path / "lake"))


def last_json(output: str) -> dict[str, Any]:
    return dict(json.loads(output.strip().splitlines()[-1]))


def test_events_from_a_foreign_csv(
    tmp_path: Path, lake: LakeStore, capsys: pytest.CaptureFixture[str]
) -> None:
    n = 12
    table = pa.table(
        {
            "visitor": [f"v{i % 3}" for i in range(n)],
            "item": [f"a{i}" for i in range(n)],
            "when": [(HISTORY + timedelta(hours=i * 5)).isoformat() for i in range(n)],
            "slot": [str(i) for i in range(n)],
            "page": [f"p{i}" for i in range(n)],
        }
    )
    pacsv.write_csv(table, tmp_path / "export.csv")
    argv = ["events", str(tmp_path / "export.csv"), "--map", "user_id=visitor", "--map", "article_id=item"]
    argv += [
        "--map",
        "ts=when",
        "--map",
        "position=slot",
        "--map",
        "request_id=page",
        "--set",
        "type=impression",
    ]
    assert main(argv) == 0
    summary = last_json(capsys.readouterr().out)
    assert (summary["events"], summary["imported"], summary["rejected"]) == (n, n, 0)
    assert summary["durable"] is True and summary["derived_ids"] is True
    assert sum(summary["silver"].values()) == n
    assert all(read_manifest(lake, dt)["backfill"] for dt in summary["dates"])
    # Again: nothing new in silver.
    assert main(argv) == 0
    assert sum(last_json(capsys.readouterr().out)["silver"].values()) == n


def test_mistakes_exit_with_2_and_write_nothing(
    tmp_path: Path, lake: LakeStore, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "e.csv").write_text("user_id,ts\nu,2026-01-01T00:00:00Z\n")
    assert main(["events", str(tmp_path / "e.csv"), "--map", "user=visitor"]) == 2
    assert "'user' is not a field of the contract" in " ".join(capsys.readouterr().err.split())
    assert main(["events", str(tmp_path / "e.txt")]) == 2
    assert "e.txt: no such file" in " ".join(capsys.readouterr().err.split())
    assert lake.list_files("") == []


def test_articles_with_tags_as_text(
    tmp_path: Path, lake: LakeStore, capsys: pytest.CaptureFixture[str]
) -> None:
    at = HISTORY.isoformat()
    (tmp_path / "cms.csv").write_text(
        "id,title,abstract,url,section,tags,language,published_at,updated_at,status\n"
        f"a1,One,,https://n.example/a1,tech,ai;chips,en,{at},{at},published\n"
        f"a2,Two,,notaurl,tech,,en,{at},{at},published\n"
    )
    argv = ["articles", str(tmp_path / "cms.csv"), "--map", "article_id=id", "--list-separator", ";"]
    assert main(argv) == 0
    summary = last_json(capsys.readouterr().out)
    assert (summary["imported"], summary["rejected"], summary["catalog"]["rows"]) == (1, 1, 1)
