"""The backtest command over a real (local) lake: bronze, silver and catalogue built from
simulated traffic the way production builds them."""

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from components.lake import LakeStore
from components.lake.silver import read_silver
from components.simulator import DayTraffic, WorldConfig
from components.testing.silver_lake import build_simulated_lake, land_day
from pipelines.backtest.main import main


def test_backtest_on_the_lakes_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = LakeStore(str(tmp_path / "lake"))
    dates = build_simulated_lake(
        store,
        WorldConfig(
            seed=4,
            start=datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=6),
            days=4,
            users=1_500,
            articles_per_day=60,
        ),
    )
    monkeypatch.setenv("RECO_HOME", str(tmp_path / "reco"))
    monkeypatch.setenv("RECO_LAKE__ROOT", store.base)

    assert main(["--train-days", "3", "--device", "cpu"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["backtest"] == dates[-1] and summary["lists"] > 50
    models = summary["models"]
    assert set(models) == {"ranker", "popularity", "random", "newest", "clicks_so_far", "intraday_ctr_6h"}
    for metrics in models.values():
        assert set(metrics) == {"auc", "mrr", "ndcg@5", "ndcg@10", "auc_by_position"}
        assert 0.0 <= metrics["auc"] <= 1.0 and 0.0 <= metrics["auc_by_position"] <= 1.0
    # the learned ranker is better than chance and than ranking by popularity on the same lists
    assert models["ranker"]["auc"] > models["random"]["auc"] + 0.05
    assert models["ranker"]["auc"] > models["popularity"]["auc"]
    assert models["ranker"]["auc_by_position"] > models["random"]["auc_by_position"] + 0.05
    assert 0.0 < summary["unseen_share"] < 1.0 and summary["unknown_articles"] == 0

    # a newer partition with only a few impressions (today's first minutes) is not the default
    last = [e for e in silver_events(store, dates[-1]) if e["type"] == "impression"][:20]
    later = datetime.fromisoformat(dates[-1]).date() + timedelta(days=1)
    shifted = [
        {**e, "event_id": str(uuid.uuid4()), "ts": f"{later.isoformat()}T{str(e['ts'])[11:]}"} for e in last
    ]
    land_day(store, DayTraffic(later, shifted, 1, 0), first_offset=10_000_000)
    assert main(["--train-days", "3", "--device", "cpu"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["backtest"] == dates[-1]
    assert main(["--date", later.isoformat(), "--device", "cpu"]) == 2
    assert f"test day {later.isoformat()}: " in capsys.readouterr().err

    # a day without silver, or too few days, is a one-line error naming the option
    assert main(["--date", "2020-01-01"]) == 2
    assert "--date: no silver partition for 2020-01-01" in capsys.readouterr().err
    assert main(["--train-days", "0"]) == 2
    assert "--train-days: must be at least 1" in capsys.readouterr().err


def silver_events(store: LakeStore, dt: str) -> list[dict[str, Any]]:
    """A silver day's events as events.v1 documents (what the collector would have sent)."""
    rows = (
        read_silver(store, dt)
        .select(
            [
                "event_id",
                "type",
                "user_id",
                "article_id",
                "ts",
                "request_id",
                "position",
                "propensity",
                "model_version",
            ]
        )
        .to_pylist()
    )
    out = []
    for row in rows:
        doc = {k: v for k, v in row.items() if v is not None}
        doc["ts"] = row["ts"].isoformat(timespec="milliseconds").replace("+00:00", "Z")
        out.append(doc)
    return out


def test_an_empty_lake_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RECO_HOME", str(tmp_path / "reco"))
    monkeypatch.setenv("RECO_LAKE__ROOT", str(tmp_path / "empty-lake"))
    assert main([]) == 2
    assert "no silver partitions in the lake" in capsys.readouterr().err
