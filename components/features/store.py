"""Feast, configured from reco's settings: apply, materialize, point-in-time training sets.

The registry is a file (local profile) or a SQL database (cluster profile, PostgreSQL); the
online store is Redis, or SQLite only when asked for explicitly (RECO_FEATURES__ONLINE_STORE).
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from components.config import Settings
from components.features.compute import FeatureTables
from components.lake import LakeStore
from feature_repo import definitions

ROW_ID = "__reco_row_id"
# Explicit defaults for entity rows with no feature row inside the TTL (new users, cold
# articles): counts are zero; ratios, averages and categories stay unknown (null).
DEFAULTS: dict[str, Any] = {"clicks_7d": 0, "views_24h": 0}


def _redis_connection_string(url: str) -> str:
    parsed = urlparse(url)
    parts = [f"{parsed.hostname or '127.0.0.1'}:{parsed.port or 6379}"]
    db = (parsed.path or "/0").lstrip("/") or "0"
    parts.append(f"db={db}")
    if parsed.password:
        parts.append(f"password={parsed.password}")
    if parsed.scheme == "rediss":
        parts.append("ssl=true")
    return ",".join(parts)


def repo_config(settings: Settings) -> Any:
    from feast.infra.registry.sql import SqlRegistryConfig
    from feast.repo_config import RegistryConfig, RepoConfig

    registry = settings.features.registry
    registry_config: RegistryConfig
    if "://" in registry:
        # pool_pre_ping: the registry connection survives database restarts.
        registry_config = SqlRegistryConfig(
            registry_type="sql",
            path=registry,
            cache_ttl_seconds=60,
            sqlalchemy_config_kwargs={"echo": False, "pool_pre_ping": True},
        )
    else:
        Path(registry).parent.mkdir(parents=True, exist_ok=True)
        registry_config = RegistryConfig(registry_type="file", path=registry, cache_ttl_seconds=60)
    if settings.features.online_store == "redis":
        online: dict[str, Any] = {
            "type": "redis",
            "connection_string": _redis_connection_string(settings.redis.url),
        }
    else:
        online_path = Path(settings.home) / "feast" / "online.db"
        online_path.parent.mkdir(parents=True, exist_ok=True)
        online = {"type": "sqlite", "path": str(online_path)}
    return RepoConfig(
        project=settings.features.project,
        provider="local",
        registry=registry_config,
        online_store=online,
        offline_store={"type": "file"},
        entity_key_serialization_version=3,
        repo_path=Path(settings.home).absolute(),
    )


def feature_store(settings: Settings) -> Any:
    from feast import FeatureStore

    logging.getLogger("feast").setLevel(logging.WARNING)
    return FeatureStore(config=repo_config(settings))


def _lake_uri(store: LakeStore) -> str:
    return store.uri("").rstrip("/")


def write_sources(store: LakeStore, tables: FeatureTables) -> dict[str, int]:
    """Write the feature rows where the Feast sources read them; returns rows per view."""
    for path, frame in (
        (definitions.USER_STATS_PATH, tables.user_stats),
        (definitions.ARTICLE_STATS_PATH, tables.article_stats),
    ):
        sink = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), sink, compression="zstd")
        store.write_atomic(path, sink.getvalue())
    return {"user_stats": len(tables.user_stats), "article_stats": len(tables.article_stats)}


def apply(fs: Any, store: LakeStore, s3_endpoint_url: str | None = None) -> list[str]:
    """Register every definition (idempotent); returns the feature view names."""
    objects = definitions.build(_lake_uri(store), s3_endpoint_url)
    fs.apply(objects)
    return [o.name for o in objects if o.__class__.__name__ == "FeatureView"]


@dataclass
class MaterializeStats:
    rows: int
    seconds: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def materialize(
    fs: Any, tables: FeatureTables, end: datetime, start: datetime | None = None
) -> MaterializeStats:
    """Load the latest row per entity within [start, end] into the online store.

    `start` defaults to `end` minus each view's TTL (what a point-in-time lookup at `end` sees)."""
    start = start or end - timedelta(days=120)
    rows = 0
    for frame, key in ((tables.user_stats, "user_id"), (tables.article_stats, "article_id")):
        window = frame[(frame["event_timestamp"] >= start) & (frame["event_timestamp"] <= end)]
        rows += window[key].nunique()
    started = time.perf_counter()
    # Feast prints its progress to stdout; keep stdout for our programs' machine-readable lines.
    with contextlib.redirect_stdout(sys.stderr):
        fs.materialize(start_date=start, end_date=end, feature_views=["user_stats", "article_stats"])
    return MaterializeStats(rows=rows, seconds=time.perf_counter() - started)


def training_set(
    fs: Any, entity_rows: pd.DataFrame, *, service: str = definitions.TRAINING_SERVICE
) -> pd.DataFrame:
    """Point-in-time join of the training feature service onto `entity_rows` (user_id,
    article_id, event_timestamp, labels...): one output row per input row, in input order.

    Feast's file offline store drops an entity row when one of its feature views has no row
    inside the TTL, taking the other views' features with it. So each view is joined on its own
    (keyed by a row id) and merged back: a row missing in one view keeps the other views'
    values and gets the explicit DEFAULTS (or null) for the missing one. Rows in == rows out."""
    if ROW_ID in entity_rows.columns:
        raise ValueError(f"entity_rows: column {ROW_ID!r} is reserved")
    missing = {"user_id", "article_id", "event_timestamp"} - set(entity_rows.columns)
    if missing:
        raise ValueError(f"entity_rows: missing column(s) {sorted(missing)}")
    out = entity_rows.reset_index(drop=True).copy()
    out[ROW_ID] = range(len(out))
    for projection in fs.get_feature_service(service).feature_view_projections:
        view = fs.get_feature_view(projection.name)
        keys = [column.name for column in view.entity_columns]
        names = [field.name for field in projection.features]
        joined = fs.get_historical_features(
            entity_df=out[[ROW_ID, *keys, "event_timestamp"]],
            features=[f"{projection.name}:{name}" for name in names],
        ).to_df()
        out = out.merge(joined[[ROW_ID, *names]], on=ROW_ID, how="left", validate="one_to_one")
    for name, value in DEFAULTS.items():
        if name in out.columns:
            out[name] = out[name].fillna(value).astype("int64")
    return out.sort_values(ROW_ID).drop(columns=[ROW_ID]).reset_index(drop=True)


@functools.cache
def feature_view_versions() -> dict[str, str]:
    """A version per feature view: a hash of what a consumer depends on (entities, fields and
    types, TTL), not of where the source lives, so the same views in any lake match."""
    import hashlib
    import json

    from feast import FeatureView

    versions = {}
    for obj in definitions.build("lake"):
        if isinstance(obj, FeatureView):
            spec = {
                "entities": sorted(obj.entities),
                "ttl_s": obj.ttl.total_seconds() if obj.ttl else None,
                "fields": [(f.name, str(f.dtype)) for f in obj.schema],
            }
            digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
            versions[obj.name] = f"{obj.name}@{digest}"
    return versions
