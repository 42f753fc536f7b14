"""`apply_erasure` after a run that rewrote bronze and stopped before rebuilding silver: the
partitions whose erased records were all quarantined are still rebuilt (or removed), so no
quarantine file keeps them; a record the reader sent after the erasure stays quarantined, and
a rerun finds nothing to do."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from components.erasure.propagate import apply_erasure, rewrite_bronze_file
from components.lake import BronzeBatch, LakeStore
from components.lake.layout import BRONZE, QUARANTINE
from components.lake.silver import build_silver, read_quarantine, read_silver, silver_dates
from components.lake.tombstones import erased_users, record_erasure
from components.testing.lake import KafkaRecord

ERASED_AT = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
MIXED, ONLY_THEIRS = "2026-11-06", "2026-11-07"


def event(user: str, ts: datetime, **fields: object) -> bytes:
    doc = {"event_id": str(uuid.uuid4()), "type": "click", "user_id": user, "article_id": "a1",
           "ts": ts.isoformat(), **fields}  # fmt: skip
    return json.dumps({k: v for k, v in doc.items() if v is not None}).encode()


def land(store: LakeStore, records: list[tuple[bytes, bytes]], received: datetime, offset: int) -> int:
    """(key, value) records as the ingestor writes them, received (and ingested) at `received`."""
    batch = BronzeBatch()
    for i, (key, value) in enumerate(records):
        batch.add(KafkaRecord("events.v1", 0, offset + i, key, value, int(received.timestamp() * 1000)))
    for path, data, _ in batch.files(ingested_at=received):
        store.write_atomic(path, data)
    return offset + len(records)


def quarantined(store: LakeStore, dt: str) -> list[bytes]:
    return sorted(read_quarantine(store, dt).column("value").to_pylist())


def test_a_rerun_after_a_crash_before_the_rebuild_clears_their_quarantined_records(tmp_path: Path) -> None:
    store = LakeStore(str(tmp_path / "lake"))
    mixed = datetime(2026, 11, 6, 9, 0, tzinfo=UTC)
    only = datetime(2026, 11, 7, 9, 0, tzinfo=UTC)
    refused = event("gone", mixed, article_id=None)  # the contract refuses it: quarantined
    # no reader in it (bronze attributes it by its Kafka key, the reader's)
    malformed = json.dumps({"type": "click", "user_id": 7, "ts": mixed.isoformat()}).encode()
    offset = land(store, [(b"gone", refused), (b"gone", malformed), (b"kept", event("kept", mixed))],
                  mixed + timedelta(minutes=1), 0)  # fmt: skip
    offset = land(
        store, [(b"gone", event("gone", only, article_id=None))], only + timedelta(minutes=1), offset
    )
    build_silver(store, MIXED)
    build_silver(store, ONLY_THEIRS)
    assert read_silver(store, MIXED).column("user_id").to_pylist() == ["kept"]
    assert read_silver(store, ONLY_THEIRS).num_rows == 0
    assert refused in quarantined(store, MIXED) and malformed in quarantined(store, MIXED)

    record_erasure(store, "gone", ERASED_AT)
    # They came back: a refused record received after the erasure is theirs to keep.
    again = event("gone", mixed + timedelta(hours=1), article_id=None)
    land(store, [(b"gone", again)], ERASED_AT + timedelta(hours=1), offset)
    # An earlier apply rewrote bronze, then stopped before rebuilding silver.
    erased = erased_users(store)
    for path in store.list_files(BRONZE + "/", ".parquet"):
        rewrite_bronze_file(store, path, erased)
    assert refused in quarantined(store, MIXED)  # still there

    report = apply_erasure(store)
    assert report.bronze_records_removed == 0 and report.failed == {}
    assert report.silver_rebuilt == [MIXED] and report.silver_removed == [ONLY_THEIRS]
    assert quarantined(store, MIXED) == [again]
    assert read_silver(store, MIXED).column("user_id").to_pylist() == ["kept"]
    assert silver_dates(store) == [MIXED]
    assert store.list_files(f"{QUARANTINE}/dt={ONLY_THEIRS}/", ".parquet") == []

    rerun = apply_erasure(store)
    assert rerun.silver_rebuilt == [] and rerun.silver_removed == []


def test_pending_erasures_are_applied_once(tmp_path: Path) -> None:
    """What the daily flow runs first: nothing without a tombstone, the whole lake for a new
    one, then nothing again until another reader is erased."""
    from components.erasure.propagate import apply_pending_erasures

    store = LakeStore(str(tmp_path / "lake"))
    day = (datetime.now(UTC) - timedelta(days=2)).replace(hour=9, minute=0, second=0, microsecond=0)
    land(store, [(b"gone", event("gone", day)), (b"kept", event("kept", day))], day + timedelta(hours=1), 0)
    build_silver(store, day.date().isoformat())
    assert apply_pending_erasures(store) is None  # no tombstone
    record_erasure(store, "gone", day + timedelta(days=1))
    report = apply_pending_erasures(store)
    assert report is not None and report.bronze_records_removed == 1 and not report.failed
    assert read_silver(store, day.date().isoformat()).column("user_id").to_pylist() == ["kept"]
    assert apply_pending_erasures(store) is None  # carried through already
    record_erasure(store, "kept", day + timedelta(days=1))
    assert apply_pending_erasures(store) is not None
