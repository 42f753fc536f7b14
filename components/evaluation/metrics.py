"""Ranking metrics over top-k lists with binary relevance, plus beyond-accuracy measures.

Conventions follow the Microsoft Recommenders python evaluation, so numbers compare with its
published benchmark table:
- users scored are those present both in the test set and in the recommendations;
- NDCG@k: DCG with gain 1 and discount 1/log2(rank + 1), over the ideal DCG of
  min(|relevant|, k) hits;
- Precision@k: hits / k (k, not the list length); Recall@k: hits / |relevant|;
- MAP: the sum of precision at each hit rank within the top k over |relevant| (Recommenders'
  `map`), and MAP@k: the same sum over min(|relevant|, k) (its `map_at_k`).
Coverage is the share of the catalogue that appears in any list, novelty the mean
self-information -log2(popularity share) of recommended items, popularity bias the mean
training popularity (share of users) of recommended items.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class RankingMetrics:
    k: int
    users: int
    ndcg: float
    precision: float
    recall: float
    map: float
    map_at_k: float
    coverage: float
    novelty: float
    popularity_bias: float

    def as_dict(self) -> dict[str, Any]:
        """Flat names as logged to MLflow: `ndcg_at_10`, `precision_at_10`, ..."""
        out: dict[str, Any] = {}
        for name, value in asdict(self).items():
            if name in ("ndcg", "precision", "recall"):
                out[f"{name}_at_{self.k}"] = value
            elif name == "map_at_k":
                out[f"map_at_{self.k}"] = value
            else:
                out[name] = value
        return out


def _discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2))


def ranking_metrics(
    recommendations: Mapping[Any, Sequence[Any]],
    relevant: Mapping[Any, Sequence[Any] | set[Any]],
    k: int,
    *,
    catalogue_size: int | None = None,
    item_popularity: Mapping[Any, float] | None = None,
) -> RankingMetrics:
    """Score top-k `recommendations` (user -> ranked items) against `relevant` (user -> items).

    `item_popularity` maps an item to the share of training users who interacted with it (0..1);
    items missing from it have never been seen, and novelty counts them at half the rarest
    observed item's popularity so it stays finite.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    users = [u for u in relevant if u in recommendations and len(relevant[u]) > 0]
    if not users:
        raise ValueError("no user has both relevant items and recommendations")
    discounts = _discounts(k)
    ndcg = precision = recall = ap = ap_k = 0.0
    for user in users:
        truth = set(relevant[user])
        ranked = list(recommendations[user])[:k]
        hits = np.fromiter((item in truth for item in ranked), dtype=bool, count=len(ranked))
        n_hits = int(hits.sum())
        dcg = float(discounts[: len(ranked)][hits].sum())
        idcg = float(discounts[: min(len(truth), k)].sum())
        ndcg += dcg / idcg
        precision += n_hits / k
        recall += n_hits / len(truth)
        if n_hits:
            ranks = np.flatnonzero(hits) + 1
            precisions = np.arange(1, n_hits + 1) / ranks
            ap += float(precisions.sum()) / len(truth)
            ap_k += float(precisions.sum()) / min(len(truth), k)
    n = len(users)
    shown = {item for user in users for item in list(recommendations[user])[:k]}
    coverage = len(shown) / catalogue_size if catalogue_size else float("nan")
    novelty = popularity_bias = float("nan")
    if item_popularity is not None:
        observed = [p for p in item_popularity.values() if p > 0]
        floor = 0.5 * min(observed) if observed else 1.0
        pops = np.array(
            [item_popularity.get(item, 0.0) for user in users for item in list(recommendations[user])[:k]],
            dtype=float,
        )
        if pops.size:
            novelty = float(np.mean(-np.log2(np.maximum(pops, floor))))
            popularity_bias = float(pops.mean())
    return RankingMetrics(
        k=k,
        users=n,
        ndcg=ndcg / n,
        precision=precision / n,
        recall=recall / n,
        map=ap / n,
        map_at_k=ap_k / n,
        coverage=coverage,
        novelty=novelty,
        popularity_bias=popularity_bias,
    )
