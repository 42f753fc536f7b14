"""Carry the tombstones through the lake (`pipelines/erasure/main.py apply`).

1. Bronze: every file holding a record of an erased reader received before the erasure is
   rewritten without those records. The new file is named by its content (the ingestor's own
   naming: Kafka range and digest of the records kept) and written durably before the old
   one is removed, so a crash leaves the old file or both (a rerun finishes: the silver build
   keeps the first of two copies of an event, and the next apply removes the old file again).
   A file left with no record is removed.
2. Silver: every partition whose bronze was rewritten, that still holds an erased reader's
   rows, or whose quarantine still keeps a record of one received before the erasure (an
   earlier run rewrote bronze, then stopped before the rebuild) is rebuilt (the build drops
   the records anyway; quarantine is rebuilt with it). A partition with no bronze left is
   removed.
3. Feast's offline sources (the feature rows files in the lake): every row of an erased reader
   is removed; the next feature build recomputes the rows of whoever came back since.

Idempotent: a second run over the same tombstones finds nothing to do.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from components.lake import LakeStore
from components.lake.bronze import content_digest, read_bronze_file
from components.lake.layout import (
    BRONZE,
    ERASURE_APPLIED,
    QUARANTINE,
    SILVER,
    bronze_file,
    bronze_prefix,
    quarantine_prefix,
    silver_manifest_path,
)
from components.lake.silver import (
    SilverRegressionError,
    bronze_dates,
    build_silver,
    read_silver,
    silver_dates,
)
from components.lake.tombstones import (
    Erased,
    bronze_erased_rows,
    bronze_received,
    erased_rows,
    erased_users,
    record_user,
    user_hash,
)
from feature_repo.definitions import USER_STATS, VIEWS

log = logging.getLogger("reco.erasure")
# Bronze files a bulk import wrote (`import-<digest>.parquet`, components/lake/layout.py).
IMPORT_FILE_PREFIX = "import-"


@dataclass
class LakeErasure:
    """What `apply_erasure` changed."""

    readers: int = 0  # tombstones honoured
    bronze_files_rewritten: int = 0
    bronze_files_removed: int = 0
    bronze_records_removed: int = 0
    silver_rebuilt: list[str] = field(default_factory=list)
    silver_removed: list[str] = field(default_factory=list)
    feature_rows_removed: int = 0
    # dates whose silver rebuild failed, and why (the tombstones still hold: rerun after fixing)
    failed: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def _date_of(path: str) -> str:
    """The `dt=` of a bronze file's path."""
    return next(part[3:] for part in path.split("/") if part.startswith("dt="))


def _hour_of(path: str) -> str:
    return next(part[5:] for part in path.split("/") if part.startswith("hour="))


def rewrite_bronze_file(store: LakeStore, path: str, erased: Erased) -> tuple[int, str | None]:
    """Rewrite one bronze file without the erased readers' records; (records removed, the
    new file or None when nothing is left or nothing changed)."""
    table = read_bronze_file(store.read_bytes(path))
    mask, owners = bronze_erased_rows(table, erased)
    if not owners:
        return 0, path
    kept = table.filter(pa.array(~mask))
    new_path = None
    if kept.num_rows:
        digest = content_digest(kept.column("value").to_pylist())
        folder, name = path.rsplit("/", 1)
        if name.startswith(IMPORT_FILE_PREFIX):
            # A bulk import's file keeps the importer's naming (by content), so its
            # compaction still finds it.
            new_path = f"{folder}/{IMPORT_FILE_PREFIX}{digest}.parquet"
        else:
            offsets = kept.column("offset").to_pylist()
            partitions = set(kept.column("partition").to_pylist())
            if len(partitions) != 1:
                raise ValueError(
                    f"{path}: a bronze file holds one Kafka partition (found {sorted(partitions)})"
                )
            new_path = bronze_file(
                _date_of(path), _hour_of(path), partitions.pop(), min(offsets), max(offsets), digest
            )
        store.write_atomic(new_path, _parquet(kept))  # durable before the old file goes
    if new_path != path:
        store.delete(path)
    return len(owners), new_path


def _silver_holds_erased(store: LakeStore, dt: str, erased: Erased) -> tuple[bool, bool]:
    """(the partition holds erased rows, it holds nothing else)."""
    table = read_silver(store, dt).select(["user_id", "received_at"])
    mask = erased_rows(table, erased)
    return bool(mask.any()), bool(mask.all()) and table.num_rows > 0


def _quarantine_holds_erased(store: LakeStore, dt: str, erased: Erased) -> bool:
    """A quarantine file of `dt` keeps a record of an erased reader received at or before the
    erasure. Quarantine keeps the raw value, but neither the Kafka key nor when the record
    came: a record whose value names an erased reader, or no reader (a malformed record, which
    bronze attributes by its Kafka key), is looked up in bronze by its value. It is stale when
    bronze no longer holds it (rewritten without it) or holds it only as received before the
    erasure; one received after it (the reader came back) is theirs and stays."""
    suspects: dict[bytes, str | None] = {}
    for path in store.list_files(quarantine_prefix(dt), ".parquet"):
        values = pq.read_table(io.BytesIO(store.read_bytes(path)), columns=["value"]).column("value")
        for value in values.to_pylist():
            user = record_user(None, value)
            if user is None or user in erased:
                suspects[value] = user
    if not suspects:
        return False
    wanted = pa.array(list(suspects), pa.binary())
    kept: set[bytes] = set()
    for path in store.list_files(bronze_prefix(dt), ".parquet"):
        table = read_bronze_file(store.read_bytes(path))
        table = table.filter(pc.is_in(table.column("value"), value_set=wanted).fill_null(False))
        if not table.num_rows:
            continue
        received = bronze_received(table).to_pylist()
        for row, (key, value) in enumerate(
            zip(table.column("key").to_pylist(), table.column("value").to_pylist(), strict=True)
        ):
            owner = suspects[value] or record_user(key, value)
            if owner is None or owner not in erased or received[row] > erased[owner]:
                kept.add(value)
    return bool(suspects.keys() - kept)


def _remove_silver(store: LakeStore, dt: str) -> None:
    """A partition whose bronze is all gone: its files, quarantine and manifest (last)."""
    for prefix in (f"{SILVER}/dt={dt}/", f"{QUARANTINE}/dt={dt}/"):
        for path in store.list_files(prefix, ".parquet"):
            store.delete(path)
    store.delete(silver_manifest_path(dt))


def _feature_sources(store: LakeStore, erased: Erased) -> int:
    """Remove every row of an erased reader from the offline sources keyed by reader."""
    removed = 0
    ids = pa.array(list(erased), pa.string())
    for view in VIEWS:
        if view.join_key != USER_STATS.join_key or not store.exists(view.path):
            continue
        table = pq.read_table(io.BytesIO(store.read_bytes(view.path)))
        drop = pc.is_in(table.column(view.join_key).cast(pa.string()), value_set=ids).fill_null(False)
        n = int(pc.sum(drop).as_py() or 0)
        if n:
            store.write_atomic(view.path, _parquet(table.filter(pc.invert(drop))))
            removed += n
    return removed


def apply_erasure(
    store: LakeStore, *, dates: Sequence[str] | None = None, lateness_days: int | None = None
) -> LakeErasure:
    """Rewrite bronze, rebuild silver and clean the feature sources for every tombstone;
    `dates` limits bronze and silver to those event dates (all by default). Partitions are
    rebuilt with the lateness rule they were built with (a backfill keeps its own), unless
    `lateness_days` is given."""
    erased = erased_users(store)
    report = LakeErasure(readers=len(erased))
    if not erased:
        return report
    wanted = set(dates) if dates is not None else None
    touched: set[str] = set()
    for path in store.list_files(BRONZE + "/", ".parquet"):
        dt = _date_of(path)
        if wanted is not None and dt not in wanted:
            continue
        removed, new_path = rewrite_bronze_file(store, path, erased)
        if removed:
            touched.add(dt)
            report.bronze_records_removed += removed
            if new_path is None:
                report.bronze_files_removed += 1
            else:
                report.bronze_files_rewritten += 1
    with_bronze = set(bronze_dates(store))
    for dt in silver_dates(store):
        if wanted is not None and dt not in wanted:
            continue
        holds, only = _silver_holds_erased(store, dt, erased)
        if not holds and dt not in touched and not _quarantine_holds_erased(store, dt, erased):
            continue
        if dt not in with_bronze:
            _remove_silver(store, dt)
            report.silver_removed.append(dt)
            continue
        try:
            # A partition that held only erased readers is replaced by an empty one: that is
            # the point, not a regression.
            build_silver(store, dt, lateness_days=lateness_days, replace_worse=only)
            report.silver_rebuilt.append(dt)
        except (SilverRegressionError, FileNotFoundError) as exc:
            report.failed[dt] = str(exc)
    report.feature_rows_removed = _feature_sources(store, erased)
    log.info(
        "erasure applied for %d readers: %d bronze records removed (%d files rewritten, %d removed), "
        "silver rebuilt %s, removed %s, %d feature rows removed, failed %s",
        len(erased),
        report.bronze_records_removed,
        report.bronze_files_rewritten,
        report.bronze_files_removed,
        report.silver_rebuilt,
        report.silver_removed,
        report.feature_rows_removed,
        sorted(report.failed),
    )
    return report


def apply_pending_erasures(store: LakeStore) -> LakeErasure | None:
    """`apply_erasure` over the whole lake when a tombstone has not been carried through it yet
    (what the daily flow runs before it builds anything); None when every one has. A reader's
    records received after their erasure are a new consent: nothing to carry, so an applied
    tombstone stays applied."""
    pending = {user_hash(u) for u in erased_users(store)}
    applied: set[str] = set()
    if store.exists(ERASURE_APPLIED):
        applied = set(json.loads(store.read_bytes(ERASURE_APPLIED))["readers"])
    if pending <= applied:
        return None
    report = apply_erasure(store)
    if not report.failed:
        store.write_atomic(ERASURE_APPLIED, json.dumps({"readers": sorted(pending)}, indent=2).encode())
    return report


def erased_readers(store: LakeStore) -> dict[str, str]:
    """The tombstones as hashed reader -> erased at (for listings: never the raw ids)."""
    return {user_hash(u): at.isoformat() for u, at in sorted(erased_users(store).items(), key=lambda i: i[1])}
