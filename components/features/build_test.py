"""The feature build reads silver as the tombstones leave it: between `DELETE /users/{id}` and
`erasure apply` (silver not rebuilt yet), an erased reader's events received before the erasure
are not read back into the feature rows; one received after it (the reader came back) is."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from components.events.articles import validate_article
from components.features import compute_features
from components.features.build import catalog_as_of, load_silver_events
from components.lake import LakeStore
from components.lake.catalog import upsert_articles
from components.lake.silver import build_silver, read_silver
from components.lake.tombstones import record_erasure
from components.testing.lake import write_bronze

DAY = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
ERASED_AT = DAY + timedelta(hours=4)


def event(user: str, ts: datetime, kind: str, request: str) -> bytes:
    doc: dict[str, object] = {"event_id": str(uuid.uuid4()), "type": kind, "user_id": user,
                              "article_id": "a1", "ts": ts.isoformat(), "request_id": request}  # fmt: skip
    if kind == "impression":
        doc["position"] = 0
    if kind == "click":
        doc["position"] = 0
    return json.dumps(doc).encode()


def land(store: LakeStore, values: list[bytes], received: datetime, offset: int) -> int:
    write_bronze(store, values, first_offset=offset, received_at=received, ingested_at=received)
    return offset + len(values)


@pytest.fixture
def lake(tmp_path: Path) -> LakeStore:
    """Silver built before the erasure, holding "gone"'s events; "gone" erased, then back with
    an event received after the erasure (in bronze, and in silver once rebuilt)."""
    store = LakeStore(str(tmp_path / "lake"))
    offset = 0
    for i, user in enumerate(["gone", "kept", "gone", "kept"]):
        at = DAY + timedelta(minutes=10 * i)
        values = [event(user, at, "impression", f"r{i}"), event(user, at, "click", f"r{i}")]
        offset = land(store, values, at + timedelta(seconds=5), offset)
    build_silver(store, DAY.date().isoformat())
    record_erasure(store, "gone", ERASED_AT)
    back = ERASED_AT + timedelta(hours=1)
    land(store, [event("gone", back, "click", "r9")], back + timedelta(seconds=5), offset)
    return store


def test_a_feature_build_before_apply_leaves_the_erased_reader_out(lake: LakeStore) -> None:
    dt = DAY.date().isoformat()
    assert read_silver(lake, dt).column("user_id").to_pylist().count("gone") == 4  # not rebuilt yet
    events, hashes = load_silver_events(lake, [dt])
    assert list(events.columns) == ["type", "user_id", "article_id", "ts", "dwell_ms"]
    assert sorted(events["user_id"]) == ["kept"] * 4 and list(hashes) == [dt]
    assert str(events["dwell_ms"].dtype) == "float64"

    # Silver rebuilt after the reader came back: their new event is read, none of the old ones.
    build_silver(lake, dt)
    events, _ = load_silver_events(lake, [dt])
    gone = events[events["user_id"] == "gone"]
    assert len(gone) == 1 and gone["ts"].iloc[0] == ERASED_AT + timedelta(hours=1)


def test_the_feature_rows_hold_no_erased_reader(lake: LakeStore) -> None:
    published = (DAY - timedelta(days=1)).isoformat()
    article = {"article_id": "a1", "title": "a1", "abstract": "", "url": "https://x.example/",
               "section": "tech", "language": "en", "published_at": published, "updated_at": published,
               "status": "published"}  # fmt: skip
    upsert_articles(lake, [validate_article(article)])
    events, _ = load_silver_events(lake, [DAY.date().isoformat()])
    until = events["ts"].max().ceil("h").to_pydatetime()
    tables = compute_features(events, catalog_as_of(lake, until))
    assert set(tables.user_stats["user_id"]) == {"kept"}
