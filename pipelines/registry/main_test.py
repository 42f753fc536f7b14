"""The command lines end to end: train and register from a lake, then lineage and reproduce."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from components.lake import LakeStore
from components.lake.silver import read_manifest
from components.simulator import WorldConfig
from components.testing.services import MlflowStore, RedisNamespace
from components.testing.silver_lake import build_simulated_lake
from pipelines.registry.main import main as registry_main
from pipelines.train.main import main as train_main


def test_train_then_lineage_then_reproduce(
    mlflow_tracking: MlflowStore,
    redis_ns: RedisNamespace,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = LakeStore(str(tmp_path / "lake"))
    dates = build_simulated_lake(
        store,
        WorldConfig(seed=9, start=datetime(2026, 11, 10, tzinfo=UTC), days=3, users=800, articles_per_day=20),
    )
    monkeypatch.setenv("RECO_HOME", str(tmp_path / "reco"))
    monkeypatch.setenv("RECO_LAKE__ROOT", store.base)
    monkeypatch.setenv("RECO_MLFLOW__TRACKING_URI", mlflow_tracking.tracking_uri)
    monkeypatch.setenv("RECO_MLFLOW__ARTIFACT_ROOT", str(mlflow_tracking.artifact_root))

    grid = json.dumps({"ease": [{"l2": 20.0}], "popularity": [{}], "ranker": [{"n_estimators": 40}]})
    assert train_main(["--grid", grid, "--flow-run-id", "DailyFlow/42"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["model_version"] == "1" and summary["gate"] == "promoted", summary
    assert set(summary["candidates"]) == {"ease(l2=20.0)", "popularity()", "ranker(n_estimators=40)"}

    assert registry_main(["lineage", "1"]) == 0
    lineage = json.loads(capsys.readouterr().out)
    assert lineage["silver_hashes"] == {dt: read_manifest(store, dt)["content_hash"] for dt in dates}
    assert lineage["flow_run_id"] == "DailyFlow/42" and "champion" in lineage["aliases"]

    assert registry_main(["reproduce", "1"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["matched"], report["reason"]
    assert round(report["reproduced"]["ndcg_at_10"], 4) == summary["ndcg_at_10"]

    # Rolling back needs an earlier champion; the error says so instead of a traceback.
    monkeypatch.setenv("RECO_REDIS__URL", redis_ns.url)
    monkeypatch.setenv("RECO_REDIS__KEY_PREFIX", redis_ns.prefix)
    assert registry_main(["rollback"]) == 2
    assert "replaced no earlier champion" in capsys.readouterr().err
    assert registry_main(["promote-canary"]) == 2
    assert "no 'canary' alias" in capsys.readouterr().err

    # Errors are one line naming the problem, not a traceback.
    assert registry_main(["lineage", "99"]) == 2
    assert registry_main(["gate", "1"]) == 2
    assert "already the champion" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train_main(["--grid", "[1]"])
    assert "--grid" in capsys.readouterr().err
