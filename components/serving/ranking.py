"""One request's ranking: the model for readers it can score, popular-and-fresh articles for
the rest (cold start) and to fill a short list; never an excluded, recently read, unpublished
or expired article."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from components.models.base import Recommender
from components.serving.catalogue import Catalogue

PERSONALIZED, POPULAR = "personalized", "popular"


@dataclass(frozen=True)
class ServingModel:
    """A registered model version bound to a catalogue: each model item's catalogue row, so
    liveness (publication, expiry) is one vectorised lookup per request."""

    alias: str
    version: str
    recommender: Recommender
    catalogue_rows: np.ndarray
    catalogue: Catalogue
    _allowed: list[Any] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def bind(cls, alias: str, version: str, recommender: Recommender, catalogue: Catalogue) -> ServingModel:
        return cls(alias, version, recommender, catalogue.rows_for(recommender.item_ids), catalogue)

    def rebind(self, catalogue: Catalogue) -> ServingModel:
        if catalogue.index is self.catalogue.index:  # same articles, new numbers: rows still hold
            return ServingModel(self.alias, self.version, self.recommender, self.catalogue_rows, catalogue)
        return ServingModel.bind(self.alias, self.version, self.recommender, catalogue)

    @property
    def reason(self) -> str:
        # A popularity model ranks the same list for everybody: say so.
        return POPULAR if self.recommender.kind == "popularity" else PERSONALIZED

    def allowed(self, now_s: float) -> np.ndarray:
        """Rows (ascending) of the model items that are in the catalogue and live at `now_s`
        (to the second: computed once per second, not per request)."""
        second = int(now_s)
        cached = self._allowed
        if cached and cached[0] == second:
            return cached[1]
        rows = self.catalogue_rows
        known = rows >= 0
        live = self.catalogue.live(float(second))
        allowed: np.ndarray = np.flatnonzero(known & live[np.where(known, rows, 0)])
        self._allowed[:] = [second, allowed]
        return allowed

    def can_score(self, user_id: str, has_features: bool, recent: Sequence[str]) -> bool:
        """A reader the model knows and whose features exist, or anyone with recent reads the
        model knows (folded in). Feature-less readers get the cold-start list, as designed."""
        if user_id in self.recommender.user_index and has_features:
            return True
        return any(a in self.recommender.item_index for a in recent)


@dataclass(frozen=True)
class Ranked:
    article_ids: list[str]
    scores: list[float]
    reasons: list[str]
    cold_start: bool


def rank(
    model: ServingModel | None,
    catalogue: Catalogue,
    user_id: str,
    k: int,
    *,
    exclude: Sequence[str],
    recent: Sequence[str],
    has_features: bool,
    now_s: float,
) -> Ranked:
    banned = set(exclude)
    banned.update(recent)
    ids: list[str] = []
    scores: list[float] = []
    reasons: list[str] = []
    cold_start = model is None or not model.can_score(user_id, has_features, recent)
    if model is not None and not cold_start:
        found, found_scores = model.recommender.recommend(
            user_id, k, exclude=list(banned), recent=recent, allowed=model.allowed(now_s)
        )
        ids.extend(found)
        scores.extend(float(s) for s in found_scores)
        reasons.extend([model.reason] * len(found))
    if len(ids) < k:
        # Cold start, or the model ran out of live unseen articles: fill with popular ones,
        # never one the reader read in the model's training window either.
        banned.update(ids)
        if model is not None and (row := model.recommender.user_index.get(user_id)) is not None:
            banned.update(model.recommender.item_ids[model.recommender.seen(row)])
        fill, fill_scores = catalogue.popular(k - len(ids), now_s, banned)
        ids.extend(fill)
        scores.extend(fill_scores)
        reasons.extend([POPULAR] * len(fill))
    return Ranked(ids, scores, reasons, cold_start)
