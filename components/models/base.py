"""The one interface every model implements.

A model knows the users and items it was trained on (string ids, mapped to rows) and what each
training user has already interacted with. Scores are computed for many users at once as a
dense (users x items) float32 matrix; exclusion and top-k selection are shared here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np


class UnknownUserError(KeyError):
    """The user was not in the training data and no recent reads were given to fold in."""


class Recommender(ABC):
    kind: ClassVar[str]

    def __init__(
        self,
        *,
        user_ids: Sequence[str],
        item_ids: Sequence[str],
        seen_indptr: np.ndarray,
        seen_indices: np.ndarray,
        params: dict[str, Any],
    ) -> None:
        self.user_ids = np.asarray(user_ids, dtype=object)
        self.item_ids = np.asarray(item_ids, dtype=object)
        self.user_index = {u: i for i, u in enumerate(self.user_ids)}
        self.item_index = {a: i for i, a in enumerate(self.item_ids)}
        if len(seen_indptr) != len(self.user_ids) + 1:
            raise ValueError(f"seen_indptr has {len(seen_indptr)} entries for {len(self.user_ids)} users")
        self.seen_indptr = np.asarray(seen_indptr, dtype=np.int64)
        self.seen_indices = np.asarray(seen_indices, dtype=np.int32)
        self.params = dict(params)

    # --- what each kind provides -------------------------------------------------------
    @abstractmethod
    def user_scores(self, rows: np.ndarray) -> np.ndarray:
        """Scores (len(rows) x n_items) for training users given by row."""

    @abstractmethod
    def history_scores(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        """Scores for users known only by the item rows they read (fold-in)."""

    @abstractmethod
    def arrays(self) -> dict[str, np.ndarray]:
        """The learned arrays to store (besides ids and the seen matrix)."""

    def save_files(self, directory: Path) -> None:  # noqa: B027 (optional: most kinds store arrays only)
        """Files a kind stores beside the arrays (in a library's own format, never a pickle)."""

    @classmethod
    def load_files(cls, directory: Path, meta: dict[str, Any]) -> dict[str, Any]:
        """The constructor arguments read back from what `save_files` wrote."""
        return {}

    # --- shared -----------------------------------------------------------------------
    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def seen(self, row: int) -> np.ndarray:
        return self.seen_indices[self.seen_indptr[row] : self.seen_indptr[row + 1]]

    def item_rows(self, article_ids: Iterable[str]) -> np.ndarray:
        """Rows of the known items among `article_ids` (unknown ids are skipped)."""
        rows = [self.item_index[a] for a in article_ids if a in self.item_index]
        return np.asarray(rows, dtype=np.int64)

    def recommend(
        self,
        user_id: str,
        k: int,
        *,
        exclude: Iterable[str] = (),
        recent: Iterable[str] = (),
        allowed: np.ndarray | None = None,
    ) -> tuple[list[str], np.ndarray]:
        """Top-k article ids and their scores for one user.

        A training user is scored from the model; an unknown user with `recent` reads is folded
        in from them; otherwise `UnknownUserError`. Items the user saw in training, `recent` and
        `exclude` are never returned; `allowed` (a bool per item, or the allowed item rows in
        ascending order) restricts the candidates.
        """
        recent_rows = self.item_rows(recent)
        row = self.user_index.get(user_id)
        if row is not None:
            banned = [self.seen(row), recent_rows]
        elif len(recent_rows):
            banned = [recent_rows]
        else:
            raise UnknownUserError(user_id)
        banned.append(self.item_rows(exclude))
        if allowed is not None and allowed.dtype != np.bool_:
            # The serving path: score the allowed rows only.
            scores = self.scores_among(row, recent_rows, allowed)
            return self._top_k_among(scores, k, np.concatenate(banned), allowed)
        if row is not None:
            scores = self.user_scores(np.array([row]))[0]
        else:
            scores = self.history_scores([recent_rows])[0]
        return self._top_k(scores, k, np.concatenate(banned), allowed)

    def scores_among(self, row: int | None, recent_rows: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Scores of the item `rows` (ascending) for a training user (`row`) or, when `row` is
        None, for a reader folded in from `recent_rows`. Kinds may do better than slicing the
        full score vector (FactorModel scores the rows only)."""
        if row is not None:
            return self.user_scores(np.array([row]))[0][rows]
        return self.history_scores([recent_rows])[0][rows]

    def score(self, user_id: str, candidates: Sequence[str], *, recent: Iterable[str] = ()) -> np.ndarray:
        """Scores of `candidates` for the user (NaN for items the model does not know)."""
        row = self.user_index.get(user_id)
        if row is not None:
            scores = self.user_scores(np.array([row]))[0]
        else:
            recent_rows = self.item_rows(recent)
            if not len(recent_rows):
                raise UnknownUserError(user_id)
            scores = self.history_scores([recent_rows])[0]
        out = np.full(len(candidates), np.nan, dtype=np.float32)
        for i, article in enumerate(candidates):
            item = self.item_index.get(article)
            if item is not None:
                out[i] = scores[item]
        return out

    def recommend_rows(self, rows: np.ndarray, k: int, *, batch: int = 1024) -> np.ndarray:
        """Top-k item rows (len(rows) x k) for training users, seen items removed; for evaluation."""
        out = np.empty((len(rows), min(k, self.n_items)), dtype=np.int64)
        for start in range(0, len(rows), batch):
            chunk = rows[start : start + batch]
            scores = self.user_scores(chunk).astype(np.float32, copy=True)
            for j, row in enumerate(chunk):
                scores[j, self.seen(row)] = -np.inf
            out[start : start + len(chunk)] = _top_k_rows(scores, out.shape[1])
        return out

    def _top_k(
        self, scores: np.ndarray, k: int, banned: np.ndarray, allowed: np.ndarray | None
    ) -> tuple[list[str], np.ndarray]:
        scores = scores.astype(np.float32, copy=True)
        if len(banned):
            scores[banned.astype(np.int64)] = -np.inf
        candidates = None
        if allowed is not None:
            # Rank only the allowed items: a partition over a few thousand live articles
            # instead of the whole item set.
            candidates = np.flatnonzero(allowed) if allowed.dtype == np.bool_ else allowed
            scores = scores[candidates]
        top = _top_k(scores, min(k, len(scores)))
        top = top[np.isfinite(scores[top])]
        rows = candidates[top] if candidates is not None else top
        return [str(a) for a in self.item_ids[rows]], scores[top]

    def _top_k_among(
        self, scores: np.ndarray, k: int, banned: np.ndarray, rows: np.ndarray
    ) -> tuple[list[str], np.ndarray]:
        """Top-k of `scores` over the item `rows` (ascending), none of `banned`."""
        scores = np.array(scores, dtype=np.float32, copy=True)
        if len(banned) and len(rows):
            at = np.searchsorted(rows, banned)
            hit = at < len(rows)
            at = at[hit]
            at = at[rows[at] == banned[hit]]
            scores[at] = -np.inf
        top = _top_k(scores, min(k, len(scores)))
        top = top[np.isfinite(scores[top])]
        return [str(a) for a in self.item_ids[rows[top]]], scores[top]


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """`_top_k_rows` for one row, without the 2-D indexing overhead (the serving path)."""
    if k >= len(scores):
        return np.argsort(-scores, kind="stable")
    part = np.argpartition(-scores, k - 1)[:k]
    part.sort()
    return part[np.argsort(-scores[part], kind="stable")]


def _top_k_rows(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores per row, best first."""
    if k >= scores.shape[1]:
        return np.argsort(-scores, axis=1, kind="stable")
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    part.sort(axis=1)  # index order first, so the stable sort below breaks ties by index
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)
