import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.events import FieldError
from components.lake import BronzeBatch, LakeStore, route_event_time
from components.lake.bronze import (
    BRONZE_SCHEMA,
    compact_imports,
    content_digest,
    import_files,
    import_table,
    read_bronze_file,
    write_import_file,
)
from components.testing.lake import KafkaRecord


def test_route_reads_only_the_timestamp() -> None:
    assert route_event_time(b'{"ts": "2026-11-20T08:15:02.123Z", "junk": 1}') == ("2026-11-20", "08")
    assert route_event_time(b'{"ts": "2026-11-20T08:59:59Z"}') == ("2026-11-20", "08")  # cached path
    assert route_event_time(b'{"ts": "2026-11-20T01:30:00+02:00"}') == ("2026-11-19", "23")


@pytest.mark.parametrize(
    ("raw", "field", "code"),
    [
        (b"{not json", "$", "malformed_json"),
        (b"[1, 2]", "$", "wrong_type"),
        (b'{"type": "view"}', "ts", "missing"),
        (b'{"ts": 1700000000}', "ts", "wrong_type"),
        (b'{"ts": "yesterday"}', "ts", "invalid_timestamp"),
        (b'{"ts": "2026-11-20T08:00:00"}', "ts", "naive_timestamp"),
        # Regression: OverflowError in astimezone crash-looped the ingestor.
        (b'{"ts": "9999-12-31T23:59:59-23:59"}', "ts", "timestamp_out_of_range"),
        (b'{"ts": "0001-01-01T00:00:00+23:59"}', "ts", "timestamp_out_of_range"),
        (b"\xff\xfe" + b"x" * 200_000, "$", "malformed_json"),
    ],
)
def test_unplaceable_messages_say_why(raw: bytes, field: str, code: str) -> None:
    error = route_event_time(raw)
    assert isinstance(error, FieldError)
    assert (error.field, error.code) == (field, code)


def test_batch_groups_by_hour_and_partition_and_keeps_bytes() -> None:
    batch = BronzeBatch()
    values = [
        orjson.dumps({"ts": "2026-11-20T08:00:00Z", "n": 1}),
        orjson.dumps({"ts": "2026-11-20T08:30:00Z", "n": 2}),
        orjson.dumps({"ts": "2026-11-20T09:00:00Z", "n": 3}),
        b"garbage",
    ]
    for offset, value in enumerate(values):
        batch.add(KafkaRecord("events.v1", 1, 100 + offset, b"u1", value, 1_700_000_000_000))
    batch.add(KafkaRecord("events.v1", 2, 7, None, values[0], 1_700_000_000_000))
    files = batch.files(ingested_at=datetime(2026, 11, 21, tzinfo=UTC))
    paths = [path for path, _, _ in files]
    assert [p.rsplit("-", 1)[0] for p in paths] == [
        "bronze/events/dt=2026-11-20/hour=08/p001-000000000100-000000000101",
        "bronze/events/dt=2026-11-20/hour=08/p002-000000000007-000000000007",
        "bronze/events/dt=2026-11-20/hour=09/p001-000000000102-000000000102",
    ]
    # The same records name the same files (a replay rewrites them)...
    again = BronzeBatch()
    for offset, value in enumerate(values):
        again.add(KafkaRecord("events.v1", 1, 100 + offset, b"u1", value, 1_700_000_000_000))
    again.add(KafkaRecord("events.v1", 2, 7, None, values[0], 1_700_000_000_000))
    assert [p for p, _, _ in again.files()] == paths
    table = read_bronze_file(files[0][1])
    assert table.column("value").to_pylist() == values[:2]
    assert table.column("offset").to_pylist() == [100, 101]
    assert table.column("key").to_pylist() == [b"u1", b"u1"]
    assert [u.offset for u in batch.unplaced] == [103]
    assert batch.positions == {("events.v1", 1): 104, ("events.v1", 2): 8}
    assert batch.count == 5


def test_restarted_offsets_never_overwrite_earlier_bronze_files(tmp_path: Path) -> None:
    # Regression: a re-created topic restarts its offsets at 0; file names made of the Kafka
    # range alone collided and 40 of 40 durable events were overwritten.
    store = LakeStore(str(tmp_path / "lake"))
    incarnations = []
    for n in range(2):
        batch = BronzeBatch()
        for offset in range(40):
            value = orjson.dumps({"ts": "2026-11-20T08:00:00Z", "incarnation": n, "i": offset})
            batch.add(KafkaRecord("events.v1", 0, offset, b"u", value, 1_700_000_000_000))
        for path, data, _ in batch.files():
            store.write_atomic(path, data)
        incarnations.append(batch)
    files = store.list_files("bronze/events/", ".parquet")
    assert len(files) == 2
    values = [v for f in files for v in read_bronze_file(store.read_bytes(f)).column("value").to_pylist()]
    assert len(values) == 80 and len(set(values)) == 80


def test_local_store_writes_atomically_and_lists_only_finished_files(tmp_path: Path) -> None:
    store = LakeStore(str(tmp_path / "lake"))
    store.write_atomic("bronze/events/dt=2026-11-20/hour=08/a.parquet", b"one")
    store.write_atomic("bronze/events/dt=2026-11-20/hour=08/a.parquet", b"two")
    (tmp_path / "lake/bronze/events/dt=2026-11-20/hour=08/.b.parquet.tmp").write_bytes(b"partial")
    assert store.list_files("bronze/events/", ".parquet") == ["bronze/events/dt=2026-11-20/hour=08/a.parquet"]
    assert store.read_bytes("bronze/events/dt=2026-11-20/hour=08/a.parquet") == b"two"
    assert store.list_files("nothing/here/") == []
    with pytest.raises(ValueError, match="inside the lake"):
        store.write_atomic("../escape", b"x")


@given(st.lists(st.binary(max_size=300), max_size=30), st.integers(min_value=0, max_value=5))
def test_the_digest_of_an_array_is_the_digest_of_its_records(values: list[bytes], skip: int) -> None:
    array = pa.array(values, pa.binary())
    assert content_digest(array) == content_digest(values)
    assert content_digest(array.slice(min(skip, len(values)))) == content_digest(values[skip:])


def test_files_written_before_the_origin_column_read_with_nulls() -> None:
    old_schema = pa.schema([f for f in BRONZE_SCHEMA if f.name != "origin"])
    sink = io.BytesIO()
    pq.write_table(
        pa.table(
            {
                "key": [b"u"],
                "value": [b"{}"],
                "topic": ["events.v1"],
                "partition": pa.array([0], pa.int32()),
                "offset": [5],
                "kafka_timestamp_ms": [1],
                "ingested_at": pa.array([datetime(2026, 11, 20, tzinfo=UTC)], pa.timestamp("us", tz="UTC")),
            },
            schema=old_schema,
        ),
        sink,
    )
    table = read_bronze_file(sink.getvalue())
    assert table.schema == BRONZE_SCHEMA and table.column("origin").to_pylist() == [None]


def imported(values: list[bytes], at: datetime, first: int = 0) -> pa.Table:
    n = len(values)
    origins = [f"import:x.csv#{first + i + 1}" for i in range(n)]
    return import_table(
        pa.array([b"u"] * n), pa.array(values), pa.array(range(first, first + n)), pa.array(origins), at
    )


def test_import_files_of_a_date_are_compacted_once_and_for_good(tmp_path: Path) -> None:
    store = LakeStore(str(tmp_path / "lake"))
    at = datetime(2026, 11, 21, tzinfo=UTC)
    values = [orjson.dumps({"n": i}) for i in range(30)]
    first = write_import_file(store, "2026-11-20", imported(values[:20], at))
    assert first.startswith("bronze/events/dt=2026-11-20/hour=all/import-")
    assert compact_imports(store, "2026-11-20") == (first, [])  # one file: nothing to do
    second = write_import_file(store, "2026-11-20", imported(values[10:], at + timedelta(days=1), first=10))
    merged, replaced = compact_imports(store, "2026-11-20")
    assert sorted(replaced) == sorted([first, second]) and import_files(store, "2026-11-20") == [merged]
    table = read_bronze_file(store.read_bytes(merged or ""))
    assert sorted(table.column("value").to_pylist()) == sorted(values)  # each record once
    # The overlap keeps its first import (its time and origin), as silver would.
    kept = dict(zip(table.column("value").to_pylist(), table.column("ingested_at").to_pylist(), strict=True))
    assert kept[values[15]] == at and kept[values[25]] == at + timedelta(days=1)
    # Importing the first rows again and compacting gives the same file, byte for byte.
    data = store.read_bytes(merged or "")
    write_import_file(store, "2026-11-20", imported(values[:20], at + timedelta(days=2)))
    assert compact_imports(store, "2026-11-20")[0] == merged
    assert store.read_bytes(merged or "") == data
    # Kafka files are never touched.
    assert import_files(store, "2026-11-21") == []
