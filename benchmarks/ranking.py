"""Offline ranking quality on simulated news, the way news recommenders are judged.

    ./pants run benchmarks/ranking.py [-- --days 28 --users 3000 --seed 11]

A simulated month is served by the platform's house ranking (popular and fresh, sampled, every
propensity logged). Every model learns from the days before the last; on the last day, each
list shown to a returning reader is re-ranked by each model's scores and judged by what was
clicked: AUC, MRR, nDCG@5, nDCG@10 (components.evaluation.news), on exactly the same lists.

Kinds: the learned ranker (XGBoost rank:ndcg over point-in-time features, components.ranking),
the collaborative kinds of the sweep (popularity with recency decay, ALS, EASE) scored as the
service scores them (articles a model has never seen rank last), the simple news baselines
(random, newest first, clicks so far, a smoothed intraday CTR counter with a 6-hour half-life,
no look-ahead) and the simulator's oracle (each reader's true click probability).

Last line: {"benchmark": "ranking", "models": {kind: {"auc", "mrr", "ndcg@5", "ndcg@10"}},
"ranker_vs_popularity_ndcg10", "test_lists", "train_lists", "device", "seconds", ...}.
Target: the ranker's nDCG@10 at least 1.5x recency-popularity's.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from components.evaluation.metrics import ranking_metrics
from components.models.base import Recommender
from components.models.fit import build_interactions, fit_model
from components.ranking.backtest import article_table, baseline_scores, ranker_scores, run_backtest
from components.ranking.features import ArticleTable, FeatureReplay, LoggedLists
from components.ranking.train import choose_device
from components.simulator import TrafficGenerator, UserModel, World, WorldConfig
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
    reads["ts"] = pd.to_datetime(reads["ts"]).astype("int64") / 1e9
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


def top_k_report(
    replay: FeatureReplay,
    policy: RecordingPolicy,
    test: LoggedLists,
    booster: xgb.Booster,
    cf: dict[str, Recommender],
    table: ArticleTable,
    seed: int,
) -> dict[str, dict[str, float]]:
    """Top-10 of each returning reader's unread live catalogue at their first test-day visit,
    against what they clicked that day (components.evaluation.metrics, NDCG@10 and recall)."""
    clicked: dict[str, set[int]] = {}
    for user, article in zip(test.user_id[test.clicked], test.article[test.clicked], strict=True):
        clicked.setdefault(str(user), set()).add(int(article))
    users = [u for u in replay.probed if u in clicked]
    rows = [replay.probed[u] for u in users]
    articles = np.concatenate([r[1] for r in rows])
    n = len(articles)
    candidates = LoggedLists(
        request_id=np.concatenate(
            [np.full(len(r[1]), u, dtype=object) for u, r in zip(users, rows, strict=True)]
        ),
        user_id=np.concatenate(
            [np.full(len(r[1]), u, dtype=object) for u, r in zip(users, rows, strict=True)]
        ),
        article=articles,
        ts=np.concatenate([np.full(len(r[1]), r[0]) for r in rows]),
        position=np.zeros(n, dtype=np.int64),
        clicked=np.zeros(n, dtype=bool),
        features=np.vstack([r[2] for r in rows]),
        known_reader=np.ones(n, dtype=bool),
    )
    oracle = np.concatenate([policy.probes[u][2] for u in users])
    report: dict[str, dict[str, float]] = {}
    bounds = np.cumsum([0] + [len(r[1]) for r in rows])
    for name, score in scorers(booster, candidates, oracle, cf, table, seed).items():
        recommendations = {}
        for n, user in enumerate(users):
            part, items = score[bounds[n] : bounds[n + 1]], articles[bounds[n] : bounds[n + 1]]
            recommendations[user] = items[np.argsort(-part, kind="stable")[:10]].tolist()
        metrics = ranking_metrics(recommendations, clicked, 10)
        report[name] = {"ndcg@10": round(metrics.ndcg, 4), "recall@10": round(metrics.recall, 4)}
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
    for name, m in sorted(models.items(), key=lambda kv: -kv[1]["auc"]):
        row = "  ".join(
            f"{k} {v:.4f}" for k, v in {**m, **{f"top-{k}": v for k, v in top_k[name].items()}}.items()
        )
        print(f"{name:>16}: {row}", file=sys.stderr)
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
        "top_k_readers": len([u for u in replay.probed if u in set(test.user_id[test.clicked])]),
        "models": models,
        "top_k": top_k,
        "ranker_vs_popularity_auc": round(models["ranker"]["auc"] / models["popularity"]["auc"], 3),
        "ranker_vs_popularity_top_k_ndcg10": round(
            top_k["ranker"]["ndcg@10"] / top_k["popularity"]["ndcg@10"], 3
        ),
        "ranker_share_of_oracle_top_k_ndcg10": round(
            top_k["ranker"]["ndcg@10"] / top_k["oracle"]["ndcg@10"], 3
        ),
        "unseen_share": round(result.unseen_share, 3),
        "backtest_seconds": round(seconds_backtest, 1),
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(summary))
    return 0


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
