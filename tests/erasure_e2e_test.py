"""Erasure end to end: a served world (simulated lake, Feast rows in Redis, a trained
champion), one reader erased through the recommend API's `DELETE /users/{id}`. Their Redis
state is gone at once; the next training snapshot and the next silver build hold none of
their events (others' are intact); reproducing the champion says it can no longer include
them; an event they send after the erasure is kept."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from redis import Redis
from starlette.testclient import TestClient

from components.config import Settings, load_settings
from components.erasure.reader import online_redis_key
from components.lake import LakeStore
from components.lake.silver import build_silver, read_manifest, read_silver
from components.lake.tombstones import user_hash
from components.names import recent_key
from components.runtime.tansu import TansuBroker
from components.simulator import WorldConfig
from components.testing.lake import write_bronze
from components.testing.services import TEST_REDIS_URL
from components.testing.serving_world import ServedWorld, build_served_world, drop_served_state
from components.training.pipeline import reproduce
from components.training.train import load_snapshot
from services.recommender.app import create_app

TOKEN = "erasure-admin-token"


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, kafka_broker: TansuBroker
) -> Iterator[tuple[Settings, ServedWorld]]:
    root = tmp_path_factory.mktemp("erasure")
    topic = f"events.v1.{uuid.uuid4().hex[:8]}"
    settings = load_settings(
        home=str(root / "home"),
        kafka={"bootstrap_servers": kafka_broker.bootstrap_servers, "events_topic": topic,
               "session_timeout_ms": 2_000},
        redis={"url": TEST_REDIS_URL, "key_prefix": f"reco-erasure-{uuid.uuid4().hex[:8]}:"},
        lake={"root": str(root / "lake")},
        mlflow={"tracking_uri": f"sqlite:///{root / 'mlflow.db'}", "artifact_root": str(root / "artifacts")},
        features={"registry": str(root / "registry.db"), "project": f"erasure_{uuid.uuid4().hex[:8]}"},
        serving={"admin_token": TOKEN},
    )  # fmt: skip
    # Three days up to today (relative to the run, so the lateness rule keeps every event).
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=3)
    world = build_served_world(
        settings, WorldConfig(seed=9, start=start, days=3, users=300, articles_per_day=20)
    )
    yield settings, world
    drop_served_state(settings)


def events_of(store: LakeStore, dates: list[str]) -> dict[str, set[str]]:
    """event ids per reader in the silver partitions of `dates`."""
    out: dict[str, set[str]] = {}
    for dt in dates:
        table = read_silver(store, dt)
        for user, event_id in zip(table["user_id"].to_pylist(), table["event_id"].to_pylist(), strict=True):
            out.setdefault(user, set()).add(event_id)
    return out


def test_an_erased_reader_is_gone_from_redis_silver_and_training(
    served: tuple[Settings, ServedWorld],
) -> None:
    settings, world = served
    store = LakeStore.from_settings(settings.lake)
    prefix = settings.redis.key_prefix
    with Redis.from_url(settings.redis.url) as redis:
        # Readers with an online row (Feast materialized it under the key the erasure deletes).
        readers = [u for u in world.known_users if redis.exists(online_redis_key(settings, u))]
        assert len(readers) >= 2, "the served world has no materialized readers"
        gone, kept = readers[0], readers[1]
        for user in (gone, kept):
            redis.lpush(recent_key(prefix, user), "a-read")
        before = events_of(store, world.dates)
        assert before[gone] and before[kept]

        with TestClient(create_app(settings)) as client:
            path = f"/users/{quote(gone, safe='')}"
            assert client.delete(path).status_code == 401
            bad = client.delete("/users/has%20space", headers={"Authorization": f"Bearer {TOKEN}"})
            assert bad.status_code == 422 and bad.json()["error"]["field"] == "user_id"
            response = client.delete(path, headers={"Authorization": f"Bearer {TOKEN}"})
            assert response.status_code == 200, response.text
            result: dict[str, Any] = response.json()
        erased_at = datetime.fromisoformat(result["erased_at"])

        # Redis: their recent reads and online row are gone, the other reader's are not.
        assert result["user_hash"] == user_hash(gone)
        assert result["redis_keys_deleted"] == {"recent_reads": 1, "online_features": 1}
        assert redis.exists(recent_key(prefix, gone), online_redis_key(settings, gone)) == 0
        assert redis.exists(recent_key(prefix, kept), online_redis_key(settings, kept)) == 2

    # The next training snapshot leaves them out, though silver was not rebuilt yet.
    snapshot = load_snapshot(store, world.dates)
    users = set(snapshot.interactions["user_id"])
    assert gone not in users and kept in users
    assert set(snapshot.erased) == {user_hash(gone)}
    # Reproducing the champion (trained with them) says it can no longer include them.
    again = reproduce(settings, store, world.champion_version)
    assert not again.matched and again.erased_readers == [user_hash(gone)]
    assert "can no longer be included" in again.reason and gone not in json.dumps(again.as_dict())

    # The next silver build holds none of their events; everyone else's are intact.
    for dt in world.dates:
        build_silver(store, dt)
    after = events_of(store, world.dates)
    assert gone not in after
    assert {u: ids for u, ids in before.items() if u != gone} == after
    assert sum(read_manifest(store, dt)["erased"] for dt in world.dates) == len(before[gone])
    rebuilt = reproduce(settings, store, world.champion_version)
    assert rebuilt.erased_readers == [user_hash(gone)] and not rebuilt.snapshot_intact
    assert "rebuilt since training" in rebuilt.reason

    # They come back: what they send after the erasure is a new consent, and kept.
    comeback = {"event_id": str(uuid.uuid4()), "type": "click", "user_id": gone, "article_id": world.catalogue_ids[0],
                "ts": (erased_at - timedelta(minutes=1)).isoformat()}  # fmt: skip
    write_bronze(store, [json.dumps(comeback).encode()], first_offset=10**9, partition=2,
                 received_at=erased_at + timedelta(seconds=1), ingested_at=erased_at + timedelta(seconds=2))  # fmt: skip
    day = (erased_at - timedelta(minutes=1)).date().isoformat()
    build_silver(store, day)
    assert events_of(store, [day]).get(gone) == {comeback["event_id"]}
