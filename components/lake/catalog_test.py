"""The versioned catalogue on a local lake: upserts, takedowns, reads as of a time, replays."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from components.events.articles import Article, validate_article
from components.lake.catalog import (
    ArticleChange,
    apply_changes,
    article_from_row,
    catalog_version,
    read_catalog,
    read_changes,
    upsert_articles,
)
from components.lake.layout import CATALOG_FILE, CATALOG_MANIFEST
from components.lake.store import LakeStore

NOW = datetime.now(UTC).replace(microsecond=0)


def article(article_id: str, at: datetime, **fields: Any) -> Article:
    document = {
        "article_id": article_id,
        "title": f"Title of {article_id}",
        "abstract": "",
        "url": f"https://news.example/{article_id}",
        "section": "tech",
        "tags": ["ai"],
        "language": "en",
        "published_at": at.isoformat(),
        "updated_at": at.isoformat(),
        "status": "published",
        **fields,
    }
    return validate_article(document, now=NOW)


@pytest.fixture
def store(tmp_path: Path) -> LakeStore:
    return LakeStore(str(tmp_path / "lake"))


def titles(table: pa.Table) -> dict[str, str]:
    return dict(zip(table.column("article_id").to_pylist(), table.column("title").to_pylist(), strict=True))


def test_upserts_are_read_back_with_every_contract_field(store: LakeStore) -> None:
    a = article("a1", NOW - timedelta(days=2), tags=["ai", "chips"], authors=["Ann"], read_time_s=240)
    result = upsert_articles(store, [a, article("a2", NOW - timedelta(days=1))])
    assert (result.rows, result.published, result.changes) == (2, 2, 2)
    rows = {r["article_id"]: r for r in read_catalog(store).to_pylist()}
    assert rows["a1"]["tags"] == ["ai", "chips"] and rows["a1"]["authors"] == ["Ann"]
    assert rows["a1"]["section"] == "tech" and rows["a1"]["read_time_s"] == 240
    assert article_from_row(rows["a1"]) == a
    assert catalog_version(store) == result.content_hash


def test_applying_the_same_changes_again_changes_nothing(store: LakeStore) -> None:
    changes = [
        ArticleChange(
            "a1", article("a1", NOW - timedelta(days=1)), NOW - timedelta(hours=3), "kafka:t/0/1", 1
        ),
        ArticleChange("a1", None, NOW - timedelta(hours=1), "kafka:t/0/2", 2),
    ]
    first = apply_changes(store, changes)
    files = store.list_files("catalog/")
    again = apply_changes(store, changes)
    assert again.content_hash == first.content_hash
    assert store.list_files("catalog/") == files


def test_a_takedown_leaves_the_catalogue_and_keeps_no_content(store: LakeStore) -> None:
    upsert_articles(store, [article("a1", NOW - timedelta(days=1)), article("a2", NOW - timedelta(days=1))])
    apply_changes(store, [ArticleChange("a1", None, NOW, "kafka:t/0/9")])
    assert read_catalog(store).column("article_id").to_pylist() == ["a2"]
    snapshot = pq.read_table(io.BytesIO(store.read_bytes(CATALOG_FILE))).to_pylist()
    deleted = next(r for r in snapshot if r["article_id"] == "a1")
    assert deleted["status"] == "deleted" and deleted["title"] is None and deleted["url"] is None
    manifest = json.loads(store.read_bytes(CATALOG_MANIFEST))
    assert (manifest["rows"], manifest["deleted"]) == (1, 1)
    # An edit made before the takedown but delivered after it does not bring the article back.
    late = article("a1", NOW - timedelta(days=1), title="Late edit")
    apply_changes(store, [ArticleChange("a1", late, NOW - timedelta(minutes=5), "kafka:t/1/3")])
    assert read_catalog(store).column("article_id").to_pylist() == ["a2"]


def test_unpublished_articles_stay_with_their_status(store: LakeStore) -> None:
    upsert_articles(store, [article("a1", NOW - timedelta(days=1))])
    result = upsert_articles(
        store, [article("a1", NOW - timedelta(days=1), status="unpublished")], received_at=NOW
    )
    assert (result.rows, result.published) == (1, 0)
    assert read_catalog(store).column("status").to_pylist() == ["unpublished"]


def test_a_read_as_of_a_time_sees_only_what_held_then(store: LakeStore) -> None:
    t0 = NOW - timedelta(days=10)
    upsert_articles(store, [article("a1", t0)])  # holds from its updated_at, t0
    edited = article("a1", t0, title="Corrected", updated_at=(t0 + timedelta(days=3)).isoformat())
    upsert_articles(store, [edited])
    upsert_articles(store, [article("a2", t0 + timedelta(days=5))])
    apply_changes(store, [ArticleChange("a1", None, t0 + timedelta(days=7), "kafka:t/0/5")])

    assert titles(read_catalog(store, as_of=t0 + timedelta(days=1))) == {"a1": "Title of a1"}
    assert titles(read_catalog(store, as_of=t0 + timedelta(days=6))) == {
        "a1": "Corrected",
        "a2": "Title of a2",
    }
    assert titles(read_catalog(store, as_of=t0 + timedelta(days=8))) == {"a2": "Title of a2"}
    assert read_catalog(store, as_of=t0 - timedelta(days=1)).num_rows == 0
    assert titles(read_catalog(store)) == {"a2": "Title of a2"}
    assert read_changes(store).num_rows == 4


def test_a_change_received_before_its_updated_at_holds_from_when_it_was_received(store: LakeStore) -> None:
    # A CMS clock ahead of reco's must not move an article back in time either way.
    a = article("a1", NOW - timedelta(days=1), updated_at=(NOW + timedelta(minutes=3)).isoformat())
    apply_changes(store, [ArticleChange("a1", a, NOW, "kafka:t/0/1")])
    assert read_catalog(store, as_of=NOW).num_rows == 1


def test_a_catalogue_from_before_articles_v1_is_read_in_todays_schema(store: LakeStore) -> None:
    published = NOW - timedelta(days=2)
    legacy = pa.table(
        {
            "article_id": ["old-1"],
            "category": ["sports"],
            "published_at": pa.array([published], pa.timestamp("us", tz="UTC")),
            "expires_at": pa.array([None], pa.timestamp("us", tz="UTC")),
            "read_time_s": [95.4],
        }
    )
    sink = io.BytesIO()
    pq.write_table(legacy, sink)
    store.write_atomic(CATALOG_FILE, sink.getvalue())
    row = read_catalog(store).to_pylist()[0]
    assert (row["section"], row["status"], row["read_time_s"]) == ("sports", "published", 95)
    assert read_catalog(store, as_of=NOW).num_rows == 1
    assert read_catalog(store, as_of=published - timedelta(hours=1)).num_rows == 0
    # The next change carries the legacy rows into the new snapshot and into the change log.
    upsert_articles(store, [article("a1", NOW - timedelta(days=1))])
    assert sorted(read_catalog(store).column("article_id").to_pylist()) == ["a1", "old-1"]
    assert sorted(read_catalog(store, as_of=NOW).column("article_id").to_pylist()) == ["a1", "old-1"]


def test_no_catalogue_is_a_clear_error(store: LakeStore) -> None:
    with pytest.raises(FileNotFoundError, match="no article catalogue"):
        read_catalog(store)
    assert catalog_version(store) is None


def test_a_republication_updated_after_the_takedown_brings_the_article_back(store: LakeStore) -> None:
    upsert_articles(store, [article("a1", NOW - timedelta(days=2))])
    apply_changes(store, [ArticleChange("a1", None, NOW - timedelta(hours=2), "kafka:t/0/5", 5)])
    again = article("a1", NOW - timedelta(days=2), updated_at=(NOW - timedelta(hours=1)).isoformat())
    result = apply_changes(store, [ArticleChange("a1", again, NOW - timedelta(hours=1), "kafka:t/0/6", 6)])
    assert result.statuses == {"a1": "published"}
    assert read_catalog(store).column("article_id").to_pylist() == ["a1"]


def test_offsets_order_changes_received_at_the_same_instant(store: LakeStore) -> None:
    # A POST at offset 9 and a DELETE at offset 10, stamped in the same millisecond: the
    # DELETE is the later (numerically, not as text: "9" sorts after "10").
    at = NOW - timedelta(minutes=1)
    result = apply_changes(
        store,
        [
            ArticleChange("a1", article("a1", NOW - timedelta(days=1)), at, "kafka:t/0/9", 9),
            ArticleChange("a1", None, at, "kafka:t/0/10", 10),
        ],
    )
    assert result.statuses == {"a1": "deleted"} and read_catalog(store).num_rows == 0
    assert read_catalog(store, as_of=NOW).num_rows == 0


def test_a_correction_sent_again_with_the_same_times_wins(store: LakeStore) -> None:
    t0 = NOW - timedelta(days=3)
    upsert_articles(store, [article("a1", t0, title="First")])
    result = upsert_articles(store, [article("a1", t0, title="Corrected")])
    assert result.statuses == {"a1": "published"}
    assert titles(read_catalog(store)) == {"a1": "Corrected"}
    assert titles(read_catalog(store, as_of=NOW)) == {"a1": "Corrected"}
    # The same call again is a repeat: nothing recorded, nothing rewritten.
    files = store.list_files("catalog/")
    assert upsert_articles(store, [article("a1", t0, title="Corrected")]).changes == 0
    assert store.list_files("catalog/") == files


def test_an_older_change_delivered_late_does_not_undo_a_newer_one(store: LakeStore) -> None:
    t0 = NOW - timedelta(days=3)
    upsert_articles(store, [article("a1", t0, title="New", updated_at=(t0 + timedelta(days=1)).isoformat())])
    upsert_articles(store, [article("a1", t0, title="Old")])  # history imported afterwards
    assert titles(read_catalog(store)) == {"a1": "New"}
    assert titles(read_catalog(store, as_of=t0 + timedelta(hours=1))) == {"a1": "Old"}
