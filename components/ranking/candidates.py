"""The candidate stage: named sources, each proposing a few dozen live, unread, non-excluded
articles for one request, chosen by name from CANDIDATE_SOURCES (one line adds one).

A source reads a `CandidateQuery` (catalogue arrays, the rows a request may show, the reader's
recent reads, the article vectors and intraday clicks) and returns catalogue rows, best first.
`gather` runs the sources in the order given and tags every row with the first source that
proposed it: that name is the item's `reason` in the response and what the impression logs.

- `content`: closest to the reader's recent reads (cosine of the article vectors; text and
  section, so an article nobody has clicked yet is found by what it is about);
- `sections`: newest in the reader's strongest sections (share of recent reads);
- `trending`: most clicked in the last hours (the 1-hour decayed click count);
- `popular`: the catalogue's popular-and-fresh order (the cold-start list).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from components.content.vectors import reader_profile

TOP_SECTIONS = 2


@dataclass(frozen=True)
class CandidateQuery:
    allowed: np.ndarray  # bool per catalogue row: live now, not read, not excluded
    published_s: np.ndarray  # per catalogue row
    section: np.ndarray  # int per catalogue row
    popular_order: np.ndarray  # catalogue rows, best first (live at the last re-rank)
    vectors: np.ndarray | None  # (catalogue rows, dim) unit rows, or None without content
    reads: np.ndarray  # the reader's recent reads, catalogue rows, newest first
    trending: np.ndarray  # per catalogue row: decayed clicks of the last hours
    per_source: int


CandidateSource = Callable[[CandidateQuery], np.ndarray]


def _best(scores: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    """The `n` rows of highest score, best first (ties: lower row first)."""
    if len(rows) > n:
        part = np.argpartition(-scores, n - 1)[:n]
        rows, scores = rows[part], scores[part]
    order = np.lexsort((rows, -scores))
    picked: np.ndarray = rows[order]
    return picked


def content_source(query: CandidateQuery) -> np.ndarray:
    if query.vectors is None or not len(query.reads):
        return np.zeros(0, dtype=np.int64)
    profile = reader_profile(query.vectors[query.reads])
    rows = np.flatnonzero(query.allowed)
    # One product over the whole (contiguous) block is cheaper than gathering the live rows.
    scores: np.ndarray = query.vectors @ profile
    return _best(scores[rows], rows, query.per_source)


def sections_source(query: CandidateQuery) -> np.ndarray:
    if not len(query.reads):
        return np.zeros(0, dtype=np.int64)
    counts = np.bincount(query.section[query.reads])
    strongest = np.argsort(-counts, kind="stable")[:TOP_SECTIONS]
    strongest = strongest[counts[strongest] > 0]
    wanted = np.zeros(max(int(query.section.max(initial=0)) + 1, len(counts)), dtype=bool)
    wanted[strongest] = True
    rows = np.flatnonzero(query.allowed & wanted[query.section])
    return _best(query.published_s[rows], rows, query.per_source)


def trending_source(query: CandidateQuery) -> np.ndarray:
    rows = np.flatnonzero(query.allowed & (query.trending > 0))
    return _best(query.trending[rows], rows, query.per_source)


def popular_source(query: CandidateQuery) -> np.ndarray:
    order = query.popular_order
    picked: np.ndarray = order[query.allowed[order]][: query.per_source]
    return picked


CANDIDATE_SOURCES: dict[str, CandidateSource] = {
    "content": content_source,
    "sections": sections_source,
    "trending": trending_source,
    "popular": popular_source,
}
DEFAULT_SOURCES: tuple[str, ...] = tuple(CANDIDATE_SOURCES)


def check_sources(names: Sequence[str]) -> tuple[str, ...]:
    unknown = [n for n in names if n not in CANDIDATE_SOURCES]
    if unknown or not names:
        raise ValueError(
            f"candidate sources: unknown {unknown} (known: {', '.join(CANDIDATE_SOURCES)})"
            if unknown
            else "candidate sources: at least one is needed"
        )
    return tuple(names)


def gather(query: CandidateQuery, sources: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """The union of the sources' rows (at most `per_source` each), in the order the sources
    gave them, each tagged with the first source that proposed it."""
    seen = np.zeros(len(query.allowed), dtype=bool)
    rows: list[np.ndarray] = []
    tags: list[str] = []
    for name in sources:
        found = CANDIDATE_SOURCES[name](query)
        found = found[~seen[found]]
        if not len(found):
            continue
        seen[found] = True
        rows.append(found)
        tags.extend([name] * len(found))
    out = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    return out.astype(np.int64, copy=False), tags


__all__ = [
    "CANDIDATE_SOURCES",
    "DEFAULT_SOURCES",
    "CandidateQuery",
    "CandidateSource",
    "check_sources",
    "gather",
]
