"""The learned two-stage ranker as a model kind: candidate sources propose, gradient-boosted
trees rank (components.ranking).

What is stored (no pickle): the trees in XGBoost's own JSON format (`ranker.json`, evaluated
with numpy: serving never loads compiled code from the registry), the content model that turns
article text and section into vectors (`content.npz` + `content.json`), and `ranker_meta.json`
(the feature list it was trained on, the prior CTR, the number of sections, the candidate
sources and how many each proposes).

Unlike the collaborative kinds it knows no fixed user or item set: it scores any live article
for any reader from request-time features (components.ranking.features), so a new article is
ranked from its intraday signals, age, section and text the moment the catalogue lists it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from components.content.vectors import META as CONTENT_META
from components.content.vectors import ContentModel
from components.models.base import Recommender
from components.ranking.candidates import DEFAULT_SOURCES, CandidateQuery, check_sources, gather
from components.ranking.features import FEATURES, HALF_LIVES_H, READS_KEPT, ArticleTable, feature_matrix
from components.ranking.intraday import IntradayRows
from components.ranking.trees import TreeEnsemble

TREES_FILE = "ranker.json"
META_FILE = "ranker_meta.json"
# Candidates each source proposes: about 150-250 in all after overlaps, which the trees score in
# well under a millisecond (docs/benchmarks.md).
PER_SOURCE = 60


class RankerNeedsRequestError(TypeError):
    """The ranker scores candidates with request-time features, not a user x item matrix."""


@dataclass(frozen=True)
class ArticleRows:
    """A catalogue as the ranker sees it, row for row: section index, publication, vectors."""

    table: ArticleTable
    has_text: bool


@dataclass(frozen=True)
class RankedRows:
    rows: np.ndarray  # catalogue rows, best first
    scores: np.ndarray
    sources: list[str]  # the candidate source of each row
    candidates: int  # how many were scored


class RankerModel(Recommender):
    kind: ClassVar[str] = "ranker"

    def __init__(
        self,
        *,
        trees_json: str,
        content: ContentModel | None,
        prior_ctr: float,
        n_sections: int,
        sources: Sequence[str] = DEFAULT_SOURCES,
        per_source: int = PER_SOURCE,
        **base: Any,
    ) -> None:
        super().__init__(**base)
        self.trees_json = trees_json
        self.trees = TreeEnsemble.from_xgboost_json(json.loads(trees_json))
        names = self.trees.feature_names
        if names is not None and tuple(names) != FEATURES:
            raise ValueError(
                f"{TREES_FILE}: trained on features {list(names)}, this code computes {FEATURES}"
            )
        self.content = content
        self.prior_ctr = float(prior_ctr)
        self.n_sections = max(int(n_sections), 1)
        self.sources = check_sources(sources)
        self.per_source = int(per_source)
        # Article vectors by id: a catalogue refresh computes only the new articles' vectors
        # (binds run in threads and on the event loop: one at a time).
        self._vectors: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    # --- the collaborative interface does not apply ---------------------------------------
    def user_scores(self, rows: np.ndarray) -> np.ndarray:
        raise RankerNeedsRequestError("the ranker scores candidates of a request: use rank()")

    def history_scores(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        raise RankerNeedsRequestError("the ranker scores candidates of a request: use rank()")

    def arrays(self) -> dict[str, np.ndarray]:
        return {}

    # --- storage ------------------------------------------------------------------------
    def save_files(self, directory: Path) -> None:
        (directory / TREES_FILE).write_text(self.trees_json)
        if self.content is not None:  # content.npz + content.json, beside the rest (a flat folder)
            self.content.save(directory)
        meta = {
            "features": list(FEATURES),
            "prior_ctr": self.prior_ctr,
            "n_sections": self.n_sections,
            "sources": list(self.sources),
            "per_source": self.per_source,
        }
        (directory / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True))

    @classmethod
    def load_files(cls, directory: Path, meta: dict[str, Any]) -> dict[str, Any]:
        extra = json.loads((directory / META_FILE).read_text())
        if list(extra.get("features", [])) != list(FEATURES):
            raise ValueError(f"{directory / META_FILE}: features {extra.get('features')} != {list(FEATURES)}")
        return {
            "trees_json": (directory / TREES_FILE).read_text(),
            "content": ContentModel.load(directory) if (directory / CONTENT_META).exists() else None,
            "prior_ctr": float(extra["prior_ctr"]),
            "n_sections": int(extra["n_sections"]),
            "sources": tuple(extra.get("sources") or DEFAULT_SOURCES),
            "per_source": int(extra.get("per_source") or PER_SOURCE),
        }

    # --- serving ------------------------------------------------------------------------
    def article_rows(
        self,
        article_ids: Sequence[str] | np.ndarray,
        sections: Sequence[str] | np.ndarray,
        published_s: np.ndarray,
        texts: Sequence[str] | np.ndarray,
    ) -> ArticleRows:
        """The catalogue as the ranker's article table; vectors of articles seen before come
        from the cache (computed once per article and model)."""
        with self._lock:
            ids = [str(a) for a in article_ids]
            known_sections = list(self.content.sections) if self.content is not None else []
            index = {s: i for i, s in enumerate(known_sections)}
            section = np.array([index.setdefault(str(s), len(index)) for s in sections], dtype=np.int64)
            if self.content is None:
                vectors = np.zeros((len(ids), 1), dtype=np.float32)
            else:
                missing = [i for i, a in enumerate(ids) if a not in self._vectors]
                if missing:
                    docs = [{"title": str(texts[i]), "section": str(sections[i])} for i in missing]
                    fresh = self.content.transform(docs)
                    for i, vector in zip(missing, fresh, strict=True):
                        self._vectors[ids[i]] = vector
                vectors = (
                    np.vstack([self._vectors[a] for a in ids])
                    if ids
                    else np.zeros((0, self.content.dim), dtype=np.float32)
                )
            table = ArticleTable(
                ids=ids,
                section=section,
                published_s=np.asarray(published_s, dtype=np.float64),
                vectors=vectors,
                n_sections=self.n_sections,
            )
            return ArticleRows(table, self.content is not None)

    def forget_vectors(self, keep: set[str]) -> None:
        """Drop cached vectors of articles no longer in the catalogue."""
        with self._lock:
            for article in [a for a in self._vectors if a not in keep]:
                del self._vectors[article]

    def rank(
        self,
        articles: ArticleRows,
        *,
        allowed: np.ndarray,
        popular_order: np.ndarray,
        reads: np.ndarray,
        intraday: IntradayRows | None,
        now_s: float,
        k: int,
    ) -> RankedRows:
        """The top `k` of the candidate sources' union for one reader at `now_s`. `allowed`: a
        bool per catalogue row (live, not read, not excluded); `reads`: the reader's recent
        reads as catalogue rows, newest first."""
        table = articles.table
        n = len(table.ids)
        hour = int(now_s // 3_600)
        reads = np.asarray(reads, dtype=np.int64)[:READS_KEPT]
        # The 1-hour decayed clicks of every article (the `trending` source).
        trending = intraday.trending(hour) if intraday is not None else np.zeros(n)
        query = CandidateQuery(
            allowed=allowed,
            published_s=table.published_s,
            section=table.section,
            popular_order=popular_order,
            vectors=table.vectors if articles.has_text else None,
            reads=reads,
            trending=trending,
            per_source=self.per_source,
        )
        rows, tags = gather(query, self.sources)
        if not len(rows):
            return RankedRows(rows, np.zeros(0), [], 0)
        features = self.features(articles, rows, reads=reads, intraday=intraday, now_s=now_s)
        scores = self.trees.predict_margin(features)
        top = min(k, len(rows))
        best = np.argpartition(-scores, top - 1)[:top] if top < len(rows) else np.arange(len(rows))
        best = best[np.lexsort((best, -scores[best]))]
        return RankedRows(rows[best], scores[best], [tags[i] for i in best], len(rows))

    def features(
        self,
        articles: ArticleRows,
        rows: np.ndarray,
        *,
        reads: np.ndarray,
        intraday: IntradayRows | None,
        now_s: float,
    ) -> np.ndarray:
        """The feature rows of catalogue `rows` for a reader, as training computed them (position
        fixed at 0: see components.ranking.features)."""
        hour = int(now_s // 3_600)
        if intraday is not None:
            imps, clicks, window = intraday.at(rows, hour)
        else:
            zero = np.zeros(len(rows))
            imps, clicks, window = [zero] * len(HALF_LIVES_H), [zero] * len(HALF_LIVES_H), zero
        return feature_matrix(
            articles.table,
            rows,
            now_s=now_s,
            positions=np.zeros(len(rows), dtype=np.float32),
            impressions=imps,
            clicks=clicks,
            clicks_total=window,
            prior_ctr=self.prior_ctr,
            reads=[int(r) for r in reads[:READS_KEPT]],
        )


__all__ = ["ArticleRows", "RankedRows", "RankerModel", "RankerNeedsRequestError"]
