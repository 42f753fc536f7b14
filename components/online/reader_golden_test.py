"""Golden: reco's Feast-free reader returns what Feast itself serves, on rows Feast materialized
into the real Redis (and its SQLite fallback), including a versioned online feature view; and
reco's codec agrees with Feast's public serialization functions byte for byte."""

from __future__ import annotations

import asyncio
import contextlib
import random
import string
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import mmh3  # pants: no-infer-dep (Feast brings it: its Redis store hashes fields with it)
import pandas as pd
import pytest
from feast import FeatureView
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value
from feast.type_map import python_values_to_proto_values
from feast.value_type import ValueType
from redis.asyncio import Redis as AsyncRedis

from components.config import Settings
from components.features import FeatureTables, compute_features
from components.features.store import apply, feature_store, materialize, write_online_layout, write_sources
from components.lake import LakeStore
from components.names import recent_key
from components.online import layout
from components.online.pipelined import PipelinedRedis
from components.online.reader import OnlineFeatureReader
from components.online.repo import read_online_layout
from components.simulator import WorldConfig
from components.testing.feast_world import feast_settings, simulated_frames
from feature_repo import definitions
from feature_repo.definitions import ARTICLE_STATS, USER_STATS, feature_names

START = datetime(2026, 10, 5, tzinfo=UTC)


@dataclass
class Materialized:
    settings: Settings
    fs: Any
    tables: FeatureTables
    end: datetime
    lake: LakeStore


@pytest.fixture(scope="module")
def simulated() -> tuple[pd.DataFrame, pd.DataFrame]:
    return simulated_frames(WorldConfig(seed=12, start=START, days=3, users=300, articles_per_day=20))


def _materialized(
    reco_settings: Settings,
    simulated: tuple[pd.DataFrame, pd.DataFrame],
    tmp_path: Path,
    online_store: str,
    versioning: bool = False,
) -> Iterator[Materialized]:
    settings = feast_settings(reco_settings, tmp_path, online_store, "golden")
    events, catalog = simulated
    tables = compute_features(events, catalog)
    lake = LakeStore.from_settings(settings.lake)
    write_sources(lake, tables)
    fs = feature_store(settings)
    if versioning:
        # Feast's online view versioning, each view pinned at version 1: rows go to `<view>_v1`.
        fs.config.registry.enable_online_feature_view_versioning = True
        objects = definitions.build(lake.uri("").rstrip("/"))
        for obj in objects:
            if isinstance(obj, FeatureView):
                obj.version = "v1"
        fs.apply(objects)
        write_online_layout(fs, lake)
    else:
        apply(fs, lake)
    end = START + timedelta(days=2, hours=12)
    materialize(fs, tables, end)
    yield Materialized(settings, fs, tables, end, lake)
    fs.teardown()  # drops the project's online rows


@pytest.fixture(params=["redis", "sqlite"])
def materialized(
    request: pytest.FixtureRequest,
    reco_settings: Settings,
    simulated: tuple[pd.DataFrame, pd.DataFrame],
    tmp_path: Path,
) -> Iterator[Materialized]:
    yield from _materialized(reco_settings, simulated, tmp_path, request.param)


def _sample(frame: pd.DataFrame, key: str, end: datetime, n: int, seed: int) -> list[str]:
    ids = frame[frame["event_timestamp"] <= end][key].drop_duplicates().sample(n, random_state=seed)
    return [str(i) for i in ids]


def _feast_rows(fs: Any, view: str, key: str, ids: list[str]) -> list[dict[str, Any]]:
    names = feature_names(view)
    served = fs.get_online_features(
        features=[f"{view}:{name}" for name in names], entity_rows=[{key: i} for i in ids]
    ).to_dict()
    return [{name: served[name][n] for name in names} for n in range(len(ids))]


def _same(reco: Any, feast: Any) -> bool:
    if feast is None or (isinstance(feast, float) and feast != feast):
        return reco is None
    if isinstance(feast, datetime):
        return (
            isinstance(reco, datetime)
            and reco.timestamp() == feast.replace(tzinfo=feast.tzinfo or UTC).timestamp()
        )
    return bool(reco == feast) and type(reco) is type(feast)


def _assert_rows(reco: list[dict[str, Any]], feast: list[dict[str, Any]], ids: list[str]) -> None:
    assert len(reco) == len(feast) == len(ids)
    for entity, ours, theirs in zip(ids, reco, feast, strict=True):
        assert ours.keys() == theirs.keys()
        for name in ours:
            assert _same(ours[name], theirs[name]), (entity, name, ours[name], theirs[name])


def test_reco_reads_what_feast_serves(materialized: Materialized) -> None:
    m = materialized
    users = [*_sample(m.tables.user_stats, "user_id", m.end, 40, seed=1), "never-materialized-reader"]
    articles = [*_sample(m.tables.article_stats, "article_id", m.end, 40, seed=2), "never-materialized"]
    names = read_online_layout(m.lake, m.settings.features.project)
    assert names == {USER_STATS.name: USER_STATS.name, ARTICLE_STATS.name: ARTICLE_STATS.name}

    async def read() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        reader = OnlineFeatureReader(m.settings, stored_names=names)
        user_rows = [(await reader.read(user, [])).user for user in users]
        return user_rows, await reader.read_articles(articles)

    user_rows, article_rows = asyncio.run(read())
    _assert_rows(user_rows, _feast_rows(m.fs, USER_STATS.name, "user_id", users), users)
    _assert_rows(article_rows, _feast_rows(m.fs, ARTICLE_STATS.name, "article_id", articles), articles)
    assert all(v is None for v in user_rows[-1].values())


def test_the_request_path_reads_the_same_row_with_the_recent_reads(
    reco_settings: Settings, simulated: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    """The recommend service's one round trip (HMGET of the row + LRANGE of recent reads, packed
    by hiredis, pipelined on the request path's connection) decodes what Feast serves."""
    with contextlib.contextmanager(_materialized)(reco_settings, simulated, tmp_path, "redis") as m:
        users = _sample(m.tables.user_stats, "user_id", m.end, 25, seed=3)
        prefix = f"golden-{uuid.uuid4().hex[:6]}:"

        async def read() -> list[tuple[dict[str, Any] | None, list[str]]]:
            client = AsyncRedis.from_url(m.settings.redis.url)
            fast = PipelinedRedis(m.settings.redis.url)
            try:
                await client.rpush(recent_key(prefix, users[0]), "a-1", "a-2")  # type: ignore[misc]
                reader = OnlineFeatureReader(m.settings, client)
                # all at once: pipelined on one connection, each gets its own replies
                out = await asyncio.gather(
                    *(reader.read_user_with_list(fast, u, recent_key(prefix, u), 10, 5.0) for u in users)
                )
                await client.delete(recent_key(prefix, users[0]))
                return list(out)
            finally:
                await client.aclose()
                await fast.aclose()

        replies = asyncio.run(read())
        assert replies[0][1] == ["a-1", "a-2"] and all(not r for _, r in replies[1:])
        feast_rows = _feast_rows(m.fs, USER_STATS.name, "user_id", users)
        _assert_rows([row or {} for row, _ in replies], feast_rows, users)


def test_a_versioned_online_view_is_read_under_its_stored_name(
    reco_settings: Settings, simulated: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    """With Feast's online feature view versioning on, rows live under `<view>_v<N>`: the apply
    records the names, reco's reader follows them and reads what Feast serves."""
    with contextlib.contextmanager(_materialized)(
        reco_settings, simulated, tmp_path, "redis", versioning=True
    ) as m:
        names = read_online_layout(m.lake, m.settings.features.project)
        assert set(names) == {USER_STATS.name, ARTICLE_STATS.name}
        users = _sample(m.tables.user_stats, "user_id", m.end, 20, seed=4)

        async def read(stored: dict[str, str]) -> list[dict[str, Any]]:
            reader = OnlineFeatureReader(m.settings, stored_names=stored)
            return [(await reader.read(u, [])).user for u in users]

        feast_rows = _feast_rows(m.fs, USER_STATS.name, "user_id", users)
        _assert_rows(asyncio.run(read(names)), feast_rows, users)
        assert names == {USER_STATS.name: "user_stats_v1", ARTICLE_STATS.name: "article_stats_v1"}
        # the unversioned name finds nothing: the recorded name is what makes it work
        assert all(all(v is None for v in row.values()) for row in asyncio.run(read({})))


def test_codec_matches_feasts_public_serialization() -> None:
    rng = random.Random(5)
    alphabet = string.printable + "éßø∂你"
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        assert layout.murmur3_32(text.encode()) == mmh3.hash(text, signed=False), text
        key = EntityKey(join_keys=["user_id"], entity_values=[Value(string_val=text)])
        assert layout.entity_key("user_id", text) == serialize_entity_key(key, 3)
    cases: list[tuple[list[Any], ValueType]] = [
        ([0, 1, -5, 2**40, -(2**63)], ValueType.INT64),
        ([0.0, 1.5, -2.25e-300, 3.0e300], ValueType.DOUBLE),
        (["", "sport", "é∂ 你"], ValueType.STRING),
        ([True, False], ValueType.BOOL),
        ([[1, 2, 3], []], ValueType.INT64_LIST),
        ([["a", "bc"]], ValueType.STRING_LIST),
        ([[0.5, -1.0]], ValueType.DOUBLE_LIST),
    ]
    for values, kind in cases:
        protos = python_values_to_proto_values(values, feature_type=kind)
        for value, proto in zip(values, protos, strict=True):
            decoded = layout.decode_value(proto.SerializeToString())
            assert decoded == value and type(decoded) is type(value), (kind, value, decoded)
    stamp = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    (proto,) = python_values_to_proto_values([stamp], feature_type=ValueType.UNIX_TIMESTAMP)
    assert layout.decode_value(proto.SerializeToString()) == stamp
    assert layout.decode_value(Value(null_val=0).SerializeToString()) is None  # type: ignore[arg-type]
