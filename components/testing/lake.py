"""Put records into a bronze lake the way the ingestor does, without Kafka (for lake tests)."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence
from datetime import datetime

from components.lake import BronzeBatch, LakeStore

# The fields of an aiokafka ConsumerRecord that BronzeBatch reads.
KafkaRecord = namedtuple("KafkaRecord", "topic partition offset key value timestamp")


def write_bronze(
    store: LakeStore,
    values: Sequence[bytes],
    *,
    partition: int | Sequence[int] = 0,
    first_offset: int = 0,
    ingested_at: datetime | None = None,
    received_at: datetime | None = None,
    topic: str = "events.v1",
) -> list[str]:
    """Write `values` as bronze files (record i at offset first_offset + i); returns the paths.
    `received_at` is the records' Kafka timestamp (when the broker got them; none by default)."""
    partitions = [partition] * len(values) if isinstance(partition, int) else list(partition)
    kafka_ms = int(received_at.timestamp() * 1000) if received_at is not None else 0
    batch = BronzeBatch()
    for i, (value, part) in enumerate(zip(values, partitions, strict=True)):
        batch.add(KafkaRecord(topic, part, first_offset + i, b"k", value, kafka_ms))
    paths = []
    for path, data, _ in batch.files(ingested_at=ingested_at):
        store.write_atomic(path, data)
        paths.append(path)
    return paths
