"""feature_store.yaml (the feast CLI's configuration) is rendered from the code's settings, and the
committed file is that rendering."""

import os
from pathlib import Path

import pytest
from feast.repo_config import load_repo_config

from components.config import load_settings
from components.docs.blocks import REGENERATE
from components.features.store import FEATURE_STORE_YAML, render_feature_store_yaml, repo_values


def test_committed_file_is_the_rendering() -> None:
    committed = Path(FEATURE_STORE_YAML).read_text()
    assert committed == render_feature_store_yaml(), (
        f"{FEATURE_STORE_YAML} differs from render_feature_store_yaml() "
        f"(components/features/store.py): regenerate it with `{REGENERATE}`"
    )


def test_rendering_ignores_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    before = render_feature_store_yaml()
    monkeypatch.setenv("RECO_FEATURES__PROJECT", "elsewhere")
    monkeypatch.setenv("RECO_FEATURES__ONLINE_STORE", "sqlite")
    monkeypatch.setenv("RECO_REDIS__URL", "redis://cache:6380/3")
    monkeypatch.setenv("RECO_HOME", "/srv/reco")
    assert render_feature_store_yaml() == before


def test_feast_reads_what_the_code_configures_for_the_local_profile(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Feast, reading the rendering as the CLI does (from feature_repo/), gets the values that
    repo_config() uses for the local defaults, paths seen from feature_repo/."""
    for name in [n for n in os.environ if n.startswith("RECO_")]:
        monkeypatch.delenv(name)
    code = repo_values(load_settings())
    repo = tmp_path / "feature_repo"
    repo.mkdir()
    (repo / "feature_store.yaml").write_text(render_feature_store_yaml())
    config = load_repo_config(repo, repo / "feature_store.yaml")
    assert config.project == code["project"] == "reco"
    assert config.provider == code["provider"]
    assert config.registry.registry_type == code["registry"]["registry_type"] == "file"
    assert config.registry.path == f"../{code['registry']['path']}"
    assert config.registry.cache_ttl_seconds == code["registry"]["cache_ttl_seconds"]
    assert config.online_store.type == code["online_store"]["type"] == "redis"
    assert config.online_store.connection_string == code["online_store"]["connection_string"]
    assert config.offline_store.type == code["offline_store"]["type"]
    assert config.entity_key_serialization_version == code["entity_key_serialization_version"]
