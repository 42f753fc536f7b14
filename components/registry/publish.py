"""Publish what serving needs from the MLflow registry (the system of record) to the lake and
Redis, where the recommend service reads it (format: components/registry/publication.py).

Called after every alias change: the training pipeline's gate, the daily flow's register and
canary steps, the registry CLI (promote-canary, rollback, gate). Idempotent: a version already
in the lake is not downloaded again, and a republish of the same aliases rewrites two small
documents.
"""

from __future__ import annotations

import json
import logging
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from redis import Redis
from tenacity import retry, stop_after_attempt, wait_exponential

from components.config import Settings
from components.lake import LakeStore
from components.models.artifacts import META, read_meta
from components.names import ALIASES, publication_key
from components.registry.publication import (
    FILES,
    PUBLICATION,
    Publication,
    PublishedModel,
    folder_digest,
    folder_files,
    model_prefix,
    version_index,
)
from components.registry.tracking import configure

log = logging.getLogger("reco.registry.publish")


def _registry_aliases(settings: Settings) -> dict[str, str]:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    configure(settings.mlflow)
    try:
        model = MlflowClient().get_registered_model(settings.mlflow.model_name)
    except MlflowException as exc:
        if "RESOURCE_DOES_NOT_EXIST" in str(getattr(exc, "error_code", "")):
            return {}
        raise
    return {a: str(v) for a, v in (model.aliases or {}).items() if a in ALIASES}


def download_version(settings: Settings, version: str, into: Path) -> Path:
    """The registered version's model folder (the pyfunc keeps it as its `model` artifact)."""
    import mlflow

    configure(settings.mlflow)
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{settings.mlflow.model_name}/{version}",
        dst_path=str(into),
        tracking_uri=settings.mlflow.tracking_uri,
    )
    found = [p.parent for p in Path(local).rglob(META)]
    if len(found) != 1:
        raise ValueError(f"version {version}: expected one {META} in the model, found {len(found)}")
    return found[0]


def publish_version(settings: Settings, store: LakeStore, version: str) -> PublishedModel:
    """The version's model folder in the lake (uploaded once, content-addressed)."""
    index = version_index(version)
    if store.exists(index):
        known = json.loads(store.read_bytes(index))
        if store.exists(f"{model_prefix(known['digest'])}/{FILES}"):
            return PublishedModel(version, str(known["digest"]), str(known["kind"]))
    with tempfile.TemporaryDirectory(prefix="reco-publish-") as tmp:
        folder = download_version(settings, version, Path(tmp))
        files = folder_files(folder)
        digest = folder_digest(files)
        kind = str(read_meta(folder)["kind"])
        prefix = model_prefix(digest)
        for name in files:
            store.write_atomic(f"{prefix}/{name}", (folder / name).read_bytes())
        store.write_atomic(f"{prefix}/{FILES}", json.dumps(files, sort_keys=True).encode())  # last: complete
    store.write_atomic(index, json.dumps({"digest": digest, "kind": kind}).encode())
    log.info("published version %s (%s) as %s", version, kind, digest[:12])
    return PublishedModel(version, digest, kind)


@retry(stop=stop_after_attempt(5), wait=wait_exponential(multiplier=0.2, max=5), reraise=True)
def _write_redis(settings: Settings, data: bytes) -> None:
    with Redis.from_url(settings.redis.url, socket_timeout=5, socket_connect_timeout=5) as client:
        client.set(publication_key(settings.redis.key_prefix), data)


def publish(settings: Settings, store: LakeStore | None = None) -> Publication:
    """Publish the registry's aliased versions: model folders, then the publication to the lake,
    then to Redis (a replica that reads the lake copy first serves the same)."""
    store = store or LakeStore.from_settings(settings.lake)
    aliases = _registry_aliases(settings)
    models = {alias: publish_version(settings, store, version) for alias, version in sorted(aliases.items())}
    publication = Publication(settings.mlflow.model_name, datetime.now(UTC).isoformat(), models)
    data = publication.as_json()
    store.write_atomic(PUBLICATION, data)
    _write_redis(settings, data)
    log.info("published %s", publication.versions() or "no aliases")
    return publication


__all__ = ["publish", "publish_version"]
