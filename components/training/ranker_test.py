"""The ranker kind end to end on simulated news, without services: trained on logged
impressions, judged by both protocols, stored without pickle, loaded back, and ranking a request
through the serving path (candidate sources, intraday signals, the trees)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from components.models import load_model, save_model
from components.models.ranker import RankerModel
from components.ranking.candidates import CANDIDATE_SOURCES
from components.ranking.features import epoch_seconds
from components.ranking.intraday import Intraday
from components.serving.catalogue import Catalogue
from components.serving.ranking import RANKER, ServingModel, rank
from components.simulator import TrafficGenerator, World, WorldConfig
from components.simulator.behaviour import UserModel
from components.training.ranker import (
    NotEnoughDataError,
    RankerData,
    evaluate_ranker,
    fit_ranker,
    ranker_params,
)
from components.training.train import SKIPPABLE

FAST = {"n_estimators": 40, "device": "cpu"}


@pytest.fixture(scope="module")
def simulated() -> tuple[World, RankerData]:
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=5)
    world = World.build(WorldConfig(seed=3, start=start, days=4, users=900))
    events: list[dict[str, Any]] = []
    for day in TrafficGenerator(world, model=UserModel(world)).days():
        events.extend(e for e in day.events if e["type"] in ("impression", "click", "view"))
    events.sort(key=lambda e: epoch_seconds(e["ts"]))
    dates = sorted({datetime.fromtimestamp(epoch_seconds(e["ts"]), UTC).date().isoformat() for e in events})
    return world, RankerData(events, world.catalogue.records(), dates[:4])


def test_params_are_checked_by_name() -> None:
    params, device, days = ranker_params({"max_depth": 3, "device": "cpu"})
    assert params.max_depth == 3 and device == "cpu" and days == 7
    with pytest.raises(ValueError, match="unknown ranker parameter"):
        ranker_params({"depth": 3})


def test_too_little_data_is_a_skip_with_the_reason(simulated: tuple[World, RankerData]) -> None:
    _, data = simulated
    clicks_only = RankerData([e for e in data.events if e["type"] != "impression"], data.articles, data.dates)
    with pytest.raises(NotEnoughDataError, match="ranker: "):
        evaluate_ranker(clicks_only, FAST)
    assert issubclass(NotEnoughDataError, SKIPPABLE)
    with pytest.raises(ValueError, match="unknown ranker parameter"):  # a typo is not a skip
        evaluate_ranker(data, {"trees": 3})


def test_evaluation_beats_the_references_on_both_protocols(simulated: tuple[World, RankerData]) -> None:
    _, data = simulated
    judged = evaluate_ranker(data, FAST, seed=1)
    m = judged.metrics
    assert m["news_auc"] > max(m["news_random_auc"], m["news_popularity_auc"]) + 0.05, m
    assert m["ndcg_at_10"] > m["baseline_random_ndcg_at_10"], m
    assert m["ndcg_at_10"] > m["baseline_popularity_ndcg_at_10"], m
    assert {"coverage", "recommend_p95_ms", "test_users"} <= set(m)
    assert judged.cutoff.startswith(data.dates[-1]) and judged.train_rows > 0


def test_the_registered_ranker_round_trips_without_pickle_and_ranks_a_request(
    simulated: tuple[World, RankerData], tmp_path: Path
) -> None:
    world, data = simulated
    model = fit_ranker(data, FAST, seed=1)
    folder = save_model(model, tmp_path / "model")
    assert {p.name for p in folder.iterdir()} >= {
        "ranker.json",
        "ranker_meta.json",
        "content.npz",
        "content.json",
        "model.json",
    }
    assert all(p.is_file() for p in folder.iterdir())  # the publication copies plain files only
    json.loads((folder / "ranker.json").read_text())  # XGBoost's own JSON format
    loaded = load_model(folder)
    assert isinstance(loaded, RankerModel) and loaded.prior_ctr == model.prior_ctr

    # The catalogue the service would hold at the end of the data, plus an article published a
    # minute ago that nobody has seen: the ranker can still propose and score it.
    end = data.end
    records: list[dict[str, Any]] = world.catalogue.records()
    reader_events = [e for e in data.events if e["type"] == "click"]
    reader = str(reader_events[-1]["user_id"])
    reads = [
        str(e["article_id"])
        for e in reversed(data.events)
        if e["user_id"] == reader and e["type"] != "impression"
    ]
    favourite = next(r for r in records if r["article_id"] == reads[0])
    fresh = {
        **favourite,
        "article_id": "brand-new",
        "published_at": datetime.fromtimestamp(end - 60, UTC).isoformat(),
    }
    rows = [r for r in records if epoch_seconds(r["published_at"]) <= end] + [fresh]
    catalogue = Catalogue.from_columns(
        [r["article_id"] for r in rows],
        [epoch_seconds(r["published_at"]) for r in rows],
        [epoch_seconds(r["expires_at"]) if r.get("expires_at") else None for r in rows],
        [r["section"] for r in rows],
        now_s=end,
        texts=[
            f"{r.get('title', '')}\n{r.get('abstract', '')}\n{' '.join(r.get('tags') or [])}" for r in rows
        ],
    )
    serving = ServingModel.bind("champion", "1", loaded, catalogue)
    buckets: dict[int, dict[str, tuple[float, float]]] = {}
    for e in data.events:
        if e["type"] in ("impression", "click"):
            bucket = buckets.setdefault(int(epoch_seconds(e["ts"]) // 3_600), {})
            old = bucket.get(str(e["article_id"]), (0.0, 0.0))
            bucket[str(e["article_id"])] = (
                old[0] + (e["type"] == "impression"),
                old[1] + (e["type"] == "click"),
            )
    intraday = Intraday.from_buckets(buckets, int(end // 3_600))
    excluded = [str(catalogue.article_ids[int(catalogue.popular_order[0])])]
    ranked = rank(
        serving, catalogue, reader, 10, exclude=excluded, recent=reads, has_features=True, now_s=end,
        intraday=intraday,
    )  # fmt: skip
    assert ranked.ranked_by == RANKER and len(ranked.article_ids) == 10 and ranked.candidates >= 10
    live = catalogue.live(end)
    assert all(live[catalogue.index[a]] for a in ranked.article_ids)
    assert not set(ranked.article_ids) & {*reads, *excluded}
    assert set(ranked.reasons) <= set(CANDIDATE_SOURCES)
    assert "content" in ranked.reasons or "sections" in ranked.reasons  # personal candidates
    assert ranked.scores == sorted(ranked.scores, reverse=True)
    # The new article is a candidate and is not scored last by default.
    articles = serving.articles
    assert articles is not None
    row = np.array([catalogue.index["brand-new"]])
    scores = loaded.trees.predict_margin(
        loaded.features(articles, row, reads=np.array([catalogue.index[a] for a in reads if a in catalogue.index]),
                        intraday=intraday.rows_of(catalogue.article_ids), now_s=end)
    )  # fmt: skip
    assert np.isfinite(scores).all()

    # A ranker that fails at scoring never fails the request: the popular list answers, and
    # says so.
    class Broken:
        def predict_margin(self, x: np.ndarray) -> np.ndarray:
            raise FloatingPointError("corrupt trees")

    loaded.trees = Broken()  # type: ignore[assignment]
    fallback = rank(
        serving, catalogue, reader, 10, exclude=excluded, recent=reads, has_features=True, now_s=end,
        intraday=intraday,
    )  # fmt: skip
    assert fallback.ranked_by == "popular" and fallback.cold_start and len(fallback.article_ids) == 10
    assert set(fallback.reasons) == {"popular"} and not set(fallback.article_ids) & {*reads, *excluded}
