"""Bronze to silver for one event date: typed, deduplicated by event_id, validated, hashed.

The build is a full recompute of the date from every bronze file filed under it, so late
files and replays are absorbed and a rebuild of the same bronze gives the same silver. Steps:

1. check every bronze record with the `events.v1` contract (failures: quarantine, reason),
   against the clock of when the platform received it (the broker's timestamp of the record:
   the same clock the collector checked it against, so what it accepted is never
   quarantined for its age however late it is ingested; an imported record: the import's
   time). Column-wise (components/events/vectorised.py, proven to decide as the model does),
   the model itself for what that does not pass, so reasons are the contract's;
2. deduplicate by `event_id`, first by Kafka position wins; a redelivery (same content) is
   dropped and counted, a conflicting reuse of an id (other content) is quarantined; an event
   filed under another day than its own is quarantined;
3. run the Great Expectations suite; rows failing a row-level expectation go to quarantine
   with the expectation's name (a bulk import may leave the suite to validation, which runs it
   before every training: it costs about 3 µs a row);
4. write the silver file, the quarantine file, then the manifest (row count, content hash,
   bronze inputs, lateness rule, expectation summary). The manifest is written last: readers
   that follow it never see a half-built partition. Files of earlier builds are removed after it.

The lateness limit is the partition's rule: a build given one records it (a limit above the
default makes the partition a backfill), a build given none keeps the recorded one, so a
daily rebuild of a backfilled date does not quarantine its history.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as time_of_day
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from components.events import Event, encode_event
from components.events.columns import TIMESTAMP, silver_schema
from components.events.schema import MAX_EVENT_AGE
from components.events.vectorised import max_age_for, validate_batch
from components.lake.bronze import IMPORT_PARTITION, read_bronze_file
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
from components.lake.tombstones import drop_erased_bronze, erased_users
from components.validation import validate_silver_events

# 2: `received_at` (when the broker got the record; the lateness rule's clock).
# 3: the columns derive from `events.v1` (`session_id` added, every integer 64-bit).
# 4: `source` (what put an impression's item in the list: a candidate source).
SCHEMA_VERSION = 4
SILVER_SCHEMA = silver_schema()
QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("value", pa.binary(), nullable=False),
        pa.field("kafka_partition", pa.int32(), nullable=False),
        pa.field("kafka_offset", pa.int64(), nullable=False),
        pa.field("failed_check", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        # Where a record from a bulk import came from ("import:<file>#<row>"); null for Kafka's.
        pa.field("origin", pa.string()),
    ]
)
DEFAULT_LATENESS_DAYS = MAX_EVENT_AGE.days
# The day rule, named as the suite names it: an event belongs to the day it is filed under.
DAY_CHECK = "expect_column_values_to_be_between(ts_day_offset_s)"


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
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step of the build
    fast_rows: int = 0  # rows the column-wise contract decided (the rest went to the model)


@dataclass
class _Quarantined:
    value: list[bytes] = field(default_factory=list)
    partition: list[int] = field(default_factory=list)
    offset: list[int] = field(default_factory=list)
    check: list[str] = field(default_factory=list)
    reason: list[str] = field(default_factory=list)
    origin: list[str | None] = field(default_factory=list)

    def add(
        self, value: bytes, partition: int, offset: int, check: str, reason: str, origin: str | None = None
    ) -> None:
        self.value.append(value)
        self.partition.append(partition)
        self.offset.append(offset)
        self.check.append(check)
        self.reason.append(reason)
        self.origin.append(origin)

    def add_row(
        self,
        values: pa.Array,
        partitions: pa.Array,
        offsets: pa.Array,
        origins: pa.Array,
        row: int,
        check: str,
        reason: str,
    ) -> None:
        """Bronze record `row` (of the build's arrays)."""
        self.add(
            values[row].as_py(),
            partitions[row].as_py(),
            offsets[row].as_py(),
            check,
            reason,
            origins[row].as_py(),
        )

    def table(self) -> pa.Table:
        return pa.table(
            {
                "value": pa.array(self.value, pa.binary()),
                "kafka_partition": pa.array(self.partition, pa.int32()),
                "kafka_offset": pa.array(self.offset, pa.int64()),
                "failed_check": pa.array(self.check, pa.string()),
                "reason": pa.array(self.reason, pa.string()),
                "origin": pa.array(self.origin, pa.string()),
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
    # Deterministic "first wins": Kafka order, then arrival. Imported records (partition -1)
    # have no Kafka order across runs: the earlier run wins, then the row's place in it.
    imported = pc.equal(table.column("partition"), IMPORT_PARTITION)
    arrival = table.column("ingested_at").cast(pa.int64())
    offset = table.column("offset")
    keys = pa.table(
        {
            "partition": table.column("partition"),
            "first": pc.if_else(imported, arrival, offset),
            "then": pc.if_else(imported, offset, arrival),
        }
    )
    order = pc.sort_indices(
        keys, sort_keys=[("partition", "ascending"), ("first", "ascending"), ("then", "ascending")]
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


def content_hash(events: list[Event]) -> str:
    """sha256 of the events' canonical JSON, ordered by event_id: the partition's lineage key.

    Independent of how the events arrived (Kafka positions, replays, file layout)."""
    digest = hashlib.sha256()
    for encoded in sorted(encode_event(e) for e in events):
        digest.update(encoded)
        digest.update(b"\n")
    return digest.hexdigest()


def lateness_rule(store: LakeStore, dt: date | str, lateness_days: int | None = None) -> int:
    """The lateness limit (days) a build or a validation of `dt` applies: the one given, else
    the one the partition was built with (its manifest: a backfill keeps its rule), else the
    default (`events.v1`'s MAX_EVENT_AGE)."""
    if lateness_days is not None:
        if lateness_days < 0:
            raise ValueError(f"lateness_days must be 0 or more (got {lateness_days})")
        return lateness_days
    if store.exists(silver_manifest_path(dt)):
        recorded = read_manifest(store, dt).get("lateness_days")
        if recorded is not None:
            return int(recorded)
    return DEFAULT_LATENESS_DAYS


def _received(bronze: pa.Table) -> pa.Array:
    """`received_times` for a whole bronze table (arrays, not Python objects)."""
    ingested = bronze.column("ingested_at").combine_chunks()
    ms = pc.fill_null(bronze.column("kafka_timestamp_ms").combine_chunks(), 0)
    broker = pc.cast(pc.multiply(ms, 1000), pa.int64()).cast(TIMESTAMP)
    usable = pc.and_(pc.greater(ms, 0), pc.less_equal(broker, ingested))
    return pc.if_else(usable, broker, ingested)


def silver_pandas(table: pa.Table) -> pd.DataFrame:
    """Silver rows as the frame the suite checks: nullable integer and float dtypes, and
    Arrow-backed strings (the suite reads them several times faster than Python objects,
    and no Python string is made)."""
    dtypes = {
        pa.int32(): pd.Int64Dtype(),
        pa.int64(): pd.Int64Dtype(),
        pa.float64(): pd.Float64Dtype(),
        pa.string(): pd.StringDtype("pyarrow"),
    }
    frame = table.to_pandas(types_mapper=dtypes.get)
    for column in table.schema:
        if pa.types.is_timestamp(column.type):
            frame[column.name] = pd.to_datetime(frame[column.name], utc=True)
    return frame


def build_silver(
    store: LakeStore,
    dt: date | str,
    *,
    lateness_days: int | None = None,
    replace_worse: bool = False,
    great_expectations: bool = True,
) -> SilverResult:
    """Rebuild the silver partition of `dt` from its bronze files. Raises SilverRegressionError,
    writing nothing, when the partition holds rows and the rebuild would leave it empty or
    quarantine most of bronze, unless `replace_worse`.

    `lateness_days`: the oldest arrival lag accepted; None keeps the partition's recorded rule
    (30 days unless it was built as a backfill). A limit above the default makes the partition
    a backfill, and the manifest says so. `great_expectations=False` leaves the suite to
    validation (`components.lake.validate`, run before every training): every row-level rule
    of the suite is already the contract's, checked here column-wise."""
    dt = str(dt)
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    rule = lateness_rule(store, dt, lateness_days)
    bronze, bronze_files = _read_bronze(store, dt)
    # Erasure (components/lake/tombstones.py): an erased reader's records received before it go.
    bronze, erased = drop_erased_bronze(bronze, erased_users(store))
    values = bronze.column("value").combine_chunks()
    partitions = bronze.column("partition").combine_chunks()
    offsets = bronze.column("offset").combine_chunks()
    origins = bronze.column("origin").combine_chunks()
    received = _received(bronze)
    timings["read_s"] = time.perf_counter() - clock

    # 1. The contract, against when the platform received each record. The broker stamps a
    # record a moment after the collector checked it: the skew allowance (max_age_for) keeps an
    # event accepted at the limit from being refused here.
    clock = time.perf_counter()
    verdict = validate_batch(values, now=received, max_age=max_age_for(rule))
    quarantine = _Quarantined()
    for row, exc in sorted(verdict.errors.items()):
        quarantine.add_row(values, partitions, offsets, origins, row, "events.v1 contract", str(exc))
    timings["contract_s"] = time.perf_counter() - clock

    # 2. One row per event_id: the first by Kafka position (then arrival) wins.
    clock = time.perf_counter()
    rows = verdict.rows
    ids = verdict.events.column("event_id").combine_chunks()
    codes = np.asarray(pc.dictionary_encode(ids).indices, dtype=np.int64)
    _, first_position, inverse = np.unique(codes, return_index=True, return_inverse=True)
    first = first_position[inverse]
    repeats = np.flatnonzero(first != np.arange(len(rows)))
    same = np.asarray(
        pc.equal(verdict.canonical.take(pa.array(repeats)), verdict.canonical.take(pa.array(first[repeats]))),
        dtype=bool,
    )
    duplicates = int(same.sum())  # redeliveries: the same event again
    for position in repeats[~same].tolist():
        quarantine.add_row(
            values,
            partitions,
            offsets,
            origins,
            int(rows[position]),
            "unique event_id",
            "duplicate event_id with different content",
        )
    kept = np.ones(len(rows), dtype=bool)
    kept[repeats] = False
    # Events belong to the day they are filed under (bronze files them by `ts`).
    day_start = datetime.combine(date.fromisoformat(dt), time_of_day(0), tzinfo=UTC)
    ts = verdict.events.column("ts")
    in_day = np.asarray(
        pc.and_(
            pc.greater_equal(ts, pa.scalar(day_start, TIMESTAMP)),
            pc.less(ts, pa.scalar(day_start + timedelta(days=1), TIMESTAMP)),
        ),
        dtype=bool,
    )
    for position in np.flatnonzero(kept & ~in_day).tolist():
        quarantine.add_row(
            values, partitions, offsets, origins, int(rows[position]), DAY_CHECK, f"failed: {DAY_CHECK}"
        )
    kept &= in_day
    keep = pa.array(np.flatnonzero(kept))
    take = pa.array(rows[kept])
    events = verdict.events.take(keep)
    canonical = verdict.canonical.take(keep)
    lineage = {
        "kafka_partition": partitions.take(take),
        "kafka_offset": offsets.take(take),
        "ingested_at": bronze.column("ingested_at").combine_chunks().take(take),
        "received_at": received.take(take),
    }
    table = pa.table({**{n: events.column(n) for n in events.column_names}, **lineage}).cast(SILVER_SCHEMA)
    timings["dedup_s"] = time.perf_counter() - clock

    # 3. The Great Expectations suite; rows failing a row-level expectation go to quarantine.
    clock = time.perf_counter()
    summary: dict[str, dict[str, Any]] = {}
    if great_expectations:
        outcome = validate_silver_events(silver_pandas(table), date.fromisoformat(dt), lateness_days=rule)
        table_checks = {k: v for k, v in outcome.summary.items() if k.startswith("expect_table")}
        if not all(v["success"] for v in table_checks.values()):
            raise SilverSchemaError(f"silver frame failed {table_checks}")
        bad_rows = outcome.reasons_by_row()
        kept_rows = rows[kept]
        for position, names in sorted(bad_rows.items()):
            quarantine.add_row(
                values,
                partitions,
                offsets,
                origins,
                int(kept_rows[position]),
                ", ".join(names),
                "failed: " + "; ".join(names),
            )
        if bad_rows:
            good = pa.array(sorted(set(range(table.num_rows)) - set(bad_rows)), pa.int64())
            table, canonical = table.take(good), canonical.take(good)
        summary = outcome.summary
    timings["expectations_s"] = time.perf_counter() - clock

    clock = time.perf_counter()
    digest = _content_hash(table.column("event_id"), canonical)
    silver = table.sort_by([("ts", "ascending"), ("event_id", "ascending")])
    count = silver.num_rows

    if not replace_worse:
        _refuse_regression(store, dt, count, quarantine, len(values), rule)
    silver_file = f"{silver_prefix(dt)}part-{digest[:16]}.parquet" if count else None
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
        "row_count": count,
        "content_hash": digest,
        "silver_file": silver_file,
        "quarantine_file": quarantine_file,
        "quarantined": quarantine_table.num_rows,
        "duplicates_dropped": duplicates,
        "bronze_rows": len(values),
        "bronze_files": bronze_files,
        "erased": erased.rows,  # records of erased readers left out (erased_readers: sha256 ids)
        "erased_readers": sorted(erased.readers),
        # The lateness rule it was built with; a later build without one keeps it.
        "lateness_days": rule,
        "backfill": rule > DEFAULT_LATENESS_DAYS,
        # The suite's summary, or {} when it was left to validation (great_expectations=False).
        "expectations": summary,
        "built_at": datetime.now(UTC).isoformat(),
    }
    store.write_atomic(silver_manifest_path(dt), json.dumps(manifest, indent=2, sort_keys=True).encode())
    for stale in store.list_files(silver_prefix(dt), ".parquet") + store.list_files(
        quarantine_prefix(dt), ".parquet"
    ):
        if stale not in (silver_file, quarantine_file):
            store.delete(stale)
    timings["write_s"] = time.perf_counter() - clock
    return SilverResult(
        dt=dt,
        rows=count,
        content_hash=digest,
        bronze_rows=len(values),
        quarantined=quarantine_table.num_rows,
        duplicates_dropped=duplicates,
        silver_file=silver_file,
        quarantine_file=quarantine_file,
        manifest=manifest,
        timings={k: round(v, 3) for k, v in timings.items()},
        fast_rows=verdict.fast,
    )


def _content_hash(event_ids: pa.ChunkedArray | pa.Array, canonical: pa.Array) -> str:
    """`content_hash` from the canonical encodings: sha256 of them in byte order, each followed
    by a newline. Every encoding starts `{"event_id":"<uuid>"` and the ids are distinct, so the
    byte order is the event_id order (cheaper to sort)."""
    order = pc.sort_indices(event_ids)
    ordered = canonical.take(order).cast(pa.large_binary())
    lines = pc.binary_join_element_wise(
        ordered, pa.scalar(b"\n", pa.large_binary()), pa.scalar(b"", pa.large_binary())
    )
    digest = hashlib.sha256()
    _, offsets, data = lines.buffers()
    if data is not None and len(lines):
        start, stop = np.frombuffer(offsets, dtype=np.int64)[[lines.offset, lines.offset + len(lines)]]
        digest.update(memoryview(data)[start:stop])
    return digest.hexdigest()


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
