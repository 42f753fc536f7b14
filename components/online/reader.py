"""Async online reads for serving, without Feast: one reader's features and articles' features
from the rows Feast materialized, decoded by reco's own codec of Feast's layout
(components/online/layout.py). The recommend service builds in the lean `serving` resolve.

The online store is chosen by name from `ONLINE_STORES` (`RECO_FEATURES__ONLINE_STORE`):
- `redis`: one HMGET per entity (fields precomputed once), pipelined; the recommend service
  sends the reader's HMGET together with the recent-reads LRANGE in one round trip;
- `sqlite`: Feast's embedded fallback, read with the standard library in a worker thread.

Golden tests (layout_golden_test.py, store_test.py) pin this to rows Feast itself wrote.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import hiredis

from components.config import Settings
from components.online import layout
from components.online.pipelined import PipelinedRedis
from components.online.repo import entity_key_version, online_store_path
from feature_repo.definitions import ARTICLE_STATS, USER_STATS, ViewSpec, feature_names


@dataclass
class OnlineFeatures:
    user: dict[str, Any]
    articles: dict[str, dict[str, Any]]


class _View:
    """A feature view's names and, for Redis, its HMGET fields (features, then the timestamp)."""

    def __init__(self, spec: ViewSpec, project: str, version: int, stored_as: str | None = None):
        self.spec = spec
        # The name Feast stores the rows under: the view's, or `<view>_v<N>` (versioned views).
        self.name = stored_as or spec.name
        self.join_key = spec.join_key
        self.features = feature_names(spec)
        self.project = project
        self.version = version
        self.fields: list[bytes] = [layout.feature_field(self.name, f) for f in self.features]
        self.fields.append(layout.timestamp_field(self.name))

    def entity_key(self, entity_id: str) -> bytes:
        return layout.entity_key(self.join_key, entity_id, self.version)

    def redis_key(self, entity_id: str) -> bytes:
        return self.entity_key(entity_id) + self.project.encode()

    def empty(self) -> dict[str, Any]:
        return dict.fromkeys(self.features)


class OnlineStoreRows:
    """Reads a view's rows for some entity ids: a dict per id, all None when absent."""

    name: ClassVar[str]
    redis: ClassVar[bool] = False

    def __init__(self, settings: Settings, client: Any):
        self.settings = settings
        self.client = client

    async def read(self, view: _View, ids: Sequence[str]) -> list[dict[str, Any]]:
        raise NotImplementedError


class RedisRows(OnlineStoreRows):
    name = "redis"
    redis = True

    async def read(self, view: _View, ids: Sequence[str]) -> list[dict[str, Any]]:
        async with self.client.pipeline(transaction=False) as pipe:
            for entity_id in ids:
                pipe.hmget(view.redis_key(entity_id), view.fields)
            replies = await pipe.execute()
        return [layout.decode_row(reply, view.features) or view.empty() for reply in replies]


class SqliteRows(OnlineStoreRows):
    """Feast's SQLite online store: table `<project>_<view>`, a row per (entity, feature)."""

    name = "sqlite"

    async def read(self, view: _View, ids: Sequence[str]) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self._read, view, list(ids))

    def _read(self, view: _View, ids: list[str]) -> list[dict[str, Any]]:
        keys = {view.entity_key(i): n for n, i in enumerate(ids)}
        rows = [view.empty() for _ in ids]
        path = online_store_path(self.settings)
        if not Path(path).exists():
            return rows
        table = layout.sqlite_table(view.project, view.name)
        marks = ",".join("?" * len(keys))
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            try:
                found = db.execute(
                    f"SELECT entity_key, feature_name, value FROM {table} WHERE entity_key IN ({marks})",
                    list(keys),
                ).fetchall()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):
                    return rows
                raise
        for key, feature, value in found:
            if feature in rows[keys[key]]:
                rows[keys[key]][feature] = layout.decode_value(value)
        return rows


# Online stores by name: one line to add one (a class with `name` and `read`).
ONLINE_STORES: dict[str, type[OnlineStoreRows]] = {cls.name: cls for cls in (RedisRows, SqliteRows)}


class OnlineFeatureReader:
    def __init__(self, settings: Settings, client: Any = None, stored_names: Mapping[str, str] | None = None):
        """`client`: a redis.asyncio client on the online store's Redis (the Redis store);
        one from the settings' URL when None. `stored_names`: view -> the name Feast stores its
        rows under, as the feature store's apply recorded it (`read_online_layout`)."""
        stored_names = stored_names or {}
        store = settings.features.online_store
        if store not in ONLINE_STORES:
            raise ValueError(f"features.online_store {store!r}: not one of {sorted(ONLINE_STORES)}")
        if client is None and ONLINE_STORES[store].redis:
            from redis.asyncio import Redis as AsyncRedis

            client = AsyncRedis.from_url(settings.redis.url, socket_timeout=5, socket_connect_timeout=5)
        self.rows = ONLINE_STORES[store](settings, client)
        self.redis = self.rows.redis
        project, version = settings.features.project, entity_key_version(settings)
        self.user_view = _View(USER_STATS, project, version, stored_names.get(USER_STATS.name))
        self.article_view = _View(ARTICLE_STATS, project, version, stored_names.get(ARTICLE_STATS.name))
        # Memoised: a reader's key is asked for on every request.
        self._user_key: Callable[[str], bytes] = functools.lru_cache(maxsize=200_000)(
            self.user_view.redis_key
        )

    # --- for callers that batch the user's row into their own Redis pipeline (the recommend
    # service reads it together with the recent reads: one round trip per request) ---------
    @property
    def user_fields(self) -> list[bytes]:
        """The HMGET fields of a user row: the features, then the row's timestamp."""
        return self.user_view.fields

    def user_redis_key(self, user_id: str) -> bytes:
        """The Redis key of a user's row (memoised)."""
        if not self.redis:
            raise RuntimeError("user_redis_key needs the Redis online store")
        return self._user_key(user_id)

    async def read_user_with_list(
        self, client: PipelinedRedis, user_id: str, list_key: str, limit: int, timeout_s: float
    ) -> tuple[dict[str, Any] | None, list[str]]:
        """The user's features and the first `limit` entries of a Redis list (the recent
        reads), in one round trip on the request path's pipelined connection.

        Commands are packed by hiredis' C packer: redis-py's asyncio pipeline packs in
        Python, which cost ~80 us of the request's ~300 us (docs/benchmarks.md)."""
        packed = hiredis.pack_command(("HMGET", self.user_redis_key(user_id), *self.user_fields))  # type: ignore[arg-type]  # the stub types a 1-tuple
        packed += hiredis.pack_command(("LRANGE", list_key, 0, limit - 1))  # type: ignore[arg-type]
        row, recent = await client.call(packed, 2, timeout_s)
        if isinstance(row, Exception) or isinstance(recent, Exception):
            raise row if isinstance(row, Exception) else recent
        return self.decode_user(row), [r.decode() for r in recent]

    def decode_user(self, reply: Sequence[bytes | None]) -> dict[str, Any] | None:
        """The user's features from an HMGET reply on `user_fields`; None when the user has
        no materialized row."""
        return layout.decode_row(reply, self.user_view.features)

    async def read_user(self, user_id: str) -> dict[str, Any] | None:
        """The user's features; None when the user has no row (or only missing values)."""
        row = (await self.rows.read(self.user_view, [user_id]))[0]
        return row if any(v is not None for v in row.values()) else None

    async def read_articles(self, article_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The article rows of `article_ids`, in order (all None for one never materialized)."""
        return await self.rows.read(self.article_view, article_ids)

    async def read(self, user_id: str, article_ids: Sequence[str]) -> OnlineFeatures:
        if article_ids:
            users, articles = await asyncio.gather(
                self.rows.read(self.user_view, [user_id]), self.rows.read(self.article_view, article_ids)
            )
        else:
            users, articles = await self.rows.read(self.user_view, [user_id]), []
        return OnlineFeatures(user=users[0], articles=dict(zip(article_ids, articles, strict=True)))


__all__ = ["ONLINE_STORES", "OnlineFeatureReader", "OnlineFeatures", "OnlineStoreRows"]
