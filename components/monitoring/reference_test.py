"""The monitoring reference and window read silver as the tombstones leave it: between
`DELETE /users/{id}` and `erasure apply` (silver not rebuilt yet), an erased reader's events
received before the erasure are neither in a champion's saved reference nor in the window a
drift check reads; an event received after it (the reader came back) is."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from components.lake import LakeStore
from components.lake.silver import build_silver, read_silver
from components.lake.tombstones import record_erasure
from components.monitoring.reference import build_reference, window_events
from components.testing.lake import write_bronze

DAY = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
ERASED_AT = DAY + timedelta(hours=4)
BACK = ERASED_AT + timedelta(hours=1)


def event(user: str, ts: datetime, kind: str, request: str) -> bytes:
    return json.dumps({"event_id": str(uuid.uuid4()), "type": kind, "user_id": user, "article_id": "a1",
                       "ts": ts.isoformat(), "request_id": request, "position": 0}).encode()  # fmt: skip


def erased_before_rebuild(tmp_path: Path) -> tuple[LakeStore, str]:
    """Silver built with "gone"'s and "kept"'s impressions (every one clicked), "gone" erased
    after, then back with an impression received after the erasure (in bronze only: silver is
    not rebuilt)."""
    store = LakeStore(str(tmp_path / "lake"))
    offset = 0
    for i, user in enumerate(["gone", "kept", "gone", "kept", "kept"]):
        at = DAY + timedelta(minutes=10 * i)
        values = [event(user, at, "impression", f"r{i}"), event(user, at, "click", f"r{i}")]
        write_bronze(store, values, first_offset=offset, received_at=at, ingested_at=at)
        offset += len(values)
    dt = DAY.date().isoformat()
    build_silver(store, dt)
    record_erasure(store, "gone", ERASED_AT)
    write_bronze(store, [event("gone", BACK, "impression", "r9")], first_offset=offset, received_at=BACK,
                 ingested_at=BACK)  # fmt: skip
    return store, dt


def test_the_reference_and_the_window_leave_an_erased_reader_out(tmp_path: Path) -> None:
    store, dt = erased_before_rebuild(tmp_path)
    assert read_silver(store, dt).column("user_id").to_pylist().count("gone") == 4  # not rebuilt yet
    start, end = pd.Timestamp(dt, tz="UTC"), pd.Timestamp(dt, tz="UTC") + pd.Timedelta(days=1)

    events = window_events(store, [dt], start, end)
    assert sorted(set(events["user_id"])) == ["kept"] and len(events) == 6
    assert list(events.columns) == ["type", "user_id", "article_id", "ts", "request_id"]
    reference = build_reference(store, [dt], set())
    assert reference.impressions is not None and reference.impressions["clicked"].tolist() == [True] * 3

    # Silver rebuilt since the reader came back: their new impression is read, the old ones not.
    build_silver(store, dt)
    events = window_events(store, [dt], start, end)
    assert events.loc[events["user_id"] == "gone", "ts"].tolist() == [pd.Timestamp(BACK)]
    reference = build_reference(store, [dt], set())
    assert reference.impressions is not None
    assert sorted(reference.impressions["clicked"]) == [False, True, True, True]
