"""Kafka to bronze: a consumer-group loop that commits offsets only after files are durable.

Each flush writes one Parquet file per (event date, hour, Kafka partition), atomically, sends
the records that could not be placed to the dead-letter topic and waits for the broker's
acknowledgement, and only then commits the consumed positions. A crash anywhere before the
commit replays the same records into files of the same names (or overlapping ones, which the
silver build deduplicates by event_id): nothing is lost, and silver holds nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from components.config import Settings
from components.events import DeadLetter, EventValidationError
from components.lake.bronze import BronzeBatch
from components.lake.store import LakeStore
from components.streaming import EventProducer, new_consumer

log = logging.getLogger("reco.ingestor")
SOURCE = "ingestor"


@dataclass
class FlushStats:
    records: int
    files: int
    dead_letters: int
    seconds: float
    committed: bool = True


class _FlushOnRevoke(ConsumerRebalanceListener):
    def __init__(self, ingestor: BronzeIngestor):
        self.ingestor = ingestor

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        # Hand over a clean position: flush what we hold before another member takes over.
        await self.ingestor.flush()

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        log.info("assigned %s", sorted((tp.topic, tp.partition) for tp in assigned))


class BronzeIngestor:
    def __init__(
        self, settings: Settings, store: LakeStore, on_flush: Callable[[FlushStats], None] | None = None
    ):
        self.settings = settings
        self.store = store
        self.on_flush = on_flush
        self.batch = BronzeBatch()
        self.consumer = new_consumer(
            settings.kafka, settings.ingestor.group_id, max_poll_records=settings.ingestor.max_poll_records
        )
        self.dead_letters = EventProducer(settings.kafka, ensure=[settings.kafka.dead_letter_topic])
        self._flush_lock = asyncio.Lock()
        self._last_flush = time.monotonic()
        self.total_records = 0
        self.last_progress = time.monotonic()  # liveness: the loop polled lately

    async def flush(self) -> FlushStats | None:
        async with self._flush_lock:
            batch, self.batch = self.batch, BronzeBatch()
            if not batch.count:
                self._last_flush = time.monotonic()
                return None
            started = time.perf_counter()
            files = await asyncio.to_thread(self._write, batch)
            if batch.unplaced:
                letters = [
                    DeadLetter.from_rejection(
                        u.value,
                        EventValidationError([u.error]),
                        source=SOURCE,
                        topic=u.topic,
                        partition=u.partition,
                        offset=u.offset,
                    )  # fmt: skip
                    for u in batch.unplaced
                ]
                await self.dead_letters.send_dead_letters(letters)
            positions = {
                TopicPartition(topic, partition): offset
                for (topic, partition), offset in batch.positions.items()
            }
            committed = True
            try:
                await self.consumer.commit(positions)
            except CommitFailedError as exc:
                committed = False
                # The group moved on (rebalance): the new owner replays from the last commit;
                # the files just written make those records duplicates, which silver drops.
                log.warning("commit after flush failed (%s); records will be replayed", exc)
            self._last_flush = time.monotonic()
            self.total_records += batch.count
            stats = FlushStats(
                batch.count, files, len(batch.unplaced), time.perf_counter() - started, committed
            )
            if self.on_flush:
                self.on_flush(stats)
            return stats

    def _write(self, batch: BronzeBatch) -> int:
        files = batch.files()
        for path, data, _ in files:
            self.store.write_atomic(path, data)
        return len(files)

    def _flush_due(self) -> bool:
        cfg = self.settings.ingestor
        return self.batch.count >= cfg.flush_records or (
            self.batch.count > 0 and time.monotonic() - self._last_flush >= cfg.flush_interval_s
        )

    async def run(self, stop: asyncio.Event) -> None:
        self.consumer.subscribe([self.settings.kafka.events_topic], listener=_FlushOnRevoke(self))
        await self.consumer.start()
        try:
            while not stop.is_set():
                try:
                    polled = await self.consumer.getmany(
                        timeout_ms=200, max_records=self.settings.ingestor.max_poll_records
                    )
                    self.last_progress = time.monotonic()
                except KafkaError as exc:
                    log.warning("poll failed (%r); retrying", exc)
                    await asyncio.sleep(0.5)
                    continue
                async with self._flush_lock:
                    for records in polled.values():
                        for record in records:
                            self.batch.add(record)
                if self._flush_due():
                    await self.flush()
            await self.flush()
        finally:
            await self.consumer.stop()
            await self.dead_letters.stop()
