"""A silver lake filled with simulated traffic, built the way production builds it (bronze
files, then the silver job with its validation), for tests of what reads silver."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta

from components.features import compute_features
from components.features.build import catalog_as_of
from components.features.store import write_sources
from components.lake import LakeStore
from components.lake.catalog import upsert_articles
from components.lake.silver import build_silver, load_silver_frame
from components.simulator import DayTraffic, TrafficGenerator, World, WorldConfig
from components.testing.lake import write_bronze


def land_day(store: LakeStore, traffic: DayTraffic, first_offset: int) -> int:
    """Land one simulated day as bronze (Kafka offsets from `first_offset`) and build its
    silver partition; returns the next free offset. The records are received at the end of
    their day, as live traffic is: a world with fixed dates builds the same silver whenever the
    test runs (the lateness rule measures from the receipt, never from today)."""
    values = [json.dumps(event).encode() for event in traffic.events]
    day_end = datetime.combine(traffic.day + timedelta(days=1), time(), tzinfo=UTC)
    write_bronze(store, values, first_offset=first_offset, received_at=day_end)
    build_silver(store, traffic.day.isoformat())
    return first_offset + len(values)


def build_simulated_lake(store: LakeStore, config: WorldConfig) -> list[str]:
    """Simulate `config`, land it as bronze, build silver for each day; returns the dates."""
    world = World.build(config)
    upsert_articles(store, world.catalogue.articles(now=config.end))
    offset, dates = 0, []
    for day in TrafficGenerator(world).days():
        offset = land_day(store, day, offset)
        dates.append(day.day.isoformat())
    return dates


def write_feature_sources(store: LakeStore, dates: list[str]) -> None:
    """Compute the feature rows of `dates` and write them where Feast's sources read them
    (without applying or materializing: for tests of what reads the feature files)."""
    events, _ = load_silver_frame(store, dates, ["type", "user_id", "article_id", "ts", "dwell_ms"])
    events["dwell_ms"] = events["dwell_ms"].astype("float64")
    until = events["ts"].max().ceil("h").to_pydatetime()
    write_sources(store, compute_features(events, catalog_as_of(store, until)))
