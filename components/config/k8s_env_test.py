"""The RECO_* variables the Kubernetes manifests give each container (the shared ConfigMap, as
each overlay generates it, plus the container's own `env`) load through Settings: a misspelt or
invalid variable fails here rather than in a crash-looping pod."""

from __future__ import annotations

import importlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from components.config import Profile, load_settings
from components.config.reference import REQUIRED, env_text, settings_rows
from components.config.settings import UnknownSettingError, unknown_settings

# PyYAML comes with the `kubernetes` requirement (declared in BUILD: PyYAML is not a requirement of
# its own, and has no type stubs in the tools resolve).
yaml: Any = importlib.import_module("yaml")

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "infra" / "k8s"
# Values of variables that come from Secrets: a plausible one of the right shape.
SECRET_VALUE = "from-a-secret"


@dataclass(frozen=True)
class ContainerEnv:
    overlay: str
    manifest: str
    container: str
    env: dict[str, str]

    @property
    def label(self) -> str:
        return f"{self.overlay}: {self.manifest} container {self.container}"


def _load(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if isinstance(doc, dict)]


def _literals(entries: list[str]) -> dict[str, str]:
    pairs = (entry.split("=", 1) for entry in entries)
    return {key: value for key, value in pairs}


def config_maps(folder: Path) -> dict[str, dict[str, str]]:
    """ConfigMap name -> data, as kustomize generates them for the kustomization in `folder`
    (its bases first, then its own generators and ConfigMap manifests)."""
    kustomization = _load(folder / "kustomization.yaml")[0]
    maps: dict[str, dict[str, str]] = {}
    for resource in kustomization.get("resources", []):
        path = (folder / resource).resolve()
        if path.is_dir():
            for name, data in config_maps(path).items():
                maps.setdefault(name, {}).update(data)
        else:
            for doc in _load(path):
                if doc.get("kind") == "ConfigMap":
                    maps[doc["metadata"]["name"]] = {k: str(v) for k, v in (doc.get("data") or {}).items()}
    for generator in kustomization.get("configMapGenerator", []):
        data = _literals(generator.get("literals", []))
        for env_file in generator.get("envs", []):
            lines = (folder / env_file).read_text(encoding="utf-8").splitlines()
            data.update(_literals([ln for ln in lines if "=" in ln and not ln.lstrip().startswith("#")]))
        if generator.get("behavior") == "merge":
            maps.setdefault(generator["name"], {}).update(data)
        else:
            maps[generator["name"]] = data
    return maps


def _workload_files(folder: Path) -> list[Path]:
    kustomization = _load(folder / "kustomization.yaml")[0]
    files: list[Path] = []
    for resource in kustomization.get("resources", []):
        path = (folder / resource).resolve()
        files.extend(_workload_files(path) if path.is_dir() else [path])
    return files


def _containers(node: Any) -> list[dict[str, Any]]:
    """Every container spec under a manifest (Deployments, CronJobs, Jobs, ...)."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                found.extend(c for c in value if isinstance(c, dict))
            else:
                found.extend(_containers(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_containers(item))
    return found


def _plausible(name: str) -> str:
    """A value for a variable whose manifest value comes from a Secret: the cluster default
    where there is one (a URL stays a URL), else a placeholder string."""
    for row in settings_rows():
        if row.name == name and row.cluster_default not in (None, REQUIRED) and not row.secret:
            return env_text(row.cluster_default)
    return SECRET_VALUE


def container_envs(k8s: Path = K8S) -> list[ContainerEnv]:
    """The RECO_* environment of every container, under the base and each overlay."""
    overlays = {"base": k8s / "base"} | {
        f"overlays/{p.name}": p for p in sorted((k8s / "overlays").iterdir()) if p.is_dir()
    }
    out = []
    for overlay, folder in overlays.items():
        maps = config_maps(folder)
        for manifest in _workload_files(folder):
            for doc in _load(manifest):
                for container in _containers(doc):
                    env: dict[str, str] = {}
                    for source in container.get("envFrom", []):
                        if "configMapRef" in source:
                            env.update(maps[source["configMapRef"]["name"]])
                    for entry in container.get("env", []):
                        name, ref = entry["name"], entry.get("valueFrom", {})
                        if "value" in entry:
                            env[name] = str(entry["value"])
                        elif "configMapKeyRef" in ref:
                            env[name] = maps[ref["configMapKeyRef"]["name"]][ref["configMapKeyRef"]["key"]]
                        else:  # secretKeyRef, fieldRef, resourceFieldRef
                            env[name] = _plausible(name)
                    env = {k: v for k, v in env.items() if k.upper().startswith("RECO_")}
                    out.append(ContainerEnv(overlay, str(manifest.relative_to(k8s)), container["name"], env))
    return out


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("RECO_"):
            monkeypatch.delenv(name)


def _load_with(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Any:
    with monkeypatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        return load_settings()


def test_the_manifests_are_found() -> None:
    envs = container_envs()
    assert {e.overlay for e in envs} == {"base", "overlays/prod", "overlays/staging"}
    assert {e.container for e in envs} >= {"recommender", "collector", "ingestor", "feedback", "monitor"}
    staging = next(e for e in envs if e.overlay == "overlays/staging" and e.container == "recommender")
    assert staging.env["RECO_SERVING__SHADOW_SHARE"] == "0.1"  # the overlay's merge
    assert staging.env["RECO_PROFILE"] == "cluster"  # the base's ConfigMap
    assert staging.env["RECO_SERVING__ADMIN_TOKEN"] == SECRET_VALUE


def test_every_manifest_variable_is_a_setting() -> None:
    problems = [
        f"{e.label}: {name}" + (f" (did you mean {hint}?)" if hint else "")
        for e in container_envs()
        for name, hint in unknown_settings(e.env)
    ]
    assert not problems, "not reco settings:\n" + "\n".join(problems)


@pytest.mark.parametrize("container", container_envs(), ids=lambda e: e.label)
def test_every_container_environment_loads(monkeypatch: pytest.MonkeyPatch, container: ContainerEnv) -> None:
    try:
        settings = _load_with(monkeypatch, container.env)
    except ValueError as exc:  # UnknownSettingError or pydantic's ValidationError
        pytest.fail(f"{container.label}: its RECO_* variables do not load: {exc}")
    assert settings.profile is Profile.CLUSTER, f"{container.label} runs without RECO_PROFILE=cluster"


def test_a_misspelt_manifest_variable_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(K8S, tmp_path / "k8s")
    recommender = tmp_path / "k8s" / "base" / "recommender.yaml"
    text = recommender.read_text(encoding="utf-8")
    assert "name: RECO_SERVING__MODEL_CACHE_DIR" in text
    recommender.write_text(text.replace("RECO_SERVING__MODEL_CACHE_DIR", "RECO_SERVNG__MODEL_CACHE_DIR"))
    staging = tmp_path / "k8s" / "overlays" / "staging" / "kustomization.yaml"
    staging.write_text(staging.read_text().replace("RECO_EXPLORATION__SHARE=", "RECO_EXPLORATION_SHARE="))

    envs = {(e.overlay, e.container): e for e in container_envs(tmp_path / "k8s")}
    with pytest.raises(UnknownSettingError) as info:
        _load_with(monkeypatch, envs["base", "recommender"].env)
    assert info.value.unknown == [("RECO_SERVNG__MODEL_CACHE_DIR", "RECO_SERVING__MODEL_CACHE_DIR")]
    with pytest.raises(UnknownSettingError) as info:
        _load_with(monkeypatch, envs["overlays/staging", "collector"].env)
    assert info.value.unknown == [("RECO_EXPLORATION_SHARE", "RECO_EXPLORATION__SHARE")]
    # A bad value fails too (pydantic's ValidationError names the field).
    bad = {**envs["base", "collector"].env, "RECO_COLLECTOR__PORT": "http"}
    with pytest.raises(ValueError, match="collector.port"):
        _load_with(monkeypatch, bad)
