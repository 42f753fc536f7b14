"""Bring your own data, end to end: a publisher's 60 days of history (a CSV export with its own
column names, no event ids, impressions without reco's model version or propensity) and its
catalogue (a Parquet export) go through the importer; the daily flow, run as in production
with no lateness option (each partition keeps the rule its backfill recorded), trains and
registers a model; importing the same files again changes no silver partition."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from mlflow import MlflowClient

from components.lake import LakeStore
from components.lake.catalog import read_catalog
from components.lake.silver import read_manifest, silver_dates
from components.simulator import TrafficGenerator, World, WorldConfig
from components.testing.flows import flow_process_env
from components.testing.services import MlflowStore, RedisNamespace

ROOT = Path(__file__).resolve().parent.parent
FLOW = ROOT / "pipelines" / "daily" / "flow.py"
IMPORTER = ROOT / "pipelines" / "importer" / "main.py"
GRID = json.dumps({"popularity": [{"half_life_hours": 12.0}], "ease": [{"l2": 100.0}]})
# The publisher's names for the contract's fields.
COLUMNS = {"type": "event_type", "user_id": "visitor_id", "article_id": "item", "ts": "timestamp",
           "request_id": "page_view", "position": "slot", "dwell_ms": "read_ms"}  # fmt: skip


def export_history(world: World, path: Path) -> int:
    """The events as a foreign system exports them: its own column names, no event id, no
    model version or propensity on impressions."""
    rows = 0
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(COLUMNS.values()))
        writer.writeheader()
        for day in TrafficGenerator(world).days():
            for event in day.events:
                writer.writerow({theirs: event.get(ours, "") for ours, theirs in COLUMNS.items()})
                rows += 1
    return rows


def export_catalogue(world: World, path: Path) -> int:
    records = world.catalogue.records()
    pq.write_table(pa.Table.from_pylist(records), path)
    return len(records)


def run(command: list[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    lines = [line for line in done.stdout.splitlines() if line.strip().endswith("}")]
    summary: dict[str, Any] = json.loads(lines[-1].split("] ", 1)[-1])
    return summary


@pytest.fixture
def env(tmp_path: Path, mlflow_tracking: MlflowStore, redis_ns: RedisNamespace) -> dict[str, str]:
    return flow_process_env(tmp_path / "reco", mlflow_tracking, redis_ns)


def test_sixty_days_of_history_train_a_model_and_a_second_import_changes_nothing(
    tmp_path: Path, env: dict[str, str]
) -> None:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    config = WorldConfig(
        seed=11, start=today - timedelta(days=61), days=60, users=300, articles_per_day=20, backlog_days=5
    )
    world = World.build(config)
    events_csv, catalogue_parquet = tmp_path / "export.csv", tmp_path / "cms.parquet"
    exported = export_history(world, events_csv)
    articles = export_catalogue(world, catalogue_parquet)
    mapping = [arg for ours, theirs in COLUMNS.items() for arg in ("--map", f"{ours}={theirs}")]
    store = LakeStore(str(tmp_path / "reco" / "lake"))

    catalogue = run([sys.executable, str(IMPORTER), "articles", str(catalogue_parquet)], env, tmp_path)
    assert read_catalog(store).num_rows == articles, catalogue
    first = run([sys.executable, str(IMPORTER), "events", str(events_csv), *mapping], env, tmp_path)
    assert first["durable"] is True and first["rejected"] == 0, first
    dates = silver_dates(store)
    # Sessions near midnight of the last day spill into the next one: 60 or 61 dates, 31-61 days old.
    assert len(dates) in (60, 61) and dates[0] == config.start.date().isoformat()
    hashes = {dt: read_manifest(store, dt)["content_hash"] for dt in dates}
    rows = sum(int(read_manifest(store, dt)["row_count"]) for dt in dates)
    assert 0 < rows <= exported  # rows alike in every identifying field are one event

    summary = run(
        [sys.executable, str(FLOW), "--no-pylint", "run", "--run-date", dates[-1], "--start-date", dates[0],
         "--grid", GRID],
        env,
        tmp_path,
    )  # fmt: skip
    assert summary["model_version"] == "1" and summary["silver_dates"] == dates, summary
    version = MlflowClient(env["RECO_MLFLOW__TRACKING_URI"]).get_model_version_by_alias(
        "reco-articles", "champion"
    )
    assert json.loads(version.tags["reco.silver_hashes"]) == hashes  # the flow's rebuild kept every partition

    again = run([sys.executable, str(IMPORTER), "events", str(events_csv), *mapping], env, tmp_path)
    assert again["durable"] is True
    assert {dt: read_manifest(store, dt)["content_hash"] for dt in silver_dates(store)} == hashes
