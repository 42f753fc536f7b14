"""Importing event history into a lake on disk: CSV and Parquet with foreign column names, events
older than the live lateness limit (a backfill), refusals reported, silver built, and a
re-import that changes nothing. The run's clock is injected: nothing here depends on today."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from components.events import decode_event
from components.events.columns import event_columns
from components.importer import ColumnMapping, MappingError, import_events
from components.importer.report import read_report
from components.lake import LakeStore
from components.lake.bronze import IMPORT_PARTITION, IMPORT_TOPIC, import_files, read_bronze_file
from components.lake.silver import build_silver, read_manifest, read_silver
from components.lake.validate import validate_partitions

RUN = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)  # the injected clock of the first run
HISTORY = RUN - timedelta(days=70)  # long past the live 30-day limit
FIELDS = [c.name for c in event_columns()]
CSV_MAP = [
    "user_id=visitor_id",
    "article_id=content_id",
    "type=action",
    "ts=occurred_at",
    "request_id=page_view",
]


def stamp(minutes: float) -> str:
    return (HISTORY + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    columns = [
        "visitor_id",
        "content_id",
        "action",
        "occurred_at",
        "page_view",
        "position",
        "dwell_ms",
        "country",
    ]
    table = pa.table({c: pa.array([str(r.get(c, "")) for r in rows], pa.string()) for c in columns})
    pacsv.write_csv(table, path)
    return path


def history_rows(n: int, *, offset: int = 0) -> list[dict[str, Any]]:
    rows = []
    for i in range(offset, offset + n):
        kind = ["view", "click", "impression", "dwell"][i % 4]
        row: dict[str, Any] = {
            "visitor_id": f"v{i % 7}",
            "content_id": f"art-{i % 11}",
            "action": kind,
            "occurred_at": stamp(i * 97.5),  # spread over several days
            "country": "CH",
        }
        if kind == "impression":  # another system's log: no propensity, no model version
            row.update(page_view=f"pv{i}", position=i % 10)
        if kind == "dwell":
            row["dwell_ms"] = 1000 + i
        rows.append(row)
    return rows


BAD_ROWS: list[dict[str, Any]] = [
    {"visitor_id": "v1", "content_id": "a", "action": "view", "occurred_at": stamp(5), "position": "abc"},
    {"visitor_id": "", "content_id": "a", "action": "click", "occurred_at": stamp(6)},
    {"visitor_id": "v1", "content_id": "a", "action": "impression", "occurred_at": stamp(7), "position": 1},
    {
        "visitor_id": "v1",
        "content_id": "a",
        "action": "view",
        "occurred_at": (RUN + timedelta(days=9)).isoformat(),
    },
    {"visitor_id": "v1", "content_id": "a", "action": "view", "occurred_at": "2026-01-01 10:00"},
]


def parquet_rows(path: Path, n: int) -> Path:
    """Typed columns: a UUID event id, integer user ids, a zoned timestamp column, a context."""
    table = pa.table(
        {
            "id": pa.array([str(uuid.UUID(int=10_000 + i)) for i in range(n)]),
            "uid": pa.array([1000 + i % 3 for i in range(n)], pa.int64()),
            "item": pa.array([f"art-{i}" for i in range(n)]),
            "kind": pa.array(["view"] * n),
            "at": pa.array(
                [HISTORY + timedelta(hours=i, microseconds=i) for i in range(n)], pa.timestamp("ms", tz="UTC")
            ),
            "ctx": pa.array([json.dumps({"device": "tv", "n": i}) if i % 2 else None for i in range(n)]),
        }
    )
    pq.write_table(table, path)
    return path


@pytest.fixture
def store(tmp_path: Path) -> LakeStore:
    return LakeStore(str(tmp_path / "lake"))


def hashes(store: LakeStore, dates: list[str]) -> dict[str, str]:
    return {dt: read_manifest(store, dt)["content_hash"] for dt in dates}


def test_history_from_csv_and_parquet_becomes_silver_and_a_reimport_changes_nothing(
    tmp_path: Path, store: LakeStore
) -> None:
    csv = write_csv(tmp_path / "export.csv", history_rows(60) + BAD_ROWS)
    parquet = parquet_rows(tmp_path / "more.parquet", 30)
    mapping = ColumnMapping.parse(FIELDS, CSV_MAP)  # position and dwell_ms: same-named columns
    first = import_events(store, [csv], mapping, lateness_days=90, now=RUN)
    typed = ColumnMapping.parse(
        FIELDS, ["event_id=id", "user_id=uid", "article_id=item", "type=kind", "ts=at", "context=ctx"]
    )
    second = import_events(store, [parquet], typed, lateness_days=90, now=RUN)

    assert (first.rows, first.imported, first.rejected) == (65, 60, 5)
    assert first.durable and first.derived_ids and not second.derived_ids
    assert first.ignored_columns == {"export.csv": ["country"]}
    # Every refusal, with the file, the row (1 = the first after the header) and the contract's reason.
    report = read_report(store, first.run_id)
    by_row = {(line["row"], line["field"]): line for line in report}
    assert by_row[(61, "position")]["code"] == "wrong_type"
    assert by_row[(62, "user_id")]["code"] == "missing"
    assert by_row[(63, "request_id")]["reason"] == "required for impression events"
    assert by_row[(64, "ts")]["code"] == "future_timestamp"
    assert by_row[(65, "ts")]["code"] == "naive_timestamp"
    assert {line["source"] for line in report} == {"export.csv"}
    quarantine = pq.read_table(io.BytesIO(store.read_bytes(first.quarantine or "")))
    assert (
        quarantine.num_rows == 5 and json.loads(quarantine.column("record")[0].as_py())["position"] == "abc"
    )

    # Bronze: imported records, marked as such, one content-named file per date (a date both
    # runs touched was compacted into one).
    dates = sorted(set(first.dates) | set(second.dates))
    assert len(dates) >= 3 and set(first.dates) & set(second.dates)
    for dt in dates:
        [path] = import_files(store, dt)
        bronze = read_bronze_file(store.read_bytes(path))
        assert set(bronze.column("topic").to_pylist()) == {IMPORT_TOPIC}
        assert set(bronze.column("partition").to_pylist()) == {IMPORT_PARTITION}
        assert bronze.column("kafka_timestamp_ms").null_count == bronze.num_rows
        sources = {origin.split("#")[0] for origin in bronze.column("origin").to_pylist()}
        assert sources <= {"import:export.csv", "import:more.parquet"}
        assert set(bronze.column("ingested_at").to_pylist()) == {RUN}

    # Silver: every valid row, 70 days old yet kept (the partitions' rule is the import's).
    silver_rows = sum(read_manifest(store, dt)["row_count"] for dt in dates)
    assert silver_rows == 90
    for dt in dates:
        manifest = read_manifest(store, dt)
        assert manifest["lateness_days"] == 90 and manifest["backfill"] is True
        assert manifest["quarantined"] == 0
    impressions = pc.sum(
        pc.equal(pa.concat_tables([read_silver(store, dt) for dt in dates]).column("type"), "impression")
    ).as_py()
    assert impressions == 15
    contexts = [c for dt in dates for c in read_silver(store, dt).column("context").to_pylist() if c]
    assert json.loads(contexts[0])["device"] == "tv"
    before = hashes(store, dates)
    files_before = {dt: import_files(store, dt) for dt in dates}

    # Validation before training: at each partition's recorded rule the suite passes; at the
    # live limit the history is late.
    assert validate_partitions(store, dates).passed
    late = validate_partitions(store, dates, lateness_days=30)
    assert not late.passed and "ingest_lag_s" in " ".join(late.failures())

    # The same files again, a day later: same ids (derived ones too), same files, same silver.
    again = import_events(store, [csv], mapping, lateness_days=90, now=RUN + timedelta(days=1))
    import_events(store, [parquet], typed, lateness_days=90, now=RUN + timedelta(days=1))
    assert again.imported == 60
    # A date both files touched: this run's file was merged into the compacted one, which
    # came out the same (the earliest import of each record is kept).
    assert {dt: import_files(store, dt) for dt in dates} == files_before
    assert hashes(store, dates) == before
    # A rebuild without a limit keeps the recorded one (the daily flow rebuilds like this).
    assert build_silver(store, dates[0]).manifest["lateness_days"] == 90
    assert hashes(store, dates) == before


def test_a_later_import_of_more_history_is_compacted_into_one_file_per_date(
    tmp_path: Path, store: LakeStore
) -> None:
    mapping = ColumnMapping.parse(FIELDS, CSV_MAP)
    rows = history_rows(40)
    import_events(store, [write_csv(tmp_path / "a.csv", rows[:25])], mapping, lateness_days=90, now=RUN)
    merged = import_events(
        store, [write_csv(tmp_path / "b.csv", rows[15:])], mapping, lateness_days=90, now=RUN
    )
    assert merged.compacted  # the first run's files of the dates both touched
    everything = import_events(
        store, [write_csv(tmp_path / "all.csv", rows)], mapping, lateness_days=90, now=RUN
    )
    for dt in everything.dates:
        [path] = import_files(store, dt)
        values = read_bronze_file(store.read_bytes(path)).column("value").to_pylist()
        assert len(values) == len(set(values))  # each event once in bronze
    silver = pa.concat_tables([read_silver(store, dt) for dt in everything.dates])
    assert silver.num_rows == 40
    assert all(decode_event(v, now=RUN, max_age=timedelta(days=90)) for v in values)


def test_json_lines_refuse_what_is_not_an_object(tmp_path: Path, store: LakeStore) -> None:
    path = tmp_path / "events.jsonl"
    good = {
        "event_id": str(uuid.UUID(int=7)),
        "type": "view",
        "user_id": "u",
        "article_id": "a",
        "ts": stamp(1),
        "extra": 1,
    }
    path.write_text(
        json.dumps(good) + "\n\n{broken\n[1, 2]\n" + json.dumps({**good, "event_id": "nope"}) + "\n"
    )
    result = import_events(store, [path], ColumnMapping.parse(FIELDS), lateness_days=90, now=RUN)
    assert (result.rows, result.imported, result.rejected) == (4, 1, 3)
    codes = {(line["row"], line["field"], line["code"]) for line in read_report(store, result.run_id)}
    assert codes == {(3, "$", "malformed_json"), (4, "$", "wrong_type"), (5, "event_id", "wrong_type")}
    assert result.ignored_columns == {"events.jsonl": ["extra"]}


def test_nothing_is_written_when_a_file_cannot_be_used(tmp_path: Path, store: LakeStore) -> None:
    good = write_csv(tmp_path / "good.csv", history_rows(5))
    mapping = ColumnMapping.parse(FIELDS, ["user_id=visitor"])
    with pytest.raises(MappingError, match="good.csv: --map user_id=visitor: no column 'visitor'"):
        import_events(store, [good], mapping, now=RUN)
    assert store.list_files("") == []


def test_history_older_than_the_runs_limit_is_refused_and_said_why(tmp_path: Path, store: LakeStore) -> None:
    csv = write_csv(tmp_path / "old.csv", history_rows(4))
    result = import_events(store, [csv], ColumnMapping.parse(FIELDS, CSV_MAP), lateness_days=30, now=RUN)
    assert result.imported == 0 and result.rejected == 4
    [line, *_] = read_report(store, result.run_id)
    assert line["code"] == "stale_timestamp" and "older than 30 days" in line["reason"]


def test_an_event_id_imported_again_with_other_content_keeps_the_first_import(
    tmp_path: Path, store: LakeStore
) -> None:
    """Idempotent by event_id: a later export that changed an event (same id, other content)
    does not replace it, wherever the row sits in the file; the later one is quarantined."""
    rows = [{**row, "event_id": str(uuid.UUID(int=500 + i))} for i, row in enumerate(history_rows(3))]
    mapping = ColumnMapping.parse(FIELDS, [*CSV_MAP, "event_id=event_id"])
    columns = [
        "event_id",
        "visitor_id",
        "content_id",
        "action",
        "occurred_at",
        "page_view",
        "position",
        "dwell_ms",
    ]

    def write(path: Path, data: list[dict[str, Any]]) -> Path:
        pacsv.write_csv(pa.table({c: [str(r.get(c, "")) for r in data] for c in columns}), path)
        return path

    first = import_events(store, [write(tmp_path / "a.csv", rows)], mapping, lateness_days=90, now=RUN)
    # The later export lists the changed event first (row 1 here, row 3 in the first file).
    changed = [dict(rows[2], content_id="art-changed")]
    later = RUN + timedelta(hours=1)
    import_events(store, [write(tmp_path / "b.csv", changed)], mapping, lateness_days=90, now=later)
    dt = next(d for d in first.dates if rows[2]["occurred_at"].startswith(d))
    silver = read_silver(store, dt)
    kept = dict(
        zip(silver.column("event_id").to_pylist(), silver.column("article_id").to_pylist(), strict=True)
    )
    assert kept[rows[2]["event_id"]] == rows[2]["content_id"]
    quarantine = read_manifest(store, dt)
    assert quarantine["quarantined"] == 1
