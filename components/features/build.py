"""From the silver lake to Feast: read silver and the catalogue, compute the feature rows,
write the sources, apply the definitions, materialize into the online store, and record which
silver partitions (by content hash) the features came from."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pyarrow as pa

from components.config import Settings
from components.features.compute import compute_features
from components.features.store import apply, feature_store, materialize, write_sources
from components.lake import LakeStore
from components.lake.catalog import read_catalog
from components.lake.layout import FEATURES_MANIFEST, SILVER
from components.lake.silver import load_silver_frame, silver_dates
from components.lake.tombstones import erased_rows, erased_users


@dataclass
class FeatureBuild:
    silver_dates: list[str]
    silver_hashes: dict[str, str]
    events: int
    user_rows: int
    article_rows: int
    materialized_rows: int
    materialize_seconds: float
    materialized_until: str
    compute_seconds: float
    views: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


EVENT_COLUMNS = ["type", "user_id", "article_id", "ts", "dwell_ms"]


def load_silver_events(store: LakeStore, dates: list[str]) -> tuple[pd.DataFrame, dict[str, str]]:
    """The silver events of `dates` (the columns features need) and each date's content hash.
    Erased readers' events received before their erasure are left out (components/lake/
    tombstones.py): silver not rebuilt yet since a `DELETE /users` still holds them, and they
    must not come back into the offline sources or the online store."""
    events, hashes = load_silver_frame(store, dates, [*EVENT_COLUMNS, "received_at"])
    erased = erased_users(store)
    if erased and not events.empty:
        mask = erased_rows(
            pa.Table.from_pandas(events[["user_id", "received_at"]], preserve_index=False), erased
        )
        events = events.loc[~mask].reset_index(drop=True)
    events = events.drop(columns=["received_at"])
    if not events.empty:
        events["dwell_ms"] = events["dwell_ms"].astype("float64")
    return events, hashes


def catalog_as_of(store: LakeStore, until: datetime) -> pd.DataFrame:
    """The catalogue as it was at `until`, the end of the events the features are computed from
    (no look-ahead: an edit, a takedown or an article that came later is not in a point-in-time
    training set)."""
    return read_catalog(store, as_of=until).to_pandas()


def build_features(settings: Settings, store: LakeStore, dates: list[str] | None = None) -> FeatureBuild:
    dates = dates if dates is not None else silver_dates(store)
    if not dates:
        raise FileNotFoundError(f"no silver partitions under {store.uri(SILVER)}: build silver first")
    events, hashes = load_silver_events(store, dates)
    if events.empty:
        raise ValueError("events: no silver events to compute features from")
    until = events["ts"].max().ceil("h").to_pydatetime()
    catalog = catalog_as_of(store, until)
    started = time.perf_counter()
    tables = compute_features(events, catalog)
    compute_seconds = time.perf_counter() - started
    write_sources(store, tables)
    fs = feature_store(settings)
    views = apply(fs, store, settings.lake.s3_endpoint_url)
    stats = materialize(fs, tables, until)
    build = FeatureBuild(
        silver_dates=dates,
        silver_hashes=hashes,
        events=len(events),
        user_rows=len(tables.user_stats),
        article_rows=len(tables.article_stats),
        materialized_rows=stats.rows,
        materialize_seconds=round(stats.seconds, 3),
        materialized_until=until.isoformat(),
        compute_seconds=round(compute_seconds, 3),
        views=views,
    )
    manifest = build.as_dict() | {
        "built_at": datetime.now(UTC).isoformat(),
        "project": settings.features.project,
    }
    store.write_atomic(FEATURES_MANIFEST, json.dumps(manifest, indent=2, sort_keys=True).encode())
    return build
