"""Which model answers a reader: a stable share of users (by a hash of user_id) goes to the
canary, the rest to the champion. The same reader always lands on the same side for a given
share, on every replica and after restarts (no process-seeded `hash()`)."""

from __future__ import annotations

import hashlib

from components.names import CANARY, CHAMPION


def bucket(user_id: str, salt: str = "canary") -> float:
    """A uniform number in [0, 1) fixed by (salt, user_id)."""
    digest = hashlib.blake2b(user_id.encode(), digest_size=8, key=salt.encode()).digest()
    return int.from_bytes(digest, "big") / 2**64


def variant_for(user_id: str, canary_share: float, *, has_canary: bool) -> str:
    if has_canary and canary_share > 0.0 and bucket(user_id) < canary_share:
        return CANARY
    return CHAMPION
