"""Bronze to silver for one event date: typed, deduplicated by event_id, validated, hashed.

The build is a full recompute of the date from every bronze file filed under it, so late
files and replays are absorbed and a rebuild of the same bronze gives the same silver. Steps:

1. parse every bronze record with the `events.v1` contract (failures: quarantine, reason),
   against the clock of when the platform received it (the broker's timestamp of the record:
   the same clock the collector checked it against, so what it accepted is never
   quarantined for its age however late it is ingested);
2. deduplicate by `event_id`, first by Kafka position wins; a redelivery (same content) is
   dropped and counted, a conflicting reuse of an id (other content) is quarantined;
3. run the Great Expectations suite; rows failing a row-level expectation go to quarantine
   with the expectation's name;
4. write the silver file, the quarantine file, then the manifest (row count, content hash,
   bronze inputs, expectation summary). The manifest is written last: readers that follow it
   never see a half-built partition. Files of earlier builds are removed after it.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from components.events import Event, EventValidationError, decode_event, encode_event
from components.events.columns import event_row, silver_schema
from components.events.schema import MAX_EVENT_AGE, MAX_FUTURE_SKEW
from components.lake.bronze import read_bronze_file
from components.lake.layout import (
    BRONZE,
    SILVER,
    bronze_prefix,
    partition_dates,
    quarantine_prefix,
    silver_manifest_path,
    silver_prefix,
)
from components.lake.store import LakeStore
from components.validation import validate_silver_events

# 2: `received_at` (when the broker got the record; the lateness rule's clock).
# 3: the columns derive from `events.v1` (`session_id` added, every integer 64-bit).
SCHEMA_VERSION = 3
SILVER_SCHEMA = silver_schema()
QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("value", pa.binary(), nullable=False),
        pa.field("kafka_partition", pa.int32(), nullable=False),
        pa.field("kafka_offset", pa.int64(), nullable=False),
        pa.field("failed_check", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
    ]
)


class SilverSchemaError(RuntimeError):
    """The typed frame does not have the silver columns: a bug, never a data problem."""


class SilverRegressionError(RuntimeError):
    """A rebuild would replace a partition that holds rows with an empty or mostly quarantined
    one (a flow run over old dates with the wrong lateness limit, a bronze folder gone missing).
    Nothing is written: the partition stays as it was."""


def _refuse_regression(
    store: LakeStore, dt: str, rows: int, quarantine: _Quarantined, bronze_rows: int, lateness_days: int
) -> None:
    if not store.exists(silver_manifest_path(dt)):
        return
    before = int(read_manifest(store, dt).get("row_count") or 0)
    quarantined = len(quarantine.value)
    if before == 0 or (rows > 0 and quarantined * 2 <= bronze_rows):
        return
    checks = Counter(quarantine.check).most_common(3)
    why = "; ".join(
        f"{n} x {check}: {quarantine.reason[quarantine.check.index(check)][:160]}" for check, n in checks
    )
    raise SilverRegressionError(
        f"silver {dt}: the rebuild would replace {before} rows with {rows} ({quarantined} of "
        f"{bronze_rows} bronze rows quarantined{': ' + why if why else ''}); the partition is left as "
        f"it was. Events older than the lateness limit ({lateness_days} days) need a backfill build "
        "with a longer one (--lateness-days); to replace the partition anyway, pass replace_worse "
        "(--replace-worse)."
    )


@dataclass
class SilverResult:
    dt: str
    rows: int
    content_hash: str
    bronze_rows: int
    quarantined: int
    duplicates_dropped: int
    silver_file: str | None
    quarantine_file: str | None
    manifest: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Quarantined:
    value: list[bytes] = field(default_factory=list)
    partition: list[int] = field(default_factory=list)
    offset: list[int] = field(default_factory=list)
    check: list[str] = field(default_factory=list)
    reason: list[str] = field(default_factory=list)

    def add(self, value: bytes, partition: int, offset: int, check: str, reason: str) -> None:
        self.value.append(value)
        self.partition.append(partition)
        self.offset.append(offset)
        self.check.append(check)
        self.reason.append(reason)

    def table(self) -> pa.Table:
        return pa.table(
            {
                "value": pa.array(self.value, pa.binary()),
                "kafka_partition": pa.array(self.partition, pa.int32()),
                "kafka_offset": pa.array(self.offset, pa.int64()),
                "failed_check": pa.array(self.check, pa.string()),
                "reason": pa.array(self.reason, pa.string()),
            },
            schema=QUARANTINE_SCHEMA,
        )


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def _read_bronze(store: LakeStore, dt: str) -> tuple[pa.Table, list[str]]:
    files = store.list_files(bronze_prefix(dt), ".parquet")
    tables = [read_bronze_file(store.read_bytes(path)) for path in files]
    if not tables:
        raise FileNotFoundError(f"no bronze files under {store.uri(bronze_prefix(dt))}")
    table = pa.concat_tables(tables)
    # Deterministic "first wins": Kafka order, then arrival.
    order = pc.sort_indices(
        table, sort_keys=[("partition", "ascending"), ("offset", "ascending"), ("ingested_at", "ascending")]
    )
    return table.take(order), files


def received_times(kafka_ms: list[int | None], ingested: list[datetime]) -> list[datetime]:
    """When the platform received each record: the broker's timestamp (set by the collector's
    producer when it accepted the event), or the ingest time when the record has none or one
    later than its ingestion (a foreign producer's clock)."""
    out = []
    for ms, ingested_at in zip(kafka_ms, ingested, strict=True):
        received = datetime.fromtimestamp(ms / 1000, tz=UTC) if ms and ms > 0 else None
        out.append(received if received is not None and received <= ingested_at else ingested_at)
    return out


def _rows(events: list[tuple[Event, int, int, datetime, datetime]]) -> dict[str, list[Any]]:
    cols: dict[str, list[Any]] = {name: [] for name in SILVER_SCHEMA.names}
    for event, partition, offset, ingested_at, received_at in events:
        row = event_row(event)
        row.update(
            kafka_partition=partition, kafka_offset=offset, ingested_at=ingested_at, received_at=received_at
        )
        for name, value in row.items():
            cols[name].append(value)
    return cols


def silver_frame(columns: dict[str, list[Any]]) -> pd.DataFrame:
    """The silver columns as a pandas frame with nullable dtypes (what the suite checks)."""
    frame = pd.DataFrame(columns, columns=SILVER_SCHEMA.names)
    for column in SILVER_SCHEMA:
        if pa.types.is_timestamp(column.type):
            frame[column.name] = pd.to_datetime(frame[column.name], utc=True)
        elif pa.types.is_integer(column.type):
            frame[column.name] = frame[column.name].astype("Int64")
        elif pa.types.is_floating(column.type):
            frame[column.name] = frame[column.name].astype("Float64")
    return frame


def content_hash(events: list[Event]) -> str:
    """sha256 of the events' canonical JSON, ordered by event_id: the partition's lineage key.

    Independent of how the events arrived (Kafka positions, replays, file layout)."""
    digest = hashlib.sha256()
    for encoded in sorted(encode_event(e) for e in events):
        digest.update(encoded)
        digest.update(b"\n")
    return digest.hexdigest()


def build_silver(
    store: LakeStore, dt: date | str, *, lateness_days: int = MAX_EVENT_AGE.days, replace_worse: bool = False
) -> SilverResult:
    """Rebuild the silver partition of `dt` from its bronze files. Raises SilverRegressionError,
    writing nothing, when the partition holds rows and the rebuild would leave it empty or
    quarantine most of bronze, unless `replace_worse`."""
    dt = str(dt)
    bronze, bronze_files = _read_bronze(store, dt)
    values = bronze.column("value").to_pylist()
    partitions = bronze.column("partition").to_pylist()
    offsets = bronze.column("offset").to_pylist()
    ingested = bronze.column("ingested_at").to_pylist()
    received = received_times(bronze.column("kafka_timestamp_ms").to_pylist(), ingested)

    quarantine = _Quarantined()
    kept: list[tuple[Event, int, int, datetime, datetime]] = []
    kept_values: list[bytes] = []
    first_seen: dict[str, bytes] = {}
    duplicates = 0
    rows = zip(values, partitions, offsets, ingested, received, strict=True)
    for value, partition, offset, ingested_at, received_at in rows:
        try:
            # The receiver's clock (future and lateness checks) is when the platform got it.
            # The broker stamps a record a moment after the collector checked it: the skew
            # allowance keeps an event accepted at the limit from being refused here.
            event = decode_event(
                value, now=received_at, max_age=timedelta(days=lateness_days) + MAX_FUTURE_SKEW
            )
        except EventValidationError as exc:
            quarantine.add(value, partition, offset, "events.v1 contract", str(exc))
            continue
        event_id = str(event.event_id)
        canonical = encode_event(event)
        seen = first_seen.get(event_id)
        if seen is not None:
            if seen == canonical:
                duplicates += 1  # a redelivery: the same event again
            else:
                quarantine.add(
                    value, partition, offset, "unique event_id", "duplicate event_id with different content"
                )
            continue
        first_seen[event_id] = canonical
        kept.append((event, partition, offset, ingested_at, received_at))
        kept_values.append(value)

    frame = silver_frame(_rows(kept))
    outcome = validate_silver_events(frame, date.fromisoformat(dt), lateness_days=lateness_days)
    table_checks = {k: v for k, v in outcome.summary.items() if k.startswith("expect_table")}
    if not all(v["success"] for v in table_checks.values()):
        raise SilverSchemaError(f"silver frame failed {table_checks}")
    bad_rows = outcome.reasons_by_row()
    for row, names in sorted(bad_rows.items()):
        _, partition, offset, _, _ = kept[row]
        quarantine.add(kept_values[row], partition, offset, ", ".join(names), "failed: " + "; ".join(names))
    good = [i for i in range(len(kept)) if i not in bad_rows]
    events = [kept[i][0] for i in good]
    silver = pa.Table.from_pandas(frame.iloc[good], schema=SILVER_SCHEMA, preserve_index=False)
    silver = silver.sort_by([("ts", "ascending"), ("event_id", "ascending")])
    digest = content_hash(events)

    if not replace_worse:
        _refuse_regression(store, dt, len(events), quarantine, len(values), lateness_days)
    silver_file = f"{silver_prefix(dt)}part-{digest[:16]}.parquet" if len(events) else None
    quarantine_table = quarantine.table()
    quarantine_file = None
    if quarantine_table.num_rows:
        q_digest = hashlib.sha256(b"".join(sorted(quarantine.value))).hexdigest()[:16]
        quarantine_file = f"{quarantine_prefix(dt)}part-{q_digest}.parquet"
    if silver_file:
        store.write_atomic(silver_file, _parquet(silver))
    if quarantine_file:
        store.write_atomic(quarantine_file, _parquet(quarantine_table))
    manifest = {
        "dt": dt,
        "schema_version": SCHEMA_VERSION,
        "row_count": len(events),
        "content_hash": digest,
        "silver_file": silver_file,
        "quarantine_file": quarantine_file,
        "quarantined": quarantine_table.num_rows,
        "duplicates_dropped": duplicates,
        "bronze_rows": len(values),
        "bronze_files": bronze_files,
        "expectations": outcome.summary,
        "built_at": datetime.now(UTC).isoformat(),
    }
    store.write_atomic(silver_manifest_path(dt), json.dumps(manifest, indent=2, sort_keys=True).encode())
    for stale in store.list_files(silver_prefix(dt), ".parquet") + store.list_files(
        quarantine_prefix(dt), ".parquet"
    ):
        if stale not in (silver_file, quarantine_file):
            store.delete(stale)
    return SilverResult(
        dt=dt,
        rows=len(events),
        content_hash=digest,
        bronze_rows=len(values),
        quarantined=quarantine_table.num_rows,
        duplicates_dropped=duplicates,
        silver_file=silver_file,
        quarantine_file=quarantine_file,
        manifest=manifest,
    )


def read_manifest(store: LakeStore, dt: date | str) -> dict[str, Any]:
    return dict(json.loads(store.read_bytes(silver_manifest_path(dt))))


def read_silver(store: LakeStore, dt: date | str) -> pa.Table:
    """The silver partition the manifest points at (empty table if it holds no rows), in the
    current schema: a column an older build lacks is filled (`received_at` from
    `ingested_at`, a newer optional field with nulls) and older types are cast."""
    manifest = read_manifest(store, dt)
    if not manifest["silver_file"]:
        return SILVER_SCHEMA.empty_table()
    table = pq.read_table(io.BytesIO(store.read_bytes(manifest["silver_file"])))
    for column in SILVER_SCHEMA:
        if column.name in table.column_names:
            continue
        if column.name == "received_at":
            table = table.append_column("received_at", table.column("ingested_at"))
        elif column.nullable:
            table = table.append_column(column, pa.nulls(table.num_rows, column.type))
        else:
            raise SilverSchemaError(f"silver {dt}: required column {column.name!r} is missing")
    return table.select(SILVER_SCHEMA.names).cast(SILVER_SCHEMA)


def read_quarantine(store: LakeStore, dt: date | str) -> pa.Table:
    manifest = read_manifest(store, dt)
    if not manifest["quarantine_file"]:
        return QUARANTINE_SCHEMA.empty_table()
    return pq.read_table(io.BytesIO(store.read_bytes(manifest["quarantine_file"])), schema=QUARANTINE_SCHEMA)


def load_silver_frame(
    store: LakeStore, dates: list[str], columns: list[str]
) -> tuple[pd.DataFrame, dict[str, str]]:
    """The given columns of the silver partitions of `dates`, and each date's content hash."""
    frames, hashes = [], {}
    for dt in dates:
        frames.append(read_silver(store, dt).select(columns).to_pandas())
        hashes[str(dt)] = read_manifest(store, dt)["content_hash"]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    return frame, hashes


def bronze_dates(store: LakeStore) -> list[str]:
    return partition_dates(store.list_files(BRONZE + "/", ".parquet"), BRONZE)


def silver_dates(store: LakeStore) -> list[str]:
    """Dates with a built silver partition (a manifest)."""
    return partition_dates(store.list_files(SILVER + "/", "_manifest.json"), SILVER)
