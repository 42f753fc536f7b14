"""The backtest command over a real (local) lake: bronze, silver and catalogue built from
simulated traffic the way production builds them."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from components.lake import LakeStore
from components.simulator import WorldConfig
from components.testing.silver_lake import build_simulated_lake
from pipelines.backtest.main import main


def test_backtest_on_the_lakes_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = LakeStore(str(tmp_path / "lake"))
    dates = build_simulated_lake(
        store,
        WorldConfig(
            seed=4, start=datetime(2026, 11, 10, tzinfo=UTC), days=4, users=1_500, articles_per_day=60
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
        assert set(metrics) == {"auc", "mrr", "ndcg@5", "ndcg@10"}
        assert 0.0 <= metrics["auc"] <= 1.0
    # the learned ranker is better than chance and than ranking by popularity on the same lists
    assert models["ranker"]["auc"] > models["random"]["auc"] + 0.05
    assert models["ranker"]["auc"] > models["popularity"]["auc"]
    assert 0.0 < summary["unseen_share"] < 1.0 and summary["unknown_articles"] == 0

    # a day without silver, or too few days, is a one-line error naming the option
    assert main(["--date", "2020-01-01"]) == 2
    assert "--date: no silver partition for 2020-01-01" in capsys.readouterr().err
    assert main(["--train-days", "0"]) == 2
    assert "--train-days: must be at least 1" in capsys.readouterr().err


def test_an_empty_lake_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RECO_HOME", str(tmp_path / "reco"))
    monkeypatch.setenv("RECO_LAKE__ROOT", str(tmp_path / "empty-lake"))
    assert main([]) == 2
    assert "no silver partitions in the lake" in capsys.readouterr().err
