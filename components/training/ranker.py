"""The learned ranker in the training sweep: fitted on the silver impressions, clicks and views
(shown-and-clicked against shown-and-not-clicked, grouped by request) replayed into point-in-time
features, and judged on the last day the same two ways every kind is:

- top-k over the catalogue (`ndcg_at_10`, `coverage`, ..., what the gate compares across kinds):
  for every reader of the test day the collaborative kinds are judged on (one with clicks before
  it), the articles published by their first request of the day and not read yet are ranked, and
  the day's clicks are the relevant items; with the references every model must beat
  (`baseline_popularity_ndcg_at_10`: training clicks per article; `baseline_random_...`) on the
  same candidates;
- the news protocol on logged impressions (`news_auc`, `news_auc_by_position`, `news_mrr`, `news_ndcg_at_5`,
  `news_ndcg_at_10`): each logged list re-ranked (components.evaluation.news), beside the same
  scores of plain popularity, random and a smoothed intraday CTR counter.

The registered model is refit on every day with the same params and seed.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from components.content.vectors import ContentModel
from components.evaluation.metrics import ranking_metrics
from components.lake.catalog import read_catalog
from components.lake.silver import load_silver_frame
from components.lake.store import LakeStore
from components.lake.tombstones import erased_users
from components.models.ranker import RankerModel
from components.ranking.backtest import (
    content_and_table,
    prior_ctr,
    ranker_scores,
    run_backtest,
)
from components.ranking.features import ArticleTable, FeatureReplay, epoch_seconds
from components.ranking.train import RankerParams, choose_device, train_ranker
from components.ranking.trees import TreeEnsemble
from components.training.news import (
    flat_metrics,
    news_metrics,
    ranker_news_metrics,
    ranker_table,
    reference_scores,
)

K = 10
KIND = "ranker"
MIN_TEST_IMPRESSIONS = 500
# The ranker's sweep params: the trees' (RankerParams), where to train, and how much history.
DEFAULTS: dict[str, Any] = {**asdict(RankerParams()), "device": "auto", "train_days": 7}
# Candidates of the top-k evaluation: articles at most this old at the reader's first request.
CANDIDATE_MAX_AGE_H = 72.0
EVENT_COLUMNS = ["type", "user_id", "article_id", "ts", "request_id", "position", "received_at"]


class NotEnoughDataError(ValueError):
    """The lake cannot teach or judge the ranker (no catalogue, no logged impressions with
    request ids and positions, no list with a click and a non-click, no returning reader on the
    test day): the sweep skips the candidate with this reason and the other kinds compete."""


@dataclass
class RankerData:
    """What the ranker learns from: the events of the snapshot's dates in time order (erased
    readers left out) and the catalogue's articles."""

    events: list[dict[str, Any]]
    articles: list[dict[str, Any]]
    dates: list[str]

    @property
    def test_day(self) -> str:
        """The newest date with at least MIN_TEST_IMPRESSIONS impressions (the newest partition
        may hold only the first minutes of today); the newest date when none has."""
        counts = Counter(
            datetime.fromtimestamp(epoch_seconds(e["ts"]), UTC).date().isoformat()
            for e in self.events
            if e["type"] == "impression"
        )
        return next((d for d in reversed(self.dates) if counts[d] >= MIN_TEST_IMPRESSIONS), self.dates[-1])

    @property
    def end(self) -> float:
        """The end of the newest date."""
        return datetime.strptime(self.dates[-1], "%Y-%m-%d").replace(tzinfo=UTC).timestamp() + 86_400


def load_ranker_data(store: LakeStore, dates: Sequence[str]) -> RankerData:
    """The events and the catalogue; NotEnoughDataError without a catalogue or impressions."""
    from components.training.train import drop_erased_events

    frame, _ = load_silver_frame(store, list(dates), EVENT_COLUMNS)
    frame, _ = drop_erased_events(frame, erased_users(store))
    frame = frame[frame["type"].isin(["impression", "click", "view"])]
    frame = frame.sort_values("ts", kind="stable").drop(columns=["received_at"])
    events = frame.astype(object).where(frame.notna(), None).to_dict("records")
    if not any(e["type"] == "impression" and e.get("request_id") for e in events):
        raise NotEnoughDataError(f"ranker: silver {list(dates)} holds no impression with a request_id")
    try:
        catalogue = read_catalog(store)
    except FileNotFoundError as exc:
        raise NotEnoughDataError(f"ranker: no catalogue in the lake ({exc})") from exc
    articles = [
        row for row in catalogue.to_pylist() if row.get("published_at") is not None and row.get("section")
    ]
    if not articles:
        raise NotEnoughDataError("ranker: the lake's catalogue has no published article with a section")
    return RankerData(events, articles, sorted(dates))


def ranker_params(params: Mapping[str, Any]) -> tuple[RankerParams, str, int]:
    unknown = set(params) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown ranker parameter(s) {sorted(unknown)} (known: {sorted(DEFAULTS)})")
    merged = {**DEFAULTS, **params}
    device, train_days = str(merged.pop("device")), int(merged.pop("train_days"))
    return RankerParams(**merged), device, train_days


@dataclass(frozen=True)
class RankerEvaluation:
    metrics: dict[str, float]
    cutoff: str
    train_rows: int
    train_seconds: float
    details: dict[str, Any] = field(default_factory=dict)


def evaluate_ranker(
    data: RankerData,
    params: Mapping[str, Any],
    *,
    seed: int = 42,
    catalogue_size: int | None = None,
    test_day: str | None = None,
) -> RankerEvaluation:
    """Train on the days before the test day (default `data.test_day`), judge on it (see the
    module's docstring). `catalogue_size` is coverage's denominator (default: the articles the
    events name, as the collaborative kinds count it). Raises NotEnoughDataError when the data
    cannot support it."""
    ranker_params(params)  # a wrong parameter is an error, not a skip
    try:
        return _evaluate_ranker(
            data, params, seed=seed, catalogue_size=catalogue_size, test_day=test_day or data.test_day
        )
    except NotEnoughDataError:
        raise
    except ValueError as exc:
        raise NotEnoughDataError(f"ranker: {exc}") from exc


def _evaluate_ranker(
    data: RankerData, params: Mapping[str, Any], *, seed: int, catalogue_size: int | None, test_day: str
) -> RankerEvaluation:
    tree_params, device, train_days = ranker_params(params)
    tree_params = RankerParams(**{**asdict(tree_params), "seed": seed})
    test_start = datetime.strptime(test_day, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()
    _, table = content_and_table(data.articles, fit_before=test_start)
    probes = top_k_probes(data.events, table, test_start)
    started = time.perf_counter()
    backtest = run_backtest(
        data.events,
        table,
        test_start=test_start,
        train_days=train_days,
        seed=seed,
        params=tree_params,
        device=choose_device(device),
        probes=probes,
    )
    seconds = time.perf_counter() - started
    trees = TreeEnsemble.from_xgboost_json(json.loads(backtest.booster.save_raw(raw_format="json").decode()))
    if catalogue_size is None:
        catalogue_size = len({str(e["article_id"]) for e in data.events})
    metrics = top_k_metrics(data, backtest.replay, trees, test_start, catalogue_size, seed=seed)
    # The news protocol: the ranker and the news baselines as the backtest scored them (its
    # recency-popularity as `recency_popularity`), then the gate's references on the same lists.
    metrics.update(flat_metrics(backtest.report, {"ranker": "news", "popularity": "news_recency_popularity"}))
    references = reference_scores(data.events, backtest.test, table, test_start, seed)
    ranked = ranker_scores(backtest.booster, backtest.test)
    metrics.update(news_metrics({"model": ranked, **references}, backtest.test))
    metrics["unseen_share"] = backtest.unseen_share
    metrics["train_seconds"] = seconds
    cutoff = datetime.fromtimestamp(test_start, UTC).isoformat()
    return RankerEvaluation(metrics, cutoff, len(backtest.train.article), seconds)


def top_k_probes(
    events: Sequence[Mapping[str, Any]], table: ArticleTable, test_start: float
) -> dict[str, tuple[float, np.ndarray]]:
    """The top-k evaluation's readers (a click before the test day) and their candidates: the
    articles at most CANDIDATE_MAX_AGE_H old at the test day's start, or published during it."""
    clicked_before = {
        str(e["user_id"])
        for e in events
        if e["type"] == "click"
        and epoch_seconds(e["ts"]) < test_start
        and str(e["article_id"]) in table.index
    }
    recent = np.flatnonzero(
        (table.published_s >= test_start - CANDIDATE_MAX_AGE_H * 3_600)
        & (table.published_s < test_start + 86_400)
    )
    return {user: (test_start, recent) for user in clicked_before}


def judge_registered_ranker(
    model: RankerModel, data: RankerData, test_start: float, *, catalogue_size: int, seed: int
) -> dict[str, float]:
    """A registered ranker (the champion) on a challenger's test day, both ways the challenger is
    judged (the news protocol and top-k over the catalogue, coverage included), with its own
    content model and prior: the gate then compares like with like, guardrails too."""
    table = ranker_table(model, data.articles)
    replay = FeatureReplay(
        table, prior_ctr=model.prior_ctr, probes=top_k_probes(data.events, table, test_start)
    )
    replay.extend(data.events)
    metrics = ranker_news_metrics(model, replay.result(), data.events, table, test_start, seed=seed)
    with contextlib.suppress(ValueError):  # no reader to judge top-k on: the news metrics alone
        metrics.update(top_k_metrics(data, replay, model.trees, test_start, catalogue_size, seed=seed))
    return metrics


def top_k_metrics(
    data: RankerData,
    replay: FeatureReplay,
    trees: TreeEnsemble,
    test_start: float,
    catalogue_size: int,
    *,
    seed: int,
) -> dict[str, float]:
    """Top-k of the ranker and the two references over each probed reader's candidates."""
    table = replay.table
    relevant: dict[str, set[str]] = {}
    train_clicks = np.zeros(len(table.ids))
    for event in data.events:
        if event["type"] != "click":
            continue
        row = table.index.get(str(event["article_id"]))
        if row is None:
            continue
        at = epoch_seconds(event["ts"])
        if at < test_start:
            train_clicks[row] += 1
        elif at < test_start + 86_400:
            relevant.setdefault(str(event["user_id"]), set()).add(table.ids[row])
    users = [u for u in replay.probed if u in relevant and len(replay.probed[u][1]) >= K]
    if not users:
        raise ValueError("no reader with clicks before the test day clicked on it: need more days of data")
    rng = np.random.default_rng(seed)
    recs: dict[str, dict[str, list[str]]] = {"model": {}, "popularity": {}, "random": {}}
    timings = []
    for user in users:
        _, candidates, features = replay.probed[user]
        started = time.perf_counter()
        scores = trees.predict_margin(features)
        timings.append((time.perf_counter() - started) * 1_000)
        for name, values in (
            ("model", scores),
            ("popularity", train_clicks[candidates]),
            ("random", rng.random(len(candidates))),
        ):
            top = np.lexsort((candidates, -values))[:K]
            recs[name][user] = [table.ids[r] for r in candidates[top]]
    metrics = ranking_metrics(recs["model"], relevant, K, catalogue_size=catalogue_size).as_dict()
    out = {k: float(v) for k, v in metrics.items() if k != "k"}
    for name in ("popularity", "random"):
        out[f"baseline_{name}_ndcg_at_{K}"] = float(ranking_metrics(recs[name], relevant, K).ndcg)
    out["recommend_p95_ms"] = float(np.percentile(timings, 95))
    out["test_users"] = float(len(users))
    out["test_clicks"] = float(sum(len(relevant[u]) for u in users))
    return out


def fit_ranker(data: RankerData, params: Mapping[str, Any], *, seed: int = 42) -> RankerModel:
    """The ranker trained on every day of `data` (what gets registered)."""
    tree_params, device, _ = ranker_params(params)
    tree_params = RankerParams(**{**asdict(tree_params), "seed": seed})
    end = data.end
    content, table = content_and_table(data.articles, fit_before=end)
    ctr = prior_ctr(data.events, end)
    replay = FeatureReplay(table, prior_ctr=ctr)
    replay.extend(data.events)
    booster = train_ranker(replay.result(), tree_params, device=choose_device(device))
    return ranker_model(
        booster, content, prior_ctr=ctr, n_sections=table.n_sections, params={**DEFAULTS, **params}
    )


def ranker_model(
    booster: Any,
    content: ContentModel | None,
    *,
    prior_ctr: float,
    n_sections: int,
    params: Mapping[str, Any],
) -> RankerModel:
    """The model kind around trained trees (XGBoost's JSON) and the content model."""
    return RankerModel(
        trees_json=booster.save_raw(raw_format="json").decode(),
        content=content,
        prior_ctr=prior_ctr,
        n_sections=n_sections,
        user_ids=[],
        item_ids=[],
        seen_indptr=np.zeros(1, dtype=np.int64),
        seen_indices=np.zeros(0, dtype=np.int32),
        params=dict(params),
    )


__all__ = [
    "DEFAULTS",
    "KIND",
    "NotEnoughDataError",
    "RankerData",
    "evaluate_ranker",
    "judge_registered_ranker",
    "fit_ranker",
    "load_ranker_data",
]
