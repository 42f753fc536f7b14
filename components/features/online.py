"""Async online reads for serving: one reader's features and its candidate articles'
features, one Redis round trip per feature view, both views fetched concurrently.

With the Redis online store the reader issues the HMGETs itself, with Feast's own key and
field encoding (`_generate_redis_keys_for_entities`, `_generate_hset_keys_for_features`) and
decodes the values straight from their protobuf: `FeatureStore.get_online_features_async`
spent ~10 ms per request for 100 articles in registry lookups and response building, the
generic store path ~4 ms in per-value conversions (docs/benchmarks.md). Other online stores
(the SQLite fallback) go through Feast's `online_read` in a worker thread. The train/serve consistency test
(store_test.py) pins this to what Feast itself materialized.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import hiredis

from feature_repo.definitions import ARTICLE_STATS, USER_STATS, ViewSpec, feature_names


@dataclass
class OnlineFeatures:
    user: dict[str, Any]
    articles: dict[str, dict[str, Any]]


class _View:
    def __init__(self, reader: OnlineFeatureReader, spec: ViewSpec):
        self.view = reader.fs.get_feature_view(spec.name)
        self.join_key = spec.join_key
        self.features = feature_names(spec)
        self.hset_keys: list[Any] = []
        if reader.redis:
            # A copy: Feast appends its timestamp field to the list it is given.
            _, self.hset_keys = reader.store._generate_hset_keys_for_features(self.view, list(self.features))


class OnlineFeatureReader:
    def __init__(self, fs: Any):
        from feast.infra.online_stores.redis import RedisOnlineStore
        from feast.protos.feast.types.EntityKey_pb2 import EntityKey
        from feast.protos.feast.types.Value_pb2 import Value

        self.fs = fs
        self.config = fs.config
        self.store = fs._get_provider().online_store  # Feast has no public accessor for it
        self.redis = isinstance(self.store, RedisOnlineStore)
        self._entity_key, self._value = EntityKey, Value
        self.user_view = _View(self, USER_STATS)
        self.article_view = _View(self, ARTICLE_STATS)
        self._user_key = functools.lru_cache(maxsize=200_000)(self._encode_user_key)

    def _keys(self, join_key: str, ids: Sequence[str]) -> list[Any]:
        return [
            self._entity_key(join_keys=[join_key], entity_values=[self._value(string_val=i)]) for i in ids
        ]

    def _decode(self, raw: bytes | None) -> Any:
        return self._from_value(self._value.FromString(raw)) if raw else None

    @staticmethod
    def _from_value(value: Any) -> Any:
        kind = value.WhichOneof("val")
        if kind is None or kind == "null_val":
            return None
        decoded = getattr(value, kind)
        if kind == "unix_timestamp_val":
            return datetime.fromtimestamp(decoded, tz=UTC)
        if kind == "double_val" and decoded != decoded:  # NaN: Feast writes missing floats so
            return None
        return decoded

    async def _read(self, view: _View, ids: Sequence[str]) -> list[dict[str, Any]]:
        keys = self._keys(view.join_key, ids)
        if not self.redis:
            # The SQLite fallback has no async read: keep the event loop free with a thread.
            rows = await asyncio.to_thread(
                self.store.online_read, self.config, view.view, keys, list(view.features)
            )
            return [
                {
                    name: self._from_value(values[name]) if values and name in values else None
                    for name in view.features
                }
                for _, values in rows
            ]
        client = await self.store._get_client_async(self.config.online_store)
        redis_keys = self.store._generate_redis_keys_for_entities(self.config, keys)
        async with client.pipeline(transaction=False) as pipe:
            for key in redis_keys:
                pipe.hmget(key, view.hset_keys)
            replies = await pipe.execute()
        n = len(view.features)
        return [
            (
                {name: self._decode(reply[i]) for i, name in enumerate(view.features)}
                if reply[n]  # the row's timestamp field: absent means the entity was never materialized
                else dict.fromkeys(view.features)
            )
            for reply in replies
        ]

    # --- for callers that batch the user's row into their own Redis pipeline (the recommend
    # service reads it together with the recent reads: one round trip per request) ---------
    @property
    def user_fields(self) -> list[Any]:
        """The HMGET fields of a user row: the features, then the row's timestamp."""
        return self.user_view.hset_keys

    def user_redis_key(self, user_id: str) -> bytes:
        """The Redis key of a user's row; memoised (Feast's protobuf encoding costs ~40 us,
        a tenth of a request)."""
        if not self.redis:
            raise RuntimeError("user_redis_key needs the Redis online store")
        return self._user_key(user_id)

    def _encode_user_key(self, user_id: str) -> bytes:
        key: bytes = self.store._generate_redis_keys_for_entities(
            self.config, self._keys(self.user_view.join_key, [user_id])
        )[0]
        return key

    async def read_user_with_list(
        self, client: Any, user_id: str, list_key: str, limit: int
    ) -> tuple[dict[str, Any] | None, list[str]]:
        """The user's features and the first `limit` entries of a Redis list (the recent
        reads), in one round trip on one pooled connection of `client` (redis.asyncio).

        Commands are packed by hiredis' C packer: redis-py's asyncio pipeline packs in
        Python, which cost ~80 us of the request's ~300 us (docs/benchmarks.md)."""
        packed = hiredis.pack_command(("HMGET", self.user_redis_key(user_id), *self.user_fields))
        packed += hiredis.pack_command(("LRANGE", list_key, 0, limit - 1))  # type: ignore[arg-type]  # the stub types a 1-tuple
        pool = client.connection_pool
        conn = await pool.get_connection()
        try:
            await conn.send_packed_command(packed, check_health=False)
            row = await conn.read_response()
            recent = await conn.read_response()
        except BaseException:
            await conn.disconnect()  # a half-read reply must not reach the next caller
            raise
        finally:
            await pool.release(conn)
        if isinstance(row, Exception) or isinstance(recent, Exception):
            raise row if isinstance(row, Exception) else recent
        return self.decode_user(row), [r.decode() for r in recent]

    def decode_user(self, reply: Sequence[bytes | None]) -> dict[str, Any] | None:
        """The user's features from an HMGET reply on `user_fields`; None when the user has
        no materialized row."""
        features = self.user_view.features
        if not reply[len(features)]:
            return None
        return {name: self._decode(reply[i]) for i, name in enumerate(features)}

    async def read_articles(self, article_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The article rows of `article_ids`, in order (all None for one never materialized)."""
        return await self._read(self.article_view, article_ids)

    async def read(self, user_id: str, article_ids: Sequence[str]) -> OnlineFeatures:
        if article_ids:
            users, articles = await asyncio.gather(
                self._read(self.user_view, [user_id]), self._read(self.article_view, article_ids)
            )
        else:
            users, articles = await self._read(self.user_view, [user_id]), []
        return OnlineFeatures(user=users[0], articles=dict(zip(article_ids, articles, strict=True)))
