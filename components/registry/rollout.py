"""The rollout state the recommend service reads: which version is the canary, and for which
share of users. Kept in Redis (one hash) so every service replica sees the same split."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from components.config.settings import RedisSettings
from components.names import rollout_key


@dataclass(frozen=True)
class Rollout:
    canary_version: str | None
    canary_share: float
    updated_at: str


def _key(settings: RedisSettings) -> str:
    return rollout_key(settings.key_prefix)


def write_rollout(settings: RedisSettings, canary_version: str | None, share: float) -> Rollout:
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"canary share must be within [0, 1], got {share}")
    state = Rollout(canary_version, share if canary_version else 0.0, datetime.now(UTC).isoformat())
    with Redis.from_url(settings.url, socket_connect_timeout=5) as client:
        client.hset(
            _key(settings),
            mapping={
                "canary_version": state.canary_version or "",
                "canary_share": str(state.canary_share),
                "updated_at": state.updated_at,
            },
        )
    return state


def read_rollout(settings: RedisSettings) -> Rollout:
    with Redis.from_url(settings.url, socket_connect_timeout=5) as client:
        return parse_rollout(client.hgetall(_key(settings)))


async def read_rollout_async(client: AsyncRedis, settings: RedisSettings) -> Rollout:
    """The same, on the caller's asyncio client (the recommend service polls it)."""
    raw = await client.hgetall(_key(settings))  # type: ignore[misc]  # redis-py types sync and async alike
    return parse_rollout(raw)


def parse_rollout(hash_fields: dict[bytes, bytes]) -> Rollout:
    raw = {k.decode(): v.decode() for k, v in hash_fields.items()}
    return Rollout(
        canary_version=raw.get("canary_version") or None,
        canary_share=float(raw.get("canary_share") or 0.0),
        updated_at=raw.get("updated_at", ""),
    )
