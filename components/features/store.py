"""Feast, configured from reco's settings: apply, materialize, point-in-time training sets.

The registry is a file (local profile) or a SQL database (cluster profile, PostgreSQL); the
online store is Redis, or SQLite only when asked for explicitly (RECO_FEATURES__ONLINE_STORE).
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import logging
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from feast.types import Bool, Float32, Float64, Int32, Int64

from components.config import Settings
from components.docs.blocks import REGENERATE
from components.features.compute import FeatureTables
from components.lake import LakeStore
from feature_repo import definitions

ROW_ID = "__reco_row_id"
# The committed configuration of the `feast` CLI, rendered by render_feature_store_yaml().
FEATURE_STORE_YAML = "feature_repo/feature_store.yaml"
# The pandas column type of a defaulted feature once no value is missing.
_PANDAS_TYPES: dict[Any, str] = {
    Int64: "int64",
    Int32: "int32",
    Float64: "float64",
    Float32: "float32",
    Bool: "bool",
}


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


def repo_values(settings: Settings) -> dict[str, Any]:
    """Feast's repo configuration for `settings` as plain values, without side effects: what
    `repo_config` builds its RepoConfig from and what feature_store.yaml is rendered from."""
    registry = settings.features.registry
    registry_values: dict[str, Any]
    if "://" in registry:
        # pool_pre_ping: the registry connection survives database restarts.
        registry_values = {
            "registry_type": "sql",
            "path": registry,
            "cache_ttl_seconds": 60,
            "sqlalchemy_config_kwargs": {"echo": False, "pool_pre_ping": True},
        }
    else:
        registry_values = {"registry_type": "file", "path": registry, "cache_ttl_seconds": 60}
    online: dict[str, Any]
    if settings.features.online_store == "redis":
        online = {"type": "redis", "connection_string": _redis_connection_string(settings.redis.url)}
    else:
        online = {"type": "sqlite", "path": str(Path(settings.home) / "feast" / "online.db")}
    return {
        "project": settings.features.project,
        "provider": "local",
        "registry": registry_values,
        "online_store": online,
        "offline_store": {"type": "file"},
        "entity_key_serialization_version": 3,
    }


def repo_config(settings: Settings) -> Any:
    from feast.infra.registry.sql import SqlRegistryConfig
    from feast.repo_config import RegistryConfig, RepoConfig

    values = repo_values(settings)
    registry_values = values.pop("registry")
    registry_config: RegistryConfig
    if registry_values["registry_type"] == "sql":
        registry_config = SqlRegistryConfig(**registry_values)
    else:
        Path(registry_values["path"]).parent.mkdir(parents=True, exist_ok=True)
        registry_config = RegistryConfig(**registry_values)
    if values["online_store"]["type"] == "sqlite":
        Path(values["online_store"]["path"]).parent.mkdir(parents=True, exist_ok=True)
    return RepoConfig(**values, registry=registry_config, repo_path=Path(settings.home).absolute())


def _local_defaults() -> Settings:
    """The local profile's settings as the code defines them, whatever the environment says."""
    from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

    class Defaults(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings,)  # no RECO_* variables, no .env or secret files

    return Defaults.model_validate({"profile": "local"})


def render_feature_store_yaml() -> str:
    """feature_repo/feature_store.yaml: the configuration `repo_config` builds from the local
    profile's default settings, for the `feast` CLI (which runs in feature_repo/, so paths
    relative to the repository root get a leading ../)."""
    values = repo_values(_local_defaults())
    for section in ("registry", "online_store"):
        path = values[section].get("path")
        if path and "://" not in path and not Path(path).is_absolute():
            values[section]["path"] = f"../{path}"
    header = (
        "# Generated by components.features.store.render_feature_store_yaml() from the local\n"
        "# profile's default settings, for the feast CLI (`cd feature_repo && feast apply`);\n"
        "# reco's code builds the same configuration from its settings (repo_config).\n"
        f"# Do not edit: regenerate with `{REGENERATE}`.\n"
    )
    return header + "".join(f"{line}\n" for line in _yaml_lines(values))


# A string YAML reads back as that string when written bare; anything else is written quoted.
_PLAIN_YAML = re.compile(r"[A-Za-z_./][\w./:,=+@-]*")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "y", "n", "null"}


def _yaml_lines(values: dict[str, Any], indent: str = "") -> Iterator[str]:
    """Block-style YAML for nested mappings of scalars (no PyYAML: not a declared dependency)."""
    for key, value in values.items():
        if isinstance(value, dict):
            yield f"{indent}{key}:"
            yield from _yaml_lines(value, indent + "  ")
        elif isinstance(value, bool):
            yield f"{indent}{key}: {str(value).lower()}"
        elif isinstance(value, int | float):
            yield f"{indent}{key}: {value!r}"
        elif isinstance(value, str):
            plain = (
                _PLAIN_YAML.fullmatch(value) and value.lower() not in _YAML_WORDS and not value.endswith(":")
            )
            # JSON's double-quoted strings are YAML's.
            yield f"{indent}{key}: {value if plain else json.dumps(value)}"
        else:
            raise TypeError(f"feature_store.yaml: {key!r} is a {type(value).__name__}, not a YAML scalar")


def feature_store(settings: Settings) -> Any:
    from feast import FeatureStore

    logging.getLogger("feast").setLevel(logging.WARNING)
    return FeatureStore(config=repo_config(settings))


def _lake_uri(store: LakeStore) -> str:
    return store.uri("").rstrip("/")


def write_sources(store: LakeStore, tables: FeatureTables) -> dict[str, int]:
    """Write the feature rows where the Feast sources read them; returns rows per view."""
    rows = {}
    for view in definitions.VIEWS:
        frame = tables.frame(view)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        problems = source_schema_errors(view, table.schema)
        if problems:
            raise ValueError(
                f"{view.name}: rows do not match feature_repo/definitions.py: {'; '.join(problems)}"
            )
        sink = io.BytesIO()
        pq.write_table(table, sink, compression="zstd")
        store.write_atomic(view.path, sink.getvalue())
        rows[view.name] = len(frame)
    return rows


def source_schema_errors(view: definitions.ViewSpec, schema: pa.Schema) -> list[str]:
    """How a view's source rows (as Arrow) differ from its definition: columns missing, extra or
    out of order, and features whose type Feast would read as another one than defined."""
    from feast.type_map import pa_to_feast_value_type

    expected = definitions.columns(view)
    if schema.names != expected:
        missing = [c for c in expected if c not in schema.names]
        extra = [c for c in schema.names if c not in expected]
        return [f"columns {schema.names}, defined {expected} (missing {missing}, not defined {extra})"]
    problems = []
    for spec in view.fields:
        arrow_type = schema.field(spec.name).type
        if pa.types.is_null(arrow_type):
            continue  # no value at all (e.g. nobody opened a categorised article): any type reads it
        read_as = pa_to_feast_value_type(str(arrow_type))
        if read_as != spec.dtype.to_value_type():
            problems.append(
                f"{spec.name}: Arrow type {arrow_type} reads as {read_as.name}, defined {spec.dtype}"
            )
    return problems


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

    `start` defaults to `end` minus the longest TTL (what a point-in-time lookup at `end` sees)."""
    start = start or end - definitions.max_ttl()
    rows = 0
    for view in definitions.VIEWS:
        frame = tables.frame(view)
        ts = frame[definitions.TIMESTAMP_FIELD]
        rows += frame[(ts >= start) & (ts <= end)][view.join_key].nunique()
    started = time.perf_counter()
    # Feast prints its progress to stdout; keep stdout for our programs' machine-readable lines.
    with contextlib.redirect_stdout(sys.stderr):
        fs.materialize(start_date=start, end_date=end, feature_views=[v.name for v in definitions.VIEWS])
    return MaterializeStats(rows=rows, seconds=time.perf_counter() - started)


def training_set(
    fs: Any, entity_rows: pd.DataFrame, *, service: str = definitions.TRAINING_SERVICE
) -> pd.DataFrame:
    """Point-in-time join of the training feature service onto `entity_rows` (user_id,
    article_id, event_timestamp, labels...): one output row per input row, in input order.

    Feast's file offline store drops an entity row when one of its feature views has no row
    inside the TTL, taking the other views' features with it. So each view is joined on its own
    (keyed by a row id) and merged back: a row missing in one view keeps the other views'
    values and gets the defaults of feature_repo/definitions.py (or null) for the missing one.
    Rows in == rows out."""
    if ROW_ID in entity_rows.columns:
        raise ValueError(f"entity_rows: column {ROW_ID!r} is reserved")
    missing = {*(v.join_key for v in definitions.VIEWS), definitions.TIMESTAMP_FIELD} - set(
        entity_rows.columns
    )
    if missing:
        raise ValueError(f"entity_rows: missing column(s) {sorted(missing)}")
    out = entity_rows.reset_index(drop=True).copy()
    out[ROW_ID] = range(len(out))
    for projection in fs.get_feature_service(service).feature_view_projections:
        view = fs.get_feature_view(projection.name)
        keys = [column.name for column in view.entity_columns]
        names = [field.name for field in projection.features]
        joined = fs.get_historical_features(
            entity_df=out[[ROW_ID, *keys, definitions.TIMESTAMP_FIELD]],
            features=[f"{projection.name}:{name}" for name in names],
        ).to_df()
        out = out.merge(joined[[ROW_ID, *names]], on=ROW_ID, how="left", validate="one_to_one")
    for view in definitions.VIEWS:
        for spec in view.fields:
            if spec.default is not None and spec.name in out.columns:
                # A merge with missing rows turns an integer column into floats: cast it back.
                filled = out[spec.name].fillna(spec.default)
                out[spec.name] = filled.astype(_PANDAS_TYPES.get(spec.dtype, filled.dtype))
    return out.sort_values(ROW_ID).drop(columns=[ROW_ID]).reset_index(drop=True)


@functools.cache
def feature_view_versions() -> dict[str, str]:
    """A version per feature view: a hash of what a consumer depends on (entity, join key,
    fields and types in order, TTL), not of where the source lives, so the same views in any
    lake match. Taken from the definitions' specs, not from Feast's `schema`, whose order
    changes from one process to the next (string hashing)."""
    import hashlib

    versions = {}
    for view in definitions.VIEWS:
        spec = {
            "entities": [view.entity],
            "join_key": view.join_key,
            "ttl_s": view.ttl.total_seconds(),
            "fields": [(f.name, str(f.dtype)) for f in view.fields],
        }
        digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
        versions[view.name] = f"{view.name}@{digest}"
    return versions
