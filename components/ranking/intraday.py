"""Intraday article signals at serving time: the hourly exposure and click buckets the feedback
consumer writes to Redis (components.feedback.counts), summed with the ranker's decay weights.

`Intraday.from_buckets` gives, per article, exactly what the point-in-time replay of training
computes for the same events (components.ranking.features): impressions and clicks decayed by
whole event hours at each half-life of HALF_LIVES_H, and the clicks of the last WINDOW_H hours.
A request later than the hour the buckets were read at decays the values forward (no event
arrived meanwhile as far as this copy knows; the next refresh brings them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from components.ranking.features import HALF_LIVES_H, WINDOW_H

# hour -> article id -> (impressions, clicks)
Buckets = Mapping[int, Mapping[str, tuple[float, float]]]


@dataclass(frozen=True)
class IntradayRows:
    """The signals of a list of articles (aligned with it), as of `hour`."""

    hour: int
    impressions: tuple[np.ndarray, ...]  # one per half-life
    clicks: tuple[np.ndarray, ...]
    clicks_window: np.ndarray
    _trending: list[Any] = field(default_factory=list, repr=False, compare=False)

    def trending(self, hour: int) -> np.ndarray:
        """Every article's clicks at the shortest half-life, decayed to `hour` (cached per hour:
        the `trending` candidate source reads it on every request)."""
        cached = self._trending
        if cached and cached[0] == hour:
            values: np.ndarray = cached[1]
            return values
        elapsed = max(hour - self.hour, 0)
        values = self.clicks[0] * float(np.exp(-np.log(2.0) / HALF_LIVES_H[0] * elapsed))
        self._trending[:] = [hour, values]
        return values

    def at(self, rows: np.ndarray, hour: int) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
        """(impressions per half-life, clicks per half-life, window clicks) of `rows`, decayed
        from the hour they were read at to `hour`."""
        elapsed = max(hour - self.hour, 0)
        factors = [float(np.exp(-np.log(2.0) / hl * elapsed)) for hl in HALF_LIVES_H]
        imps = [values[rows] * f for values, f in zip(self.impressions, factors, strict=True)]
        clks = [values[rows] * f for values, f in zip(self.clicks, factors, strict=True)]
        return imps, clks, self.clicks_window[rows]


@dataclass(frozen=True)
class Intraday:
    """Per article id, the decayed signals at `hour` (the newest event hour read)."""

    hour: int
    articles: dict[str, int]  # article id -> position in the arrays
    impressions: tuple[np.ndarray, ...]
    clicks: tuple[np.ndarray, ...]
    clicks_window: np.ndarray
    _aligned: list[object] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def empty(cls, hour: int = 0) -> Intraday:
        zero = np.zeros(0)
        return cls(hour, {}, tuple(zero for _ in HALF_LIVES_H), tuple(zero for _ in HALF_LIVES_H), zero)

    @classmethod
    def from_buckets(cls, buckets: Buckets, hour: int) -> Intraday:
        """From hourly buckets (hours after `hour` are ignored; so are hours outside the window)."""
        hours = sorted(h for h in buckets if hour - WINDOW_H < h <= hour)
        articles: dict[str, int] = {}
        for h in hours:
            for article in buckets[h]:
                articles.setdefault(article, len(articles))
        n = len(articles)
        impressions = [np.zeros(n) for _ in HALF_LIVES_H]
        clicks = [np.zeros(n) for _ in HALF_LIVES_H]
        window = np.zeros(n)
        for h in hours:
            bucket = buckets[h]
            if not bucket:
                continue
            rows = np.fromiter((articles[a] for a in bucket), dtype=np.int64, count=len(bucket))
            counts = np.array(list(bucket.values()), dtype=np.float64).reshape(len(bucket), 2)
            window[rows] += counts[:, 1]
            for i, hl in enumerate(HALF_LIVES_H):
                weight = np.exp(-np.log(2.0) / hl * (hour - h))
                impressions[i][rows] += counts[:, 0] * weight
                clicks[i][rows] += counts[:, 1] * weight
        return cls(hour, articles, tuple(impressions), tuple(clicks), window)

    def rows_of(self, article_ids: Sequence[str] | np.ndarray) -> IntradayRows:
        """The signals aligned with `article_ids` (zero for articles without events); the last
        alignment is cached (the catalogue's id array changes only with the catalogue)."""
        cached = self._aligned
        if cached and cached[0] is article_ids:
            aligned: IntradayRows = cached[1]  # type: ignore[assignment]
            return aligned
        at = np.fromiter((self.articles.get(str(a), -1) for a in article_ids), np.int64, len(article_ids))
        known = at >= 0
        take = np.where(known, at, 0)

        def pick(values: np.ndarray) -> np.ndarray:
            return np.where(known, values[take], 0.0) if len(values) else np.zeros(len(at))

        aligned = IntradayRows(
            self.hour,
            tuple(pick(v) for v in self.impressions),
            tuple(pick(v) for v in self.clicks),
            pick(self.clicks_window),
        )
        cached[:] = [article_ids, aligned]
        return aligned


def window_hours(hour: int) -> list[int]:
    """The event hours serving reads at `hour`: the window, newest last."""
    return list(range(hour - WINDOW_H + 1, hour + 1))


__all__ = ["Buckets", "Intraday", "IntradayRows", "window_hours"]
