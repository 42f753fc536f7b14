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
from dataclasses import dataclass, field
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
# carries nothing else), then when and in which order reco got the change, and from where.
ARTICLE_COLUMNS = model_columns(Article)
CATALOG_SCHEMA = pa.schema(
    [pa.field(c.name, c.arrow, nullable=c.name not in ("article_id", "status")) for c in ARTICLE_COLUMNS]
    + [
        # When reco received it: the broker's time of the record (kept monotonic per partition
        # by the consumer), or what an import says.
        pa.field("received_at", TIMESTAMP, nullable=False),
        # From when the change holds, for reads as of a time: the article's `updated_at` (the
        # CMS's clock: an import of history, a catalogue posted after the fact) unless reco got it
        # earlier than that; a takedown holds from when reco got it.
        pa.field("valid_from", TIMESTAMP, nullable=False),
        # When the lake recorded it: of two changes received at the same instant, the one
        # recorded later is the later (a correction re-sent with the same times).
        pa.field("recorded_at", TIMESTAMP, nullable=False),
        # The order within one source at one instant: the Kafka offset, or the row of an import.
        pa.field("sequence", pa.int64(), nullable=False),
        # "kafka:<topic>/<partition>/<offset>", "import:<file>#<row>", "legacy-export": for people.
        pa.field("origin", pa.string(), nullable=False),
    ]
)
CONTENT_COLUMNS = [c.name for c in ARTICLE_COLUMNS if c.name not in ("article_id", "status")]
_FIELDS = [c.name for c in ARTICLE_COLUMNS]
ARRIVAL = ("received_at", "recorded_at", "sequence")
_DELETED = ArticleStatus.DELETED.value
_PUBLISHED = ArticleStatus.PUBLISHED.value


@dataclass(frozen=True)
class ArticleChange:
    """One change of the catalogue: an upsert (`article`) or a takedown (`article` None)."""

    article_id: str
    article: Article | None
    received_at: datetime
    origin: str
    sequence: int = 0

    def row(self, recorded_at: datetime) -> dict[str, Any]:
        if self.article is None or self.article.status is ArticleStatus.DELETED:
            row: dict[str, Any] = dict.fromkeys(CONTENT_COLUMNS)
            row.update(article_id=self.article_id, status=_DELETED)
        else:
            row = model_row(self.article)
        received = self.received_at.astimezone(UTC)
        valid_from = received
        if self.article is not None and self.article.status is not ArticleStatus.DELETED:
            valid_from = min(received, self.article.updated_at)
        row.update(
            received_at=received, valid_from=valid_from, recorded_at=recorded_at, sequence=self.sequence,
            origin=self.origin,
        )  # fmt: skip
        return row


@dataclass(frozen=True)
class CatalogResult:
    changes: int  # changes recorded by this call (a repeat of an article's current state is not)
    files: list[str]  # change files written
    rows: int  # articles in the snapshot that are not deleted
    published: int  # of which recommendable
    content_hash: str  # the snapshot's (what serving and the feature build record)
    # Each article this call changed, and its status now (what the recommend replicas are told).
    statuses: dict[str, str] = field(default_factory=dict)


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def _digest(table: pa.Table) -> str:
    """sha256 of the table's Arrow IPC stream: the same rows in the same order and schema give
    the same hash."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table.combine_chunks() if table.num_rows else table)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()


def _table(rows: Iterable[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=CATALOG_SCHEMA)


def _stale(state: dict[str, Any] | None, change: dict[str, Any]) -> bool:
    """A change that must not replace `state`: an upsert made before the article was deleted
    (a CMS's retry delivered after the takedown) does not bring it back; a republication,
    updated after the deletion, does."""
    return (
        state is not None
        and state["status"] == _DELETED
        and change["status"] != _DELETED
        and change["updated_at"] is not None
        and change["updated_at"] <= state["received_at"]
    )


def _same(state: dict[str, Any] | None, change: dict[str, Any]) -> bool:
    """The change repeats the article's current state (a replay, an import run again)."""
    return state is not None and all(state[name] == change[name] for name in _FIELDS)


def _replayed(state: dict[str, Any] | None, change: dict[str, Any]) -> bool:
    """The change is a Kafka record at or before the one the state came from, on the same
    partition: a consumer's replay after a crash, already recorded."""
    if state is None:
        return False
    here, there = str(change["origin"]), str(state["origin"])
    if not (here.startswith("kafka:") and there.startswith("kafka:")):
        return False
    return here.rsplit("/", 1)[0] == there.rsplit("/", 1)[0] and change["sequence"] <= state["sequence"]


def _fold(rows: list[dict[str, Any]], start: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each article's state after `rows` (in order), from `start`."""
    states = dict(start)
    for row in rows:
        state = states.get(row["article_id"])
        if not _stale(state, row):
            states[row["article_id"]] = row
    return states


def _arrival(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row[k] for k in ARRIVAL)


def _order(table: pa.Table, clock: str = "received_at") -> pa.Table:
    keys = [clock] + [k for k in ARRIVAL if k != clock]
    return table.sort_by([(k, "ascending") for k in keys])


def _snapshot_table(states: dict[str, dict[str, Any]]) -> pa.Table:
    return _table(states[a] for a in sorted(states))


def _upgrade(table: pa.Table) -> tuple[pa.Table, bool]:
    """A snapshot in today's schema, and whether it was written before `articles.v1` (article_id,
    category, published_at, expires_at, read_time_s: the category is the section, the rest
    unknown, each article received when it was published)."""
    if "section" in table.column_names or "category" not in table.column_names:
        return table.select(CATALOG_SCHEMA.names).cast(CATALOG_SCHEMA), False
    n = table.num_rows
    published = table.column("published_at").cast(TIMESTAMP)
    columns: dict[str, Any] = {}
    for item in CATALOG_SCHEMA:
        if item.name == "section":
            columns[item.name] = table.column("category")
        elif item.name in ("published_at", "updated_at", "received_at", "valid_from", "recorded_at"):
            columns[item.name] = published
        elif item.name == "expires_at":
            columns[item.name] = table.column("expires_at").cast(TIMESTAMP)
        elif item.name == "read_time_s":
            values = table.column("read_time_s").to_pylist()
            columns[item.name] = pa.array(
                [None if v is None else max(1, round(v)) for v in values], pa.int64()
            )
        elif item.name == "status":
            columns[item.name] = pa.array([_PUBLISHED] * n, pa.string())
        elif item.name == "sequence":
            columns[item.name] = pa.array(range(n), pa.int64())
        elif item.name == "origin":
            columns[item.name] = pa.array(["legacy-export"] * n, pa.string())
        elif item.name == "article_id":
            columns[item.name] = table.column("article_id")
        else:
            columns[item.name] = pa.nulls(n, item.type)
    return pa.table(columns, schema=CATALOG_SCHEMA), True


def _read_snapshot(store: LakeStore) -> tuple[pa.Table, bool]:
    if not store.exists(CATALOG_FILE):
        return CATALOG_SCHEMA.empty_table(), False
    return _upgrade(pq.read_table(io.BytesIO(store.read_bytes(CATALOG_FILE))))


def _write_changes(store: LakeStore, table: pa.Table) -> list[str]:
    """`table`'s rows as change files, one per received date, named by their content."""
    files = []
    dates = [r.strftime("%Y-%m-%d") for r in table.column("received_at").to_pylist()]
    for dt in sorted(set(dates)):
        part = _order(table.filter(pa.array([d == dt for d in dates])))
        # Named by the changes, not by when they were recorded: the same batch again (a consumer
        # replaying after a crash) names the same file and is not written twice. A replay cut
        # differently records some changes twice, which reads fold away (same arrival, same state).
        path = catalog_change_file(dt, _digest(part.drop_columns(["recorded_at"]))[:16])
        if not store.exists(path):
            store.write_atomic(path, _parquet(part))
        files.append(path)
    return files


def apply_changes(
    store: LakeStore, changes: Sequence[ArticleChange], *, recorded_at: datetime | None = None
) -> CatalogResult:
    """Append `changes` to the change log and rewrite the snapshot (manifest last). A change
    that repeats an article's current state is not recorded again; one that would bring a
    deleted article back with content older than its deletion is recorded (every change is
    kept) but does not change the snapshot."""
    recorded = (recorded_at or datetime.now(UTC)).astimezone(UTC)
    snapshot, legacy = _read_snapshot(store)
    files: list[str] = []
    if legacy and not store.list_files(CATALOG_CHANGES + "/"):
        # The old export becomes the first changes, so reads as of a time still see it.
        files += _write_changes(store, snapshot)
    batch = _order(_table(c.row(recorded) for c in changes)) if changes else CATALOG_SCHEMA.empty_table()
    touched = set(batch.column("article_id").to_pylist())
    mask = pc.is_in(snapshot.column("article_id"), value_set=pa.array(sorted(touched), pa.string()))
    before = {r["article_id"]: r for r in snapshot.filter(mask).to_pylist()}
    recorded_rows, states = [], dict(before)
    for row in batch.to_pylist():
        state = states.get(row["article_id"])
        if _same(state, row) or _replayed(state, row):
            continue
        recorded_rows.append(row)
        # Only a change received later than the state replaces it (a replay or an import of
        # older history does not undo a newer change).
        if not _stale(state, row) and (state is None or _arrival(row) > _arrival(state)):
            states[row["article_id"]] = row
    if recorded_rows:
        files += _write_changes(store, _table(recorded_rows))
    changed = {a: s for a, s in states.items() if s is not before.get(a)}
    if changed or legacy or not store.exists(CATALOG_MANIFEST):
        kept = snapshot.filter(
            pc.invert(
                pc.is_in(snapshot.column("article_id"), value_set=pa.array(sorted(changed), pa.string()))
            )
        )
        snapshot = pa.concat_tables([kept, _table(changed.values())]).sort_by("article_id")
    status = snapshot.column("status")
    live = int(pc.sum(pc.not_equal(status, _DELETED)).as_py() or 0)
    published = int(pc.sum(pc.equal(status, _PUBLISHED)).as_py() or 0)
    digest = _digest(snapshot)
    if changed or legacy or not store.exists(CATALOG_MANIFEST):
        store.write_atomic(CATALOG_FILE, _parquet(snapshot))
        manifest = {
            "rows": live,
            "published": published,
            "deleted": snapshot.num_rows - live,
            "content_hash": digest,
            "schema": "articles.v1",
            "written_at": recorded.isoformat(),
        }
        store.write_atomic(CATALOG_MANIFEST, json.dumps(manifest, sort_keys=True).encode())
    statuses = {a: str(s["status"]) for a, s in sorted(changed.items())}
    return CatalogResult(len(recorded_rows), files, live, published, digest, statuses)


def upsert_articles(
    store: LakeStore,
    articles: Sequence[Article],
    *,
    received_at: datetime | None = None,
    origin: str = "local",
) -> CatalogResult:
    """Upsert validated articles straight into the lake, received at `received_at` (default:
    each article's `updated_at`, as an import of history does): the path of tools and tests
    that have no broker. Services go through POST /articles and the catalogue consumer."""
    return apply_changes(
        store,
        [
            ArticleChange(a.article_id, a, received_at or a.updated_at, f"{origin}#{i}", sequence=i)
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
    status): now (the snapshot), or as it held at `as_of` (rebuilt from the changes valid by
    then, see `valid_from`: what a training with that cutoff may see)."""
    if as_of is None:
        if not store.exists(CATALOG_FILE):
            raise FileNotFoundError(f"no article catalogue at {store.uri(CATALOG_FILE)}")
        table, _ = _read_snapshot(store)
    else:
        changes = read_changes(store, until=as_of)
        if (
            changes.num_rows == 0
            and store.exists(CATALOG_FILE)
            and not store.list_files(CATALOG_CHANGES + "/")
        ):
            changes, _ = _read_snapshot(store)  # a lake from before the change log: its one export
            changes = changes.filter(pc.less_equal(changes.column("valid_from"), pa.scalar(as_of, TIMESTAMP)))
        table = _snapshot_table(_fold(_order(changes, "valid_from").to_pylist(), {}))
    return table.filter(pc.not_equal(table.column("status"), _DELETED))


def catalog_version(store: LakeStore) -> str | None:
    """The content hash of the current catalogue (from its manifest; None without one): a
    cheap way for readers to skip re-reading an unchanged catalogue."""
    if not store.exists(CATALOG_MANIFEST):
        return None
    version: str = json.loads(store.read_bytes(CATALOG_MANIFEST))["content_hash"]
    return version
