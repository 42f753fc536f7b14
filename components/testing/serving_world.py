"""A world the recommend service can serve, built the way production builds it: a simulated
lake (silver + catalogue), features applied and materialized into the online store, a trained
model registered and made champion. For the service's tests and its benchmark."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from components.config import Settings
from components.features.build import build_features
from components.lake import LakeStore
from components.lake.catalog import read_catalog
from components.lake.silver import load_silver_frame
from components.registry.gate import set_champion
from components.registry.tracking import configure
from components.simulator import WorldConfig
from components.testing.silver_lake import build_simulated_lake
from components.training.pipeline import train_and_register
from components.training.train import Candidate


@dataclass(frozen=True)
class ServedWorld:
    dates: list[str]
    # Readers the champion was trained on, and articles it can rank.
    known_users: list[str]
    catalogue_ids: list[str]
    champion_version: str

    def describe(self) -> dict[str, Any]:
        return {
            "days": len(self.dates),
            "known_users": len(self.known_users),
            "articles": len(self.catalogue_ids),
            "champion_version": self.champion_version,
        }


def build_served_world(
    settings: Settings, config: WorldConfig, candidates: Sequence[Candidate] = (Candidate("ease", {}),)
) -> ServedWorld:
    store = LakeStore.from_settings(settings.lake)
    dates = build_simulated_lake(store, config)
    build_features(settings, store, dates)
    configure(settings.mlflow)
    outcome = train_and_register(settings, store, candidates, dates=dates, run_gate=False)
    version = outcome.logged.version
    assert version is not None
    set_champion(settings.mlflow.model_name, version)
    clicks, _ = load_silver_frame(store, dates, ["type", "user_id"])
    users = sorted(set(clicks.loc[clicks["type"] == "click", "user_id"]))
    ids = [str(a) for a in read_catalog(store).column("article_id").to_pylist()]
    return ServedWorld(dates=dates, known_users=users, catalogue_ids=ids, champion_version=version)


def settings_env(settings: Settings) -> dict[str, str]:
    """The RECO_* variables that reproduce `settings` in a child process."""
    env: dict[str, str] = {"RECO_PROFILE": settings.profile.value, "RECO_HOME": settings.home}
    for section, values in settings.model_dump().items():
        if not isinstance(values, dict):
            continue
        for key, value in values.items():
            if value is None:
                continue
            if hasattr(value, "get_secret_value"):
                value = value.get_secret_value()
            env[f"RECO_{section.upper()}__{key.upper()}"] = str(value)
    return env
