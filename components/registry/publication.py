"""What the recommend service serves, published where it reads: the lake and Redis, not MLflow.

MLflow stays the system of record (versions, aliases, lineage). After every alias change the
registry side (`components/registry/publish.py`: the flow's register and canary steps, the
registry CLI) publishes:

- each aliased version's model folder into the lake, content-addressed:
  `serving/models/<digest>/<file>` then `serving/models/<digest>/_files.json` (the file list with
  sizes and sha256, written last: a folder without it is incomplete), and
  `serving/versions/<version>.json` (version -> digest, so a republish downloads nothing);
- the publication `{model_name, published_at, aliases: {alias: {version, digest, kind}}}` to
  `serving/publication.json` in the lake, then to Redis (`{prefix}serving:publication`), where
  every replica polls it. The canary share is published beside it (`{prefix}rollout`).

The service (`PublishedModels`) reads the publication from Redis, from the lake when Redis has
none (a restarted Redis keeps nothing) or is down, and from its local cache when both are
down; it copies a model folder from the lake once, checks every file's digest, and keeps the
last versions in its cache so that a replica starts with neither the lake nor Redis.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from components.lake import LakeStore
from components.models.artifacts import META, load_model
from components.models.base import Recommender
from components.names import ALIASES, publication_key

log = logging.getLogger("reco.registry.publication")

PUBLICATION = "serving/publication.json"
MODELS = "serving/models"
VERSIONS = "serving/versions"
FILES = "_files.json"
CACHED_PUBLICATION = "publication.json"
KEEP_VERSIONS = 5


class PublicationError(RuntimeError):
    """The publication or a published model could not be read (or failed its digest check)."""


@dataclass(frozen=True)
class PublishedModel:
    version: str
    digest: str  # sha256 over the model folder's files (names and bytes)
    kind: str


@dataclass(frozen=True)
class Publication:
    model_name: str
    published_at: str
    aliases: dict[str, PublishedModel] = field(default_factory=dict)

    def as_json(self) -> bytes:
        body = {
            "model_name": self.model_name,
            "published_at": self.published_at,
            "aliases": {a: asdict(m) for a, m in sorted(self.aliases.items())},
        }
        return json.dumps(body, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> Publication:
        try:
            body = json.loads(raw)
            aliases = {
                str(alias): PublishedModel(str(m["version"]), str(m["digest"]), str(m["kind"]))
                for alias, m in body["aliases"].items()
                if alias in ALIASES
            }
            return cls(str(body["model_name"]), str(body["published_at"]), aliases)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise PublicationError(f"malformed publication: {exc!r}") from exc

    def versions(self) -> dict[str, str]:
        return {alias: m.version for alias, m in self.aliases.items()}


def folder_files(folder: Path) -> dict[str, dict[str, Any]]:
    """name -> {size, sha256} of a model folder's files (flat: the model format has no subfolders)."""
    files: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.iterdir()):
        if not path.is_file():
            raise PublicationError(f"{path}: a model folder holds plain files only")
        data = path.read_bytes()
        files[path.name] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    return files


def folder_digest(files: dict[str, dict[str, Any]]) -> str:
    """The content address of a model folder: sha256 over its sorted (name, sha256) pairs."""
    canonical = json.dumps([[name, files[name]["sha256"]] for name in sorted(files)])
    return hashlib.sha256(canonical.encode()).hexdigest()


def model_prefix(digest: str) -> str:
    return f"{MODELS}/{digest}"


def version_index(version: str) -> str:
    return f"{VERSIONS}/{version}.json"


class PublishedModels:
    """The service's side: resolve the publication, fetch model folders into a local cache."""

    def __init__(self, store: LakeStore, cache_dir: str | os.PathLike[str], redis_prefix: str):
        self.store = store
        self.cache_dir = Path(cache_dir)
        self.key = publication_key(redis_prefix)
        (self.cache_dir / "versions").mkdir(parents=True, exist_ok=True)

    # --- the publication ------------------------------------------------------------------
    async def resolve(self, redis: Any) -> tuple[Publication | None, str | None]:
        """(the publication, None) from Redis or else the lake, saved to the cache; (the cached
        one, the problem) when neither answers, or neither holds one though this cache does;
        (None, None) when nothing was ever published."""
        problems = []
        try:
            raw = await redis.get(self.key)
        except Exception as exc:
            raw = None
            problems.append(f"redis: {exc!r}")
        if raw is None:
            try:
                raw = await asyncio.to_thread(self._read_lake)
            except Exception as exc:
                problems.append(f"lake: {exc!r}")
        if raw is not None:
            try:
                publication = Publication.from_json(raw)
            except PublicationError as exc:
                problems.append(str(exc))
            else:
                await asyncio.to_thread(self._write_cache, raw)
                # One source answering is enough: the publication is the same in both.
                return publication, None
        cached = self.cached()
        if not problems:
            if cached is None:
                return None, None  # nothing published yet, nothing served before: a new install
            # Both sources answered with nothing while this replica served a publication before
            # (a wrong lake root or key prefix, a lake restored without it): keep serving that.
            problems.append("no publication in Redis or in the lake")
        return cached, "; ".join(problems)

    def _read_lake(self) -> bytes | None:
        if not self.store.exists(PUBLICATION):
            return None
        return self.store.read_bytes(PUBLICATION)

    def _write_cache(self, raw: bytes | str) -> None:
        data = raw if isinstance(raw, bytes) else raw.encode()
        path = self.cache_dir / CACHED_PUBLICATION
        if path.exists() and path.read_bytes() == data:
            return
        tmp = path.with_suffix(f".{os.getpid()}.tmp")  # workers may share the cache
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def cached(self) -> Publication | None:
        path = self.cache_dir / CACHED_PUBLICATION
        if not path.exists():
            return None
        try:
            return Publication.from_json(path.read_bytes())
        except PublicationError:
            log.warning("ignoring the unreadable cached publication %s", path)
            return None

    # --- model folders --------------------------------------------------------------------
    def _dir(self, digest: str) -> Path:
        return self.cache_dir / "versions" / digest

    def is_cached(self, digest: str) -> bool:
        return (self._dir(digest) / META).exists()

    def fetch(self, model: PublishedModel) -> Path:
        """The model's folder in the cache, copied from the lake first if needed (into a
        temporary folder, every file's digest checked, then renamed)."""
        target = self._dir(model.digest)
        if self.is_cached(model.digest):
            return target
        prefix = model_prefix(model.digest)
        try:
            files: dict[str, dict[str, Any]] = json.loads(self.store.read_bytes(f"{prefix}/{FILES}"))
        except Exception as exc:
            raise PublicationError(f"version {model.version}: {prefix}/{FILES} unreadable: {exc!r}") from exc
        if folder_digest(files) != model.digest:
            raise PublicationError(f"version {model.version}: {prefix}/{FILES} does not match its digest")
        with tempfile.TemporaryDirectory(dir=self.cache_dir) as tmp:
            staged = Path(tmp) / "staged"
            staged.mkdir()
            for name, expected in files.items():
                if "/" in name or name.startswith("."):
                    raise PublicationError(f"version {model.version}: bad file name {name!r}")
                data = self.store.read_bytes(f"{prefix}/{name}")
                if hashlib.sha256(data).hexdigest() != expected["sha256"]:
                    raise PublicationError(f"version {model.version}: {name} does not match its digest")
                (staged / name).write_bytes(data)
            try:
                os.replace(staged, target)
            except OSError:
                if not self.is_cached(model.digest):  # another worker sharing the cache got there first
                    raise
        return target

    def load(self, model: PublishedModel) -> Recommender:
        return load_model(self.fetch(model))

    def prune(self, keep: set[str]) -> None:
        """Drop cached folders beyond the newest KEEP_VERSIONS, never a digest in `keep`."""
        folders = sorted(
            (p for p in (self.cache_dir / "versions").iterdir() if p.is_dir()),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
        for path in folders[KEEP_VERSIONS:]:
            if path.name not in keep:
                shutil.rmtree(path, ignore_errors=True)


__all__ = [
    "PUBLICATION",
    "Publication",
    "PublicationError",
    "PublishedModel",
    "PublishedModels",
    "folder_digest",
    "folder_files",
    "model_prefix",
    "version_index",
]
