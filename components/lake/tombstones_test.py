"""Erasure tombstones: recorded durably, read back whole, honoured on silver rows and bronze
records by when the platform received them (before the erasure: gone; after it: kept)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from components.lake import BRONZE_SCHEMA, LakeStore
from components.lake.layout import tombstone_path
from components.lake.tombstones import (
    TombstoneError,
    bronze_received,
    bronze_received_at,
    drop_erased,
    drop_erased_bronze,
    erased_users,
    read_tombstone,
    record_erasure,
    record_user,
    user_hash,
)

AT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")


def test_a_tombstone_is_named_by_the_hash_and_holds_the_id(tmp_path: Path) -> None:
    store = LakeStore(str(tmp_path))
    tombstone = record_erasure(store, "reader-1", AT)
    digest = hashlib.sha256(b"reader-1").hexdigest()
    assert tombstone.user_hash == user_hash("reader-1") == digest
    path = tombstone_path(digest)
    assert path == f"erasure/tombstones/{digest}.json"
    document = json.loads(store.read_bytes(path))
    assert document == {"version": 1, "user_id": "reader-1", "user_hash": digest, "erased_at": AT.isoformat()}
    record_erasure(store, "reader-2", AT + timedelta(hours=1))
    assert erased_users(store) == {"reader-1": AT, "reader-2": AT + timedelta(hours=1)}


def test_a_second_erasure_keeps_the_later_time(tmp_path: Path) -> None:
    store = LakeStore(str(tmp_path))
    record_erasure(store, "r", AT)
    record_erasure(store, "r", AT - timedelta(days=1))  # an older request replayed
    assert read_tombstone(store, "r") is not None and erased_users(store)["r"] == AT
    record_erasure(store, "r", AT + timedelta(days=1))
    assert erased_users(store)["r"] == AT + timedelta(days=1)
    assert read_tombstone(store, "nobody") is None


def test_bad_input_and_damaged_tombstones_say_what_is_wrong(tmp_path: Path) -> None:
    store = LakeStore(str(tmp_path))
    with pytest.raises(ValueError, match="erased_at: must carry a time zone"):
        record_erasure(store, "r", datetime(2026, 11, 20))
    with pytest.raises(ValueError, match="user_id: must be a non-empty string"):
        record_erasure(store, "", AT)
    store.write_atomic(tombstone_path(user_hash("x")), b"{not json")
    with pytest.raises(TombstoneError, match="not a readable tombstone"):
        erased_users(store)
    store.write_atomic(
        tombstone_path(user_hash("x")), json.dumps({"user_id": "y", "erased_at": AT.isoformat()}).encode()
    )
    with pytest.raises(TombstoneError, match="does not hash to the file's name"):
        erased_users(store)


def silver_rows() -> pa.Table:
    return pa.table(
        {
            "user_id": ["gone", "gone", "kept", "gone", "kept"],
            "received_at": pa.array(
                [AT - timedelta(days=3), AT, AT - timedelta(days=1), AT + timedelta(seconds=1), AT], TS
            ),
            "n": [0, 1, 2, 3, 4],
        }
    )


def test_silver_rows_of_an_erased_reader_before_the_erasure_go_and_later_ones_stay() -> None:
    kept, dropped = drop_erased(silver_rows(), {"gone": AT})
    assert kept.column("n").to_pylist() == [2, 3, 4]  # 3: received after the erasure (new consent)
    assert dropped.rows == 2 and dropped.readers == {user_hash("gone"): 2}
    same, nothing = drop_erased(silver_rows(), {})
    assert same.num_rows == 5 and nothing.rows == 0 and nothing.readers == {}
    # nanosecond columns (pandas) compare the same
    table = silver_rows().set_column(
        1, "received_at", silver_rows().column("received_at").cast(pa.timestamp("ns", tz="UTC"))
    )
    assert drop_erased(table, {"gone": AT})[0].column("n").to_pylist() == [2, 3, 4]


def bronze(
    values: list[bytes], kafka_ms: list[int], ingested: list[datetime], keys: list[bytes | None]
) -> pa.Table:
    n = len(values)
    columns = {
        "key": pa.array(keys, pa.binary()),
        "value": pa.array(values, pa.binary()),
        "topic": pa.array(["events.v1"] * n, pa.string()),
        "partition": pa.array([0] * n, pa.int32()),
        "offset": pa.array(range(n), pa.int64()),
        "kafka_timestamp_ms": pa.array(kafka_ms, pa.int64()),
        "ingested_at": pa.array(ingested, TS),
    }
    # any other bronze column (lineage a Kafka record leaves null) is null here
    return pa.table(
        {f.name: columns.get(f.name, pa.nulls(n, f.type)) for f in BRONZE_SCHEMA}, schema=BRONZE_SCHEMA
    )


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def test_bronze_records_go_by_when_the_broker_got_them() -> None:
    late_ingest = AT + timedelta(hours=2)
    table = bronze(
        [
            b'{"user_id": "gone", "type": "click"}',  # received before, ingested after: goes
            b'{"user_id": "gone", "type": "view"}',  # received after the erasure: stays
            b'{"user_id": "kept"}',
            b"not json at all",  # malformed: the Kafka key (the reader) says whose
            b'{"user_id": "kept"}',  # keyed oddly, but the value names its reader
        ],
        [
            ms(AT - timedelta(minutes=5)),
            ms(AT + timedelta(minutes=5)),
            ms(AT),
            ms(AT - timedelta(minutes=1)),
            ms(AT),
        ],
        [late_ingest] * 5,
        [b"gone", b"gone", b"kept", b"gone", b"gone"],
    )
    kept, dropped = drop_erased_bronze(table, {"gone": AT})
    assert kept.column("offset").to_pylist() == [1, 2, 4]
    assert dropped.rows == 2 and dropped.readers == {user_hash("gone"): 2}
    assert drop_erased_bronze(table, {})[0].num_rows == 5


def test_received_time_and_record_owner_follow_silver_rules() -> None:
    assert bronze_received_at(ms(AT), AT + timedelta(hours=1)) == AT
    assert bronze_received_at(ms(AT + timedelta(hours=2)), AT) == AT  # a foreign producer's clock
    assert bronze_received_at(None, AT) == AT and bronze_received_at(0, AT) == AT
    assert record_user(b"k", b'{"user_id": "u1"}') == "u1"
    assert record_user(b"u2", b"[1, 2]") == "u2"
    assert record_user(None, b"{") is None and record_user(b"\xff", b"{") is None


def test_records_that_name_their_reader_oddly_are_read_one_by_one() -> None:
    values = [
        b'{"user_id": "gone", "context": {"user_id": "kept"}}',  # the key twice: parsed
        b'{"context": {"user_id": "gone"}, "user_id": "kept"}',
        b'{"user_id": "g\\u006fne"}',  # an escaped id: parsed ("gone")
        b'{"user_id":"gone"}',
    ]
    table = bronze(values, [ms(AT)] * 4, [AT] * 4, [None] * 4)
    kept, dropped = drop_erased_bronze(table, {"gone": AT})
    assert kept.column("offset").to_pylist() == [1] and dropped.rows == 3
    received = bronze(
        [b"{}"] * 3, [ms(AT), ms(AT + timedelta(hours=2)), 0], [AT + timedelta(hours=1)] * 3, [None] * 3
    )
    assert bronze_received(received).to_pylist() == [
        bronze_received_at(k, i)
        for k, i in zip(
            received["kafka_timestamp_ms"].to_pylist(), received["ingested_at"].to_pylist(), strict=True
        )
    ]
