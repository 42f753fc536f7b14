"""Offline ranking quality on simulated news, the way news recommenders are judged.

    ./pants run benchmarks/ranking.py [-- --days 28 --users 3000 --seed 11]

A simulated month is served by the platform's house ranking (popular and fresh, sampled, every
propensity logged). Every model learns from the days before the last (components.ranking.backtest,
the same backtest `pipelines/backtest/main.py` runs on a publisher's lake). On the last day,
returning readers are judged three ways, every kind on the same rows:
- each logged list re-ranked by the kind and judged by its clicks: AUC, MRR, nDCG@5, nDCG@10
  (components.evaluation.news);
- the top 10 of each reader's unread live catalogue at their first visit of the day: NDCG@10
  and recall@10 against what they clicked that day (biased towards what the house showed);
- the expected CTR of that top 10 under the simulator's true click model (examination by
  position times the reader's true click probability): what serving it would have earned.

Kinds: the learned ranker (XGBoost rank:ndcg over point-in-time features, components.ranking;
`ranker_pooled` ranks a candidate pool instead of the whole catalogue), recency-popularity,
ALS and EASE as the sweep fits them, the news baselines (random, newest first, clicks so far,
a smoothed intraday CTR counter with a 6-hour half-life, no look-ahead) and the simulator's
oracle (each reader's true click probability).

Last line: {"benchmark": "ranking", "models": {kind: {"auc", "mrr", "ndcg@5", "ndcg@10"}},
"top_k": {kind: {"ndcg@10", "recall@10", "expected_ctr"}}, "ranker_vs_popularity_*",
"ranker_share_of_oracle_expected_ctr", "unseen_share", "rank_300_p50_ms", "rank_300_p99_ms"
(numpy scoring of 300 candidates, as serving will), "device", "seconds", ...}.
Target (the ranking issue): the ranker's top-10 NDCG@10 at least 1.5x recency-popularity's.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from components.evaluation.metrics import ranking_metrics
from components.models.base import Recommender
from components.models.fit import build_interactions, fit_model
from components.ranking.backtest import article_table, baseline_scores, ranker_scores, run_backtest
from components.ranking.features import FEATURES, ArticleTable, FeatureReplay, LoggedLists
from components.ranking.train import choose_device
from components.ranking.trees import TreeEnsemble
from components.simulator import TrafficGenerator, UserModel, World, WorldConfig
from components.simulator.behaviour import examination
from components.simulator.traffic import HousePolicy

CF_KINDS = {"popularity": {"half_life_hours": 6.0}, "als": {}, "ease": {}}


class RecordingPolicy:
    """The house ranking, remembering each list's true relevance for the oracle's scores, and
    for each reader's first list of the test day the whole unread live catalogue (the top-k
    protocol's candidates) with its true relevance."""

    def __init__(self, world: World, model: UserModel, test_start: float):
        self.house = HousePolicy(world)
        self.model = model
        self.test_start = test_start
        self.truth: dict[tuple[str, tuple[int, ...]], np.ndarray] = {}
        self.probes: dict[str, tuple[float, np.ndarray, np.ndarray]] = {}

    def rank(
        self, user_id: str, live: np.ndarray, at: float, k: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, str]:
        items, propensity, version = self.house.rank(user_id, live, at, k, rng)
        self.truth[(user_id, tuple(items.tolist()))] = self.model.relevance_idx(user_id, items, at)
        if at >= self.test_start and user_id not in self.probes:
            unread = live[[not self.model.has_read(user_id, int(a)) for a in live]]
            self.probes[user_id] = (at, unread, self.model.relevance_idx(user_id, unread, at))
        return items, propensity, version


def simulate(args: argparse.Namespace) -> tuple[World, list[dict[str, Any]], RecordingPolicy]:
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(
        days=args.days + 1
    )
    world = World.build(WorldConfig(seed=args.seed, start=start, days=args.days, users=args.users))
    model = UserModel(world)
    policy = RecordingPolicy(world, model, world.config.end.timestamp() - 86_400.0)
    events: list[dict[str, Any]] = []
    for day in TrafficGenerator(world, model=model, policy=policy).days():
        events.extend(day.events)
        print(f"day {day.day}: {len(day.events):,} events", file=sys.stderr)
    return world, events, policy


def fit_cf(events: list[dict[str, Any]]) -> dict[str, Recommender]:
    """The collaborative kinds of the sweep, fitted on the training days' clicks."""
    reads = pd.DataFrame(
        [(e["user_id"], e["article_id"], e["ts"]) for e in events if e["type"] == "click"],
        columns=["user_id", "item_id", "ts"],
    )
    reads["ts"] = pd.to_datetime(reads["ts"], utc=True)
    data = build_interactions(reads, ts_col="ts")
    return {kind: fit_model(kind, data, params) for kind, params in CF_KINDS.items()}


def cf_scores(model: Recommender, users: np.ndarray, articles: np.ndarray, table: ArticleTable) -> np.ndarray:
    """Scores as the service ranks: a reader by their row, anyone else (and popularity for
    everyone) by popularity order; what a model has not seen scores lowest."""
    out = np.full(len(articles), np.nan)
    popularity = getattr(model, "item_scores", None)
    for user in np.unique(users):
        mask = users == user
        ids = [table.ids[a] for a in articles[mask]]
        if popularity is None and user in model.user_index:
            out[mask] = model.score(user, ids)
        elif popularity is not None:
            out[mask] = [popularity[model.item_index[a]] if a in model.item_index else np.nan for a in ids]
    low = np.nanmin(out) - 1.0 if np.isfinite(out).any() else 0.0
    return np.where(np.isnan(out), low, out)


def scorers(
    booster: xgb.Booster,
    lists: LoggedLists,
    oracle: np.ndarray,
    cf: dict[str, Recommender],
    table: ArticleTable,
    seed: int,
) -> dict[str, np.ndarray]:
    """Every kind's scores of the same (reader, article, time) rows; features as of that time."""
    scores = {
        "ranker": ranker_scores(booster, lists),
        **baseline_scores(lists, table, seed),
        "oracle": oracle,
    }
    for kind, model in cf.items():
        scores[kind] = cf_scores(model, lists.user_id, lists.article, table)
    return scores


POOL_CTR, POOL_FRESH, POOL_SIMILAR = 100, 50, 50


def candidate_pool(features: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Per reader, the candidates the ranker orders: the best intraday CTR, the freshest and
    the closest to what they read (a candidate stage before the learned one)."""
    pooled = np.zeros(len(features), dtype=bool)
    columns = [FEATURES.index("ctr_6h"), FEATURES.index("age_h"), FEATURES.index("content_similarity")]
    for n in range(len(bounds) - 1):
        part = features[bounds[n] : bounds[n + 1]]
        for column, size, sign in zip(
            columns, (POOL_CTR, POOL_FRESH, POOL_SIMILAR), (-1, 1, -1), strict=True
        ):
            top = np.argsort(sign * part[:, column], kind="stable")[:size]
            pooled[bounds[n] + top] = True
    return pooled


def _truth_of(probe: tuple[float, np.ndarray, np.ndarray], rows: np.ndarray) -> np.ndarray:
    """The true relevance the policy recorded for each of `rows` (a subset of its candidates)."""
    _, candidates, relevance = probe
    where = np.argsort(candidates)
    at = where[np.searchsorted(candidates, rows, sorter=where)]
    if not np.array_equal(candidates[at], rows):
        raise ValueError("the replay probed candidates the policy did not record")
    found: np.ndarray = relevance[at]
    return found


def top_k_report(
    replay: FeatureReplay,
    policy: RecordingPolicy,
    test: LoggedLists,
    booster: xgb.Booster,
    cf: dict[str, Recommender],
    table: ArticleTable,
    seed: int,
) -> dict[str, dict[str, float]]:
    """Top 10 of each returning reader's unread live catalogue at their first test-day visit:
    NDCG@10 and recall@10 against what they clicked that day (biased towards what the house
    ranking chose to show), and the expected CTR of the list under the simulator's true click
    model (examination by position times true relevance: what serving it would have earned)."""
    clicked: dict[str, set[int]] = {}
    for user, article in zip(test.user_id[test.clicked], test.article[test.clicked], strict=True):
        clicked.setdefault(str(user), set()).add(int(article))
    reads = FEATURES.index("reader_reads")
    users = [u for u, r in replay.probed.items() if len(r[1]) >= 10 and r[2][0, reads] > 0]
    rows = [replay.probed[u] for u in users]
    articles = np.concatenate([r[1] for r in rows])
    n = len(articles)
    owners = np.concatenate([np.full(len(r[1]), u, dtype=object) for u, r in zip(users, rows, strict=True)])
    candidates = LoggedLists(
        request_id=owners,
        user_id=owners,
        article=articles,
        ts=np.concatenate([np.full(len(r[1]), r[0]) for r in rows]),
        position=np.zeros(n, dtype=np.int64),
        clicked=np.zeros(n, dtype=bool),
        features=np.vstack([r[2] for r in rows]),
        known_reader=np.ones(n, dtype=bool),
    )
    # The replay keeps the candidates published by then and not read (by its own reads): the
    # truth of each is looked up by article row.
    oracle = np.concatenate([_truth_of(policy.probes[u], r[1]) for u, r in zip(users, rows, strict=True)])
    bounds = np.cumsum([0] + [len(r[1]) for r in rows])
    kinds = scorers(booster, candidates, oracle, cf, table, seed)
    kinds["ranker_pooled"] = np.where(candidate_pool(candidates.features, bounds), kinds["ranker"], -np.inf)
    exam = examination(np.arange(10, dtype=float))
    report: dict[str, dict[str, float]] = {}
    for name, score in kinds.items():
        recommendations, expected = {}, []
        for i, user in enumerate(users):
            part = score[bounds[i] : bounds[i + 1]]
            top = np.argsort(-part, kind="stable")[:10]
            recommendations[user] = articles[bounds[i] : bounds[i + 1]][top].tolist()
            expected.append(float(exam @ oracle[bounds[i] : bounds[i + 1]][top]) / 10)
        metrics = ranking_metrics(recommendations, clicked, 10)
        report[name] = {
            "ndcg@10": round(metrics.ndcg, 4),
            "recall@10": round(metrics.recall, 4),
            "expected_ctr": round(float(np.mean(expected)), 4),
        }
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--days", type=int, default=28)
    p.add_argument("--users", type=int, default=3_000)
    p.add_argument("--seed", type=int, default=11)
    p.add_argument(
        "--train-days", type=int, default=7, help="the ranker learns from the last N training days"
    )
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    args = p.parse_args(argv)
    started = time.perf_counter()

    world, events, policy = simulate(args)
    test_start = policy.test_start
    table = article_table(world.catalogue.records(), fit_before=test_start)
    train_events = [e for e in events if datetime.fromisoformat(e["ts"]).timestamp() < test_start]
    cf = fit_cf(train_events)

    def oracle_and_cf(lists: LoggedLists) -> dict[str, np.ndarray]:
        shown = [(str(u), lst) for u, lst in zip(lists.user_id, _lists(lists), strict=True)]
        oracle = np.array([policy.truth[key][pos] for key, pos in zip(shown, lists.position, strict=True)])
        out = {"oracle": oracle}
        for kind, model in cf.items():
            if kind != "popularity":  # the backtest's own recency-popularity is the same kind
                out[kind] = cf_scores(model, lists.user_id, lists.article, table)
        return out

    device = choose_device(args.device)
    fit_started = time.perf_counter()
    result = run_backtest(
        events,
        table,
        test_start=test_start,
        train_days=args.train_days,
        seed=args.seed,
        device=device,
        probes={u: (at, live) for u, (at, live, _) in policy.probes.items()},
        extra_scores=oracle_and_cf,
    )
    seconds_backtest = time.perf_counter() - fit_started
    replay, train, test, booster = result.replay, result.train, result.test, result.booster
    models = result.models()
    top_k = top_k_report(replay, policy, test, booster, cf, table, args.seed)
    report = result.report
    for name in sorted(top_k, key=lambda kind: -top_k[kind]["expected_ctr"]):
        both = {**models.get(name, {}), **{f"top-{k}": v for k, v in top_k[name].items()}}
        print(f"{name:>16}: " + "  ".join(f"{k} {v:.4f}" for k, v in both.items()), file=sys.stderr)
    any_report = next(iter(report.values()))
    summary = {
        "benchmark": "ranking",
        "days": args.days,
        "users": args.users,
        "seed": args.seed,
        "device": device,
        "train_lists": int(len(np.unique(train.request_id.astype(str)))),
        "test_lists": int(any_report["lists"]),
        "test_impressions": int(len(test.article)),
        "top_k_readers": int(top_k_readers(replay)),
        "models": models,
        "top_k": top_k,
        "ranker_vs_popularity_auc": round(models["ranker"]["auc"] / models["popularity"]["auc"], 3),
        "ranker_vs_popularity_ndcg10": round(
            models["ranker"]["ndcg@10"] / models["popularity"]["ndcg@10"], 3
        ),
        "ranker_vs_popularity_top_k_ndcg10": round(
            top_k["ranker"]["ndcg@10"] / top_k["popularity"]["ndcg@10"], 3
        ),
        "ranker_vs_popularity_expected_ctr": round(
            top_k["ranker"]["expected_ctr"] / top_k["popularity"]["expected_ctr"], 3
        ),
        "ranker_share_of_oracle_expected_ctr": round(
            top_k["ranker"]["expected_ctr"] / top_k["oracle"]["expected_ctr"], 3
        ),
        "unseen_share": round(result.unseen_share, 3),
        "trees": booster.num_boosted_rounds(),
        **rank_stage_ms(booster, test.features),
        "backtest_seconds": round(seconds_backtest, 1),
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(summary))
    return 0


def rank_stage_ms(booster: xgb.Booster, features: np.ndarray, repeats: int = 300) -> dict[str, float]:
    """The ranker as serving scores it (numpy over the trees' JSON, no xgboost): 300
    candidates per call, p50 and p99 over `repeats` calls; checked against xgboost's margins."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ranker.json"
        booster.save_model(str(path))
        trees = TreeEnsemble.load(path)
    rows = features[:300].copy()
    rows[:, FEATURES.index("position")] = 0.0
    reference = booster.predict(xgb.DMatrix(rows, feature_names=list(FEATURES)), output_margin=True)
    if not np.allclose(trees.predict_margin(rows), reference, atol=1e-5):
        raise AssertionError("numpy tree scores differ from xgboost's")
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        trees.predict_margin(rows)
        timings.append((time.perf_counter() - started) * 1000.0)
    return {
        "rank_300_p50_ms": round(float(np.percentile(timings, 50)), 3),
        "rank_300_p99_ms": round(float(np.percentile(timings, 99)), 3),
    }


def top_k_readers(replay: FeatureReplay) -> int:
    reads = FEATURES.index("reader_reads")
    return sum(1 for r in replay.probed.values() if len(r[1]) >= 10 and r[2][0, reads] > 0)


def _lists(test: LoggedLists) -> list[tuple[int, ...]]:
    """Each impression's whole shown list (its request's articles by position), as the key the
    recording policy used."""
    by_request: dict[str, list[tuple[int, int]]] = {}
    for request, position, article in zip(test.request_id, test.position, test.article, strict=True):
        by_request.setdefault(str(request), []).append((int(position), int(article)))
    shown = {r: tuple(a for _, a in sorted(items)) for r, items in by_request.items()}
    return [shown[str(r)] for r in test.request_id]


if __name__ == "__main__":
    raise SystemExit(main())
