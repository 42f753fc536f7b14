"""Feature store end to end: features from a simulated week, Feast apply, materialization into
Redis, a point-in-time training set, and online reads.

    ./pants run benchmarks/features.py -- --users 50000 --articles 5000

Last line: {"benchmark": "features", "materialize_rows_per_s", "pit_rows_in", "pit_rows_out"
(must be equal), "online_p50_ms", "online_p99_ms" (one reader + its candidate articles;
target p99 < 5 ms), ...}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from components.config import Settings, load_settings
from components.features import compute_features
from components.features.store import apply, feature_store, materialize, training_set, write_sources
from components.lake import LakeStore
from components.online.reader import OnlineFeatureReader
from components.simulator import TrafficGenerator, World, WorldConfig

BACKLOG_DAYS = WorldConfig().backlog_days


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def simulate(users: int, articles: int, days: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    # The catalogue holds the backlog days plus the simulated ones at the same daily rate.
    per_day = max(1, round(articles / (BACKLOG_DAYS + days)))
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    world = World.build(
        WorldConfig(
            seed=seed, start=today - timedelta(days=days), days=days, users=users, articles_per_day=per_day
        )
    )
    columns: dict[str, list[Any]] = {"type": [], "user_id": [], "article_id": [], "ts": [], "dwell_ms": []}
    for traffic in TrafficGenerator(world).days():
        for event in traffic.events:
            columns["type"].append(event["type"])
            columns["user_id"].append(event["user_id"])
            columns["article_id"].append(event["article_id"])
            columns["ts"].append(event["ts"])
            columns["dwell_ms"].append(event.get("dwell_ms"))
        log(f"simulated {traffic.day}: {len(traffic.events):,} events")
    events = pd.DataFrame(columns)
    events["ts"] = pd.to_datetime(events["ts"], utc=True, format="ISO8601")
    events["dwell_ms"] = events["dwell_ms"].astype("float64")
    catalog = pd.DataFrame(world.catalogue.records())
    catalog["published_at"] = pd.to_datetime(catalog["published_at"], utc=True)
    return events, catalog


async def online_latency(settings: Settings, users: list[str], candidates: list[list[str]]) -> list[float]:
    reader = OnlineFeatureReader(settings)
    await reader.read(users[0], candidates[0])  # connect, load the registry
    timings = []
    for user, items in zip(users, candidates, strict=True):
        started = time.perf_counter()
        await reader.read(user, items)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--users", type=int, default=50_000)
    p.add_argument("--articles", type=int, default=5_000)
    p.add_argument("--days", type=int, default=7)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--pit-rows", type=int, default=100_000)
    p.add_argument("--candidates", type=int, default=100)
    p.add_argument("--requests", type=int, default=2_000)
    args = p.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="reco-bench-features-"))
    project = f"reco_bench_{uuid.uuid4().hex[:8]}"
    settings = load_settings(
        home=str(work),
        lake={"root": str(work / "lake")},
        features={"project": project, "registry": str(work / "registry.db")},
    )
    events, catalog = simulate(args.users, args.articles, args.days, args.seed)
    log(f"{len(events):,} events, {len(catalog):,} articles in the catalogue")

    started = time.perf_counter()
    tables = compute_features(events, catalog)
    compute_seconds = time.perf_counter() - started
    log(
        f"features: {len(tables.user_stats):,} user rows, {len(tables.article_stats):,} article rows in {compute_seconds:.1f}s"
    )
    lake = LakeStore.from_settings(settings.lake)
    write_sources(lake, tables)
    fs = feature_store(settings)
    try:
        apply(fs, lake)
        end = events["ts"].max().ceil("h").to_pydatetime()
        stats = materialize(fs, tables, end)
        log(f"materialized {stats.rows:,} rows in {stats.seconds:.1f}s")

        rng = np.random.default_rng(args.seed)
        impressions = events[events["type"] == "impression"]
        picked = impressions.iloc[
            rng.choice(len(impressions), min(args.pit_rows, len(impressions)), replace=False)
        ]
        entity_rows = pd.DataFrame(
            {
                "user_id": picked["user_id"].to_numpy(),
                "article_id": picked["article_id"].to_numpy(),
                "event_timestamp": picked["ts"].to_numpy(),
                "label": rng.integers(0, 2, len(picked)),
            }
        )
        pit_started = time.perf_counter()
        training = training_set(fs, entity_rows)
        pit_seconds = time.perf_counter() - pit_started
        log(f"point-in-time set: {len(entity_rows):,} rows in, {len(training):,} out, {pit_seconds:.1f}s")

        known_users = tables.user_stats["user_id"].drop_duplicates().to_numpy()
        live = catalog["article_id"].to_numpy()
        users = [str(u) for u in rng.choice(known_users, args.requests)]
        candidates = [
            [str(a) for a in rng.choice(live, args.candidates, replace=False)] for _ in range(args.requests)
        ]
        timings = asyncio.run(online_latency(settings, users, candidates))
    finally:
        fs.teardown()
    result = {
        "benchmark": "features",
        "events": len(events),
        "user_rows": len(tables.user_stats),
        "article_rows": len(tables.article_stats),
        "compute_seconds": round(compute_seconds, 2),
        "materialize_rows": stats.rows,
        "materialize_rows_per_s": round(stats.rows_per_s),
        "pit_rows_in": len(entity_rows),
        "pit_rows_out": len(training),
        "pit_seconds": round(pit_seconds, 2),
        "online_candidates": args.candidates,
        "online_p50_ms": round(float(np.percentile(timings, 50)), 3),
        "online_p99_ms": round(float(np.percentile(timings, 99)), 3),
    }
    print(json.dumps(result))
    return 0 if result["pit_rows_in"] == result["pit_rows_out"] else 1


if __name__ == "__main__":
    sys.exit(main())
