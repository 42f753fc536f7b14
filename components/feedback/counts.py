"""Exposure and click counts per article and event-time hour, and recent reads per user.

Layout (prefix = RECO_REDIS__KEY_PREFIX; the formats are built and pinned in components.names):
    {prefix}fb:{hour}            hash  i:{article} -> impressions, c:{article} -> clicks
    {prefix}recent:{user}        list  recent reads, newest first (components.feedback.recent.py)
    {prefix}fb:seen:{event_id}   string, expires: the event was applied
    {prefix}erased:{sha256}      string, read only: the reader was erased at (epoch seconds)

Each event is applied by one Lua script that first claims its event id (SET NX) and only then
counts it, so applying an event twice (a replay after a crash, a redelivery) changes nothing,
and an event is never half applied. Counts are keyed by the event's own hour, not by arrival,
so a windowed read ("the last 72 hours at time t") means the same thing live and in a replay.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson
from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from components.config import Settings
from components.events.errors import FieldError
from components.events.schema import EXPOSURE_TYPES, POSITIVE_TYPES, READ_TYPES, EventType
from components.events.time import TimestampError, parse_timestamp
from components.feedback.recent import RECENT_TTL_S
from components.names import (
    CLICK_FIELD,
    IMPRESSION_FIELD,
    erased_key,
    feedback_bucket_key,
    feedback_seen_key,
    recent_key,
)

# The script builds no key: KEYS (seen, bucket, recent, erased marker) come from
# components.names. ARGV: seen_ttl, count field ("" for none), bucket_ttl, article ("" for no
# read), recent_max, recent_ttl, event time (epoch seconds).
# An erased reader's read from before the erasure (the marker holds when, components.erasure)
# is not recorded again; checking the marker in the script, not before it, leaves no window for
# an erasure between the check and the write. The article's counts hold no reader: always kept.
_APPLY = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
if ARGV[2] ~= '' then
  redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
  redis.call('EXPIRE', KEYS[2], ARGV[3])
end
if ARGV[4] ~= '' then
  local erased = redis.call('GET', KEYS[4])
  if not erased or tonumber(ARGV[7]) > tonumber(erased) then
    redis.call('LREM', KEYS[3], 0, ARGV[4])
    redis.call('LPUSH', KEYS[3], ARGV[4])
    redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[5]) - 1)
    redis.call('EXPIRE', KEYS[3], ARGV[6])
  end
end
return 1
"""

# An impression counts as exposure, a click as a click; clicks and views are reads.
_COUNTED = {
    **{kind.value: IMPRESSION_FIELD for kind in EXPOSURE_TYPES},
    **{kind.value: CLICK_FIELD for kind in POSITIVE_TYPES},
}
_IMPRESSION_FIELD = IMPRESSION_FIELD.encode()
_READS = frozenset(kind.value for kind in READ_TYPES)
_TYPES = frozenset(kind.value for kind in EventType)


@dataclass(frozen=True)
class Feedback:
    event_id: str
    type: str
    user_id: str
    article_id: str
    hour: int  # event time, hours since the epoch
    ts_s: float = 0.0  # event time, epoch seconds


def parse_feedback(raw: bytes) -> Feedback | FieldError:
    """The fields the counts need, or the first field that is missing or malformed. The events
    on the topic passed the collector's contract or come from the recommend service; this is
    a guard, not a second validation."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return FieldError("$", f"not JSON: {exc}")
    if not isinstance(doc, dict):
        return FieldError("$", "not a JSON object")
    for name in ("event_id", "type", "user_id", "article_id", "ts"):
        value = doc.get(name)
        if not isinstance(value, str) or not value:
            return FieldError(name, "missing or not a non-empty string")
    if doc["type"] not in _TYPES:
        return FieldError("type", f"unknown event type {doc['type']!r}")
    try:
        ts = parse_timestamp(doc["ts"])
    except TimestampError as exc:
        return FieldError("ts", exc.reason, exc.code)
    seconds = ts.timestamp()
    return Feedback(
        doc["event_id"], doc["type"], doc["user_id"], doc["article_id"], int(seconds // 3600), seconds
    )


@dataclass
class WriteStats:
    applied: int = 0
    duplicates: int = 0
    invalid: list[FieldError] = field(default_factory=list)
    by_type: dict[str, int] = field(default_factory=dict)

    def add(self, other: WriteStats) -> None:
        self.applied += other.applied
        self.duplicates += other.duplicates
        self.invalid.extend(other.invalid)
        for kind, n in other.by_type.items():
            self.by_type[kind] = self.by_type.get(kind, 0) + n


class FeedbackWriter:
    def __init__(self, client: AsyncRedis, settings: Settings):
        self.client = client
        self.prefix = settings.redis.key_prefix
        self.cfg = settings.feedback
        self._script = client.register_script(_APPLY)

    async def apply(self, raws: Sequence[bytes]) -> WriteStats:
        """Apply a batch in one pipelined round trip; returns what was new, what was a
        duplicate and what was malformed (each with the field and reason). Raises if Redis
        fails: the caller must not commit the batch's offsets then."""
        stats = WriteStats()
        parsed: list[Feedback] = []
        for raw in raws:
            item = parse_feedback(raw)
            if isinstance(item, FieldError):
                stats.invalid.append(item)
            else:
                parsed.append(item)
        if not parsed:
            return stats
        cfg, prefix = self.cfg, self.prefix
        async with self.client.pipeline(transaction=False) as pipe:
            for event in parsed:
                counted = _COUNTED.get(event.type)
                await self._script(
                    keys=[
                        feedback_seen_key(prefix, event.event_id),
                        feedback_bucket_key(prefix, event.hour),
                        recent_key(prefix, event.user_id),
                        erased_key(prefix, hashlib.sha256(event.user_id.encode()).hexdigest()),
                    ],
                    args=[
                        cfg.dedup_ttl_s,
                        f"{counted}{event.article_id}" if counted else "",
                        cfg.bucket_ttl_s,
                        event.article_id if event.type in _READS else "",
                        cfg.recent_max,
                        RECENT_TTL_S,
                        repr(event.ts_s),
                    ],
                    client=pipe,
                )
            results = await pipe.execute()
        for event, applied in zip(parsed, results, strict=True):
            if applied:
                stats.applied += 1
                stats.by_type[event.type] = stats.by_type.get(event.type, 0) + 1
            else:
                stats.duplicates += 1
        return stats


def read_buckets(
    client: Redis, prefix: str, hours: Sequence[int]
) -> dict[int, dict[str, tuple[float, float]]]:
    """The hourly buckets of `hours` (event hours since the epoch): article -> (impressions, clicks)."""
    with client.pipeline(transaction=False) as pipe:
        for hour in hours:
            pipe.hgetall(feedback_bucket_key(prefix, hour))
        raw: list[dict[bytes, bytes]] = pipe.execute()
    out: dict[int, dict[str, tuple[float, float]]] = {}
    for hour, bucket in zip(hours, raw, strict=True):
        counts: dict[str, list[float]] = {}
        for name, value in bucket.items():
            pair = counts.setdefault(name[2:].decode(), [0.0, 0.0])
            pair[0 if name[:2] == _IMPRESSION_FIELD else 1] += float(value)
        out[hour] = {a: (c[0], c[1]) for a, c in counts.items()}
    return out


def read_exposure(client: Redis, prefix: str, now_s: float, window_h: int) -> dict[str, tuple[float, float]]:
    """Impressions and clicks per article over the `window_h` event-time hours up to `now_s`."""
    last = int(now_s // 3600)
    totals: dict[str, tuple[float, float]] = {}
    for bucket in read_buckets(client, prefix, range(last - window_h + 1, last + 1)).values():
        for article, (imps, clicks) in bucket.items():
            old = totals.get(article, (0.0, 0.0))
            totals[article] = (old[0] + imps, old[1] + clicks)
    return totals
