"""Articles related to one article (a story page's "related" rail): live, never the article
itself, an excluded or a recently read one, within the request's sections.

Stages, each item's reason naming the one that placed it:
- `content`: the nearest article vectors (cosine), when the model is the learned ranker and the
  catalogue carries text: a story published a minute ago has its neighbours at once;
- `cf`: the collaborative model's neighbours, "readers of this one also read" (the model
  folded in from this one article: ALS's item factors, EASE's item weights), for articles it
  was trained on;
- `section`: the freshest popular articles of the same section;
- `popular`: the popular list, to fill.
The answer's `ranked_by` is the stage of its first item."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from components.serving.catalogue import Catalogue
from components.serving.ranking import POPULAR, Ranked, ServingModel

CONTENT, CF_NEIGHBOURS, SECTION = "content", "cf", "section"
RELATED_STAGES = (CONTENT, CF_NEIGHBOURS, SECTION, POPULAR)


def _top(scores: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best `rows` by `scores` (ties: the given order), best first."""
    if len(rows) > k:
        part = np.argpartition(-scores, k - 1)[:k]
        rows, scores = rows[part], scores[part]
    order = np.argsort(-scores, kind="stable")
    return rows[order], scores[order]


def related(
    model: ServingModel | None,
    catalogue: Catalogue,
    article_id: str,
    k: int,
    *,
    exclude: Sequence[str],
    recent: Sequence[str],
    now_s: float,
    keep: np.ndarray | None = None,
) -> Ranked:
    allowed = catalogue.live(now_s)
    if keep is not None:
        allowed &= keep
    seed = catalogue.index.get(article_id)
    banned = [
        row for row in (catalogue.index.get(a) for a in (article_id, *exclude, *recent)) if row is not None
    ]
    if banned:
        allowed[banned] = False
    ids: list[str] = []
    scores: list[float] = []
    reasons: list[str] = []

    def take(rows: np.ndarray, values: np.ndarray, reason: str) -> None:
        ids.extend(str(a) for a in catalogue.article_ids[rows])
        scores.extend(float(v) for v in values)
        reasons.extend([reason] * len(rows))
        allowed[rows] = False

    if seed is not None and model is not None:
        if model.articles is not None and model.articles.has_text:
            vectors = model.articles.table.vectors
            rows = np.flatnonzero(allowed)
            similarity = vectors[rows] @ vectors[seed]
            near = similarity > 0  # a zero vector (no text) is near nothing
            take(*_top(similarity[near], rows[near], k), CONTENT)
        elif model.reason != POPULAR and (item := model.recommender.item_index.get(article_id)) is not None:
            candidates = model.allowed(now_s)  # model item rows, live
            candidates = candidates[allowed[model.catalogue_rows[candidates]]]
            if len(candidates):
                values = model.recommender.scores_among(None, np.array([item]), candidates)
                best, best_values = _top(np.asarray(values, dtype=np.float64), candidates, k)
                take(model.catalogue_rows[best], best_values, CF_NEIGHBOURS)
    if seed is not None and len(ids) < k:
        same = catalogue.in_sections([str(catalogue.category[seed])])
        fill, fill_scores = catalogue.popular(k - len(ids), now_s, set(), allowed & same)
        take(catalogue.rows_for(np.asarray(fill, dtype=object)), np.asarray(fill_scores), SECTION)
    if len(ids) < k:
        fill, fill_scores = catalogue.popular(k - len(ids), now_s, set(), allowed)
        take(catalogue.rows_for(np.asarray(fill, dtype=object)), np.asarray(fill_scores), POPULAR)
    return Ranked(ids, scores, reasons, cold_start=seed is None, ranked_by=reasons[0] if reasons else POPULAR)


__all__ = ["CF_NEIGHBOURS", "CONTENT", "RELATED_STAGES", "SECTION", "related"]
