"""Fitting the model kinds from an interaction log (scipy and implicit: pipelines resolve)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from components.models.base import Recommender
from components.models.kinds import AlsModel, BprModel, EaseModel, PopularityModel

# implicit warns (and slows down) when OpenBLAS runs its own thread pool beside OpenMP's.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "als": {"factors": 64, "regularization": 0.05, "alpha": 2.0, "iterations": 15},
    "bpr": {"factors": 64, "learning_rate": 0.01, "regularization": 0.01, "iterations": 100},
    # A dense item x item inverse: 10,000 items take about 3 GB while fitting (17,000 took 6.3 GB
    # and 5 minutes); a larger catalogue is refused by name, not left to exhaust memory.
    "ease": {"l2": 250.0, "max_items": 10_000},
    "popularity": {"half_life_hours": 24.0},
}


@dataclass(frozen=True)
class Interactions:
    """A deduplicated user x item matrix plus the raw rows (for recency)."""

    user_ids: np.ndarray
    item_ids: np.ndarray
    matrix: sp.csr_matrix  # float32 weights, users x items
    rows: np.ndarray
    cols: np.ndarray
    weights: np.ndarray
    ts_seconds: np.ndarray | None

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.user_ids), len(self.item_ids))


def build_interactions(
    frame: pd.DataFrame,
    *,
    user_col: str = "user_id",
    item_col: str = "item_id",
    weight_col: str | None = None,
    ts_col: str | None = None,
    binary: bool = True,
) -> Interactions:
    """Map string ids to rows (sorted, so the mapping is reproducible) and build the matrix.

    With `binary`, repeated interactions of a pair count once; otherwise weights add up.
    """
    for column in (user_col, item_col, weight_col, ts_col):
        if column is not None and column not in frame.columns:
            raise ValueError(f"interactions frame has no column {column!r}")
    if frame.empty:
        raise ValueError("no interactions to train on")
    users = frame[user_col].astype(str).to_numpy()
    items = frame[item_col].astype(str).to_numpy()
    user_ids, rows = np.unique(users, return_inverse=True)
    item_ids, cols = np.unique(items, return_inverse=True)
    weights = (
        frame[weight_col].to_numpy(dtype=np.float32)
        if weight_col is not None
        else np.ones(len(frame), dtype=np.float32)
    )
    matrix = sp.csr_matrix((weights, (rows, cols)), shape=(len(user_ids), len(item_ids)), dtype=np.float32)
    matrix.sum_duplicates()
    if binary:
        matrix.data[:] = 1.0
    matrix.sort_indices()
    ts_seconds = None
    if ts_col is not None:
        # Through the epoch difference, not astype("int64"): that gives the column's own unit
        # (silver's timestamps are microseconds), and seconds read as microseconds would make
        # every recency decay a thousand times too slow.
        stamps = pd.to_datetime(frame[ts_col], utc=True)
        ts_seconds = ((stamps - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)).to_numpy(
            dtype=np.float64
        )
    return Interactions(
        user_ids=user_ids.astype(object),
        item_ids=item_ids.astype(object),
        matrix=matrix,
        rows=rows,
        cols=cols,
        weights=weights,
        ts_seconds=ts_seconds,
    )


def _base(data: Interactions, params: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "user_ids": data.user_ids,
        "item_ids": data.item_ids,
        "seen_indptr": data.matrix.indptr.astype(np.int64),
        "seen_indices": data.matrix.indices.astype(np.int32),
        "params": dict(params),
    }


def fit_model(
    kind: str, data: Interactions, params: Mapping[str, Any] | None = None, *, seed: int = 42
) -> Recommender:
    """Fit a model of `kind` (als, bpr, ease, popularity); unset params take DEFAULT_PARAMS."""
    if kind not in DEFAULT_PARAMS:
        raise ValueError(f"unknown model kind {kind!r} (known: {sorted(DEFAULT_PARAMS)})")
    unknown = set(params or {}) - set(DEFAULT_PARAMS[kind])
    if unknown:
        raise ValueError(
            f"unknown {kind} parameter(s) {sorted(unknown)} (known: {sorted(DEFAULT_PARAMS[kind])})"
        )
    merged = {**DEFAULT_PARAMS[kind], **(params or {})}
    return FITTERS[kind](data, merged, seed)


def _fit_als(data: Interactions, params: dict[str, Any], seed: int) -> Recommender:
    from implicit.cpu.als import AlternatingLeastSquares

    model = AlternatingLeastSquares(
        factors=int(params["factors"]),
        regularization=float(params["regularization"]),
        alpha=float(params["alpha"]),
        iterations=int(params["iterations"]),
        calculate_training_loss=False,
        random_state=seed,
    )
    model.fit(data.matrix, show_progress=False)
    return AlsModel(user_factors=model.user_factors, item_factors=model.item_factors, **_base(data, params))


def _fit_bpr(data: Interactions, params: dict[str, Any], seed: int) -> Recommender:
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    model = BayesianPersonalizedRanking(
        factors=int(params["factors"]),
        learning_rate=float(params["learning_rate"]),
        regularization=float(params["regularization"]),
        iterations=int(params["iterations"]),
        random_state=seed,
    )
    model.fit(data.matrix, show_progress=False)
    return BprModel(user_factors=model.user_factors, item_factors=model.item_factors, **_base(data, params))


class ModelSizeError(ValueError):
    """The data is too large for this kind with these params (the sweep skips the candidate)."""


def _fit_ease(data: Interactions, params: dict[str, Any], seed: int) -> Recommender:
    n_items, limit = data.shape[1], int(params["max_items"])
    if n_items > limit:
        raise ModelSizeError(
            f"ease: {n_items:,} items exceed max_items {limit:,} (its dense item x item inverse "
            f"needs about {3 * 8 * n_items**2 / 1e9:.1f} GB); train on fewer days or raise max_items"
        )
    x = data.matrix
    gram = (x.T @ x).toarray().astype(np.float64)
    gram[np.diag_indices_from(gram)] += float(params["l2"])
    precision = np.linalg.inv(gram)
    weights = precision / -np.diag(precision)
    np.fill_diagonal(weights, 0.0)
    return EaseModel(weights=weights.astype(np.float32), **_base(data, params))


def _fit_popularity(data: Interactions, params: dict[str, Any], seed: int) -> Recommender:
    decay = np.ones(len(data.rows), dtype=np.float64)
    if data.ts_seconds is not None and len(data.ts_seconds):
        age_hours = (data.ts_seconds.max() - data.ts_seconds) / 3600.0
        decay = np.exp2(-age_hours / float(params["half_life_hours"]))
    scores = np.bincount(data.cols, weights=data.weights * decay, minlength=len(data.item_ids))
    return PopularityModel(item_scores=scores.astype(np.float32), **_base(data, params))


# Fitters by model kind (the kinds' inference lives in kinds.KINDS; a test checks both hold the
# same names): kind -> fit(interactions, params with defaults filled, seed). One line to add one.
FITTERS: dict[str, Callable[[Interactions, dict[str, Any], int], Recommender]] = {
    "als": _fit_als,
    "bpr": _fit_bpr,
    "ease": _fit_ease,
    "popularity": _fit_popularity,
}
