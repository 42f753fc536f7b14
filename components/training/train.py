"""Training on the lake's silver events.

Positive interactions are clicks. The evaluated model is fit on the events before the last
day (UTC) and judged on that day's clicks of users it knows: no event from the test day leaks
into its training. The model that is registered is then refit on every day, with the same
kind, params and seed, so tomorrow's traffic is served by a model that saw today.

Erased readers (components/lake/tombstones.py) are left out of every snapshot: silver
partitions built before an erasure still hold their events until they are rebuilt
(`pipelines/erasure/main.py apply`), and a training run must not wait for that.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from components.evaluation.metrics import ranking_metrics
from components.evaluation.splits import time_split
from components.events.schema import POSITIVE_TYPES
from components.lake.layout import SILVER
from components.lake.silver import load_silver_frame, silver_dates
from components.lake.store import LakeStore
from components.lake.tombstones import Erased, erased_rows, erased_users, user_hash
from components.models.base import Recommender
from components.models.fit import Interactions, ModelSizeError, build_interactions, fit_model
from components.models.ranker import RankerModel
from components.registry.gate import quality_metric
from components.training.news import judge_on_lists
from components.training.ranker import KIND as RANKER
from components.training.ranker import (
    NotEnoughDataError,
    RankerData,
    evaluate_ranker,
    fit_ranker,
    judge_registered_ranker,
    load_ranker_data,
)

K = 10
LATENCY_SAMPLE = 200
# The test day of every kind is the newest date with at least this many clicks.
MIN_TEST_CLICKS = 50
# What a sweep skips a candidate for (recorded with the reason) rather than failing the run.
SKIPPABLE = (ModelSizeError, NotEnoughDataError)


@dataclass(frozen=True)
class Candidate:
    kind: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        inner = ",".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.kind}({inner})"


@dataclass(frozen=True)
class Snapshot:
    """The interactions of some silver dates, and their content hashes (the lineage)."""

    interactions: pd.DataFrame  # user_id, article_id, ts
    silver_hashes: dict[str, str]
    catalogue_size: int
    # Erased readers whose events the partitions still held and the snapshot left out:
    # sha256 of the reader id -> events dropped (never the raw id).
    erased: dict[str, int] = field(default_factory=dict)
    # Where the snapshot was read from: the ranker reads the same dates' impressions and views
    # and the catalogue (loaded once, on first use).
    store: LakeStore | None = field(default=None, repr=False, compare=False)
    _ranker_data: list[RankerData] = field(default_factory=list, repr=False, compare=False)

    @property
    def dates(self) -> list[str]:
        return sorted(self.silver_hashes)

    def ranker_data(self) -> RankerData:
        if not self._ranker_data:
            if self.store is None:
                raise ValueError("this snapshot was not read from a lake: the ranker needs its events")
            self._ranker_data.append(load_ranker_data(self.store, self.dates))
        return self._ranker_data[0]

    @property
    def test_day(self) -> str:
        """The day every kind is judged on: the newest date with at least MIN_TEST_CLICKS clicks
        (the newest partition may hold only the first minutes of today), else the newest."""
        days = pd.to_datetime(self.interactions["ts"], utc=True).dt.strftime("%Y-%m-%d")
        counts = days.value_counts()
        newest = str(days.max())
        return next(
            (d for d in sorted(counts.index, reverse=True) if counts[d] >= MIN_TEST_CLICKS and d <= newest),
            newest,
        )

    def judged(self) -> pd.DataFrame:
        """The interactions up to the end of the test day (what a time split divides)."""
        end = pd.Timestamp(self.test_day, tz="UTC") + pd.Timedelta(days=1)
        return self.interactions[pd.to_datetime(self.interactions["ts"], utc=True) < end]

    def judge_registered(self, model: Recommender, *, seed: int) -> dict[str, float]:
        """A registered model (the champion) on the same test day's lists the candidates are
        judged on; nothing when the lake cannot support the news protocol."""
        test_start = pd.Timestamp(self.test_day, tz="UTC").timestamp()
        try:
            data = self.ranker_data()
            if isinstance(model, RankerModel):  # coverage and latency on this split too
                return judge_registered_ranker(
                    model, data, test_start, catalogue_size=self.catalogue_size, seed=seed
                )
            return judge_on_lists(model, data.events, data.articles, test_start, seed=seed)
        except ValueError:
            return {}

    def news_metrics(self, model: Recommender, test_start: float, *, seed: int) -> dict[str, float]:
        """The model on the test day's logged lists, as the ranker is judged (training/news.py);
        nothing when the lake holds no logged impressions or no catalogue to judge on."""
        try:
            data = self.ranker_data()
            return judge_on_lists(model, data.events, data.articles, test_start, seed=seed)
        except ValueError:  # clicks only (NotEnoughDataError), or no returning reader's list
            return {}

    @property
    def users(self) -> set[str]:
        return {str(u) for u in self.interactions["user_id"].unique()}


def drop_erased_events(events: pd.DataFrame, erased: Erased) -> tuple[pd.DataFrame, dict[str, int]]:
    """`events` (silver columns, with `received_at`) without the erased readers' events
    received before their erasure; and the events dropped per hashed reader id."""
    if not erased or events.empty:
        return events, {}
    mask = erased_rows(pa.Table.from_pandas(events[["user_id", "received_at"]], preserve_index=False), erased)
    if not mask.any():
        return events, {}
    dropped = {user_hash(str(u)): int(n) for u, n in events.loc[mask, "user_id"].value_counts().items()}
    return events.loc[~mask].reset_index(drop=True), dict(sorted(dropped.items()))


def load_snapshot(store: LakeStore, dates: Sequence[str] | None = None) -> Snapshot:
    """The clicks of the silver partitions of `dates` (all by default), erased readers left out."""
    dates = list(dates) if dates is not None else silver_dates(store)
    if not dates:
        raise FileNotFoundError(f"no silver partitions under {store.uri(SILVER)}: build silver first")
    events, hashes = load_silver_frame(store, dates, ["type", "user_id", "article_id", "ts", "received_at"])
    events, erased = drop_erased_events(events, erased_users(store))
    catalogue_size = int(events["article_id"].nunique()) if len(events) else 0
    clicks = events[events["type"].isin(POSITIVE_TYPES)][["user_id", "article_id", "ts"]].reset_index(
        drop=True
    )
    if clicks.empty:
        raise ValueError(f"silver dates {dates} hold no {sorted(POSITIVE_TYPES)} events to train on")
    return Snapshot(
        interactions=clicks, silver_hashes=hashes, catalogue_size=catalogue_size, erased=erased, store=store
    )


def _to_matrix(frame: pd.DataFrame) -> Interactions:
    return build_interactions(frame, user_col="user_id", item_col="article_id", ts_col="ts")


def evaluate(
    model: Recommender, data: Interactions, test: pd.DataFrame, *, catalogue_size: int, seed: int = 42
) -> dict[str, float]:
    """Ranking metrics at K on `test` clicks of users the model knows, plus beyond-accuracy
    metrics and the p95 latency of single `recommend` calls on a sample of users."""
    relevant = test.groupby("user_id")["article_id"].agg(set).to_dict()
    users = [u for u in relevant if u in model.user_index]
    if not users:
        raise ValueError("no test user has training history: need more days of data")
    rows = np.array([model.user_index[u] for u in users])
    top = model.recommend_rows(rows, K)
    recommendations = {u: [str(a) for a in model.item_ids[r]] for u, r in zip(users, top, strict=True)}
    popularity = np.asarray((data.matrix > 0).sum(axis=0)).ravel() / max(data.shape[0], 1)
    metrics = ranking_metrics(
        recommendations,
        relevant,
        K,
        catalogue_size=catalogue_size,
        item_popularity=dict(zip(data.item_ids, popularity, strict=True)),
    ).as_dict()
    metrics.update(baseline_ndcg(model, data, users, relevant, seed=seed))
    sample = np.random.default_rng(seed).choice(users, size=min(LATENCY_SAMPLE, len(users)), replace=False)
    timings = []
    for user in sample:
        started = time.perf_counter()
        model.recommend(str(user), K)
        timings.append((time.perf_counter() - started) * 1000.0)
    metrics["recommend_p95_ms"] = float(np.percentile(timings, 95))
    metrics["test_users"] = float(len(users))
    metrics["test_clicks"] = float(len(test))
    return {k: float(v) for k, v in metrics.items() if k != "k"}


def baseline_ndcg(
    model: Recommender,
    data: Interactions,
    users: Sequence[str],
    relevant: Mapping[str, set[str]],
    *,
    seed: int,
) -> dict[str, float]:
    """NDCG@K of the two references every model must beat, on the same users and split
    (`components.registry.gate`): plain popularity (training clicks per item, no recency) and
    random items; both, like the model, never recommend what the user already read."""
    counts = np.asarray((data.matrix > 0).sum(axis=0)).ravel().astype(float)
    rng = np.random.default_rng(seed)
    popular: dict[str, list[str]] = {}
    random: dict[str, list[str]] = {}
    for user in users:
        seen = model.seen(model.user_index[user])
        for scores, out in ((counts.copy(), popular), (rng.random(len(counts)), random)):
            scores[seen] = -np.inf
            top = np.argpartition(-scores, min(K, len(scores) - 1))[:K]
            top = top[np.argsort(-scores[top], kind="stable")]
            out[user] = [str(a) for a in model.item_ids[top]]
    return {
        f"baseline_{name}_ndcg_at_{K}": float(ranking_metrics(recs, relevant, K).ndcg)
        for name, recs in (("popularity", popular), ("random", random))
    }


@dataclass(frozen=True)
class Evaluated:
    candidate: Candidate
    metrics: dict[str, float]
    cutoff: str
    train_seconds: float
    train_rows: int


def evaluate_candidate(
    snapshot: Snapshot, candidate: Candidate, *, seed: int = 42, test_days: int = 1
) -> Evaluated:
    if candidate.kind == RANKER:  # learns from impressions, judged on the last day (training/ranker.py)
        judged = evaluate_ranker(
            snapshot.ranker_data(),
            candidate.params,
            seed=seed,
            catalogue_size=snapshot.catalogue_size,
            test_day=snapshot.test_day,
        )
        return Evaluated(candidate, judged.metrics, judged.cutoff, judged.train_seconds, judged.train_rows)
    train, test, cutoff = time_split(snapshot.judged(), test_days=test_days)
    data = _to_matrix(train)
    started = time.perf_counter()
    model = fit_model(candidate.kind, data, candidate.params, seed=seed)
    seconds = time.perf_counter() - started
    metrics = evaluate(model, data, test, catalogue_size=snapshot.catalogue_size, seed=seed)
    metrics.update(snapshot.news_metrics(model, cutoff.timestamp(), seed=seed))
    metrics["train_seconds"] = seconds
    return Evaluated(candidate, metrics, cutoff.isoformat(), seconds, len(train))


def refit(snapshot: Snapshot, candidate: Candidate, *, seed: int = 42) -> Recommender:
    """The candidate fit on every interaction of the snapshot (what gets registered)."""
    if candidate.kind == RANKER:
        return fit_ranker(snapshot.ranker_data(), candidate.params, seed=seed)
    return fit_model(candidate.kind, _to_matrix(snapshot.interactions), candidate.params, seed=seed)


def best_of(results: Sequence[Evaluated]) -> Evaluated:
    """The best by the gate's quality metric (news AUC by position on the logged lists when every
    candidate has it, else NDCG@10): the sweep picks what the gate would judge best."""
    if not results:
        raise ValueError("no candidate was evaluated")
    metric, _ = quality_metric(*(r.metrics for r in results))
    return max(results, key=lambda r: r.metrics[metric])


def parse_grid(spec: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[Candidate]:
    """{"als": [{"factors": 32}, {"factors": 64}], "ease": [{}]} -> candidates."""
    return [Candidate(kind, dict(params)) for kind, options in spec.items() for params in (options or [{}])]
