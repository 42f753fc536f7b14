"""The article catalogue in the lake: every change kept, and the current snapshot.

Changes come from the `articles.v1` topic (the collector's POST /articles and DELETE
/articles/{id}, through the catalogue consumer) or from the bulk importer. Each batch of changes
is appended as a content-named Parquet file under `catalog/changes/dt=<received date>/`; then the
snapshot `catalog/articles.parquet` (the latest change of every article, by the time reco
received it) and its manifest (row count, content hash) are rewritten, manifest last.

- Serving and the feature build read the snapshot (`read_catalog(store)`): every article not
  deleted, with its status (only `published` ones are recommendable).
- Training reads the catalogue as of its cutoff (`read_catalog(store, as_of=cutoff)`): rebuilt
  from the changes that held by then (an edit from its `updated_at`, or from when reco got it if
  that was earlier; a takedown from when reco got it), so a later edit, takedown or article never
  leaks into it.
- A deleted article stays in the snapshot as a row with status `deleted` and no content: a
  change that arrives late but was made before the deletion cannot bring it back.

Applying the same changes again writes the same files and the same snapshot (idempotent: a
consumer that replays after a crash, an import run twice). One writer at a time.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from components.events.articles import Article, ArticleStatus
from components.events.columns import TIMESTAMP, model_columns, model_row
from components.lake.layout import CATALOG_CHANGES, CATALOG_FILE, CATALOG_MANIFEST, catalog_change_file
from components.lake.store import LakeStore

# The article's columns (from `articles.v1`; only the id and status are always there: a deletion
# carries nothing else), then when reco received the change and where it came from.
ARTICLE_COLUMNS = model_columns(Article)
CATALOG_SCHEMA = pa.schema(
    [pa.field(c.name, c.arrow, nullable=c.name not in ("article_id", "status")) for c in ARTICLE_COLUMNS]
    + [
        pa.field("received_at", TIMESTAMP, nullable=False),
        # From when the change holds, for reads as of a time: the article's `updated_at` (the
        # CMS's clock: an import of history, a catalogue posted after the fact) unless reco got it
        # earlier than that; a takedown holds from when reco got it.
        pa.field("valid_from", TIMESTAMP, nullable=False),
        # "kafka:<topic>/<partition>/<offset>" or "import:<file>#<row>": ties at one instant are
        # broken by it, so the same changes always give the same snapshot.
        pa.field("origin", pa.string(), nullable=False),
    ]
)
CONTENT_COLUMNS = [c.name for c in ARTICLE_COLUMNS if c.name not in ("article_id", "status")]


@dataclass(frozen=True)
class ArticleChange:
    """One change of the catalogue: an upsert (`article`) or a takedown (`article` None)."""

    article_id: str
    article: Article | None
    received_at: datetime
    origin: str

    def row(self) -> dict[str, Any]:
        if self.article is None or self.article.status is ArticleStatus.DELETED:
            row: dict[str, Any] = dict.fromkeys(CONTENT_COLUMNS)
            row.update(article_id=self.article_id, status=ArticleStatus.DELETED.value)
        else:
            row = model_row(self.article)
        received = self.received_at.astimezone(UTC)
        valid_from = received
        if self.article is not None and self.article.status is not ArticleStatus.DELETED:
            valid_from = min(received, self.article.updated_at)
        row.update(received_at=received, valid_from=valid_from, origin=self.origin)
        return row


@dataclass(frozen=True)
class CatalogResult:
    changes: int  # changes applied by this call (after dropping exact repeats)
    files: list[str]  # change files written
    rows: int  # articles in the snapshot that are not deleted
    published: int  # of which recommendable
    content_hash: str  # the snapshot's (what serving and the feature build record)


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def _digest(table: pa.Table) -> str:
    """sha256 of the rows as canonical JSON, in article-id then change order."""
    digest = hashlib.sha256()
    for row in table.to_pylist():
        digest.update(json.dumps(row, sort_keys=True, default=str).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def _table(rows: Iterable[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=CATALOG_SCHEMA)


def _latest(table: pa.Table, clock: str = "received_at") -> pa.Table:
    """The latest change of each article (by `clock`, then arrival, then origin), ordered by
    article id."""
    if table.num_rows == 0:
        return table
    keys = [(clock, "descending"), ("received_at", "descending"), ("origin", "descending")]
    ordered = table.sort_by([("article_id", "ascending"), *keys[0 if clock != "received_at" else 1 :]])
    ids = ordered.column("article_id").to_pylist()
    keep = [i for i in range(len(ids)) if i == 0 or ids[i] != ids[i - 1]]
    return ordered.take(pa.array(keep, pa.int64()))


def _upgrade(table: pa.Table) -> pa.Table:
    """A snapshot written before `articles.v1` (article_id, category, published_at, expires_at,
    read_time_s) in today's schema: the category is the section, the rest unknown."""
    if "section" in table.column_names or "category" not in table.column_names:
        return table.select(CATALOG_SCHEMA.names).cast(CATALOG_SCHEMA)
    n = table.num_rows
    columns: dict[str, Any] = {}
    for field in CATALOG_SCHEMA:
        if field.name == "section":
            columns[field.name] = table.column("category")
        elif field.name in ("published_at", "expires_at"):
            columns[field.name] = table.column(field.name).cast(TIMESTAMP)
        elif field.name == "updated_at":
            columns[field.name] = table.column("published_at").cast(TIMESTAMP)
        elif field.name == "read_time_s":
            values = table.column("read_time_s").to_pylist()
            columns[field.name] = pa.array([None if v is None else max(1, round(v)) for v in values], pa.int64())
        elif field.name == "status":
            columns[field.name] = pa.array([ArticleStatus.PUBLISHED.value] * n, pa.string())
        elif field.name in ("received_at", "valid_from"):
            columns[field.name] = table.column("published_at").cast(TIMESTAMP)
        elif field.name == "origin":
            columns[field.name] = pa.array(["legacy-export"] * n, pa.string())
        elif field.name == "article_id":
            columns[field.name] = table.column("article_id")
        else:
            columns[field.name] = pa.nulls(n, field.type)
    return pa.table(columns, schema=CATALOG_SCHEMA)


def _read_snapshot(store: LakeStore) -> pa.Table:
    if not store.exists(CATALOG_FILE):
        return CATALOG_SCHEMA.empty_table()
    return _upgrade(pq.read_table(io.BytesIO(store.read_bytes(CATALOG_FILE))))


def apply_changes(store: LakeStore, changes: Sequence[ArticleChange]) -> CatalogResult:
    """Append `changes` to the change log and rewrite the snapshot (manifest last)."""
    files: list[str] = []
    snapshot = _read_snapshot(store)
    if changes:
        batch = _table(c.row() for c in changes)
        by_date: dict[str, list[int]] = {}
        for i, received in enumerate(batch.column("received_at").to_pylist()):
            by_date.setdefault(received.strftime("%Y-%m-%d"), []).append(i)
        for dt, rows in sorted(by_date.items()):
            part = batch.take(pa.array(rows, pa.int64())).sort_by(
                [("article_id", "ascending"), ("received_at", "ascending"), ("origin", "ascending")]
            )
            path = catalog_change_file(dt, _digest(part)[:16])
            if not store.exists(path):
                store.write_atomic(path, _parquet(part))
            files.append(path)
        snapshot = _latest(pa.concat_tables([snapshot, batch]))
    digest = _digest(snapshot)
    status = snapshot.column("status")
    live = int(pc.sum(pc.not_equal(status, ArticleStatus.DELETED.value)).as_py() or 0)
    published = int(pc.sum(pc.equal(status, ArticleStatus.PUBLISHED.value)).as_py() or 0)
    if changes or not store.exists(CATALOG_MANIFEST):
        store.write_atomic(CATALOG_FILE, _parquet(snapshot))
        manifest = {
            "rows": live,
            "published": published,
            "deleted": snapshot.num_rows - live,
            "content_hash": digest,
            "schema": "articles.v1",
            "written_at": datetime.now(UTC).isoformat(),
        }
        store.write_atomic(CATALOG_MANIFEST, json.dumps(manifest, sort_keys=True).encode())
    return CatalogResult(len(changes), files, live, published, digest)


def upsert_articles(
    store: LakeStore, articles: Sequence[Article], *, received_at: datetime | None = None, origin: str = "local"
) -> CatalogResult:
    """Upsert validated articles straight into the lake, received at `received_at` (default:
    each article's `updated_at`, as an import of history does): the path of tools and tests
    that have no broker. Services go through POST /articles and the catalogue consumer."""
    return apply_changes(
        store,
        [
            ArticleChange(a.article_id, a, received_at or a.updated_at, f"{origin}#{i}")
            for i, a in enumerate(articles)
        ],
    )


def article_from_row(row: dict[str, Any]) -> Article:
    """The article a catalogue row holds (a row of read_catalog), for a change to it."""
    fields = {k: v for k, v in row.items() if k in Article.model_fields and v is not None}
    return Article.model_validate(fields)


def read_changes(store: LakeStore, *, until: datetime | None = None) -> pa.Table:
    """Every change that holds by `until` (its `valid_from`; all without it), in file order."""
    tables = [
        pq.read_table(io.BytesIO(store.read_bytes(path)), schema=CATALOG_SCHEMA)
        for path in store.list_files(CATALOG_CHANGES + "/", ".parquet")
    ]
    table = pa.concat_tables(tables) if tables else CATALOG_SCHEMA.empty_table()
    if until is not None and table.num_rows:
        table = table.filter(pc.less_equal(table.column("valid_from"), pa.scalar(until, TIMESTAMP)))
    return table


def read_catalog(store: LakeStore, *, as_of: datetime | None = None) -> pa.Table:
    """The catalogue's articles that are not deleted (published and unpublished, with their
    status): now (the snapshot), or as reco knew it at `as_of` (rebuilt from the changes
    received by then: what a training with that cutoff may see)."""
    if as_of is None:
        if not store.exists(CATALOG_FILE):
            raise FileNotFoundError(f"no article catalogue at {store.uri(CATALOG_FILE)}")
        table = _read_snapshot(store)
    else:
        table = _latest(read_changes(store, until=as_of), clock="valid_from")
        if table.num_rows == 0 and store.exists(CATALOG_FILE) and not store.list_files(CATALOG_CHANGES + "/"):
            # A lake from before the change log: its one export is all there is.
            snapshot = _read_snapshot(store)
            table = snapshot.filter(pc.less_equal(snapshot.column("valid_from"), pa.scalar(as_of, TIMESTAMP)))
    return table.filter(pc.not_equal(table.column("status"), ArticleStatus.DELETED.value))


def catalog_version(store: LakeStore) -> str | None:
    """The content hash of the current catalogue (from its manifest; None without one): a
    cheap way for readers to skip re-reading an unchanged catalogue."""
    if not store.exists(CATALOG_MANIFEST):
        return None
    version: str = json.loads(store.read_bytes(CATALOG_MANIFEST))["content_hash"]
    return version
