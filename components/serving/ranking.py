"""One request's ranking: the model for readers it can score, popular-and-fresh articles for
the rest (cold start) and to fill a short list; never an excluded, recently read, unpublished
or expired article.

A learned ranker (components/models/ranker.py) ranks every reader: its candidate sources
propose live articles, its trees score them with the reader's recent reads, the article vectors
and the intraday signals read from Redis (`Intraday`); each item's reason is the source that
proposed it. Every answer says what ranked it (`ranked_by`): the ranker, a collaborative model
("cf"), or the popular list ("popular": cold start, no model, or a ranker that failed)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from components.models.base import Recommender
from components.models.ranker import ArticleRows, RankerModel
from components.ranking.intraday import Intraday
from components.serving.catalogue import Catalogue

log = logging.getLogger("reco.serving")

PERSONALIZED, POPULAR = "personalized", "popular"
# What ranked a response (`ranked_by`): the fallback order is ranker, then cf, then popular.
RANKER, CF = "ranker", "cf"


@dataclass(frozen=True)
class ServingModel:
    """A registered model version bound to a catalogue: each model item's catalogue row, so
    liveness (publication, expiry) is one vectorised lookup per request."""

    alias: str
    version: str
    recommender: Recommender
    catalogue_rows: np.ndarray
    catalogue: Catalogue
    # The ranker's view of the catalogue (section indices, article vectors); None for other kinds.
    articles: ArticleRows | None = None
    _allowed: list[Any] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def bind(cls, alias: str, version: str, recommender: Recommender, catalogue: Catalogue) -> ServingModel:
        articles = None
        if isinstance(recommender, RankerModel):
            articles = recommender.article_rows(
                catalogue.article_ids, catalogue.category, catalogue.published_s, catalogue.texts
            )
            recommender.forget_vectors(set(catalogue.index))
        return cls(alias, version, recommender, catalogue.rows_for(recommender.item_ids), catalogue, articles)

    def rebind(self, catalogue: Catalogue) -> ServingModel:
        if catalogue.index is self.catalogue.index:  # same articles, new numbers: rows still hold
            return ServingModel(
                self.alias, self.version, self.recommender, self.catalogue_rows, catalogue, self.articles
            )
        return ServingModel.bind(self.alias, self.version, self.recommender, catalogue)

    @property
    def is_ranker(self) -> bool:
        return self.articles is not None

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

    def can_score(self, user_id: str | None, has_features: bool, recent: Sequence[str]) -> bool:
        """A reader the model knows and whose features exist, or anyone with recent reads the
        model knows (folded in). Feature-less readers get the cold-start list, as designed.
        The ranker scores anyone (a newcomer from the articles' own signals)."""
        if self.is_ranker:
            return True
        if user_id is not None and user_id in self.recommender.user_index and has_features:
            return True
        return any(a in self.recommender.item_index for a in recent)


@dataclass(frozen=True)
class Ranked:
    article_ids: list[str]
    scores: list[float]
    reasons: list[str]
    cold_start: bool
    ranked_by: str = POPULAR
    candidates: int = 0  # how many the ranker scored


def rank(
    model: ServingModel | None,
    catalogue: Catalogue,
    user_id: str | None,
    k: int,
    *,
    exclude: Sequence[str],
    recent: Sequence[str],
    has_features: bool,
    now_s: float,
    intraday: Intraday | None = None,
    keep: np.ndarray | None = None,
) -> Ranked:
    """`keep`: a bool per catalogue article, False for what the request's filters leave out."""
    banned = set(exclude)
    banned.update(recent)
    ids: list[str] = []
    scores: list[float] = []
    reasons: list[str] = []
    cold_start = model is None or not model.can_score(user_id, has_features, recent)
    ranked_by = POPULAR
    candidates = 0
    if model is not None and model.is_ranker:
        try:
            candidates = _ranked_by_ranker(
                model, catalogue, k, banned, recent, now_s, intraday, keep, ids, scores, reasons
            )
            ranked_by = RANKER
        except Exception:  # a broken model must not fail the request: the popular list serves
            log.exception("ranker version %s failed; serving the popular list", model.version)
            del ids[:], scores[:], reasons[:]
            cold_start = True
    elif model is not None and not cold_start:
        allowed = model.allowed(now_s)
        if keep is not None:
            allowed = allowed[keep[model.catalogue_rows[allowed]]]
        found, found_scores = model.recommender.recommend(
            user_id or "", k, exclude=list(banned), recent=recent, allowed=allowed
        )
        ids.extend(found)
        scores.extend(float(s) for s in found_scores)
        reasons.extend([model.reason] * len(found))
        ranked_by = CF if model.reason == PERSONALIZED else POPULAR
    if len(ids) < k:
        # Cold start, or the model ran out of live unseen articles: fill with popular ones,
        # never one the reader read in the model's training window either.
        banned.update(ids)
        if model is not None and user_id and (row := model.recommender.user_index.get(user_id)) is not None:
            banned.update(model.recommender.item_ids[model.recommender.seen(row)])
        fill, fill_scores = catalogue.popular(k - len(ids), now_s, banned, keep)
        ids.extend(fill)
        scores.extend(fill_scores)
        reasons.extend([POPULAR] * len(fill))
    return Ranked(ids, scores, reasons, cold_start, ranked_by, candidates)


def _ranked_by_ranker(
    model: ServingModel,
    catalogue: Catalogue,
    k: int,
    banned: set[str],
    recent: Sequence[str],
    now_s: float,
    intraday: Intraday | None,
    keep: np.ndarray | None,
    ids: list[str],
    scores: list[float],
    reasons: list[str],
) -> int:
    """The ranker's top k into ids/scores/reasons; returns how many candidates it scored."""
    ranker = model.recommender
    assert isinstance(ranker, RankerModel) and model.articles is not None
    index = catalogue.index
    allowed = catalogue.live(now_s)
    if keep is not None:
        allowed &= keep
    blocked = [row for row in (index.get(a) for a in banned) if row is not None]
    if blocked:
        allowed[blocked] = False
    reads = np.fromiter((index[a] for a in recent if a in index), dtype=np.int64)
    ranked = ranker.rank(
        model.articles,
        allowed=allowed,
        popular_order=catalogue.popular_order,
        reads=reads,
        intraday=intraday.rows_of(catalogue.article_ids) if intraday is not None else None,
        now_s=now_s,
        k=k,
    )
    ids.extend(str(a) for a in catalogue.article_ids[ranked.rows])
    scores.extend(float(s) for s in ranked.scores)
    reasons.extend(ranked.sources)
    return ranked.candidates
