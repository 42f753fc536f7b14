"""Feature-store tests' shared setup: a simulated world's events and catalogue as frames, and
settings with a Feast project and registry of the test's own."""

from __future__ import annotations

import uuid
from pathlib import Path

import pandas as pd

from components.config import Settings
from components.simulator import TrafficGenerator, World, WorldConfig


def simulated_frames(config: WorldConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(events: type, user_id, article_id, ts, dwell_ms; catalogue) of a simulated world."""
    world = World.build(config)
    events = pd.DataFrame([e for day in TrafficGenerator(world).days() for e in day.events])
    events["ts"] = pd.to_datetime(events["ts"], utc=True)
    catalog = pd.DataFrame(world.catalogue.records())
    catalog["published_at"] = pd.to_datetime(catalog["published_at"], utc=True)
    return events[["type", "user_id", "article_id", "ts", "dwell_ms"]], catalog


def feast_settings(settings: Settings, folder: Path, online_store: str, tag: str = "test") -> Settings:
    """`settings` with a Feast project of its own (`reco_<tag>_<random>`), its registry in
    `folder`, and `online_store` (redis or sqlite)."""
    features = settings.features.model_copy(
        update={
            "project": f"reco_{tag}_{uuid.uuid4().hex[:8]}",
            "registry": str(folder / "registry.db"),
            "online_store": online_store,
        }
    )
    return settings.model_copy(update={"features": features})


__all__ = ["feast_settings", "simulated_frames"]
