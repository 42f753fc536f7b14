"""Names shared across packages, in one place: registry aliases, serving variants and arms,
and the Redis key formats. The bottom layer (with components.events): it imports nothing
from other packages, so anything may import it. Lake paths live in components.lake.layout."""

from components.names.aliases import (
    ALIASES,
    ARMS,
    CANARY,
    CHALLENGER,
    CHAMPION,
    EXPLORE,
    FALLBACK,
    GREEDY,
    VARIANTS,
)
from components.names.redis_keys import (
    CLICK_FIELD,
    IMPRESSION_FIELD,
    catalogue_channel,
    catalogue_withdrawn_key,
    erased_key,
    feedback_bucket_key,
    feedback_seen_key,
    publication_key,
    recent_key,
    retrain_cooldown_key,
    rollout_key,
)

__all__ = [
    "ALIASES",
    "ARMS",
    "CANARY",
    "CHALLENGER",
    "CHAMPION",
    "CLICK_FIELD",
    "EXPLORE",
    "FALLBACK",
    "GREEDY",
    "IMPRESSION_FIELD",
    "VARIANTS",
    "catalogue_channel",
    "catalogue_withdrawn_key",
    "erased_key",
    "feedback_bucket_key",
    "feedback_seen_key",
    "publication_key",
    "recent_key",
    "retrain_cooldown_key",
    "rollout_key",
]
