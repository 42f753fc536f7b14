"""The collector is a public door: per-client rate limits and bot filtering, so a script cannot
inflate an article's clicks and skew popularity, features and training.

- **Per client** (its address; behind a gateway, the first X-Forwarded-For address when the
  direct peer is a trusted proxy): a token bucket of `client_events_per_s` with a burst of
  `client_burst` events. A request that does not fit is answered 429 with Retry-After and
  nothing of it is acknowledged.
- **Per event**, for valid events of filtered clients:
  - a known crawler's user agent (`bot_user_agents`): refused, code `bot_user_agent`;
  - an impossible rate: more than `user_events_per_min` events of one reader within a minute
    (a token bucket per reader), code `impossible_rate`;
  - a duplicate burst: the same reader, article and type again within `duplicate_window_s`
    under another event id, code `duplicate_burst` (a retry of the same event id is not one:
    event ids make retries idempotent downstream).

Refused events are answered per event with the reason, counted, and dead-lettered like any
rejection: never acknowledged, never dropped silently. A client resending an event it already
sent (same id, after a 503) is not charged again for it. State is per collector replica and
bounded: at most MAX_TRACKED keys per table, each a 12-byte digest of what the client chose,
least recently seen forgotten first (about 10 MB per table), so limits hold per replica.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import re
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from components.config.settings import CollectorSettings
from components.events import Event, FieldError
from components.events.schema import READ_TYPES

MAX_TRACKED = 50_000
DUPLICATE_TYPES = frozenset(kind.value for kind in READ_TYPES)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Client:
    """Who sent a request: its address (after trusted proxies) and user agent."""

    address: str
    user_agent: str = ""


def _digest(*parts: str) -> bytes:
    """A small fixed-size key for what a client chose (ids, addresses): bounded memory."""
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=12).digest()


class _Buckets:
    """Token buckets by key, least recently used forgotten beyond `limit` keys."""

    def __init__(self, rate_per_s: float, burst: float, limit: int = MAX_TRACKED):
        self.rate, self.burst, self.limit = rate_per_s, burst, limit
        self._state: OrderedDict[bytes, tuple[float, float]] = OrderedDict()

    def take(self, key: bytes, amount: float, now: float) -> float:
        """Take `amount` tokens; 0.0 when granted, else the seconds until they would be."""
        tokens, stamp = self._state.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - stamp) * self.rate)
        granted = tokens >= amount
        if granted:
            tokens -= amount
        self._state[key] = (tokens, now)
        if len(self._state) > self.limit:
            self._state.popitem(last=False)
        return 0.0 if granted else (amount - tokens) / self.rate


def _networks(values: Iterable[str]) -> list[Network]:
    return [ipaddress.ip_network(v, strict=False) for v in values]


def _within(address: str, networks: list[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


class IntakeGuard:
    def __init__(self, settings: CollectorSettings):
        self.settings = settings
        self.trusted = _networks(settings.trusted_proxies)
        self.unfiltered = _networks(settings.unfiltered_clients)
        self.bots = re.compile(settings.bot_user_agents, re.IGNORECASE)
        self.clients = _Buckets(settings.client_events_per_s, settings.client_burst)
        per_min = settings.user_events_per_min
        self.readers = _Buckets(per_min / 60.0, per_min)
        # digest of (reader, article, type) -> (event id, when) of its last accepted event
        self._recent: OrderedDict[bytes, tuple[bytes, float]] = OrderedDict()

    def client(self, peer: str | None, forwarded_for: str | None, user_agent: str | None) -> Client:
        """The client behind a request. X-Forwarded-For is read from the right (each proxy
        appends the address it got the request from, and only what trusted proxies appended
        can be believed): the first address that is not a trusted proxy is the client. A
        client cannot choose its address by sending the header itself."""
        address = peer or "unknown"
        if forwarded_for and _within(address, self.trusted):
            for hop in reversed(forwarded_for.split(",")):
                hop = hop.strip()
                try:
                    ipaddress.ip_address(hop)
                except ValueError:
                    break  # not an address: nothing further left can be believed
                address = hop
                if not _within(hop, self.trusted):
                    break
        return Client(address, (user_agent or "")[:512])

    def filtered(self, client: Client) -> bool:
        return not _within(client.address, self.unfiltered)

    def admit(self, client: Client, events: int, now: float) -> float:
        """0.0 when the client may send `events` more events now, else seconds to wait."""
        if not self.filtered(client):
            return 0.0
        wait = self.clients.take(_digest(client.address), float(events), now)
        return math.ceil(wait) if wait else 0.0

    def refuse(self, client: Client, event: Event, now: float) -> FieldError | None:
        """Why a valid event is refused, or None to accept it."""
        if not self.filtered(client):
            return None
        if client.user_agent and self.bots.search(client.user_agent):
            return FieldError("$", "sent by a crawler's user agent, not a reader", "bot_user_agent")
        duplicates = event.type.value in DUPLICATE_TYPES and self.settings.duplicate_window_s > 0
        key = _digest(event.user_id, event.article_id, event.type.value) if duplicates else b""
        event_id = event.event_id.bytes
        seen = self._recent.get(key) if duplicates else None
        if seen is not None and seen[0] == event_id:
            return None  # the same event again (a retry after a 503): already charged
        if self.readers.take(_digest(event.user_id), 1.0, now):
            limit = self.settings.user_events_per_min
            return FieldError(
                "user_id", f"more than {limit} events of this reader within a minute", "impossible_rate"
            )
        if duplicates:
            if seen is not None and now - seen[1] < self.settings.duplicate_window_s:
                return FieldError(
                    "article_id",
                    f"the same {event.type.value} of this reader again within "
                    f"{self.settings.duplicate_window_s:g} s",
                    "duplicate_burst",
                )
            self._recent.pop(key, None)
            self._recent[key] = (event_id, now)
            if len(self._recent) > MAX_TRACKED:
                self._recent.popitem(last=False)
        return None
