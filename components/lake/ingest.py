"""Kafka to bronze: a consumer-group loop that commits offsets only after files are durable.

Each flush writes one Parquet file per (event date, hour, Kafka partition), atomically, sends
the records that could not be placed to the dead-letter topic and waits for the broker's
acknowledgement, and only then commits the consumed positions. A crash anywhere before the
commit replays the same records into files of the same names (or overlapping ones, which the
silver build deduplicates by event_id): nothing is lost, and silver holds nothing twice.

No record can stop the loop: one that cannot be placed becomes a dead letter (bounded in size;
an original too large for one is first kept whole in the lake and the letter names it). A
partition whose log started over (a re-created topic, a broker that lost its data) is read
again from its start, and positions of its old log are never committed.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from components.config import Settings
from components.events import DeadLetter, EventValidationError
from components.events.dead_letter import MAX_PAYLOAD_BYTES
from components.lake.bronze import BronzeBatch, Unplaced
from components.lake.layout import dead_letter_original
from components.lake.store import LakeStore
from components.streaming import (
    BrokerUnavailableError,
    EventProducer,
    new_consumer,
    rewind_restarted_partitions,
)

log = logging.getLogger("reco.ingestor")
SOURCE = "ingestor"


@dataclass
class FlushStats:
    records: int
    files: int
    dead_letters: int
    seconds: float
    committed: bool = True
    originals_kept: int = 0
    # Partitions found past the broker's end since the last flush (their log started over).
    log_restarts: int = 0


class _FlushOnRevoke(ConsumerRebalanceListener):
    def __init__(self, ingestor: BronzeIngestor):
        self.ingestor = ingestor

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        # Hand over a clean position: flush what we hold before another member takes over.
        try:
            await self.ingestor.flush()
        except BrokerUnavailableError as exc:  # the new owner replays from the last commit
            log.warning("flush before the hand-over failed (%s)", exc)

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
        self.log_restarts = 0  # partitions found past the broker's end and read again
        self._restarts_reported = 0
        self.last_progress = time.monotonic()  # liveness: the loop polled lately

    async def flush(self) -> FlushStats | None:
        async with self._flush_lock:
            batch, self.batch = self.batch, BronzeBatch()
            if not batch.count:
                self._last_flush = time.monotonic()
                return None
            started = time.perf_counter()
            files = await asyncio.to_thread(self._write, batch)
            kept = 0
            if batch.unplaced:
                letters, kept = await asyncio.to_thread(self._letters, batch.unplaced)
                try:
                    await self._send_dead_letters(letters)
                except BrokerUnavailableError:
                    # Nothing committed; keep the batch for the next flush (its files are
                    # rewritten under the same names) and let the loop go on polling.
                    self.batch = batch
                    self._last_flush = time.monotonic()
                    raise
            positions = {
                TopicPartition(topic, partition): offset
                for (topic, partition), offset in batch.positions.items()
            }
            committed = True
            try:
                if positions:
                    await self.consumer.commit(positions)
            except KafkaError as exc:
                committed = False
                # The group moved on (rebalance, a coordinator that lost the group): the new
                # owner replays from the last commit; the files just written make those
                # records duplicates, which silver drops.
                log.warning("commit after flush failed (%r); records will be replayed", exc)
            self._last_flush = time.monotonic()
            self.total_records += batch.count
            stats = FlushStats(
                batch.count,
                files,
                len(batch.unplaced),
                time.perf_counter() - started,
                committed,
                originals_kept=kept,
                log_restarts=self.log_restarts - self._restarts_reported,
            )
            self._restarts_reported = self.log_restarts
            if self.on_flush:
                self.on_flush(stats)
            return stats

    def _letters(self, unplaced: list[Unplaced]) -> tuple[list[DeadLetter], int]:
        """One bounded dead letter per record; an original too large for one is kept whole in
        the lake first (the broker acknowledged it: it must not be lost) and the letter names it."""
        letters, kept = [], 0
        for u in unplaced:
            ref = None
            if len(u.value) > MAX_PAYLOAD_BYTES:
                ref = dead_letter_original(hashlib.sha256(u.value).hexdigest())
                self.store.write_atomic(ref, u.value)
                kept += 1
            letters.append(
                DeadLetter.from_rejection(
                    u.value,
                    EventValidationError([u.error]),
                    source=SOURCE,
                    topic=u.topic,
                    partition=u.partition,
                    offset=u.offset,
                    original_ref=ref,
                )
            )
        return letters, kept

    async def _send_dead_letters(self, letters: list[DeadLetter]) -> None:
        """Retried with backoff through a short broker outage; then the flush fails without
        committing (the records are replayed, nothing is lost)."""
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(BrokerUnavailableError),
            wait=wait_exponential(multiplier=0.5, max=5),
            stop=stop_after_attempt(5),
            reraise=True,
        ):
            with attempt:
                await self.dead_letters.send_dead_letters(letters)

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
                    restarted = await rewind_restarted_partitions(self.consumer)
                    for tp in restarted:
                        # Never commit a position of the old log: the new one starts over.
                        self.batch.positions.pop((tp.topic, tp.partition), None)
                    self.log_restarts += len(restarted)
                if self._flush_due():
                    try:
                        await self.flush()
                    except BrokerUnavailableError as exc:
                        # The dead letters could not be delivered: nothing was committed; the
                        # next flush (after the flush interval) tries again.
                        log.warning("flush deferred: %s", exc)
            await self.flush()
        finally:
            await self.consumer.stop()
            await self.dead_letters.stop()
