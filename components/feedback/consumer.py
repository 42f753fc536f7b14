"""The feedback consumer: events.v1 -> Redis counts and recent reads, resumable after a crash.

Offsets are committed only after the batch they cover was applied in Redis; a crash in
between replays the batch and the event-id claim in `FeedbackWriter` makes the replay change
nothing. Malformed records are counted and logged with field and reason, never retried (the
lake keeps every raw record; these counts are derived state).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import RedisError

from components.config import Settings
from components.feedback.counts import FeedbackWriter, WriteStats
from components.streaming import new_consumer, rewind_restarted_partitions

log = logging.getLogger("reco.feedback")


@dataclass(frozen=True)
class BatchReport:
    records: int
    stats: WriteStats
    seconds: float
    committed: bool


class FeedbackConsumer:
    def __init__(
        self,
        settings: Settings,
        client: AsyncRedis,
        on_batch: Callable[[BatchReport], None] | None = None,
    ):
        self.settings = settings
        self.writer = FeedbackWriter(client, settings)
        self.on_batch = on_batch
        self.consumer = new_consumer(
            settings.kafka,
            settings.feedback.group_id,
            settings.kafka.events_topic,
            max_poll_records=settings.feedback.max_poll_records,
        )
        self.total = WriteStats()
        self.redis_failures = 0
        self.last_progress = time.monotonic()  # liveness: the loop polled or applied lately

    async def run(self, stop: asyncio.Event) -> None:
        await self.consumer.start()
        try:
            backoff = 0.2
            while not stop.is_set():
                try:
                    polled = await self.consumer.getmany(
                        timeout_ms=200, max_records=self.settings.feedback.max_poll_records
                    )
                except KafkaError as exc:
                    log.warning("poll failed (%r); retrying", exc)
                    await asyncio.sleep(0.5)
                    continue
                self.last_progress = time.monotonic()
                await rewind_restarted_partitions(self.consumer)
                if not polled:
                    continue
                try:
                    await self._apply(polled)
                    backoff = 0.2
                except (RedisError, OSError) as exc:
                    # Nothing was committed: rewind to the batch and try again after a pause.
                    self.redis_failures += 1
                    log.warning("Redis failed (%r); retrying the batch in %.1fs", exc, backoff)
                    for tp, records in polled.items():
                        self.consumer.seek(tp, records[0].offset)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
        finally:
            await self.consumer.stop()

    async def _apply(self, polled: dict[TopicPartition, list[Any]]) -> None:
        started = time.perf_counter()
        raws = [record.value for records in polled.values() for record in records]
        stats = await self.writer.apply(raws)  # raises on a Redis failure: nothing is committed
        for error in stats.invalid[:5]:
            log.warning("skipped a malformed event: %s: %s", error.field, error.reason)
        positions = {tp: records[-1].offset + 1 for tp, records in polled.items()}
        committed = True
        try:
            await self.consumer.commit(positions)
        except KafkaError as exc:
            committed = False  # a rebalance: the new owner replays, the claims make it harmless
            log.warning("offset commit failed (%s); the batch will be replayed", exc)
        self.total.add(stats)
        report = BatchReport(len(raws), stats, time.perf_counter() - started, committed)
        if self.on_batch:
            self.on_batch(report)
