"""Erasing a reader on the real Redis, with rows Feast itself materialized: the tombstone, the
recent reads and the online row go, everyone else's state stays. Pins the Feast key layout
the erasure deletes by (serialised entity key + project) to what Feast wrote."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from redis import Redis

from components.config import Settings
from components.erasure import InvalidReaderIdError, check_user_id, erase_reader
from components.erasure.reader import online_redis_key
from components.features import compute_features
from components.features.store import apply, feature_store, materialize, write_sources
from components.feedback.recent import record_reads
from components.lake import LakeStore
from components.lake.tombstones import erased_users, user_hash
from components.names import erased_key, feedback_bucket_key, feedback_seen_key, recent_key
from components.simulator import WorldConfig
from components.testing.feast_world import feast_settings, simulated_frames
from feature_repo.definitions import USER_STATS, feature_names

START = datetime(2026, 10, 5, tzinfo=UTC)
ERASED_AT = START + timedelta(days=3)


@pytest.fixture(scope="module")
def simulated() -> tuple[pd.DataFrame, pd.DataFrame]:
    return simulated_frames(WorldConfig(seed=21, start=START, days=2, users=80, articles_per_day=15))


@pytest.fixture(params=["redis", "sqlite"])
def feast_world(
    request: pytest.FixtureRequest,
    reco_settings: Settings,
    simulated: tuple[pd.DataFrame, pd.DataFrame],
    tmp_path: Path,
) -> Iterator[tuple[Settings, Any, list[str]]]:
    settings = feast_settings(reco_settings, tmp_path, request.param, "erase")
    events, catalog = simulated
    tables = compute_features(events, catalog)
    lake = LakeStore.from_settings(settings.lake)
    write_sources(lake, tables)
    fs = feature_store(settings)
    apply(fs, lake)
    end = START + timedelta(days=1, hours=23)
    materialize(fs, tables, end)
    users = sorted(set(tables.user_stats.loc[tables.user_stats["event_timestamp"] <= end, "user_id"]))
    yield settings, fs, users
    fs.teardown()


def _online(fs: Any, users: list[str]) -> dict[str, dict[str, Any]]:
    names = [f"{USER_STATS.name}:{n}" for n in feature_names(USER_STATS)]
    rows = fs.get_online_features(features=names, entity_rows=[{"user_id": u} for u in users]).to_dict()
    return {u: {n: rows[n][i] for n in feature_names(USER_STATS)} for i, u in enumerate(rows["user_id"])}


def test_erasing_a_reader_removes_their_redis_state_and_leaves_the_others(
    feast_world: tuple[Settings, Any, list[str]],
) -> None:
    settings, fs, users = feast_world
    gone, kept = users[0], users[1]
    prefix = settings.redis.key_prefix
    lake = LakeStore.from_settings(settings.lake)

    async def reads() -> None:
        from redis.asyncio import Redis as AsyncRedis

        async with AsyncRedis.from_url(settings.redis.url) as client:
            for user in (gone, kept):
                await record_reads(client, prefix, user, ["a1", "a2"])

    asyncio.run(reads())
    with Redis.from_url(settings.redis.url) as redis:
        redis.hset(feedback_bucket_key(prefix, 493_000), "c:a1", 3)
        redis.set(feedback_seen_key(prefix, "e-1"), "1")
        before = _online(fs, [gone, kept])
        assert before[gone]["clicks_7d"] is not None and before[kept]["clicks_7d"] is not None
        online_store = settings.features.online_store
        if online_store == "redis":
            # The key the erasure deletes is the one Feast wrote (and reads) the row under.
            provider_store = fs._get_provider().online_store
            from feast.protos.feast.types.EntityKey_pb2 import EntityKey
            from feast.protos.feast.types.Value_pb2 import Value

            feast_key = provider_store._generate_redis_keys_for_entities(
                fs.config, [EntityKey(join_keys=["user_id"], entity_values=[Value(string_val=gone)])]
            )[0]
            assert online_redis_key(settings, gone) == feast_key
            assert redis.exists(feast_key) == 1

        result = erase_reader(settings, lake, redis, gone, ERASED_AT)

        assert result.user_hash == user_hash(gone) and gone not in str(result.as_dict())
        assert result.erased_at == ERASED_AT.isoformat() and result.online_store == online_store
        assert result.redis_keys_deleted["recent_reads"] == 1
        assert result.online_rows_deleted >= 1
        if online_store == "redis":
            assert result.redis_keys_deleted["online_features"] == 1
            assert redis.exists(online_redis_key(settings, gone)) == 0
        assert erased_users(lake) == {gone: ERASED_AT}
        assert redis.exists(recent_key(prefix, gone)) == 0
        assert redis.lrange(recent_key(prefix, kept), 0, -1) == [b"a2", b"a1"]
        # The feedback consumer's marker, by hashed id: no replayed read of theirs comes back.
        marker = erased_key(prefix, user_hash(gone))
        assert float(redis.get(marker)) == ERASED_AT.timestamp() and redis.ttl(marker) > 30 * 86_400
        # counts per article and dedup markers name no reader: left alone
        assert redis.hget(feedback_bucket_key(prefix, 493_000), "c:a1") == b"3"
        assert redis.exists(feedback_seen_key(prefix, "e-1")) == 1
        after = _online(fs, [gone, kept])
        assert all(v is None for v in after[gone].values())
        assert after[kept] == before[kept]

        # idempotent: a retry deletes nothing more and keeps the tombstone's time
        again = erase_reader(settings, lake, redis, gone, ERASED_AT + timedelta(seconds=-5))
        assert again.redis_keys_deleted["recent_reads"] == 0 and again.online_rows_deleted == 0
        assert again.erased_at == ERASED_AT.isoformat()


@pytest.mark.parametrize(
    ("user_id", "fragment"),
    [("has space", "pattern"), ("", "at least 1 character"), ("u" * 129, "at most 128"), (7, "wrong type")],
)
def test_a_bad_reader_id_names_the_field(user_id: object, fragment: str) -> None:
    with pytest.raises(InvalidReaderIdError) as info:
        check_user_id(user_id)
    assert info.value.error.field == "user_id" and fragment in info.value.error.reason
    assert check_user_id("reader/with:odd~chars") == "reader/with:odd~chars"
