"""Bronze: Kafka records exactly as received, grouped by event date and hour (UTC).

Only the timestamp is read from each message, to place it; anything that cannot be placed
(not JSON, no usable `ts`, whatever else a producer can send) becomes a dead letter with the
reason instead: no record can stop the ingestor.

The bulk importer (components/importer) writes through here too, without Kafka: its records
have topic `import`, partition -1, their sequence in the import run as offset, no broker
timestamp (the run's time is when the platform received them) and an `origin`
("import:<file>#<row>") where Kafka records have null. It writes one file per event date per
run, named by its content (a re-import rewrites the same file); `compact_imports` merges the
import files of a date into one.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from components.events import FieldError
from components.events.time import TimestampError, parse_timestamp
from components.lake.layout import bronze_file, bronze_import_file, bronze_prefix
from components.lake.store import LakeStore

BRONZE_SCHEMA = pa.schema(
    [
        pa.field("key", pa.binary()),
        pa.field("value", pa.binary(), nullable=False),
        pa.field("topic", pa.string(), nullable=False),
        pa.field("partition", pa.int32(), nullable=False),
        pa.field("offset", pa.int64(), nullable=False),
        pa.field("kafka_timestamp_ms", pa.int64()),
        pa.field("ingested_at", pa.timestamp("us", tz="UTC"), nullable=False),
        # Where a record not from Kafka came from ("import:<file>#<row>"); null for Kafka's.
        # Files written before it read with nulls.
        pa.field("origin", pa.string()),
    ]
)
# The coordinates of records from a bulk import (no Kafka topic, partition or broker clock).
IMPORT_TOPIC = "import"
IMPORT_PARTITION = -1

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
                    "origin": pa.nulls(n, pa.string()),
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


def content_digest(values: list[bytes] | pa.Array) -> str:
    """Short digest of a file's records: a replay of the same records names the same file,
    and offsets that restart (a re-created topic, a wiped broker) never overwrite another."""
    digest = hashlib.blake2b(digest_size=8)
    if isinstance(values, pa.Array | pa.ChunkedArray):
        # The same bytes as the loop below, from the array's buffers (no Python objects).
        array = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
        if array.null_count:
            raise ValueError("bronze values are never null")
        array = array.cast(pa.large_binary())
        lengths = np.asarray(pc.binary_length(array), dtype="<u8")
        prefixes = pa.FixedSizeBinaryArray.from_buffers(
            pa.binary(8), len(array), [None, pa.py_buffer(lengths)]
        )
        joined = pc.binary_join_element_wise(
            prefixes.cast(pa.large_binary()), array, pa.scalar(b"", pa.large_binary())
        )
        _, offsets, data = joined.buffers()
        start, stop = np.frombuffer(offsets, dtype=np.int64)[[joined.offset, joined.offset + len(joined)]]
        if data is not None:
            digest.update(memoryview(data)[start:stop])
        return digest.hexdigest()
    for value in values:
        digest.update(len(value).to_bytes(8, "little"))
        digest.update(value)
    return digest.hexdigest()


def read_bronze_file(data: bytes) -> pa.Table:
    """A bronze file in today's schema (files from before `origin` read with nulls there)."""
    return pq.read_table(io.BytesIO(data), schema=BRONZE_SCHEMA)


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def import_table(
    keys: pa.Array, values: pa.Array, offsets: pa.Array, origins: pa.Array, received_at: datetime
) -> pa.Table:
    """Bronze rows of imported records: topic `import`, partition -1, no broker timestamp,
    `received_at` (the run's time) as when the platform received them."""
    n = len(values)
    return pa.table(
        {
            "key": keys.cast(pa.binary()),
            "value": values.cast(pa.binary()),
            "topic": pa.array([IMPORT_TOPIC] * n, pa.string()),
            "partition": pa.array(np.full(n, IMPORT_PARTITION, dtype=np.int32)),
            "offset": offsets.cast(pa.int64()),
            "kafka_timestamp_ms": pa.nulls(n, pa.int64()),
            "ingested_at": pa.array(np.full(n, _micros(received_at), dtype="datetime64[us]")).cast(
                pa.timestamp("us", tz="UTC")
            ),
            "origin": origins.cast(pa.string()),
        },
        schema=BRONZE_SCHEMA,
    )


def _micros(at: datetime) -> int:
    return (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def write_import_file(store: LakeStore, dt: str, table: pa.Table) -> str:
    """Write one date's imported records as one file named by their content (durable when
    this returns); returns its path."""
    path = bronze_import_file(dt, content_digest(table.column("value")))
    store.write_atomic(path, _parquet(table))
    return path


def import_files(store: LakeStore, dt: str) -> list[str]:
    """The import files of a date (the importer's own names: rewritten ones are Kafka-named)."""
    return [
        p
        for p in store.list_files(bronze_prefix(dt), ".parquet")
        if p.rsplit("/", 1)[-1].startswith("import-")
    ]


def compact_imports(store: LakeStore, dt: str) -> tuple[str | None, list[str]]:
    """Merge the import files of `dt` into one (the compacted file, the files it replaced).

    The merged file holds each distinct record once (an identical record imported twice is
    the same event: the earliest import's row is kept, as silver would keep it), ordered by
    its bytes, and is named by its content: compacting again, or after re-importing the same
    rows, gives the same file. The old files are removed only once it is durable."""
    files = import_files(store, dt)
    if len(files) < 2:
        return (files[0] if files else None), []
    table = pa.concat_tables([read_bronze_file(store.read_bytes(path)) for path in files])
    order = pc.sort_indices(
        table, sort_keys=[("value", "ascending"), ("ingested_at", "ascending"), ("offset", "ascending")]
    )
    table = table.take(order)
    values = table.column("value").combine_chunks()
    keep = np.ones(table.num_rows, dtype=bool)
    if table.num_rows > 1:
        keep[1:] = ~np.asarray(pc.equal(values.slice(1), values.slice(0, len(values) - 1)), dtype=bool)
    table = table.filter(pa.array(keep))
    path = write_import_file(store, dt, table)
    replaced = [old for old in files if old != path]
    for old in replaced:
        store.delete(old)
    return path, replaced
