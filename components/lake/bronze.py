"""Bronze: Kafka records exactly as received, grouped by event date and hour (UTC).

Only the timestamp is read from each message, to place it; anything that cannot be placed
(not JSON, no usable `ts`, whatever else a producer can send) becomes a dead letter with the
reason instead: no record can stop the ingestor.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from components.events import FieldError
from components.events.time import TimestampError, parse_timestamp
from components.lake.layout import bronze_file

BRONZE_SCHEMA = pa.schema(
    [
        pa.field("key", pa.binary()),
        pa.field("value", pa.binary(), nullable=False),
        pa.field("topic", pa.string(), nullable=False),
        pa.field("partition", pa.int32(), nullable=False),
        pa.field("offset", pa.int64(), nullable=False),
        pa.field("kafka_timestamp_ms", pa.int64()),
        pa.field("ingested_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)

log = logging.getLogger("reco.lake.bronze")

# "YYYY-MM-DDTHH" prefixes already checked once: the common case costs a dict lookup.
_known_hours: dict[str, tuple[str, str]] = {}


def route_event_time(value: bytes) -> tuple[str, str] | FieldError:
    """(date, hour) in UTC of the event's `ts`, or why it cannot be placed. Never raises."""
    try:
        return _route(value)
    except Exception as exc:  # a record must never stop the ingestor: it becomes a dead letter
        log.warning("unplaceable record (%d bytes): %r", len(value or b""), exc)
        return FieldError("$", f"cannot be placed: {type(exc).__name__}", "unplaceable")


def _route(value: bytes) -> tuple[str, str] | FieldError:
    try:
        document = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        return FieldError("$", f"malformed JSON: {exc}", "malformed_json")
    if not isinstance(document, dict):
        return FieldError(
            "$", f"wrong type ({type(document).__name__}): an event is a JSON object", "wrong_type"
        )
    ts = document.get("ts")
    if ts is None:
        return FieldError("ts", "missing field", "missing")
    if isinstance(ts, str) and len(ts) >= 20 and ts[-1] == "Z":
        known = _known_hours.get(ts[:13])
        if known is not None:
            return known
    try:
        utc = parse_timestamp(ts)  # the event model's parser: what the collector accepts, routes
    except TimestampError as exc:
        return FieldError("ts", exc.reason, exc.code)
    placed = (utc.strftime("%Y-%m-%d"), utc.strftime("%H"))
    if ts[-1] == "Z" and len(ts) >= 20:
        _known_hours[ts[:13]] = placed
    return placed


@dataclass
class _Rows:
    key: list[bytes | None] = field(default_factory=list)
    value: list[bytes] = field(default_factory=list)
    offset: list[int] = field(default_factory=list)
    timestamp: list[int] = field(default_factory=list)


@dataclass
class Unplaced:
    """A record that cannot go to bronze, and why."""

    topic: str
    partition: int
    offset: int
    value: bytes
    error: FieldError


class BronzeBatch:
    """Records collected since the last flush, grouped into the files they will become."""

    def __init__(self) -> None:
        self._groups: dict[tuple[str, str, str, int], _Rows] = defaultdict(_Rows)
        self.unplaced: list[Unplaced] = []
        # Next offset to commit per (topic, partition): last seen + 1, placed or not.
        self.positions: dict[tuple[str, int], int] = {}
        self.count = 0

    def add(self, record: Any) -> None:
        """Add an aiokafka ConsumerRecord (topic, partition, offset, key, value, timestamp)."""
        self.count += 1
        self.positions[(record.topic, record.partition)] = record.offset + 1
        placed = route_event_time(record.value)
        if isinstance(placed, FieldError):
            self.unplaced.append(
                Unplaced(record.topic, record.partition, record.offset, record.value, placed)
            )
            return
        rows = self._groups[(placed[0], placed[1], record.topic, record.partition)]
        rows.key.append(record.key)
        rows.value.append(record.value)
        rows.offset.append(record.offset)
        rows.timestamp.append(record.timestamp)

    def files(self, ingested_at: datetime | None = None) -> list[tuple[str, bytes, int]]:
        """(lake path, Parquet bytes, rows) for every group."""
        now = ingested_at or datetime.now(UTC)
        out = []
        for (dt, hour, topic, partition), rows in sorted(self._groups.items()):
            n = len(rows.value)
            table = pa.table(
                {
                    "key": pa.array(rows.key, pa.binary()),
                    "value": pa.array(rows.value, pa.binary()),
                    "topic": pa.array([topic] * n, pa.string()),
                    "partition": pa.array([partition] * n, pa.int32()),
                    "offset": pa.array(rows.offset, pa.int64()),
                    "kafka_timestamp_ms": pa.array(rows.timestamp, pa.int64()),
                    "ingested_at": pa.array([now] * n, pa.timestamp("us", tz="UTC")),
                },
                schema=BRONZE_SCHEMA,
            )
            sink = io.BytesIO()
            pq.write_table(table, sink, compression="zstd")
            path = bronze_file(
                dt, hour, partition, min(rows.offset), max(rows.offset), content_digest(rows.value)
            )
            out.append((path, sink.getvalue(), n))
        return out


def content_digest(values: list[bytes]) -> str:
    """Short digest of a file's records: a replay of the same records names the same file,
    and offsets that restart (a re-created topic, a wiped broker) never overwrite another."""
    digest = hashlib.blake2b(digest_size=8)
    for value in values:
        digest.update(len(value).to_bytes(8, "little"))
        digest.update(value)
    return digest.hexdigest()


def read_bronze_file(data: bytes) -> pa.Table:
    return pq.read_table(io.BytesIO(data), schema=BRONZE_SCHEMA)
