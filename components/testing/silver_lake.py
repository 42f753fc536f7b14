"""A silver lake filled with simulated traffic, built the way production builds it (bronze
files, then the silver job with its validation), for tests of what reads silver."""

from __future__ import annotations

import json

from components.lake import LakeStore
from components.lake.catalog import write_catalog
from components.lake.silver import build_silver
from components.simulator import TrafficGenerator, World, WorldConfig
from components.testing.lake import write_bronze


def build_simulated_lake(store: LakeStore, config: WorldConfig) -> list[str]:
    """Simulate `config`, land it as bronze, build silver for each day; returns the dates."""
    world = World.build(config)
    offset = 0
    dates = []
    for day in TrafficGenerator(world).days():
        values = [json.dumps(event).encode() for event in day.events]
        write_bronze(store, values, first_offset=offset)
        offset += len(values)
        dates.append(day.day.isoformat())
    write_catalog(store, world.catalogue.records())
    for dt in dates:
        build_silver(store, dt)
    return dates
