"""`apply` carries a tombstone through a real lake: bronze rewritten without the erased
reader's earlier records, silver rebuilt (a partition of only theirs emptied, one with no
bronze left removed), their feature source rows removed; a rerun finds nothing to do."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from components.lake import LakeStore
from components.lake.bronze import read_bronze_file
from components.lake.layout import BRONZE
from components.lake.silver import build_silver, read_manifest, read_silver, silver_dates
from components.lake.tombstones import record_erasure, record_user, user_hash
from components.testing.lake import write_bronze
from feature_repo.definitions import USER_STATS
from pipelines.erasure.main import main

ERASED_AT = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)


def event(user: str, ts: datetime, kind: str = "click") -> bytes:
    return json.dumps(
        {
            "event_id": str(uuid.uuid4()),
            "type": kind,
            "user_id": user,
            "article_id": "a1",
            "ts": ts.isoformat(),
        }
    ).encode()


def land(store: LakeStore, values: list[bytes], at: datetime, offset: int) -> int:
    """Bronze as the ingestor writes it, received a minute after `at`; returns the next offset."""
    write_bronze(store, values, first_offset=offset, received_at=at + timedelta(minutes=1),
                 ingested_at=at + timedelta(minutes=2))  # fmt: skip
    return offset + len(values)


def silver_users(store: LakeStore, dt: str) -> list[str]:
    return sorted(read_silver(store, dt).column("user_id").to_pylist())


def bronze_owners(store: LakeStore) -> list[str]:
    owners = []
    for path in store.list_files(BRONZE + "/", ".parquet"):
        table = read_bronze_file(store.read_bytes(path))
        owners += [
            str(record_user(k, v))
            for k, v in zip(table["key"].to_pylist(), table["value"].to_pylist(), strict=False)
        ]
    return sorted(owners)


@pytest.fixture
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LakeStore:
    monkeypatch.setenv("RECO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RECO_LAKE__ROOT", str(tmp_path / "lake"))
    store = LakeStore(str(tmp_path / "lake"))
    day = {d: datetime(2026, 11, d, 9, 0, tzinfo=UTC) for d in (2, 3, 4, 5)}
    offset = land(
        store, [event("gone", day[2]), event("kept", day[2]), event("other", day[2], "view")], day[2], 0
    )
    offset = land(
        store, [event("gone", day[3]), event("gone", day[3], "view"), event("kept", day[3])], day[3], offset
    )
    offset = land(store, [event("gone", day[4])], day[4], offset)  # only theirs: no bronze will be left
    # only theirs and a record the contract refuses (no reader in it): the rebuild leaves an
    # empty partition, its quarantine kept
    broken = json.dumps({"type": "click", "ts": day[5].isoformat()}).encode()
    offset = land(store, [event("gone", day[5]), broken], day[5], offset)
    for dt in ("2026-11-02", "2026-11-03", "2026-11-04", "2026-11-05"):
        build_silver(store, dt)
    # The reader came back after the erasure: an event received after it is a new consent.
    write_bronze(store, [event("gone", day[3] + timedelta(hours=1))], first_offset=offset,
                 received_at=ERASED_AT + timedelta(hours=1), ingested_at=ERASED_AT + timedelta(hours=1))  # fmt: skip
    # Feast's offline source of reader features, with rows of both.
    rows = pa.table({"user_id": ["gone", "kept", "gone"], "clicks_7d": [1, 2, 3]})
    sink = io.BytesIO()
    pq.write_table(rows, sink)
    store.write_atomic(USER_STATS.path, sink.getvalue())
    record_erasure(store, "gone", ERASED_AT)
    return store


def last_json(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    return result


def test_apply_rewrites_the_lake_without_the_erased_reader(
    lake: LakeStore, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "gone" in silver_users(lake, "2026-11-02")  # built before the erasure
    assert main(["apply"]) == 0
    report = last_json(capsys)
    assert report["readers"] == 1 and report["bronze_records_removed"] == 5
    assert report["bronze_files_removed"] == 1  # 2026-11-04 held only theirs
    assert report["silver_rebuilt"] == ["2026-11-02", "2026-11-03", "2026-11-05"]
    assert report["silver_removed"] == ["2026-11-04"] and report["failed"] == {}
    assert report["feature_rows_removed"] == 2

    # bronze keeps everything but their records received before the erasure
    assert bronze_owners(lake) == ["gone", "k", "kept", "kept", "other"]
    assert silver_users(lake, "2026-11-02") == ["kept", "other"]
    assert silver_users(lake, "2026-11-03") == ["gone", "kept"]  # "gone": the later event only
    assert (
        read_manifest(lake, "2026-11-03")["erased_readers"] == []
        and read_manifest(lake, "2026-11-03")["erased"] == 0
    )
    assert silver_users(lake, "2026-11-05") == [] and read_manifest(lake, "2026-11-05")["quarantined"] == 1
    assert silver_dates(lake) == ["2026-11-02", "2026-11-03", "2026-11-05"]
    features = pq.read_table(io.BytesIO(lake.read_bytes(USER_STATS.path)))
    assert features.column("user_id").to_pylist() == ["kept"]

    # nothing left to do
    assert main(["apply"]) == 0
    again = last_json(capsys)
    assert (
        again["bronze_records_removed"] == 0
        and again["silver_rebuilt"] == []
        and again["silver_removed"] == []
    )


def test_the_next_silver_build_leaves_them_out_before_apply(lake: LakeStore) -> None:
    result = build_silver(lake, "2026-11-03")
    assert silver_users(lake, "2026-11-03") == ["gone", "kept"]
    assert result.manifest["erased"] == 2 and result.manifest["erased_readers"] == [user_hash("gone")]


def test_list_names_readers_by_hash_and_a_bad_id_is_refused(
    lake: LakeStore, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out.strip().splitlines()[-1]) == {"erased": {user_hash("gone"): ERASED_AT.isoformat()}}
    assert '"gone"' not in out
    assert main(["erase", "has space"]) == 2
    assert "user_id" in capsys.readouterr().err


def test_a_bulk_import_file_keeps_the_importers_naming(lake: LakeStore) -> None:
    from components.erasure.propagate import rewrite_bronze_file

    day = datetime(2026, 11, 6, 9, 0, tzinfo=UTC)
    [path] = write_bronze(lake, [event("gone", day), event("kept", day)], ingested_at=day)
    imported = f"{BRONZE}/dt=2026-11-06/hour=all/import-0123456789abcdef.parquet"
    lake.write_atomic(imported, lake.read_bytes(path))
    lake.delete(path)
    removed, new_path = rewrite_bronze_file(lake, imported, {"gone": ERASED_AT})
    assert removed == 1 and new_path is not None and new_path != imported
    assert new_path.startswith(f"{BRONZE}/dt=2026-11-06/hour=all/import-") and not lake.exists(imported)
    table = read_bronze_file(lake.read_bytes(new_path))
    assert [record_user(None, v) for v in table["value"].to_pylist()] == ["kept"]
