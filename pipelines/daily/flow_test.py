"""The daily flow, run by Metaflow as it runs in production (one process per step), on a
simulated lake with a real MLflow store and Redis."""

import io
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from mlflow import MlflowClient

from components.lake import LakeStore
from components.lake.silver import read_manifest, read_silver
from components.simulator import WorldConfig
from components.testing.flows import flow_process_env
from components.testing.services import MlflowStore, RedisNamespace
from components.testing.silver_lake import build_simulated_lake
from components.testing.webhook import WebhookReceiver

FLOW = Path(__file__).with_name("flow.py")
# Relative to the run (a fixed date ages past the lateness limit and the flow stops at validation).
START = (datetime.now(UTC) - timedelta(days=5)).replace(hour=0, minute=0, second=0, microsecond=0)
DATES = [(START + timedelta(days=n)).date().isoformat() for n in range(3)]
# On the lake's logged lists the gate promotes what beats plain popularity: the learned ranker.
GRID = json.dumps({"popularity": [{"half_life_hours": 6.0}], "ranker": [{"n_estimators": 40}]})


def _run_flow(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            str(FLOW),
            "--no-pylint",
            "run",
            "--run-date",
            DATES[-1],
            "--start-date",
            DATES[0],
            "--grid",
            GRID,
            *args,
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture
def flow_env(
    tmp_path: Path, mlflow_tracking: MlflowStore, redis_ns: RedisNamespace, webhook: WebhookReceiver
) -> tuple[dict[str, str], LakeStore]:
    store = LakeStore(str(tmp_path / "reco" / "lake"))
    dates = build_simulated_lake(
        store,
        WorldConfig(seed=3, start=START, days=3, users=800, articles_per_day=20),
    )
    assert dates == DATES
    env = flow_process_env(tmp_path / "reco", mlflow_tracking, redis_ns, RECO_ALERTS__WEBHOOK_URL=webhook.url)
    return env, store


def test_daily_flow_trains_registers_and_gates(
    tmp_path: Path, flow_env: tuple[dict[str, str], LakeStore]
) -> None:
    env, store = flow_env
    done = _run_flow(tmp_path, env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads(
        [line for line in done.stdout.splitlines() if '"model_version"' in line][-1].split("] ", 1)[-1]
    )
    assert (
        summary["model_version"] == "1" and summary["gate"] == "promoted" and summary["alias"] == "champion"
    )
    assert summary["silver_dates"] == DATES and summary["events"] > 0
    assert summary["drift"]["drifted"] in (True, False)  # the monitor step ran and reported
    assert store.list_files("reports/drift", "-summary.json")
    client = MlflowClient(env["RECO_MLFLOW__TRACKING_URI"])
    version = client.get_model_version_by_alias("reco-articles", "champion")
    assert version.tags["reco.flow_run_id"].startswith("DailyFlow/")
    assert version.tags["reco.flow_run_id"].count("/") == 1  # the run, not one of its tasks
    assert json.loads(version.tags["reco.silver_hashes"]) == {
        dt: read_manifest(store, dt)["content_hash"] for dt in DATES
    }
    # One child run per grid point, plus the refit, under one parent.
    assert version.run_id is not None
    run = client.get_run(version.run_id)
    runs = client.search_runs([run.info.experiment_id])
    parent = run.data.tags["mlflow.parentRunId"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent]
    assert len(children) == 3
    assert store.exists(f"reports/validation/{DATES[-1]}.json")


def test_corrupted_silver_stops_at_validation_and_registers_nothing(
    tmp_path: Path, flow_env: tuple[dict[str, str], LakeStore], webhook: WebhookReceiver
) -> None:
    env, store = flow_env
    # Corrupt an earlier day's stored silver file: ten rows appended twice (same event ids).
    dt = DATES[1]
    table = read_silver(store, dt)
    buffer = io.BytesIO()
    pq.write_table(pa.concat_tables([table, table.slice(0, 10)]), buffer)
    store.write_atomic(read_manifest(store, dt)["silver_file"], buffer.getvalue())

    # The flow rebuilds the run's days from bronze; this one is outside the backfill window.
    done = subprocess.run(
        [sys.executable, str(FLOW), "--no-pylint", "run", "--run-date", DATES[-1], "--grid", GRID],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "silver validation failed" in output and f"{dt}: silver holds" in output
    assert "expect_column_values_to_be_unique(event_id)" in output
    assert MlflowClient(env["RECO_MLFLOW__TRACKING_URI"]).search_registered_models() == []
    report = json.loads(store.read_bytes(f"reports/validation/{DATES[-1]}.json"))
    assert report["passed"] is False
    assert webhook.received and webhook.received[0]["kind"] == "flow_failed"
    assert any("/validate/" in task for task in webhook.received[0]["details"]["failed_tasks"])


def test_the_lateness_parameter_is_days_or_the_recorded_rule() -> None:
    from pipelines.daily.flow import _lateness

    assert _lateness("") is None and _lateness(" 90 ") == 90
    with pytest.raises(ValueError, match="whole number of days"):
        _lateness("ninety")
    with pytest.raises(ValueError, match="0 or more"):
        _lateness("-1")


def test_a_backfilled_history_trains_with_the_lateness_parameter(
    tmp_path: Path, mlflow_tracking: MlflowStore, redis_ns: RedisNamespace, webhook: WebhookReceiver
) -> None:
    """History of 45 days ago, imported today (a backfill: bronze received now): the flow run
    with --lateness-days 60 rebuilds and validates it by that rule and trains. At the live
    limit the same flow would stop at validation. Dates relative to the run."""
    from components.events.columns import event_columns
    from components.importer import ColumnMapping, import_events
    from components.lake.catalog import upsert_articles
    from components.simulator import TrafficGenerator, World

    store = LakeStore(str(tmp_path / "reco" / "lake"))
    config = WorldConfig(seed=3, start=START - timedelta(days=40), days=3, users=800, articles_per_day=20)
    world = World.build(config)
    upsert_articles(store, world.catalogue.articles(now=config.end))
    export = tmp_path / "history.jsonl"
    with export.open("w") as out:
        for day in TrafficGenerator(world).days():
            out.writelines(json.dumps(event) + "\n" for event in day.events)
    fields = ColumnMapping.parse([c.name for c in event_columns()])
    imported = import_events(store, [export], fields, lateness_days=60, great_expectations=False)
    assert imported.rejected == 0 and len(imported.dates) == 3
    dates = imported.dates
    env = flow_process_env(tmp_path / "reco", mlflow_tracking, redis_ns, RECO_ALERTS__WEBHOOK_URL=webhook.url)
    command = [
        sys.executable,
        str(FLOW),
        "--no-pylint",
        "run",
        "--run-date",
        dates[-1],
        "--start-date",
        dates[0],
    ]
    done = subprocess.run(
        [*command, "--grid", GRID, "--lateness-days", "60"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for dt in dates:
        manifest = read_manifest(store, dt)
        assert manifest["row_count"] > 0 and manifest["lateness_days"] == 60 and manifest["backfill"] is True
    report = json.loads(store.read_bytes(f"reports/validation/{dates[-1]}.json"))
    assert report["passed"] is True
    assert all(p["expectations"] for p in report["partitions"])  # the suite ran on each, by its rule
