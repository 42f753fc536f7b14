"""Every Redis key reco writes, built from the deployment's key prefix
(`RECO_REDIS__KEY_PREFIX`, e.g. "reco:"). These formats are a storage contract: a changed
format reads nothing of what the running system wrote (counts, recent reads, the rollout
split, the retrain cooldown), so `names_test.py` pins each one.

    {prefix}rollout               hash    canary_version, canary_share, updated_at
    {prefix}serving:publication   string  what serving serves: alias -> version, digest, kind
                                          (JSON, components.registry.publication)
    {prefix}recent:{user_id}      list    recent reads, newest first
    {prefix}fb:{hour}             hash    i:{article} -> impressions, c:{article} -> clicks
                                          (hour = event time, hours since the epoch)
    {prefix}fb:seen:{event_id}    string  the event was applied (expires)
    {prefix}retrain:cooldown      string  a retrain started (expires with the cooldown)
    {prefix}catalogue:withdrawn   zset    article ids taken down or unpublished lately -> when
    {prefix}erased:{sha256}       string  a reader was erased at (epoch seconds); the feedback
                                          consumer records no read of theirs from before it
    {prefix}catalogue:changes     channel pub/sub: {"article_id", "withdrawn"} per change

The feedback Lua script (`components/feedback/counts.py`) builds no key itself: it gets these
keys as KEYS and the count field (IMPRESSION_FIELD / CLICK_FIELD + article id) as an ARGV.
Feast's online rows are keyed by Feast itself (serialised entity key + project name), not here.
"""

from __future__ import annotations

from typing import Final

# Field-name prefixes inside a `fb:{hour}` hash.
IMPRESSION_FIELD: Final = "i:"
CLICK_FIELD: Final = "c:"


def rollout_key(prefix: str) -> str:
    """The rollout split every recommend replica reads (components.registry.rollout)."""
    return f"{prefix}rollout"


def publication_key(prefix: str) -> str:
    """The models every recommend replica serves (components.registry.publication)."""
    return f"{prefix}serving:publication"


def recent_key(prefix: str, user_id: str) -> str:
    """A reader's recent reads (components.feedback.recent)."""
    return f"{prefix}recent:{user_id}"


def feedback_bucket_key(prefix: str, hour: int) -> str:
    """Impressions and clicks per article in one event-time hour (components.feedback.counts)."""
    return f"{prefix}fb:{hour}"


def feedback_seen_key(prefix: str, event_id: str) -> str:
    """The marker that an event was already counted (idempotent replays)."""
    return f"{prefix}fb:seen:{event_id}"


def retrain_cooldown_key(prefix: str) -> str:
    """Held while a drift-triggered retrain is cooling down (components.monitoring.actions)."""
    return f"{prefix}retrain:cooldown"


def catalogue_withdrawn_key(prefix: str) -> str:
    """Articles withdrawn lately (taken down, unpublished), scored by when: what a recommend
    replica that (re)connects loads before the next catalogue snapshot covers them."""
    return f"{prefix}catalogue:withdrawn"


def catalogue_channel(prefix: str) -> str:
    """The pub/sub channel the catalogue consumer pushes withdrawals and returns on
    (components.lake.catalogue_ingest -> components.serving)."""
    return f"{prefix}catalogue:changes"


def erased_key(prefix: str, user_hash: str) -> str:
    """The marker of an erased reader, by the sha256 of their id (components.erasure): the
    feedback consumer checks it before recording a read, so a replay cannot bring back the
    recent reads the erasure deleted."""
    return f"{prefix}erased:{user_hash}"
