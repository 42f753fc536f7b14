"""Kafka to bronze against a real broker: everything placed, nothing committed early,
unplaceable records dead-lettered, and a crash before a flush replays instead of losing."""

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pyarrow as pa
from aiokafka import AIOKafkaProducer, TopicPartition

from components.config import Settings, load_settings
from components.events import decode_dead_letter
from components.lake import LakeStore
from components.lake.bronze import read_bronze_file
from components.lake.ingest import BronzeIngestor
from components.runtime.tansu import TansuBroker
from components.streaming import BrokerUnavailableError, EventProducer, new_consumer
from components.testing.kafka_read import read_topic

TS = (datetime.now(UTC) - timedelta(days=1)).replace(hour=10, minute=0, second=0, microsecond=0)


def event_bytes(i: int) -> bytes:
    ts = (TS + timedelta(minutes=i)).isoformat().replace("+00:00", "Z")
    return orjson.dumps(
        {"event_id": str(uuid.uuid4()), "type": "view", "user_id": f"u{i % 7}", "article_id": "a1", "ts": ts}
    )


async def produce(settings: Settings, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for i, value in enumerate(values):
            await producer.send(settings.kafka.events_topic, value, key=f"u{i % 7}".encode())
        await producer.flush()
    finally:
        await producer.stop()


async def ingest_until(
    settings: Settings, store: LakeStore, records: int, *, flush: bool = True
) -> BronzeIngestor:
    ingestor = BronzeIngestor(settings, store)
    stop = asyncio.Event()
    task = asyncio.create_task(ingestor.run(stop))
    for _ in range(300):
        if ingestor.total_records + ingestor.batch.count >= records:
            break
        await asyncio.sleep(0.05)
    if flush:
        stop.set()
        await task
    else:  # a crash: no flush, no commit
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return ingestor


def bronze_rows(store: LakeStore) -> pa.Table:
    tables = [read_bronze_file(store.read_bytes(p)) for p in store.list_files("bronze/events/", ".parquet")]
    return pa.concat_tables(tables) if tables else pa.table({})


async def committed(settings: Settings, partitions: int) -> dict[int, int | None]:
    consumer = new_consumer(settings.kafka, settings.ingestor.group_id)
    await consumer.start()
    try:
        return {
            p: await consumer.committed(TopicPartition(settings.kafka.events_topic, p))
            for p in range(partitions)
        }
    finally:
        await consumer.stop()


def test_every_record_lands_in_bronze_and_offsets_follow(reco_settings: Settings) -> None:
    store = LakeStore.from_settings(reco_settings.lake)
    values = [event_bytes(i) for i in range(200)] + [b"not json", b'{"ts": "2026-01-01T00:00:00"}']
    asyncio.run(produce(reco_settings, values))
    asyncio.run(ingest_until(reco_settings, store, len(values)))

    rows = bronze_rows(store)
    assert sorted(rows.column("value").to_pylist()) == sorted(values[:200])
    assert all(
        p.startswith(f"bronze/events/dt={TS.date()}/hour=") for p in store.list_files("bronze/", ".parquet")
    )
    letters = asyncio.run(
        read_topic(reco_settings.kafka.bootstrap_servers, reco_settings.kafka.dead_letter_topic, 2)
    )
    decoded = sorted((decode_dead_letter(r.value) for r in letters), key=lambda d: d.payload)
    assert [d.original_bytes() for d in decoded] == [b"not json", b'{"ts": "2026-01-01T00:00:00"}']
    assert [d.errors[0].code for d in decoded] == ["malformed_json", "naive_timestamp"]
    assert all(d.source == "ingestor" and d.offset is not None for d in decoded)
    # committed positions cover everything consumed, placed or dead-lettered
    positions = asyncio.run(committed(reco_settings, 3))
    per_partition = {p: 0 for p in range(3)}
    for p in rows.column("partition").to_pylist():
        per_partition[p] += 1
    for d in decoded:
        assert d.partition is not None
        per_partition[d.partition] += 1
    assert {p: n for p, n in positions.items() if n} == {p: n for p, n in per_partition.items() if n}


def test_crash_before_flush_replays_instead_of_losing(reco_settings: Settings) -> None:
    settings = reco_settings.model_copy(
        update={
            "ingestor": reco_settings.ingestor.model_copy(
                update={"flush_records": 10_000, "flush_interval_s": 60}
            )
        }
    )
    store = LakeStore.from_settings(settings.lake)
    values = [event_bytes(i) for i in range(300)]
    asyncio.run(produce(settings, values))
    crashed = asyncio.run(ingest_until(settings, store, len(values), flush=False))
    assert crashed.batch.count == 300  # held in memory, never written
    assert store.list_files("bronze/", ".parquet") == []
    assert set(asyncio.run(committed(settings, 3)).values()) == {None}

    asyncio.run(ingest_until(settings, store, len(values)))
    rows = bronze_rows(store)
    assert sorted(rows.column("value").to_pylist()) == sorted(values)


def test_poison_records_become_bounded_dead_letters_and_ingestion_goes_on(reco_settings: Settings) -> None:
    # Regression: a ts of 9999-12-31T23:59:59-23:59 raised OverflowError and crash-looped the
    # ingestor; a 200 KB non-JSON record made a dead letter the broker refused, which stopped it.
    store = LakeStore.from_settings(reco_settings.lake)
    huge = b"\xff\xfe" + b"junk " * 40_000
    poison = [b'{"ts": "9999-12-31T23:59:59-23:59", "type": "view"}', huge]
    values = [event_bytes(i) for i in range(50)] + poison + [event_bytes(i) for i in range(50, 100)]
    asyncio.run(produce(reco_settings, values))
    ingestor = asyncio.run(ingest_until(reco_settings, store, len(values)))
    assert ingestor.total_records == len(values)

    rows = bronze_rows(store)
    assert sorted(rows.column("value").to_pylist()) == sorted(values[:50] + values[52:])
    letters = asyncio.run(
        read_topic(reco_settings.kafka.bootstrap_servers, reco_settings.kafka.dead_letter_topic, 2)
    )
    decoded = {d.errors[0].code: d for d in (decode_dead_letter(r.value) for r in letters)}
    assert set(decoded) == {"timestamp_out_of_range", "malformed_json"}
    big = decoded["malformed_json"]
    assert big.truncated and big.original_bytes_count == len(huge) and big.original_ref
    assert store.read_bytes(big.original_ref) == huge  # kept whole, where the letter says
    assert max(len(r.value) for r in letters) < 200_000
    # every record, poison included, is covered by the committed positions
    assert sum(n or 0 for n in asyncio.run(committed(reco_settings, 3)).values()) == len(values)


def test_a_broker_that_lost_its_log_is_read_again_from_the_start(
    fresh_kafka_broker: TansuBroker, tmp_path: Path
) -> None:
    # Regression: after a quiet broker restart the ingestor sat past the end of the new log
    # (90 of 100 acknowledged events never reached bronze) and the same offsets overwrote
    # earlier bronze files.
    settings = load_settings(
        home=str(tmp_path),
        kafka={"bootstrap_servers": fresh_kafka_broker.bootstrap_servers, "session_timeout_ms": 2_000},
        lake={"root": str(tmp_path / "lake")},
        ingestor={"flush_records": 20, "flush_interval_s": 0.2},
    )
    store = LakeStore.from_settings(settings.lake)

    async def scenario() -> tuple[list[bytes], list[bytes]]:
        producer = EventProducer(settings.kafka, ensure=[settings.kafka.events_topic], timeout_s=3)
        ingestor = BronzeIngestor(settings, store)
        stop = asyncio.Event()
        task = asyncio.create_task(ingestor.run(stop))
        try:
            first = [event_bytes(i) for i in range(60)]
            await producer.send_raw(settings.kafka.events_topic, [(b"k", v) for v in first])
            await _until(lambda: ingestor.total_records >= 60)
            fresh_kafka_broker.stop()
            fresh_kafka_broker.start()
            second = [event_bytes(100 + i) for i in range(25)]
            for value in second:  # a client retrying until acknowledged
                while True:
                    try:
                        await producer.send_raw(settings.kafka.events_topic, [(b"k", value)])
                        break
                    except BrokerUnavailableError:
                        await asyncio.sleep(0.1)
            await _until(lambda: set(second) <= set(bronze_rows(store).column("value").to_pylist()), 60)
            return first, second
        finally:
            stop.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 30)
            await producer.stop()

    first, second = asyncio.run(scenario())
    values = bronze_rows(store).column("value").to_pylist()
    assert set(first) | set(second) <= set(values)  # nothing overwritten, nothing skipped


async def _until(condition: Callable[[], bool], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.1)
