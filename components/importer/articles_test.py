"""Importing a catalogue's history: CSV with list fields as text, refusals reported, each version
in the catalogue from its own `updated_at`, a re-import that changes nothing. Injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from components.importer import ColumnMapping
from components.importer.articles import article_fields, import_articles
from components.importer.report import read_report
from components.lake import LakeStore
from components.lake.catalog import read_catalog

RUN = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
T0 = RUN - timedelta(days=200)


def row(article_id: str, days: int, **fields: Any) -> dict[str, Any]:
    at = (T0 + timedelta(days=days)).isoformat()
    return {
        "id": article_id,
        "headline": f"Title of {article_id}",
        "abstract": "",
        "link": f"https://news.example/{article_id}",
        "section": "tech",
        "keywords": "ai | chips",
        "byline": "Ann|Bo",
        "language": "en",
        "published_at": at,
        "updated_at": at,
        "status": "published",
        "read_time_s": "120",
        **fields,
    }


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    columns = list(rows[0])
    pacsv.write_csv(pa.table({c: [str(r.get(c, "")) for r in rows] for c in columns}), path)
    return path


MAPPING = ["article_id=id", "title=headline", "url=link", "tags=keywords", "authors=byline"]


@pytest.fixture
def store(tmp_path: Path) -> LakeStore:
    return LakeStore(str(tmp_path / "lake"))


def test_a_catalogue_export_becomes_versioned_changes_received_when_they_were_made(
    tmp_path: Path, store: LakeStore
) -> None:
    rows = [
        row("a1", 0),
        row("a2", 5),
        row("a1", 0, updated_at=(T0 + timedelta(days=30)).isoformat(), headline="A1, corrected"),
        row("bad-url", 1, link="ftp://x"),
        row("twice", 1, keywords="ai|ai"),
        row("ahead", 0, published_at=(RUN + timedelta(days=1)).isoformat()),
    ]
    mapping = ColumnMapping.parse(article_fields(), MAPPING)
    result = import_articles(store, [write_csv(tmp_path / "cms.csv", rows)], mapping, now=RUN)
    assert (result.rows, result.imported, result.rejected) == (6, 3, 3)
    lines = {(line["row"], line["field"]): line for line in read_report(store, result.run_id)}
    assert "http(s) URL" in lines[(4, "url")]["reason"]
    assert "listed twice" in lines[(5, "tags")]["reason"]
    assert "ahead of the receiver's clock" in lines[(6, "published_at")]["reason"]

    now = read_catalog(store)
    assert sorted(now.column("article_id").to_pylist()) == ["a1", "a2"]
    a1 = now.filter(pa.compute.equal(now.column("article_id"), "a1")).to_pylist()[0]
    assert a1["title"] == "A1, corrected" and a1["tags"] == ["ai", "chips"] and a1["authors"] == ["Ann", "Bo"]
    assert a1["read_time_s"] == 120
    # As of a time in the past: only what existed then, in the version of then.
    then = read_catalog(store, as_of=T0 + timedelta(days=10))
    assert dict(
        zip(then.column("article_id").to_pylist(), then.column("title").to_pylist(), strict=True)
    ) == {
        "a1": "Title of a1",
        "a2": "Title of a2",
    }
    assert read_catalog(store, as_of=T0 + timedelta(days=2)).column("article_id").to_pylist() == ["a1"]

    again = import_articles(
        store, [write_csv(tmp_path / "cms.csv", rows)], mapping, now=RUN + timedelta(days=1)
    )
    assert again.catalog["content_hash"] == result.catalog["content_hash"]


def test_parquet_lists_and_fixed_values(tmp_path: Path, store: LakeStore) -> None:
    at = T0 + timedelta(days=3)
    table = pa.table(
        {
            "article_id": ["p1"],
            "title": ["Parquet"],
            "url": ["https://news.example/p1"],
            "section": ["science"],
            "tags": pa.array([["space", "mars"]], pa.list_(pa.string())),
            "published_at": pa.array([at], pa.timestamp("us", tz="UTC")),
            "updated_at": pa.array([at], pa.timestamp("us", tz="UTC")),
        }
    )
    pq.write_table(table, tmp_path / "cms.parquet")
    # The abstract may be empty: an empty value is the empty text there, not an absent field.
    mapping = ColumnMapping.parse(article_fields(), [], ["abstract=", "language=de", "status=published"])
    result = import_articles(store, [tmp_path / "cms.parquet"], mapping, now=RUN)
    assert (result.imported, result.rejected) == (1, 0)
    [p1] = read_catalog(store).to_pylist()
    assert p1["tags"] == ["space", "mars"] and p1["language"] == "de" and p1["published_at"] == at
    assert p1["abstract"] == ""
    # Without the language the contract refuses the row, and says so.
    mapping = ColumnMapping.parse(article_fields(), [], ["abstract=", "status=published"])
    result = import_articles(store, [tmp_path / "cms.parquet"], mapping, now=RUN)
    assert read_report(store, result.run_id) == [
        {"source": "cms.parquet", "row": 1, "field": "language", "code": "missing", "reason": "missing field"}
    ]
