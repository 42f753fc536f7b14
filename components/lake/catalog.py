"""The article catalogue (what the CMS knows: category, publication, expiry) as a lake table.

Replaced whole on every export: `catalog/articles.parquet` plus a manifest with its hash.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from components.lake.layout import CATALOG_FILE, CATALOG_MANIFEST
from components.lake.store import LakeStore

CATALOG_SCHEMA = pa.schema(
    [
        pa.field("article_id", pa.string(), nullable=False),
        pa.field("category", pa.string(), nullable=False),
        pa.field("published_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("expires_at", pa.timestamp("us", tz="UTC")),
        pa.field("read_time_s", pa.float64()),
    ]
)


def write_catalog(store: LakeStore, records: Sequence[dict[str, Any]]) -> str:
    """Write the catalogue from JSON-like records (ISO timestamps); returns its content hash."""
    rows = sorted(records, key=lambda r: r["article_id"])
    table = pa.table(
        {
            "article_id": [r["article_id"] for r in rows],
            "category": [r["category"] for r in rows],
            "published_at": [datetime.fromisoformat(r["published_at"]) for r in rows],
            "expires_at": [
                datetime.fromisoformat(r["expires_at"]) if r.get("expires_at") else None for r in rows
            ],
            "read_time_s": [r.get("read_time_s") for r in rows],
        },
        schema=CATALOG_SCHEMA,
    )
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    digest = hashlib.sha256(json.dumps(rows, sort_keys=True, default=str).encode()).hexdigest()
    store.write_atomic(CATALOG_FILE, sink.getvalue())
    manifest = {"rows": len(rows), "content_hash": digest, "written_at": datetime.now(UTC).isoformat()}
    store.write_atomic(CATALOG_MANIFEST, json.dumps(manifest, sort_keys=True).encode())
    return digest


def read_catalog(store: LakeStore) -> pa.Table:
    if not store.exists(CATALOG_FILE):
        raise FileNotFoundError(f"no article catalogue at {store.uri(CATALOG_FILE)}")
    return pq.read_table(io.BytesIO(store.read_bytes(CATALOG_FILE)), schema=CATALOG_SCHEMA)


def catalog_version(store: LakeStore) -> str | None:
    """The content hash of the current catalogue (from its manifest; None without one): a
    cheap way for readers to skip re-reading an unchanged catalogue."""
    if not store.exists(CATALOG_MANIFEST):
        return None
    version: str = json.loads(store.read_bytes(CATALOG_MANIFEST))["content_hash"]
    return version
