"""Kafka to bronze against a real broker: everything placed, nothing committed early,
unplaceable records dead-lettered, and a crash before a flush replays instead of losing."""

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pyarrow as pa
from aiokafka import AIOKafkaProducer, TopicPartition

from components.config import Settings
from components.events import decode_dead_letter
from components.lake import LakeStore
from components.lake.bronze import read_bronze_file
from components.lake.ingest import BronzeIngestor
from components.streaming import new_consumer
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
