"""Bronze to silver on a local lake: exact rows, dedup, quarantine with reasons, stable hash."""

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from components.lake import LakeStore
from components.lake.silver import build_silver, read_manifest, read_quarantine, read_silver
from components.testing.lake import write_bronze as write_records

DAY = datetime(2026, 11, 20, tzinfo=UTC)
INGESTED = DAY + timedelta(days=1, hours=2)


def event(i: int, **overrides: Any) -> dict[str, Any]:
    payload = {
        "event_id": str(uuid.UUID(int=i + 1)),
        "type": "view",
        "user_id": f"u{i % 5}",
        "article_id": f"a{i % 11}",
        "ts": (DAY + timedelta(minutes=i)).isoformat().replace("+00:00", "Z"),
    }
    payload.update(overrides)
    return payload


def write_bronze(store: LakeStore, values: list[bytes], *, partition: int = 0, first_offset: int = 0) -> None:
    write_records(store, values, partition=partition, first_offset=first_offset, ingested_at=INGESTED)


@pytest.fixture
def store(tmp_path: Path) -> LakeStore:
    return LakeStore(str(tmp_path / "lake"))


def test_silver_holds_each_event_once_and_quarantines_the_rest(store: LakeStore) -> None:
    good = [orjson.dumps(event(i)) for i in range(100)]
    broken_contract = orjson.dumps(event(500, position="3"))
    long_dwell = orjson.dumps(event(501, type="dwell", dwell_ms=10 * 3600 * 1000))
    other_day = orjson.dumps(event(502, ts="2026-11-21T00:00:00Z"))  # filed under the 21st by bronze
    conflicting = orjson.dumps(event(3, user_id="someone-else"))
    # first delivery, then a replay of the first 40 records (a crash before the commit): the
    # replay's file covers another offset range than the first, so both hold those records
    write_bronze(store, [*good, broken_contract, long_dwell, other_day], first_offset=0)
    write_bronze(store, good[:40], first_offset=0, partition=0)
    write_bronze(store, [conflicting], partition=1, first_offset=9)

    result = build_silver(store, "2026-11-20")
    silver = read_silver(store, "2026-11-20")
    assert result.rows == silver.num_rows == 100
    assert sorted(silver.column("event_id").to_pylist()) == sorted(event(i)["event_id"] for i in range(100))
    assert result.duplicates_dropped == 40
    quarantine = read_quarantine(store, "2026-11-20")
    reasons = dict(
        zip(quarantine.column("value").to_pylist(), quarantine.column("reason").to_pylist(), strict=True)
    )
    assert "position" in reasons[broken_contract]
    assert "dwell_ms" in reasons[long_dwell]  # the contract refuses it, as the collector does
    assert reasons[conflicting] == "duplicate event_id with different content"
    assert other_day not in reasons  # it lives in the 21st's partition
    assert result.quarantined == 3
    manifest = read_manifest(store, "2026-11-20")
    assert manifest["row_count"] == 100
    assert manifest["content_hash"] == result.content_hash
    assert manifest["expectations"]["expect_column_values_to_be_unique(event_id)"]["success"] is True
    assert str(silver.schema.field("ts").type) == "timestamp[us, tz=UTC]"


def test_redeliveries_in_other_files_are_dropped_and_counted(store: LakeStore) -> None:
    values = [orjson.dumps(event(i)) for i in range(30)]
    write_bronze(store, values, partition=0, first_offset=0)
    write_bronze(store, values[10:20], partition=2, first_offset=500)  # same events, other position
    result = build_silver(store, "2026-11-20")
    assert result.rows == 30
    assert result.duplicates_dropped == 10
    assert result.quarantined == 0


def test_rebuild_is_stable_and_absorbs_late_files(store: LakeStore) -> None:
    write_bronze(store, [orjson.dumps(event(i)) for i in range(20)])
    first = build_silver(store, "2026-11-20")
    again = build_silver(store, "2026-11-20")
    assert again.content_hash == first.content_hash
    assert again.silver_file == first.silver_file
    write_bronze(store, [orjson.dumps(event(i)) for i in range(20, 25)], partition=1)
    late = build_silver(store, "2026-11-20")
    assert late.rows == 25
    assert late.content_hash != first.content_hash
    # only the current build's file remains
    assert store.list_files("silver/events/dt=2026-11-20/", ".parquet") == [late.silver_file]


def test_timestamp_sanity_quarantines_events_from_the_future_of_their_arrival(store: LakeStore) -> None:
    # ts after ingestion + skew: the contract check uses the record's arrival as "now"
    future = orjson.dumps(event(1, ts=(INGESTED + timedelta(hours=1)).isoformat()))
    write_bronze(store, [orjson.dumps(event(0)), future])
    # bronze files it under its own (future) date; build that date
    result = build_silver(store, (INGESTED + timedelta(hours=1)).date().isoformat())
    assert result.rows == 0
    assert result.quarantined == 1
    assert "future" in read_quarantine(store, result.dt).column("reason").to_pylist()[0]


def test_missing_bronze_is_an_error(store: LakeStore) -> None:
    with pytest.raises(FileNotFoundError, match="dt=2026-01-01"):
        build_silver(store, "2026-01-01")


def test_lateness_counts_from_when_the_platform_received_the_event(store: LakeStore) -> None:
    """Regression: the collector accepted an event 29 days old, the ingestor wrote it two days
    later, and silver quarantined it as 31 days late (which stopped the daily flow)."""
    received = DAY + timedelta(days=29)
    accepted_late = [orjson.dumps(event(i)) for i in range(5)]
    write_records(store, accepted_late, ingested_at=received + timedelta(days=2), received_at=received)
    too_late = [orjson.dumps(event(100 + i)) for i in range(3)]
    write_records(
        store,
        too_late,
        first_offset=5,
        ingested_at=DAY + timedelta(days=31),
        received_at=DAY + timedelta(days=31),
    )
    result = build_silver(store, DAY.date())
    assert result.rows == 5 and result.quarantined == 3
    silver = read_silver(store, DAY.date())
    assert set(silver.column("received_at").to_pylist()) == {received}
    reasons = read_quarantine(store, DAY.date()).column("reason").to_pylist()
    assert all("older than 30 days" in r for r in reasons)
    # A backfill raises the limit explicitly.
    assert build_silver(store, DAY.date(), lateness_days=60).rows == 8


def test_a_partition_of_an_older_schema_reads_in_the_current_one(store: LakeStore) -> None:
    """Schema 2 had no `session_id` and a 32-bit `position`: its files still read, the new
    optional column as nulls, the types of today."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    write_bronze(store, [orjson.dumps(event(i)) for i in range(3)])
    build_silver(store, "2026-11-20")
    manifest = read_manifest(store, "2026-11-20")
    current = read_silver(store, "2026-11-20")
    older = current.drop_columns(["session_id"])
    older = older.set_column(
        older.schema.get_field_index("position"), "position", older.column("position").cast(pa.int32())
    )
    sink = io.BytesIO()
    pq.write_table(older, sink)
    store.write_atomic(manifest["silver_file"], sink.getvalue())
    again = read_silver(store, "2026-11-20")
    assert again.schema == current.schema
    assert again.column("session_id").null_count == 3
    assert again.column("event_id").to_pylist() == current.column("event_id").to_pylist()


def test_a_rebuild_never_silently_replaces_rows_with_an_empty_partition(store: LakeStore) -> None:
    """A rebuild with a lateness limit the events are past would quarantine all of them: it is
    refused loudly and the partition stays as it was, unless the caller says replace_worse."""
    from components.lake.silver import SilverRegressionError

    write_bronze(store, [orjson.dumps(event(i)) for i in range(20)])
    first = build_silver(store, "2026-11-20")
    assert build_silver(store, "2026-11-20").content_hash == first.content_hash  # same bronze: fine
    with pytest.raises(SilverRegressionError) as refused:
        build_silver(store, "2026-11-20", lateness_days=0)  # received a day later: all "stale"
    message = str(refused.value)
    assert "would replace 20 rows with 0 (20 of 20 bronze rows quarantined" in message
    assert "--lateness-days" in message and "days before the receiver's clock" in message
    assert read_manifest(store, "2026-11-20")["content_hash"] == first.content_hash
    assert read_silver(store, "2026-11-20").num_rows == 20
    forced = build_silver(store, "2026-11-20", lateness_days=0, replace_worse=True)
    assert forced.rows == 0 and read_silver(store, "2026-11-20").num_rows == 0


def test_a_backfill_records_its_rule_and_later_builds_keep_it(store: LakeStore) -> None:
    """History ingested 70 days after it happened: built with a longer limit (a backfill), the
    partition records it; a build without a limit (the daily flow's) keeps it; a build that
    asks for the live limit would quarantine everything and is refused."""
    from components.lake.silver import SilverRegressionError
    from components.lake.validate import validate_partitions

    values = [orjson.dumps(event(i)) for i in range(30)]
    write_records(store, values, ingested_at=DAY + timedelta(days=70))
    assert build_silver(store, "2026-11-20").rows == 0  # the live limit: all of it is late
    first = build_silver(store, "2026-11-20", lateness_days=90, replace_worse=True)
    assert first.rows == 30
    assert (first.manifest["lateness_days"], first.manifest["backfill"]) == (90, True)
    again = build_silver(store, "2026-11-20")
    assert again.manifest["lateness_days"] == 90 and again.content_hash == first.content_hash
    with pytest.raises(SilverRegressionError, match="30 of 30 bronze rows quarantined"):
        build_silver(store, "2026-11-20", lateness_days=30)
    # Validation before training judges it by its own rule, unless told otherwise.
    assert validate_partitions(store, ["2026-11-20"]).passed
    assert not validate_partitions(store, ["2026-11-20"], lateness_days=30).passed


def test_the_content_hash_is_the_contracts_canonical_one(store: LakeStore) -> None:
    """Column-wise or by the model, the hash is sha256 over the sorted canonical encodings:
    partitions built before keep their hashes."""
    from components.events import decode_event
    from components.lake.silver import content_hash

    canonical = [orjson.dumps(event(i)) for i in range(40)]
    spaced = [json.dumps(event(i)).encode() for i in range(40, 60)]  # another spelling: the model's path
    write_bronze(store, canonical + spaced)
    result = build_silver(store, "2026-11-20")
    assert result.rows == 60 and result.fast_rows < 60
    events = [decode_event(v, now=INGESTED) for v in canonical + spaced]
    assert result.content_hash == content_hash(events)


def test_imported_records_keep_their_origin_in_quarantine(store: LakeStore) -> None:
    import pyarrow as pa

    from components.lake.bronze import import_table, write_import_file

    ok = orjson.dumps(event(1))
    conflicting = orjson.dumps(event(1, user_id="someone-else"))
    table = import_table(
        pa.array([b"u", b"u"]),
        pa.array([ok, conflicting]),
        pa.array([0, 1]),
        pa.array(["import:a.csv#1", "import:a.csv#2"]),
        INGESTED,
    )
    write_import_file(store, "2026-11-20", table)
    result = build_silver(store, "2026-11-20")
    assert result.rows == 1
    quarantine = read_quarantine(store, "2026-11-20")
    assert quarantine.column("origin").to_pylist() == ["import:a.csv#2"]
    assert quarantine.column("kafka_partition").to_pylist() == [-1]
