"""A reader's most recent reads, newest first, as one Redis list per user.

Written by the feedback consumer from click events, read by the recommend service to exclude
what the reader has just read (the online feature rows lag by up to an hour; this does not).
The list is capped and expires with the user's inactivity.
"""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis as AsyncRedis

from components.names import recent_key

RECENT_TTL_S = 8 * 24 * 3600  # as long as the user_stats feature view's TTL
RECENT_MAX = 500


async def record_reads(
    client: AsyncRedis, prefix: str, user_id: str, article_ids: Sequence[str], *, max_len: int = RECENT_MAX
) -> None:
    """Prepend `article_ids` (oldest first) to the user's list, trim it, renew its TTL; one
    round trip, atomic (MULTI), so readers never see an untrimmed list."""
    if not article_ids:
        return
    key = recent_key(prefix, user_id)
    async with client.pipeline(transaction=True) as pipe:
        pipe.lpush(key, *article_ids)
        pipe.ltrim(key, 0, max_len - 1)
        pipe.expire(key, RECENT_TTL_S)
        await pipe.execute()


async def read_recent(client: AsyncRedis, prefix: str, user_id: str, limit: int = RECENT_MAX) -> list[str]:
    raw = await client.lrange(recent_key(prefix, user_id), 0, limit - 1)  # type: ignore[misc]  # redis-py types sync and async alike
    return [r.decode() if isinstance(r, bytes) else str(r) for r in raw]
