"""The live catalogue as the recommend service sees it: every article with its publication,
expiry, section and short-window popularity, as parallel numpy arrays.

Built from the lake's catalogue table (the CMS export: expiry lives there) and refreshed with
the item-side online features (views and CTR over 24 h). Requests only read it: a refresh
builds a new object and swaps the reference, so a request never sees half an update.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from components.content.vectors import article_text

NEVER = np.inf


@dataclass(frozen=True)
class PopularityRule:
    """Cold-start order: (views_24h + prior_views) * 0.5 ** (age_h / half_life_h).

    The prior lets a fresh article with no views yet compete with yesterday's hits; the decay
    sinks old ones whatever their traffic."""

    prior_views: float = 10.0
    half_life_h: float = 24.0

    def scores(self, views: np.ndarray, age_s: np.ndarray) -> np.ndarray:
        age_h = np.maximum(age_s, 0.0) / 3600.0
        return (views + self.prior_views) * np.power(0.5, age_h / self.half_life_h)


@dataclass(frozen=True)
class Catalogue:
    article_ids: np.ndarray  # object (str)
    published_s: np.ndarray  # epoch seconds
    expires_s: np.ndarray  # epoch seconds, inf when the article never expires
    category: np.ndarray  # object (str)
    views_24h: np.ndarray  # float64, 0 without features
    ctr_24h: np.ndarray  # float64, NaN without features
    index: dict[str, int] = field(repr=False)
    # Title, abstract and tags as one text (what the ranker's content model reads), "" without.
    texts: np.ndarray = field(repr=False)
    # Articles by cold-start score at `ranked_at`, best first (recomputed on every refresh).
    popular_order: np.ndarray = field(repr=False)
    popular_scores: np.ndarray = field(repr=False)
    ranked_at: float = 0.0

    def __len__(self) -> int:
        return len(self.article_ids)

    @classmethod
    def empty(cls) -> Catalogue:
        return cls.from_columns([], [], [], [], now_s=0.0)

    @classmethod
    def from_columns(
        cls,
        article_ids: Iterable[str],
        published_s: Iterable[float],
        expires_s: Iterable[float | None],
        category: Iterable[str],
        *,
        now_s: float,
        rule: PopularityRule | None = None,
        texts: Iterable[str] | None = None,
    ) -> Catalogue:
        ids = np.asarray(list(article_ids), dtype=object)
        text = np.asarray(list(texts) if texts is not None else [""] * len(ids), dtype=object)
        if len(text) != len(ids):
            raise ValueError(f"texts: {len(text)} for {len(ids)} articles")
        expires = np.asarray([NEVER if e is None else e for e in expires_s], dtype=np.float64)
        empty = np.zeros(len(ids), dtype=np.float64)
        base = cls(
            article_ids=ids,
            published_s=np.asarray(list(published_s), dtype=np.float64),
            expires_s=expires,
            category=np.asarray(list(category), dtype=object),
            views_24h=empty,
            ctr_24h=np.full(len(ids), np.nan),
            index={str(a): i for i, a in enumerate(ids)},
            texts=text,
            popular_order=np.arange(0, dtype=np.int64),
            popular_scores=empty[:0],
        )
        return base.reranked(now_s, rule or PopularityRule())

    @classmethod
    def from_table(cls, table: pa.Table, *, now_s: float, rule: PopularityRule | None = None) -> Catalogue:
        """From the lake's catalogue table (components/lake/catalog.py): its published
        articles (an unpublished one is not recommendable; a deleted one is not in it)."""
        if "status" in table.column_names:
            table = table.filter(pc.equal(table.column("status"), "published"))
        section = "section" if "section" in table.column_names else "category"  # a pre-articles.v1 cache

        def seconds(column: str) -> list[float | None]:
            values = table.column(column).cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_pylist()
            return [None if v is None else v / 1e6 for v in values]

        names = table.column_names

        def column(name: str) -> list[Any]:
            return table.column(name).to_pylist() if name in names else [None] * table.num_rows

        texts = [
            article_text({"title": t, "abstract": a, "tags": g or ()})
            for t, a, g in zip(column("title"), column("abstract"), column("tags"), strict=True)
        ]
        return cls.from_columns(
            table.column("article_id").to_pylist(),
            [s if s is not None else 0.0 for s in seconds("published_at")],
            seconds("expires_at"),
            table.column(section).to_pylist(),
            now_s=now_s,
            rule=rule,
            texts=texts,
        )

    def with_item_features(
        self, features: Mapping[str, Mapping[str, Any]], *, now_s: float, rule: PopularityRule | None = None
    ) -> Catalogue:
        """A copy with views/CTR from online feature rows (article_id -> {views_24h, ctr_24h});
        articles without a row keep no views."""
        views = np.zeros(len(self), dtype=np.float64)
        ctr = np.full(len(self), np.nan)
        for article, row in features.items():
            i = self.index.get(article)
            if i is None or not row:
                continue
            views[i] = float(row.get("views_24h") or 0)
            value = row.get("ctr_24h")
            ctr[i] = np.nan if value is None else float(value)
        return replace(self, views_24h=views, ctr_24h=ctr).reranked(now_s, rule or PopularityRule())

    def with_features_of(
        self, old: Catalogue, *, now_s: float, rule: PopularityRule | None = None
    ) -> Catalogue:
        """A copy with the views/CTR `old` had for the same article ids (a new catalogue keeps
        its popularity until the next item-feature refresh)."""
        rows = old.rows_for(self.article_ids)
        known = rows >= 0
        take = np.where(known, rows, 0)
        views = np.where(known, old.views_24h[take] if len(old) else 0.0, 0.0)
        ctr = np.where(known, old.ctr_24h[take] if len(old) else np.nan, np.nan)
        return replace(self, views_24h=views, ctr_24h=ctr).reranked(now_s, rule or PopularityRule())

    def without(
        self, article_ids: Iterable[str], *, now_s: float, rule: PopularityRule | None = None
    ) -> Catalogue:
        """A copy where `article_ids` (withdrawn: taken down, unpublished) are never live."""
        rows = [i for i in (self.index.get(a) for a in article_ids) if i is not None]
        if not rows:
            return self
        expires = self.expires_s.copy()
        expires[rows] = -NEVER
        return replace(self, expires_s=expires).reranked(now_s, rule or PopularityRule())

    def reranked(self, now_s: float, rule: PopularityRule) -> Catalogue:
        scores = rule.scores(self.views_24h, now_s - self.published_s)
        # Only what is live now is ranked; requests re-check liveness at their own time.
        live = np.flatnonzero(self.live(now_s))
        order = live[np.argsort(-scores[live], kind="stable")]
        return replace(self, popular_order=order, popular_scores=scores[order], ranked_at=now_s)

    def live(self, now_s: float) -> np.ndarray:
        """Published and not expired at `now_s` (bool per article)."""
        result: np.ndarray = (self.published_s <= now_s) & (self.expires_s > now_s)
        return result

    def is_live(self, i: int, now_s: float) -> bool:
        return bool(self.published_s[i] <= now_s < self.expires_s[i])

    @cached_property
    def _section_codes(self) -> tuple[dict[str, int], np.ndarray]:
        codes: dict[str, int] = {}
        column = np.fromiter(
            (codes.setdefault(str(s), len(codes)) for s in self.category), dtype=np.int64, count=len(self)
        )
        return codes, column

    def in_sections(self, sections: Collection[str]) -> np.ndarray:
        """Bool per article: filed under one of `sections` (unknown names match nothing)."""
        codes, column = self._section_codes
        wanted = np.zeros(len(codes) + 1, dtype=bool)
        for name in sections:
            if (code := codes.get(name)) is not None:
                wanted[code] = True
        result: np.ndarray = wanted[column]
        return result

    def popular(
        self, k: int, now_s: float, banned: set[str], keep: np.ndarray | None = None
    ) -> tuple[list[str], list[float]]:
        """The top-k cold-start articles live at `now_s`, skipping `banned` ids and, with
        `keep` (a bool per article), the articles it leaves out."""
        ids: list[str] = []
        scores: list[float] = []
        order = self.popular_order
        positions = range(len(order)) if keep is None else np.flatnonzero(keep[order]).tolist()
        for position in positions:
            if len(ids) == k:
                break
            i = int(order[position])
            article = self.article_ids[i]
            if article in banned or not self.is_live(i, now_s):
                continue
            ids.append(article)
            scores.append(float(self.popular_scores[position]))
        return ids, scores

    def rows_for(self, article_ids: np.ndarray) -> np.ndarray:
        """Catalogue row of each id (-1 for ids the catalogue does not know)."""
        return np.fromiter(
            (self.index.get(a, -1) for a in article_ids), dtype=np.int64, count=len(article_ids)
        )
