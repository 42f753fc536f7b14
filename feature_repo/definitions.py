"""The features, once: their names, types and roles, and the Feast objects built from them.

`USER_FIELDS` and `ARTICLE_FIELDS` are the only list of reco's features. Everything else
derives from them: the Feast views' schemas (here), the columns `compute.py` emits and their
order, the training sets' defaults for entities without a row (`store.py`), the online
reader's HMGET fields (`online.py`) and the columns drift monitoring compares
(`components/monitoring/drift.py`). Adding a feature means a spec here and its computation in
components/features/compute.py; a test fails while one side is missing.

Training (point-in-time joins on the offline store) and serving (the Redis online store) both
read these definitions. Feast is imported only where Feast objects are built (`build`,
`feast_type`): the lean recommend service reads the specs without Feast installed. The `feast`
CLI loads this module (through repo.py) with only this folder on sys.path, so it imports
nothing of reco's.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

# Feast's type names (feast.types): what a FeatureSpec's dtype names.
Int64, Float64, String, UnixTimestamp = "Int64", "Float64", "String", "UnixTimestamp"

USER_STATS_PATH = "features/user_stats.parquet"
ARTICLE_STATS_PATH = "features/article_stats.parquet"
TRAINING_SERVICE = "training_v1"
SERVING_SERVICE = "serving_v1"
# Every feature row carries its point in time and when it was computed (Feast's tie-breaker).
TIMESTAMP_FIELD = "event_timestamp"
CREATED_FIELD = "created"


@dataclass(frozen=True)
class FeatureSpec:
    """One feature of a view."""

    name: str
    dtype: str  # a feast.types name (Int64, Float64, String, UnixTimestamp)
    description: str
    # The value a training row gets when its entity has no row inside the view's TTL (new
    # users, cold articles). None: the feature stays unknown (null).
    default: Any = None
    # Compared as categories (chi-squared, Jensen-Shannon), not as numbers.
    categorical: bool = False
    # Watched by drift monitoring (a feature that moves by design says nothing when it moves).
    monitored: bool = True


@dataclass(frozen=True)
class ViewSpec:
    """A feature view: one entity, one source file, its features in column order."""

    name: str
    entity: str
    entity_description: str
    join_key: str
    path: str  # of the source, under the lake
    # How long a row stays visible to point-in-time lookups and the online store.
    ttl: timedelta
    fields: tuple[FeatureSpec, ...]
    tags: Mapping[str, str] = field(default_factory=dict)


USER_FIELDS: tuple[FeatureSpec, ...] = (
    FeatureSpec("clicks_7d", Int64, "clicks in the last 7 days", default=0),
    FeatureSpec("read_ratio_7d", Float64, "reads of >= 10 s per opened article, last 7 days"),
    FeatureSpec("avg_session_len_s", Float64, "mean session length (30-minute gaps), last 7 days"),
    FeatureSpec("top_category", String, "most opened section, last 7 days", categorical=True),
)
ARTICLE_FIELDS: tuple[FeatureSpec, ...] = (
    FeatureSpec("views_24h", Int64, "opens in the last 24 hours", default=0),
    FeatureSpec("ctr_24h", Float64, "clicks per impression, last 24 hours"),
    FeatureSpec("avg_read_time_s", Float64, "mean dwell time, last 7 days"),
    FeatureSpec("category", String, "the article's section", categorical=True),
    # Publication time grows by design: comparing it across windows says nothing.
    FeatureSpec("published_at", UnixTimestamp, "publication time", monitored=False),
)

USER_STATS = ViewSpec(
    name="user_stats",
    entity="user",
    entity_description="a reader",
    join_key="user_id",
    path=USER_STATS_PATH,
    # A row summarises the last 7 days; rows are re-emitted when events leave the window.
    ttl=timedelta(days=8),
    fields=USER_FIELDS,
    tags={"owner": "reco", "window": "7d"},
)
ARTICLE_STATS = ViewSpec(
    name="article_stats",
    entity="article",
    entity_description="an article",
    join_key="article_id",
    path=ARTICLE_STATS_PATH,
    # Articles live up to about two months; the publication row must stay visible.
    ttl=timedelta(days=120),
    fields=ARTICLE_FIELDS,
    tags={"owner": "reco", "window": "24h/7d"},
)
VIEWS: tuple[ViewSpec, ...] = (USER_STATS, ARTICLE_STATS)


def view(name: str | ViewSpec) -> ViewSpec:
    """The view spec called `name` (a spec is returned as it is)."""
    if isinstance(name, ViewSpec):
        return name
    for spec in VIEWS:
        if spec.name == name:
            return spec
    raise KeyError(f"feature view {name!r}: not defined (views: {[v.name for v in VIEWS]})")


def feature_names(name: str | ViewSpec) -> list[str]:
    """The view's features, in column order."""
    return [f.name for f in view(name).fields]


def columns(name: str | ViewSpec) -> list[str]:
    """Every column of the view's source rows, in order: join key, timestamps, features."""
    spec = view(name)
    return [spec.join_key, TIMESTAMP_FIELD, CREATED_FIELD, *feature_names(spec)]


def defaults(name: str | ViewSpec) -> dict[str, Any]:
    """Feature -> value for an entity without a row (only features that have one)."""
    return {f.name: f.default for f in view(name).fields if f.default is not None}


def monitored(name: str | ViewSpec) -> tuple[list[str], list[str]]:
    """The features drift monitoring compares: (numerical, categorical), in column order."""
    watched = [f for f in view(name).fields if f.monitored]
    return [f.name for f in watched if not f.categorical], [f.name for f in watched if f.categorical]


def max_ttl() -> timedelta:
    """The longest TTL: how far back a lookup at some time may reach in any view."""
    return max(spec.ttl for spec in VIEWS)


def _feast(module: str = "feast") -> Any:
    """Feast, imported where Feast objects are built only (the lean resolve has no Feast)."""
    return importlib.import_module(module)


def feast_type(spec: FeatureSpec) -> Any:
    """The feature's Feast type object (feast.types.<dtype>)."""
    return getattr(_feast("feast.types"), spec.dtype)


def _field(spec: FeatureSpec) -> Any:
    tags = {"categorical": str(spec.categorical).lower(), "monitored": str(spec.monitored).lower()}
    return _feast().Field(name=spec.name, dtype=feast_type(spec), description=spec.description, tags=tags)


def build(lake_uri: str, s3_endpoint_url: str | None = None) -> list[Any]:
    """Every Feast object of the repo, with sources under `lake_uri` (folder or s3://...)."""
    feast = _feast()
    source_options: dict[str, Any] = {
        "timestamp_field": TIMESTAMP_FIELD,
        "created_timestamp_column": CREATED_FIELD,
    }
    if s3_endpoint_url:
        source_options["s3_endpoint_override"] = s3_endpoint_url
    # One entity per view today; views sharing an entity share the object.
    entities = {
        spec.entity: feast.Entity(
            name=spec.entity,
            join_keys=[spec.join_key],
            value_type=feast.ValueType.STRING,
            description=spec.entity_description,
        )
        for spec in VIEWS
    }
    sources = []
    views = []
    for spec in VIEWS:
        source = feast.FileSource(
            name=f"{spec.name}_source", path=f"{lake_uri}/{spec.path}", **source_options
        )
        sources.append(source)
        views.append(
            feast.FeatureView(
                name=spec.name,
                entities=[entities[spec.entity]],
                ttl=spec.ttl,
                schema=[_field(f) for f in spec.fields],
                source=source,
                online=True,
                tags=dict(spec.tags),
            )
        )
    training = feast.FeatureService(name=TRAINING_SERVICE, features=[*views])
    serving = feast.FeatureService(name=SERVING_SERVICE, features=[*views])
    return [*entities.values(), *sources, *views, training, serving]
