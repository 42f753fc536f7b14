"""Erase one reader (`DELETE /users/{id}`): the tombstone in the lake first, then every Redis
state the platform keeps about the reader.

Per-reader state, and what happens to it:

- the tombstone (`erasure/tombstones/<sha256>.json`, components/lake/tombstones.py) is
  written first and durably: if anything after it fails, the lake still honours the erasure
  and a retry finishes the rest (every step is idempotent);
- `{prefix}recent:{user_id}`, the reader's recent reads (components/names/redis_keys.py): deleted,
  and `{prefix}erased:{sha256}` set (35 days), so the feedback consumer records none of the
  reader's reads from before the erasure if it replays them;
- the reader's Feast online row (the `user` entity of every view keyed by `user_id`): deleted
  by the key Feast's Redis store uses (serialised entity key + project name: one hash for all
  the entity's views), or the rows of the SQLite online store's tables;
- not per reader, so left as they are: the feedback counts `{prefix}fb:{hour}` (impressions and
  clicks per article and hour, no reader in them) and the markers `{prefix}fb:seen:{event_id}`
  (an event id and "1", expiring with the dedup TTL; kept on purpose: they stop a replay of
  the reader's old events from being applied again).

What only later jobs can remove (the lake's bronze and silver files, the Feast offline
sources, Kafka's retention of events.v1, the model's factors) is listed in `ErasureResult.pending`
and in docs/operations.md ("Erasure").
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError
from redis import Redis

from components.config import Settings
from components.events import FieldError
from components.events.errors import from_pydantic
from components.events.schema import Identifier
from components.lake import LakeStore
from components.lake.layout import tombstone_path
from components.lake.tombstones import record_erasure
from components.names import erased_key, recent_key
from components.online import layout
from components.online.repo import entity_key_version, online_store_path, read_online_layout
from feature_repo.definitions import USER_STATS, VIEWS

log = logging.getLogger("reco.erasure")

_IDENTIFIER: TypeAdapter[str] = TypeAdapter(Identifier)

# What the endpoint cannot do itself: the lake, Kafka and the models catch up later.
PENDING = (
    "lake: bronze, silver, quarantine and the Feast offline sources keep the reader's records until "
    "`pipelines/erasure/main.py apply` (silver builds and training leave them out meanwhile)",
    "kafka: events.v1 holds the reader's events until its retention deletes them",
    "models: the registered models keep the reader's factors until the next training",
)


# How long the feedback consumer is told about an erasure: longer than events.v1 keeps records
# in any sane retention, and than the contract's lateness limit (older events are refused).
ERASED_MARKER_TTL_S = 35 * 24 * 3600


class InvalidReaderIdError(ValueError):
    """The reader id breaks the `events.v1` identifier rules."""

    def __init__(self, error: FieldError):
        self.error = error
        super().__init__(f"{error.field}: {error.reason}")


def check_user_id(user_id: Any) -> str:
    """`user_id` if it is a valid `events.v1` reader id (1-128 printable ASCII characters,
    no spaces); InvalidReaderIdError naming the field and the reason otherwise."""
    try:
        return _IDENTIFIER.validate_python(user_id)
    except ValidationError as exc:
        first = from_pydantic(exc).errors[0]
        raise InvalidReaderIdError(FieldError("user_id", first.reason, first.code)) from None


@dataclass(frozen=True)
class ErasureResult:
    user_hash: str  # sha256 of the id: what logs and reports name (never the raw id)
    erased_at: str
    tombstone: str  # its path in the lake
    # Redis keys removed: {"recent_reads": 0 or 1, "online_features": 0 or 1 (Redis store)}
    redis_keys_deleted: dict[str, int]
    online_store: str  # "redis" or "sqlite"
    online_rows_deleted: int  # the reader's online feature rows removed (keys or table rows)
    pending: list[str] = field(default_factory=lambda: list(PENDING))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def online_redis_key(settings: Settings, user_id: str) -> bytes:
    """The Redis key of the reader's Feast online row: Feast's serialised entity key, then the
    project name (components/online/layout.py; pinned by the tests against rows Feast itself
    materialized). Every view of the `user` entity lives in this one hash."""
    return layout.redis_key(
        USER_STATS.join_key, user_id, settings.features.project, entity_key_version(settings)
    )


def _delete_sqlite_rows(settings: Settings, store: LakeStore, user_id: str) -> int:
    """The reader's rows in the SQLite online store's tables (`<project>_<view>`, under the
    names the feature store's apply recorded: versioned views included)."""
    key = layout.entity_key(USER_STATS.join_key, user_id, entity_key_version(settings))
    project = settings.features.project
    stored = read_online_layout(store, project)
    deleted = 0
    with sqlite3.connect(online_store_path(settings)) as db:
        for view in VIEWS:
            if view.join_key != USER_STATS.join_key:
                continue
            table = layout.sqlite_table(project, stored.get(view.name, view.name))
            try:
                deleted += db.execute(f"DELETE FROM {table} WHERE entity_key = ?", (key,)).rowcount
            except sqlite3.OperationalError as exc:
                if "no such table" not in str(exc):
                    raise
    return deleted


def erase_reader(
    settings: Settings, store: LakeStore, redis: Redis, user_id: str, now: datetime
) -> ErasureResult:
    """Erase `user_id` as of `now` (an aware time): tombstone, then Redis state. Raises
    InvalidReaderIdError for an id the contract refuses; idempotent (a repeat deletes nothing)."""
    user_id = check_user_id(user_id)
    tombstone = record_erasure(store, user_id, now)
    online = settings.features.online_store
    keys: list[str | bytes] = [recent_key(settings.redis.key_prefix, user_id)]
    if online == "redis":
        keys.append(online_redis_key(settings, user_id))
    with redis.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.delete(key)
        # The marker the feedback consumer checks: a replay of the reader's old events (a
        # lagging consumer, a rewind) must not write their recent reads back.
        pipe.set(
            erased_key(settings.redis.key_prefix, tombstone.user_hash),
            str(tombstone.erased_at.timestamp()),
            ex=ERASED_MARKER_TTL_S,
        )
        deleted = [int(n) for n in pipe.execute()[: len(keys)]]
    counts = {"recent_reads": deleted[0]}
    if online == "redis":
        counts["online_features"] = deleted[1]
        online_rows = deleted[1]
    else:
        online_rows = _delete_sqlite_rows(settings, store, user_id)
    result = ErasureResult(
        user_hash=tombstone.user_hash,
        erased_at=tombstone.erased_at.isoformat(),
        tombstone=tombstone_path(tombstone.user_hash),
        redis_keys_deleted=counts,
        online_store=online,
        online_rows_deleted=online_rows,
    )
    log.info(
        "erased reader sha256=%s: recent reads %d, online rows %d (%s)",
        result.user_hash,
        counts["recent_reads"],
        online_rows,
        online,
    )
    return result
