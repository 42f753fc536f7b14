"""Erasure tombstones: which readers asked to be forgotten, and since when.

`DELETE /users/{id}` records one tombstone per reader in the lake (`erasure/tombstones/`,
named by the sha256 of the id). The file holds the raw id: the lake has to find the reader's
records, and they carry the raw id. It is the only place the id stays, and it says only that
the reader was erased.

Everything that reads the lake honours the tombstones: the silver build drops an erased
reader's records (so neither silver nor quarantine keeps them), training drops them from
partitions not rebuilt yet, and `pipelines/erasure/main.py apply` rewrites bronze and silver
without them. The rule is the same everywhere: a record of an erased reader that the platform
received at or before the erasure is the reader's old data and goes; one received after it
is a new consent (the reader came back) and stays. "Received" is when the broker got the
record (its Kafka timestamp), or when the ingestor wrote it when that is earlier or unknown:
the clock silver's lateness rule uses.

Pure pyarrow and the standard library: both resolves build it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from components.events.time import TimestampError, parse_timestamp
from components.lake.layout import TOMBSTONES, tombstone_path
from components.lake.store import LakeStore

TOMBSTONE_VERSION = 1
# reader id -> when the reader was erased (UTC)
Erased = Mapping[str, datetime]


class TombstoneError(ValueError):
    """A tombstone file that cannot be read: the erasure it records must not be ignored."""


def user_hash(user_id: str) -> str:
    """The sha256 (hex) of a reader's id: how logs, manifests and reports name an erased
    reader (never by the raw id)."""
    return hashlib.sha256(user_id.encode()).hexdigest()


@dataclass(frozen=True)
class Tombstone:
    user_id: str
    erased_at: datetime

    @property
    def user_hash(self) -> str:
        return user_hash(self.user_id)

    def as_json(self) -> bytes:
        return json.dumps(
            {
                "version": TOMBSTONE_VERSION,
                "user_id": self.user_id,
                "user_hash": self.user_hash,
                "erased_at": self.erased_at.isoformat(),
            },
            indent=2,
            sort_keys=True,
        ).encode()


def _utc(at: datetime, name: str) -> datetime:
    if at.tzinfo is None:
        raise ValueError(f"{name}: must carry a time zone (got naive {at.isoformat()})")
    return at.astimezone(UTC)


def _parse(path: str, data: bytes) -> Tombstone:
    try:
        document = json.loads(data)
        user_id, erased_at = document["user_id"], parse_timestamp(document["erased_at"])
    except (ValueError, KeyError, TypeError, TimestampError) as exc:
        raise TombstoneError(f"{path}: not a readable tombstone ({exc!r}); fix or restore it") from None
    if not isinstance(user_id, str) or not path.endswith(f"/{user_hash(user_id)}.json"):
        raise TombstoneError(f"{path}: user_id does not hash to the file's name; fix or restore it")
    return Tombstone(user_id, erased_at)


def read_tombstone(store: LakeStore, user_id: str) -> Tombstone | None:
    path = tombstone_path(user_hash(user_id))
    return _parse(path, store.read_bytes(path)) if store.exists(path) else None


def record_erasure(store: LakeStore, user_id: str, erased_at: datetime) -> Tombstone:
    """Write (durably, atomically) the tombstone of `user_id`, erased at `erased_at`. A reader
    erased again keeps the later time (what they sent in between is erased too)."""
    if not isinstance(user_id, str) or not user_id:
        raise ValueError("user_id: must be a non-empty string")
    at = _utc(erased_at, "erased_at")
    existing = read_tombstone(store, user_id)
    if existing is not None and existing.erased_at >= at:
        return existing
    tombstone = Tombstone(user_id, at)
    store.write_atomic(tombstone_path(tombstone.user_hash), tombstone.as_json())
    return tombstone


def erased_users(store: LakeStore) -> dict[str, datetime]:
    """Every erased reader and when; raises TombstoneError on a file it cannot read (an
    erasure is never skipped silently)."""
    out: dict[str, datetime] = {}
    for path in store.list_files(TOMBSTONES + "/", ".json"):
        tombstone = _parse(path, store.read_bytes(path))
        out[tombstone.user_id] = tombstone.erased_at
    return out


@dataclass
class ErasedRows:
    """What honouring the tombstones removed: rows, and rows per reader by hashed id."""

    rows: int = 0
    readers: dict[str, int] = field(default_factory=dict)

    def add(self, other: ErasedRows) -> None:
        self.rows += other.rows
        for reader, n in other.readers.items():
            self.readers[reader] = self.readers.get(reader, 0) + n


def _count(user_ids: list[str]) -> ErasedRows:
    readers: dict[str, int] = {}
    for user in user_ids:
        key = user_hash(user)
        readers[key] = readers.get(key, 0) + 1
    return ErasedRows(len(user_ids), dict(sorted(readers.items())))


def erased_rows(
    table: pa.Table, erased: Erased, *, user_column: str = "user_id", time_column: str = "received_at"
) -> np.ndarray:
    """bool per row of `table` (silver columns): the row is an erased reader's, received at or
    before the erasure."""
    n = table.num_rows
    if not erased or n == 0:
        return np.zeros(n, dtype=bool)
    ids = list(erased)
    times = table.column(time_column)
    index = pc.index_in(table.column(user_column).cast(pa.string()), value_set=pa.array(ids, pa.string()))
    cutoffs = pa.array([erased[u] for u in ids], pa.timestamp("us", tz="UTC")).cast(times.type)
    mask = pc.less_equal(times, cutoffs.take(index))
    return np.asarray(mask.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def drop_erased(
    table: pa.Table, erased: Erased, *, user_column: str = "user_id", time_column: str = "received_at"
) -> tuple[pa.Table, ErasedRows]:
    """`table` (silver columns) without the erased readers' rows received before their erasure."""
    mask = erased_rows(table, erased, user_column=user_column, time_column=time_column)
    if not mask.any():
        return table, ErasedRows()
    users = table.column(user_column).filter(pa.array(mask)).to_pylist()
    return table.filter(pa.array(~mask)), _count([str(u) for u in users])


def record_user(key: bytes | None, value: bytes) -> str | None:
    """Whose a raw `events.v1` record is: its `user_id`, or its Kafka key (reco's producers
    key by reader) when the value is not an object with one (a malformed record)."""
    try:
        document = orjson.loads(value)
    except orjson.JSONDecodeError:
        document = None
    if isinstance(document, dict) and isinstance(document.get("user_id"), str):
        return str(document["user_id"])
    if key:
        try:
            return key.decode()
        except UnicodeDecodeError:
            return None
    return None


def bronze_received_at(kafka_ms: int | None, ingested_at: datetime) -> datetime:
    """When the platform received a bronze record: the broker's timestamp, or the ingest time
    when the record has none or one later than its ingestion (silver's rule)."""
    if kafka_ms and kafka_ms > 0:
        received = datetime.fromtimestamp(kafka_ms / 1000, tz=UTC)
        if received <= ingested_at:
            return received
    return ingested_at


# A record's `user_id` as written by any JSON encoder when the id needs no escaping (reco's ids
# rarely do): read column-wise, without parsing each record.
_NAMED_USER = r'"user_id"\s*:\s*"(?P<user>[^"\\]*)"'


def bronze_received(table: pa.Table) -> pa.Array:
    """`bronze_received_at` for every record of a bronze table, column-wise."""
    ingested = table.column("ingested_at").combine_chunks()
    ms = pc.fill_null(table.column("kafka_timestamp_ms").combine_chunks(), 0)
    broker = pc.multiply(ms, 1000).cast(pa.timestamp("us", tz="UTC")).cast(ingested.type)
    usable = pc.and_(pc.greater(ms, 0), pc.less_equal(broker, ingested))
    return pc.if_else(usable, broker, ingested)


def bronze_erased_rows(table: pa.Table, erased: Erased) -> tuple[np.ndarray, list[str]]:
    """bool per bronze record (BRONZE_SCHEMA): an erased reader's, received before the
    erasure; and the reader of each such record. Column-wise for records that name their
    reader once in plain form; the others (escaped ids, no or several `"user_id"`, not JSON)
    one by one with `record_user`."""
    n = table.num_rows
    mask = np.zeros(n, dtype=bool)
    if not erased or n == 0:
        return mask, []
    ids = list(erased)
    values = table.column("value").combine_chunks()
    received = bronze_received(table)
    cutoffs = pa.array([erased[u] for u in ids], pa.timestamp("us", tz="UTC")).cast(received.type)
    named = pc.struct_field(pc.extract_regex(values, _NAMED_USER), [0])
    plain = pc.and_(pc.equal(pc.count_substring(values, '"user_id"'), 1), pc.is_valid(named))
    plain_np = np.asarray(plain.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)
    index = pc.index_in(named, value_set=pa.array([u.encode() for u in ids], pa.binary()))
    hit = pc.less_equal(received, cutoffs.take(index)).fill_null(False)
    mask = np.asarray(hit.to_numpy(zero_copy_only=False), dtype=bool) & plain_np
    owners_at = {int(i): ids[index[int(i)].as_py()] for i in np.flatnonzero(mask)}
    keys = table.column("key").combine_chunks()
    for i in np.flatnonzero(~plain_np):
        user = record_user(keys[int(i)].as_py(), values[int(i)].as_py())
        at = erased.get(user) if user is not None else None
        if at is not None and received[int(i)].as_py() <= at:
            mask[i] = True
            owners_at[int(i)] = str(user)
    return mask, [owners_at[i] for i in sorted(owners_at)]


def drop_erased_bronze(table: pa.Table, erased: Erased) -> tuple[pa.Table, ErasedRows]:
    """Bronze records without the erased readers' records received before their erasure."""
    mask, owners = bronze_erased_rows(table, erased)
    if not owners:
        return table, ErasedRows()
    return table.filter(pa.array(~mask)), _count(owners)
