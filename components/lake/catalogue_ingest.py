"""Kafka `articles.v1` to the lake's versioned catalogue, and withdrawals pushed to serving.

A consumer-group loop like the bronze ingestor's: it gathers changes for
`catalogue_flush_interval_s`, appends them to the lake (components.lake.catalog.apply_changes:
change file, snapshot, manifest), then pushes what was withdrawn or returned to the recommend
replicas through Redis (a sorted set a replica loads when it connects, and a pub/sub message it
acts on at once), and only then commits the offsets. A crash before the commit replays the same
changes, which rewrite the same files. The push is for speed only: if Redis is down the
change still reaches serving with the next catalogue snapshot it reads, so it never blocks the
commit.

No record stops the loop: one that breaks the contract, or whose key is not its article id,
becomes a dead letter with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError
from redis.asyncio import Redis

from components.config import Settings
from components.events import DeadLetter, EventValidationError, FieldError
from components.events.articles import ArticleStatus, check_article_id, decode_article
from components.events.dead_letter import MAX_PAYLOAD_BYTES
from components.lake.catalog import ArticleChange, CatalogResult, apply_changes
from components.lake.layout import dead_letter_original
from components.lake.store import LakeStore
from components.names import catalogue_channel, catalogue_withdrawn_key
from components.streaming import EventProducer, new_consumer

log = logging.getLogger("reco.catalogue")
SOURCE = "catalogue"
# How long a withdrawal stays in the Redis set: far longer than any replica takes to read the
# next snapshot (which holds it for good).
WITHDRAWN_KEEP = timedelta(days=1)


@dataclass
class CatalogueFlush:
    changes: int
    withdrawn: int
    returned: int
    dead_letters: int
    pushed: bool
    seconds: float
    content_hash: str | None


def record_time(timestamp_ms: int | None) -> datetime:
    """When the broker got the record (the change's version time); now for a record without."""
    if timestamp_ms and timestamp_ms > 0:
        return datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC)
    return datetime.now(UTC)


@dataclass(frozen=True)
class Rejected:
    """A record that holds no catalogue change, and why (dead-lettered at the flush)."""

    record: Any
    errors: list[FieldError]


def change_of(record: Any, received: datetime | None = None) -> ArticleChange | Rejected:
    """The catalogue change a record of `articles.v1` holds (received at `received`, default
    the record's timestamp), or why it holds none."""
    received = received or record_time(record.timestamp)
    origin = f"kafka:{record.topic}/{record.partition}/{record.offset}"
    key = record.key.decode("utf-8", "replace") if record.key else ""
    if not key:
        return Rejected(
            record, [FieldError("$key", "missing: articles.v1 records are keyed by article id", "missing")]
        )
    if (problem := check_article_id(key)) is not None:
        return Rejected(record, [FieldError("$key", problem.reason, problem.code)])
    if record.value is None:
        return ArticleChange(key, None, received, origin, record.offset)
    try:
        article = decode_article(record.value, now=received)
    except EventValidationError as exc:
        return Rejected(record, list(exc.errors))
    if article.article_id != key:
        return Rejected(record, [FieldError("$key", f"is {key!r}, not the article's id", "key_mismatch")])
    return ArticleChange(key, article, received, origin, record.offset)


def dead_letter(rejected: Rejected, store: LakeStore) -> DeadLetter:
    """The bounded dead letter of a rejected record; an original too large for one is kept
    whole in the lake first (the broker acknowledged it: it must not be lost) and named."""
    record = rejected.record
    value = record.value or b""
    ref = None
    if len(value) > MAX_PAYLOAD_BYTES:
        ref = dead_letter_original(hashlib.sha256(value).hexdigest())
        store.write_atomic(ref, value)
    return DeadLetter.from_rejection(
        value,
        EventValidationError(rejected.errors),
        source=SOURCE,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        original_ref=ref,
    )


async def push_withdrawals(
    redis: Redis, prefix: str, statuses: dict[str, str], now: datetime
) -> tuple[int, int]:
    """Tell the recommend replicas which articles left the catalogue (`statuses`: the articles a
    flush changed, with their status now), and which of the ones that had left came back: the
    set first (a replica connecting now loads it), then the message. An ordinary upsert of a
    published article is not pushed (the next snapshot read brings it). Returns (withdrawn,
    returned)."""
    gone = {a: now.timestamp() for a, status in statuses.items() if status != ArticleStatus.PUBLISHED.value}
    published = [a for a, status in statuses.items() if status == ArticleStatus.PUBLISHED.value]
    key = catalogue_withdrawn_key(prefix)
    back: list[str] = []
    if published:
        async with redis.pipeline(transaction=False) as pipe:
            for article in published:
                pipe.zrem(key, article)
            removed = await pipe.execute()
        back = [a for a, n in zip(published, removed, strict=True) if n]
    async with redis.pipeline(transaction=True) as pipe:
        if gone:
            pipe.zadd(key, gone)
        pipe.zremrangebyscore(key, "-inf", (now - WITHDRAWN_KEEP).timestamp())
        await pipe.execute()
    message = [{"article_id": a, "withdrawn": True} for a in gone] + [
        {"article_id": a, "withdrawn": False} for a in back
    ]
    if message:
        await redis.publish(catalogue_channel(prefix), orjson.dumps(message))
    return len(gone), len(back)


class CatalogueIngestor:
    def __init__(
        self,
        settings: Settings,
        store: LakeStore,
        on_flush: Callable[[CatalogueFlush], None] | None = None,
    ):
        self.settings = settings
        self.store = store
        self.on_flush = on_flush
        self.consumer = new_consumer(settings.kafka, settings.ingestor.catalogue_group_id)
        self.dead_letters = EventProducer(settings.kafka, ensure=[settings.kafka.dead_letter_topic])
        self.redis = Redis.from_url(settings.redis.url, socket_timeout=5, socket_connect_timeout=5)
        self.changes: list[ArticleChange] = []
        self.rejected: list[Rejected] = []
        self.positions: dict[TopicPartition, int] = {}
        self._clock: dict[TopicPartition, datetime] = {}
        self._last_flush = time.monotonic()
        self.last_progress = time.monotonic()
        self.total_changes = 0
        self.last_result: CatalogResult | None = None

    async def flush(self) -> CatalogueFlush | None:
        """Write what was gathered to the lake, dead-letter the rejected records, push the
        withdrawals, then commit. Raises (nothing committed, everything kept for the next try)
        when the lake or the broker fails."""
        if not self.positions:
            self._last_flush = time.monotonic()
            return None
        started = time.perf_counter()
        changes, rejected, positions = self.changes, self.rejected, self.positions
        result = await asyncio.to_thread(apply_changes, self.store, changes) if changes else None
        if rejected:
            letters = await asyncio.to_thread(lambda: [dead_letter(r, self.store) for r in rejected])
            await self.dead_letters.send_dead_letters(letters)
        gone = back = 0
        pushed = True
        if result is not None and result.statuses:
            try:
                gone, back = await push_withdrawals(
                    self.redis, self.settings.redis.key_prefix, result.statuses, datetime.now(UTC)
                )
            except Exception as exc:  # the snapshot holds it: serving sees it at its next read
                pushed = False
                log.warning("could not push %d catalogue change(s) to Redis (%r)", len(result.statuses), exc)
        try:
            await self.consumer.commit(positions)
        except KafkaError as exc:
            log.warning("commit after the catalogue flush failed (%r); changes will be replayed", exc)
        self.changes, self.rejected, self.positions = [], [], {}
        self._last_flush = time.monotonic()
        self.last_progress = time.monotonic()
        self.total_changes += len(changes)
        self.last_result = result or self.last_result
        stats = CatalogueFlush(
            len(changes), gone, back, len(rejected), pushed, time.perf_counter() - started,
            result.content_hash if result else None,
        )  # fmt: skip
        if self.on_flush:
            self.on_flush(stats)
        return stats

    def _received(self, tp: TopicPartition, record: Any) -> datetime:
        """The record's time, never before the previous record's on its partition: the broker's
        order (the offset) is the order of the changes, whatever the producers' clocks say."""
        received = max(record_time(record.timestamp), self._clock.get(tp, datetime.min.replace(tzinfo=UTC)))
        self._clock[tp] = received
        return received

    async def run(self, stop: asyncio.Event) -> None:
        self.consumer.subscribe([self.settings.kafka.articles_topic])
        await self.consumer.start()
        interval = self.settings.ingestor.catalogue_flush_interval_s
        backoff = interval
        try:
            while not stop.is_set():
                if self.positions and time.monotonic() - self._last_flush >= interval:
                    try:
                        await self.flush()
                        backoff = interval
                    except Exception as exc:  # the lake or the broker: kept, retried after a pause
                        self._last_flush = time.monotonic()
                        log.warning("catalogue flush failed (%r): kept, retried in %.1f s", exc, backoff)
                        # Read no more meanwhile: what is held stays bounded.
                        await asyncio.sleep(backoff)
                        backoff = min(backoff * 2, 30.0)
                        continue
                try:
                    polled = await self.consumer.getmany(timeout_ms=100, max_records=1_000)
                    if not self.positions:
                        self.last_progress = time.monotonic()
                except KafkaError as exc:
                    log.warning("catalogue poll failed (%r); retrying", exc)
                    await asyncio.sleep(0.5)
                    continue
                for tp, records in polled.items():
                    for record in records:
                        change = change_of(record, self._received(tp, record))
                        if isinstance(change, Rejected):
                            self.rejected.append(change)
                        else:
                            self.changes.append(change)
                    self.positions[tp] = records[-1].offset + 1
                if polled:
                    await asyncio.sleep(0)
            with contextlib.suppress(Exception):
                await self.flush()
        finally:
            await self.consumer.stop()
            await self.dead_letters.stop()
            await self.redis.aclose()
