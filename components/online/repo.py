"""Feast's repo configuration as plain values, derived from reco's settings: what Feast is
configured with (components/features/store.py builds its RepoConfig from it, the committed
feature_repo/feature_store.yaml is rendered from it) and what reco's own online reader needs
to find Feast's rows (project, entity key encoding, the SQLite file). No Feast import: the
lean recommend service uses it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from components.config import Settings

# Where the feature store's apply records each view's name in the online store
# (components/features/store.py, write_online_layout).
ONLINE_LAYOUT = "features/online_layout.json"
# Feast's entity key encoding (feast.infra.key_encoding_utils); 3 is current.
ENTITY_KEY_SERIALIZATION_VERSION = 3


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
        online = {"type": "sqlite", "path": online_store_path(settings)}
    return {
        "project": settings.features.project,
        "provider": "local",
        "registry": registry_values,
        "online_store": online,
        "offline_store": {"type": "file"},
        "entity_key_serialization_version": ENTITY_KEY_SERIALIZATION_VERSION,
    }


def read_online_layout(store: Any, project: str) -> dict[str, str]:
    """view -> the name its rows are stored under (versioned online views), as the last apply
    of `project` recorded it; {} when none was recorded (the views' own names apply)."""
    if not store.exists(ONLINE_LAYOUT):
        return {}
    layout = json.loads(store.read_bytes(ONLINE_LAYOUT))
    if layout.get("project") != project:
        return {}
    return {str(k): str(v) for k, v in layout.get("views", {}).items()}


def entity_key_version(settings: Settings) -> int:
    return int(repo_values(settings)["entity_key_serialization_version"])


def online_store_path(settings: Settings) -> str:
    """The SQLite online store's file (the `sqlite` online store only)."""
    return str(Path(settings.home) / "feast" / "online.db")


__all__ = [
    "ENTITY_KEY_SERIALIZATION_VERSION",
    "ONLINE_LAYOUT",
    "entity_key_version",
    "online_store_path",
    "read_online_layout",
    "repo_values",
]
