"""A world the recommend service can serve, built the way production builds it: a simulated
lake (silver + catalogue), features applied and materialized into the online store, a trained
model registered and made champion. For the service's tests and its benchmark."""

from __future__ import annotations

import asyncio
import random
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from components.config import Settings
from components.features.build import build_features
from components.features.store import feature_store
from components.lake import LakeStore
from components.lake.catalog import read_catalog
from components.lake.silver import load_silver_frame
from components.registry.gate import set_champion
from components.registry.publish import publish
from components.registry.tracking import configure
from components.simulator import WorldConfig
from components.testing.silver_lake import build_simulated_lake
from components.training.pipeline import train_and_register
from components.training.train import Candidate

# The serving benchmarks' champion: ALS with 64 factors.
BENCH_CHAMPION = Candidate("als", {"factors": 64, "iterations": 15, "regularization": 0.05})


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


def served_settings(home: Path, bootstrap_servers: str, redis_url: str, tag: str) -> Settings:
    """Settings of a served world in `home` (lake, SQLite MLflow store, Feast registry), on the
    given broker and Redis, with a topic, key prefix and Feast project of its own; the topic is
    created (3 partitions)."""
    from components.config import load_settings
    from components.runtime.tansu import free_port
    from components.streaming import ensure_topics
    from components.testing.services import mlflow_store

    store = mlflow_store(home / "mlflow")
    suffix = uuid.uuid4().hex[:8]
    settings = load_settings(
        home=str(home),
        kafka={"bootstrap_servers": bootstrap_servers, "events_topic": f"events.v1.{tag}{suffix[:6]}"},
        redis={"url": redis_url, "key_prefix": f"reco-{tag}-{suffix}:"},
        lake={"root": str(home / "lake")},
        mlflow={"tracking_uri": store.tracking_uri, "artifact_root": str(store.artifact_root)},
        features={"registry": str(home / "feast" / "registry.db"), "project": f"reco_{tag}_{suffix}"},
        serving={"port": free_port()},
    )
    asyncio.run(ensure_topics(settings.kafka, [settings.kafka.events_topic], partitions=3))
    return settings


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
    publish(settings, store)
    clicks, _ = load_silver_frame(store, dates, ["type", "user_id"])
    users = sorted(set(clicks.loc[clicks["type"] == "click", "user_id"]))
    ids = [str(a) for a in read_catalog(store).column("article_id").to_pylist()]
    return ServedWorld(dates=dates, known_users=users, catalogue_ids=ids, champion_version=version)


def drop_served_state(settings: Settings) -> None:
    """Drop a benchmark's rows from the shared Redis: its Feast project and its reco keys."""
    from redis import Redis

    try:
        feature_store(settings).teardown()
        with Redis.from_url(settings.redis.url) as client:
            keys = list(client.scan_iter(match=f"{settings.redis.key_prefix}*", count=5_000))
            for start in range(0, len(keys), 5_000):
                client.delete(*keys[start : start + 5_000])
    except Exception as exc:  # never hide a result behind a clean-up failure
        print(f"clean-up failed: {exc!r}", file=sys.stderr)


def request_bodies(world: ServedWorld, n: int, seed: int) -> list[bytes]:
    """`n` recommend bodies: 80 % readers the champion knows, 20 % newcomers, 0-3 excluded ids."""
    rng = random.Random(seed)
    bodies = []
    for i in range(n):
        user = rng.choice(world.known_users) if rng.random() < 0.8 else f"newcomer-{seed}-{i}"
        exclude = rng.sample(world.catalogue_ids, rng.randint(0, 3))
        bodies.append(orjson.dumps({"user_id": user, "k": 10, "exclude": exclude}))
    return bodies


def related_bodies(world: ServedWorld, n: int, seed: int) -> list[bytes]:
    """`n` related bodies (a story page's rail): a story of the catalogue, half of them read by a
    reader the champion knows (impressions logged) and half anonymously, 0-3 excluded ids."""
    rng = random.Random(seed)
    bodies = []
    for _ in range(n):
        body: dict[str, Any] = {
            "article_id": rng.choice(world.catalogue_ids),
            "k": 10,
            "exclude": rng.sample(world.catalogue_ids, rng.randint(0, 3)),
        }
        if rng.random() < 0.5:
            body["user_id"] = rng.choice(world.known_users)
        bodies.append(orjson.dumps(body))
    return bodies
