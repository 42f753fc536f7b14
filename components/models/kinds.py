"""The model kinds: latent factors (ALS, BPR), EASE item-item, popularity with recency decay, and the
learned two-stage ranker (components/models/ranker.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from components.models.base import Recommender
from components.models.ranker import RankerModel


class FactorModel(Recommender):
    """score(u, i) = user_factors[u] . item_factors[i] (implicit ALS and BPR).

    Fold-in solves the implicit-ALS user equation against fixed item factors:
    (Y'Y + alpha Yh'Yh + reg I) x = (1 + alpha) Yh'1 for the read items h, which is exact for ALS and a
    ridge projection for BPR.
    """

    kind: ClassVar[str] = "factors"

    def __init__(self, *, user_factors: np.ndarray, item_factors: np.ndarray, **base: Any) -> None:
        super().__init__(**base)
        self.user_factors = np.ascontiguousarray(user_factors, dtype=np.float32)
        self.item_factors = np.ascontiguousarray(item_factors, dtype=np.float32)
        if self.user_factors.shape[0] != len(self.user_ids) or self.item_factors.shape[0] != self.n_items:
            raise ValueError(
                f"factor shapes {self.user_factors.shape} / {self.item_factors.shape} do not match "
                f"{len(self.user_ids)} users / {self.n_items} items"
            )
        self._gram = (self.item_factors.T @ self.item_factors).astype(np.float64)
        # (the rows last asked for, their factors): see scores_among.
        self._among: tuple[np.ndarray, np.ndarray] | None = None

    def user_scores(self, rows: np.ndarray) -> np.ndarray:
        return self.user_factors[rows] @ self.item_factors.T

    def scores_among(self, row: int | None, recent_rows: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """The user's vector against the factors of `rows` only, gathered once per distinct
        `rows` (the serving path passes the same live set for a second at a time)."""
        cached = self._among
        if cached is None or (cached[0] is not rows and not np.array_equal(cached[0], rows)):
            cached = self._among = (rows, np.ascontiguousarray(self.item_factors[rows]))
        vector = self.user_factors[row] if row is not None else self.fold_in([recent_rows])[0]
        scores: np.ndarray = cached[1] @ vector
        return scores

    def fold_in(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        alpha = float(self.params.get("alpha", 1.0))
        reg = float(self.params.get("regularization", 0.01))
        dim = self.item_factors.shape[1]
        out = np.zeros((len(histories), dim), dtype=np.float32)
        for n, items in enumerate(histories):
            if not len(items):
                continue
            y = self.item_factors[items].astype(np.float64)
            a = self._gram + alpha * (y.T @ y) + reg * np.eye(dim)
            b = (1.0 + alpha) * y.sum(axis=0)
            out[n] = np.linalg.solve(a, b)
        return out

    def history_scores(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        return self.fold_in(histories) @ self.item_factors.T

    def arrays(self) -> dict[str, np.ndarray]:
        return {"user_factors": self.user_factors, "item_factors": self.item_factors}


class AlsModel(FactorModel):
    kind = "als"


class BprModel(FactorModel):
    kind = "bpr"


class EaseModel(Recommender):
    """EASE (Steck, 2019): score(u) = x_u B, with B the closed-form item-item weights.

    A user's scores come from their training history, so fold-in is the same product.
    """

    kind: ClassVar[str] = "ease"

    def __init__(self, *, weights: np.ndarray, **base: Any) -> None:
        super().__init__(**base)
        self.weights = np.ascontiguousarray(weights, dtype=np.float32)
        if self.weights.shape != (self.n_items, self.n_items):
            raise ValueError(f"EASE weights {self.weights.shape} do not match {self.n_items} items")

    def history_scores(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        out = np.zeros((len(histories), self.n_items), dtype=np.float32)
        for n, items in enumerate(histories):
            if len(items):
                out[n] = self.weights[np.asarray(items, dtype=np.int64)].sum(axis=0)
        return out

    def user_scores(self, rows: np.ndarray) -> np.ndarray:
        return self.history_scores([self.seen(int(r)) for r in rows])

    def arrays(self) -> dict[str, np.ndarray]:
        return {"weights": self.weights}


class PopularityModel(Recommender):
    """The same ranking for everyone: interactions weighted by exp(-age / half-life * ln 2)."""

    kind: ClassVar[str] = "popularity"

    def __init__(self, *, item_scores: np.ndarray, **base: Any) -> None:
        super().__init__(**base)
        self.item_scores = np.asarray(item_scores, dtype=np.float32)
        if self.item_scores.shape != (self.n_items,):
            raise ValueError(f"popularity scores {self.item_scores.shape} do not match {self.n_items} items")

    def user_scores(self, rows: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.item_scores, (len(rows), self.n_items))

    def history_scores(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        return np.broadcast_to(self.item_scores, (len(histories), self.n_items))

    def arrays(self) -> dict[str, np.ndarray]:
        return {"item_scores": self.item_scores}


KINDS: dict[str, type[Recommender]] = {
    m.kind: m for m in (AlsModel, BprModel, EaseModel, PopularityModel, RankerModel)
}
