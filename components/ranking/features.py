"""The learned ranker's features: one definition for training (a replay of logged events, point
in time) and serving (the same counters read from Redis, the same reads list, the same article
vectors), numpy only so both resolves build it.

Per (reader, article, request time) the ranker sees:
- `position`: where the item was shown. A training feature only: serving scores every candidate
  at position 0, so the learned position effect (examination) is the same for all of them and
  drops out of the ranking (position bias handled by conditioning, not by the label).
- `age_h`: hours since publication (log1p).
- intraday article signals, from exposure and click counts kept per event-time hour (what the
  feedback consumer writes to Redis): for each half-life in HALF_LIVES_H, decayed impressions,
  decayed clicks and the smoothed click-through rate
  `(clicks + PRIOR_IMPRESSIONS * prior_ctr) / (impressions + PRIOR_IMPRESSIONS)`;
- `clicks_7d`: the article's clicks in the last WINDOW_H event hours (log1p): what serving sums
  from the hourly buckets it reads;
- `section_affinity`: the share of the reader's recent reads in the article's section, smoothed
  towards the uniform share (a newcomer has no preference);
- `content_similarity`: cosine between the article's content vector and the mean vector of the
  reader's recent reads (components.content), 0 without reads;
- `section_similarity`: cosine between the article's vector and the mean vector of the reader's
  recent reads in the article's own section, 0 without such reads: the taste for topics within
  a section, which the all-sections mean blurs;
- `max_similarity`: the highest cosine between the article and any one recent read (a reader
  with several distinct interests is close to each of them, not to their mean);
- `reader_reads`: how many recent reads the reader has (log1p).

Counts decay by whole event hours: the value at hour H is sum_h count[h] * 2**(-(H - h) / hl)
over the hours h <= H (the current hour counts fully), which is what summing Redis's hourly
buckets with those weights gives; the replay keeps it incrementally, exactly.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from components.content.vectors import similarity
from components.events.time import parse_timestamp

HALF_LIVES_H: tuple[float, ...] = (1.0, 6.0)
PRIOR_IMPRESSIONS = 20.0
# The event hours serving reads back (the current one included): the decayed counts of older
# hours weigh less than 2**-28 at a 6-hour half-life; `clicks_7d` counts exactly these hours.
WINDOW_H = 168
READS_KEPT = 50  # the reader's most recent reads the profile and affinity look at
AFFINITY_PRIOR_READS = 2.0

FEATURES: tuple[str, ...] = (
    "position",
    "age_h",
    *(f"{name}_{int(hl)}h" for hl in HALF_LIVES_H for name in ("impressions", "clicks", "ctr")),
    "clicks_7d",
    "section_affinity",
    "content_similarity",
    "section_similarity",
    "max_similarity",
    "reader_reads",
)
_READ_TYPES = frozenset({"click", "view"})


def epoch_seconds(value: Any) -> float:
    """An event time (aware datetime, as silver holds it, or ISO 8601 text) in epoch seconds."""
    return value.timestamp() if isinstance(value, datetime) else parse_timestamp(value).timestamp()


class DecayedCounts:
    """Per article (a row index), a count decayed by whole hours since it last changed."""

    def __init__(self, n: int, half_life_h: float):
        self.rate = np.log(2.0) / half_life_h
        self.value = np.zeros(n)
        self.hour = np.zeros(n, dtype=np.int64)

    def add(self, row: int, hour: int, amount: float = 1.0) -> None:
        elapsed = hour - self.hour[row]
        self.value[row] = self.value[row] * np.exp(-self.rate * max(elapsed, 0)) + amount
        self.hour[row] = max(hour, int(self.hour[row]))

    def at(self, rows: np.ndarray, hour: int) -> np.ndarray:
        elapsed = np.maximum(hour - self.hour[rows], 0)
        decayed: np.ndarray = self.value[rows] * np.exp(-self.rate * elapsed)
        return decayed

    @staticmethod
    def from_buckets(buckets: Mapping[int, np.ndarray], hour: int, half_life_h: float) -> np.ndarray:
        """The same value from hourly counts (hour -> counts per row), as serving reads them."""
        rate = np.log(2.0) / half_life_h
        total: np.ndarray | None = None
        for h, counts in buckets.items():
            if h > hour:
                continue
            weighted = counts * np.exp(-rate * (hour - h))
            total = weighted if total is None else total + weighted
        return total if total is not None else np.zeros(0)


@dataclass(frozen=True)
class ArticleTable:
    """What is known of each article, by row: section index, publication time, content vector."""

    ids: list[str]
    section: np.ndarray  # int
    published_s: np.ndarray  # epoch seconds
    vectors: np.ndarray  # (articles, dim), rows L2-normalised (zero for no text)
    n_sections: int
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", {a: i for i, a in enumerate(self.ids)})


def feature_matrix(
    table: ArticleTable,
    rows: np.ndarray,
    *,
    now_s: float,
    positions: np.ndarray,
    impressions: Sequence[np.ndarray],
    clicks: Sequence[np.ndarray],
    clicks_total: np.ndarray,
    prior_ctr: float,
    reads: Sequence[int],
) -> np.ndarray:
    """(len(rows), len(FEATURES)) float32 for the articles `rows` shown to one reader at
    `now_s`. `impressions`/`clicks` hold one decayed array per half-life, aligned with `rows`;
    `reads` are the reader's recent reads (article rows, newest first)."""
    n = len(rows)
    out = np.empty((n, len(FEATURES)), dtype=np.float32)
    out[:, 0] = positions
    out[:, 1] = np.log1p(np.maximum(now_s - table.published_s[rows], 0.0) / 3_600.0)
    col = 2
    for imps, clks in zip(impressions, clicks, strict=True):
        out[:, col] = np.log1p(imps)
        out[:, col + 1] = np.log1p(clks)
        out[:, col + 2] = (clks + PRIOR_IMPRESSIONS * prior_ctr) / (imps + PRIOR_IMPRESSIONS)
        col += 3
    out[:, col] = np.log1p(clicks_total)
    recent = list(reads)[:READS_KEPT]
    counts = np.bincount(table.section[np.asarray(recent, dtype=np.int64)], minlength=table.n_sections)
    uniform = 1.0 / table.n_sections
    affinity = (counts + AFFINITY_PRIOR_READS * uniform) / (len(recent) + AFFINITY_PRIOR_READS)
    out[:, col + 1] = affinity[table.section[rows]]
    read_rows = np.asarray(recent, dtype=np.int64)
    candidates, read_vectors = table.vectors[rows], table.vectors[read_rows]
    out[:, col + 2] = similarity(candidates, read_vectors)
    out[:, col + 3], out[:, col + 4] = _within_section_and_max(
        candidates, table.section[rows], read_vectors, table.section[read_rows], table.n_sections
    )
    out[:, col + 5] = np.log1p(len(recent))
    return out


def _within_section_and_max(
    candidates: np.ndarray,
    candidate_sections: np.ndarray,
    reads: np.ndarray,
    read_sections: np.ndarray,
    n_sections: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Per candidate (unit rows), the cosine with the mean of the reads of its own section and
    the highest cosine with any one read; zeros without reads (or without vectors)."""
    n = len(candidates)
    if not len(reads):
        return np.zeros(n, dtype=np.float32), np.zeros(n, dtype=np.float32)
    cosines = candidates @ reads.T  # (candidates, reads): rows are unit (or zero) already
    top = int(max(n_sections, int(read_sections.max()) + 1, int(candidate_sections.max(initial=0)) + 1))
    sums = np.zeros((top, reads.shape[1]), dtype=np.float64)
    np.add.at(sums, read_sections, reads)
    norms = np.linalg.norm(sums, axis=1)
    # cos(a, mean of S) = a . sum(S) / |sum(S)|, and a . sum(S) is the sum of a's cosines with S.
    same = candidate_sections[:, None] == read_sections[None, :]
    dots = np.where(same, cosines, 0.0).sum(axis=1)
    norm = norms[candidate_sections]
    within = np.divide(dots, norm, out=np.zeros(n), where=norm > 0)
    return within.astype(np.float32), cosines.max(axis=1).astype(np.float32)


@dataclass
class LoggedLists:
    """Logged impressions with their point-in-time features, grouped by request."""

    request_id: np.ndarray  # str objects
    user_id: np.ndarray
    article: np.ndarray  # row in the ArticleTable
    ts: np.ndarray  # epoch seconds
    position: np.ndarray
    clicked: np.ndarray  # bool
    features: np.ndarray  # (impressions, len(FEATURES)) float32
    known_reader: np.ndarray  # bool: the reader had read something before the request

    def select(self, mask: np.ndarray) -> LoggedLists:
        return LoggedLists(**{name: getattr(self, name)[mask] for name in self.__dataclass_fields__})


class FeatureReplay:
    """Replays events.v1 documents in time order and records, for every impression, the
    features as they were just before its request was served (its own impressions excluded),
    then counts it. Clicks label the impression they name (request_id, position).

    `probes` (reader -> (earliest time, candidate rows)) ask for the features of whole
    candidate sets: at the reader's first request at or after that time, the candidates (those
    published by then and not read yet) are featured from the same state as the request (for top-k evaluation
    over the catalogue)."""

    def __init__(
        self,
        table: ArticleTable,
        *,
        prior_ctr: float,
        probes: Mapping[str, tuple[float, np.ndarray]] | None = None,
        featured: bool = True,
    ):
        self.table = table
        # False: only the lists, labels and readers (every feature row zero), for judging other
        # kinds on exactly the lists the ranker is judged on, without the cost of the features.
        self.featured = featured
        self.prior_ctr = prior_ctr
        self._probes = dict(probes or {})
        self.probed: dict[str, tuple[float, np.ndarray, np.ndarray]] = {}
        n = len(table.ids)
        self.impressions = [DecayedCounts(n, hl) for hl in HALF_LIVES_H]
        self.clicks = [DecayedCounts(n, hl) for hl in HALF_LIVES_H]
        self.clicks_total = np.zeros(n)  # clicks in the window (see WINDOW_H)
        self._click_hours: deque[tuple[int, int]] = deque()  # (hour, row) of the window's clicks
        self.reads: dict[str, deque[int]] = {}
        self._pending: list[tuple[str, str, int, float, int]] = []
        self._rows: list[tuple[str, str, int, float, int, bool]] = []
        self._features: list[np.ndarray] = []
        self._clicked: set[tuple[str, int]] = set()
        self.unknown_articles = 0

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        if not pending:
            return
        request, user, _, ts, _ = pending[0]
        rows = np.array([p[2] for p in pending], dtype=np.int64)
        reads = list(self.reads.get(user, ()))
        positions = np.array([p[4] for p in pending], dtype=np.float32)
        self._features.append(
            self._featured(rows, ts, reads, positions)
            if self.featured
            else np.zeros((len(rows), len(FEATURES)), dtype=np.float32)
        )
        probe = self._probes.get(user)
        if probe is not None and ts >= probe[0]:
            del self._probes[user]
            candidates = probe[1]
            # None from the future, none the reader has read.
            candidates = candidates[self.table.published_s[candidates] <= ts]
            candidates = candidates[~np.isin(candidates, np.asarray(reads, dtype=np.int64))]
            zeros = np.zeros(len(candidates), dtype=np.float32)
            self.probed[user] = (ts, candidates, self._featured(candidates, ts, reads, zeros))
        hour = int(ts // 3_600)
        for p in pending:
            self._rows.append((*p, bool(reads)))
            for counter in self.impressions:
                counter.add(p[2], hour)

    def _featured(self, rows: np.ndarray, ts: float, reads: list[int], positions: np.ndarray) -> np.ndarray:
        hour = int(ts // 3_600)
        clicked = self._click_hours
        while clicked and clicked[0][0] <= hour - WINDOW_H:
            self.clicks_total[clicked.popleft()[1]] -= 1
        return feature_matrix(
            self.table,
            rows,
            now_s=ts,
            positions=positions,
            impressions=[c.at(rows, hour) for c in self.impressions],
            clicks=[c.at(rows, hour) for c in self.clicks],
            clicks_total=self.clicks_total[rows],
            prior_ctr=self.prior_ctr,
            reads=reads,
        )

    def add(self, event: Mapping[str, Any]) -> None:
        kind = event["type"]
        row = self.table.index.get(str(event.get("article_id")))
        if (
            kind == "impression"
            and self._pending
            and self._pending[0][0] != event["request_id"]
            or kind != "impression"
        ):
            self._flush()
        if kind != "impression" and kind not in _READ_TYPES:
            return
        if row is None:
            self.unknown_articles += 1
            return
        ts = epoch_seconds(event["ts"])
        if kind == "impression":
            self._pending.append(
                (str(event["request_id"]), str(event["user_id"]), row, ts, int(event["position"]))
            )
            return
        if kind == "click":
            hour = int(ts // 3_600)
            for counter in self.clicks:
                counter.add(row, hour)
            self.clicks_total[row] += 1
            self._click_hours.append((hour, row))
            if event.get("request_id") is not None and event.get("position") is not None:
                self._clicked.add((str(event["request_id"]), int(event["position"])))
        if kind in _READ_TYPES:
            reads = self.reads.setdefault(str(event["user_id"]), deque(maxlen=READS_KEPT))
            if row in reads:
                reads.remove(row)
            reads.appendleft(row)

    def extend(self, events: Iterable[Mapping[str, Any]]) -> None:
        for event in events:
            self.add(event)

    def result(self) -> LoggedLists:
        self._flush()
        rows = self._rows
        width = len(FEATURES)
        return LoggedLists(
            request_id=np.array([r[0] for r in rows], dtype=object),
            user_id=np.array([r[1] for r in rows], dtype=object),
            article=np.array([r[2] for r in rows], dtype=np.int64),
            ts=np.array([r[3] for r in rows], dtype=float),
            position=np.array([r[4] for r in rows], dtype=np.int64),
            clicked=np.fromiter(((r[0], r[4]) in self._clicked for r in rows), dtype=bool, count=len(rows)),
            features=np.vstack(self._features) if self._features else np.empty((0, width), np.float32),
            known_reader=np.array([r[5] for r in rows], dtype=bool),
        )
