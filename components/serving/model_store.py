"""Registered models for serving: resolve the registry aliases, download a version once, keep
it in a local cache, load it without pickle.

The cache (`<dir>/versions/<version>/` plus `aliases.json`, the last aliases seen) lets a
replica start, and keep serving, while the registry is unreachable: it then serves the last
good versions it knew.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from components.config.settings import MlflowSettings
from components.models.artifacts import META, load_model
from components.models.base import Recommender
from components.names import ALIASES

log = logging.getLogger("reco.serving.models")

ALIASES_FILE = "aliases.json"
KEEP_VERSIONS = 5


def use_registry(settings: MlflowSettings) -> None:
    """Point MLflow's global client at the settings' store. Both URIs: `models:/` resolution
    otherwise falls back to MLflow's default store (a ./mlflow.db in the working directory)."""
    import mlflow

    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.registry_uri or settings.tracking_uri)


class RegistryUnavailableError(RuntimeError):
    """The registry could not be asked (down, timeout, bad credentials)."""


@dataclass(frozen=True)
class LoadedVersion:
    version: str
    recommender: Recommender


class ModelStore:
    def __init__(self, settings: MlflowSettings, cache_dir: str | os.PathLike[str]):
        self.settings = settings
        self.cache_dir = Path(cache_dir)
        (self.cache_dir / "versions").mkdir(parents=True, exist_ok=True)

    def _client(self):  # type: ignore[no-untyped-def]
        from mlflow import MlflowClient

        return MlflowClient(
            tracking_uri=self.settings.tracking_uri,
            registry_uri=self.settings.registry_uri or self.settings.tracking_uri,
        )

    def resolve(self) -> dict[str, str]:
        """alias -> version for the aliases that are set; raises RegistryUnavailableError.

        An alias that is not set is absent (not an error); the result is saved as the last
        aliases seen."""
        from mlflow.exceptions import MlflowException, RestException

        try:
            client = self._client()
            model = client.get_registered_model(self.settings.model_name)
        except RestException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return {}
            raise RegistryUnavailableError(f"registry at {self.settings.tracking_uri}: {exc}") from exc
        except MlflowException as exc:
            if "RESOURCE_DOES_NOT_EXIST" in str(getattr(exc, "error_code", "")):
                return {}
            raise RegistryUnavailableError(f"registry at {self.settings.tracking_uri}: {exc}") from exc
        except Exception as exc:  # connection errors, database locked, ...
            raise RegistryUnavailableError(f"registry at {self.settings.tracking_uri}: {exc!r}") from exc
        aliases = {a: str(v) for a, v in (model.aliases or {}).items() if a in ALIASES}
        self._write_json(ALIASES_FILE, aliases)
        return aliases

    def cached_aliases(self) -> dict[str, str]:
        path = self.cache_dir / ALIASES_FILE
        if not path.exists():
            return {}
        aliases: dict[str, str] = json.loads(path.read_text())
        return aliases

    def _version_dir(self, version: str) -> Path:
        return self.cache_dir / "versions" / version

    def is_cached(self, version: str) -> bool:
        return (self._version_dir(version) / META).exists()

    def fetch(self, version: str) -> Path:
        """The version's model folder in the cache, downloaded first if needed (atomically:
        into a temporary folder, then renamed)."""
        target = self._version_dir(version)
        if self.is_cached(version):
            return target
        import mlflow

        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # a service log, not a tty
        with tempfile.TemporaryDirectory(dir=self.cache_dir) as tmp:
            try:
                use_registry(self.settings)
                local = mlflow.artifacts.download_artifacts(
                    artifact_uri=f"models:/{self.settings.model_name}/{version}",
                    dst_path=tmp,
                    tracking_uri=self.settings.tracking_uri,
                )
            except Exception as exc:
                raise RegistryUnavailableError(f"download of version {version}: {exc!r}") from exc
            # The pyfunc keeps the numpy model as its `model` artifact folder.
            found = [p.parent for p in Path(local).rglob(META)]
            if len(found) != 1:
                raise ValueError(f"version {version}: expected one {META} in the model, found {len(found)}")
            staged = Path(tmp) / "staged"
            shutil.move(str(found[0]), staged)
            try:
                os.replace(staged, target)
            except OSError:
                # Another worker sharing the cache got there first: use its copy.
                if not self.is_cached(version):
                    raise
        return target

    def load(self, version: str) -> LoadedVersion:
        return LoadedVersion(version, load_model(self.fetch(version)))

    def prune(self, keep: set[str]) -> None:
        """Drop cached versions beyond the newest KEEP_VERSIONS, never one in `keep`."""
        versions = sorted(
            (p for p in (self.cache_dir / "versions").iterdir() if p.is_dir()),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
        for path in versions[KEEP_VERSIONS:]:
            if path.name not in keep:
                shutil.rmtree(path, ignore_errors=True)

    def _write_json(self, name: str, payload: object) -> None:
        path = self.cache_dir / name
        tmp = path.with_suffix(f".{os.getpid()}.tmp")  # workers may share the cache
        tmp.write_text(json.dumps(payload, sort_keys=True))
        os.replace(tmp, path)
