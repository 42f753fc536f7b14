"""Impression events from the recommend service to Kafka, off the request path.

A response appends its impressions (one `events.v1` impression per served item) to a bounded
in-memory buffer and returns; a background task sends the buffer in batches. While Kafka is
down the buffer holds what it can and later impressions are dropped and counted (the response
never waits for the broker); when the broker is back the backlog drains first, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import time
from collections import deque
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from components.events import Event, EventType
from components.events.schema import IMPRESSION_REQUIRED, IMPRESSION_UNKNOWABLE
from components.streaming import BrokerUnavailableError, EventProducer

log = logging.getLogger("reco.serving.impressions")

# The members the encoder writes: each impression's own, then those a response shares. Checked
# against the contract when the module loads (a renamed or new required field fails here, not
# in silver); the tests parse the bytes back with the model and the exported JSON Schema.
OWN_MEMBERS = ("event_id", "article_id", "position", "propensity", "source")
SHARED_MEMBERS = ("type", "user_id", "ts", "request_id", "model_version", "context")


def _check_members() -> None:
    written = set(OWN_MEMBERS + SHARED_MEMBERS)
    unknown = written - set(Event.model_fields)
    required = {name for name, info in Event.model_fields.items() if info.is_required()}
    # reco's own impressions always carry what a foreign system's may lack (the model version,
    # the propensity): off-policy evaluation trusts only these.
    missing = (required | set(IMPRESSION_REQUIRED) | set(IMPRESSION_UNKNOWABLE)) - written
    if unknown or missing:
        raise RuntimeError(
            f"impression encoder out of step with events.v1: unknown {unknown}, missing {missing}"
        )


_check_members()
_OWN = tuple(name.encode() for name in OWN_MEMBERS)
# An event's own members, then the shared tail: event_id, article_id (JSON), position,
# propensity (JSON), source (JSON), tail.
_OWN_FORMAT = b'{"%s":"%%s","%s":%%s,"%s":%%d,"%s":%%s,"%s":%%s%%s' % _OWN

# Records per send. Building a send costs ~5 us a record on the event loop: 1,000 keep each
# stall near 5 ms (10,000 held requests for ~50 ms, the service's p99 at 500 req/s).
MAX_SEND = 1_000


def impression_records(
    *,
    user_id: str,
    article_ids: Sequence[str],
    request_id: str,
    model_version: str,
    propensities: Sequence[float],
    sources: Sequence[str],
    context: Mapping[str, Any],
    ts: datetime | None = None,
    item_context: Mapping[int, Mapping[str, Any]] | None = None,
) -> list[tuple[bytes, bytes]]:
    """(key, value) Kafka records of one response's impressions, positions from 0.

    The fields all impressions of a response share are serialised once and each event only
    adds its own (event_id, article_id, position, propensity, source: what proposed the
    item, the response's `reason`): ten `events.v1` documents cost
    a few microseconds instead of ten dict-and-dump rounds. The tests parse them back with the
    event model."""
    key = user_id.encode()
    members = dict(
        zip(
            SHARED_MEMBERS,
            (
                EventType.IMPRESSION.value,
                user_id,
                (ts or datetime.now(UTC)).isoformat(),
                request_id,
                model_version,
                dict(context),
            ),
            strict=True,
        )
    )

    def tail_of(members: Mapping[str, Any]) -> bytes:
        return b"," + orjson.dumps(members)[1:]  # the shared members, after each event's own

    shared = tail_of(members)
    # Positions with context of their own (exploration's slots) get their own tail.
    tails = {
        position: tail_of({**members, "context": {**context, **extra}})
        for position, extra in (item_context or {}).items()
    }
    own = _OWN_FORMAT
    dumps = orjson.dumps
    return [
        (
            key,
            own
            % (
                event_id.encode(),
                dumps(article),
                position,
                b"1.0" if propensity == 1.0 else dumps(float(propensity)),
                dumps(source),
                tails.get(position, shared),
            ),
        )
        for position, (article, propensity, source, event_id) in enumerate(
            zip(article_ids, propensities, sources, uuid4_strings(len(article_ids)), strict=True)
        )
    ]


# The RFC 4122 variant keeps the top two bits 10: the first hex digit of the 4th group is 8-b.
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}
_HEX2 = [f"{i:02x}" for i in range(256)]


def uuid4_strings(n: int) -> list[str]:
    """`n` distinct version-4 UUIDs for one response's impressions, from one urandom call: the
    first 108 random bits are shared and the last 16 count up from a random start, so ids of
    different responses collide with probability ~2^-106. `uuid.uuid4()` costs ~6 us each, a
    tenth of a request's budget for ten impressions."""
    if n > 1 << 16:
        raise ValueError(f"at most {1 << 16} ids per call (got {n})")
    h = os.urandom(16).hex()
    head = f"{h[0:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:28]}"
    start = int(h[28:32], 16)
    hex2 = _HEX2
    return [head + hex2[(x >> 8) & 0xFF] + hex2[x & 0xFF] for x in range(start, start + n)]


class ImpressionLog:
    def __init__(self, producer: EventProducer, topic: str, *, capacity: int, flush_s: float):
        self.producer, self.topic = producer, topic
        self.capacity, self.flush_s = capacity, flush_s
        self._pending: deque[tuple[bytes, bytes]] = deque()
        self.sent = 0
        self.dropped = 0
        self.failed_sends = 0
        # False from a failed send until the next successful one (the service reports it).
        self.healthy = True
        self._wake = asyncio.Event()
        self._stopping = False

    @property
    def pending(self) -> int:
        return len(self._pending)

    def add(self, records: Sequence[tuple[bytes, bytes]]) -> bool:
        """Queue one response's impressions; all or none (a partial list would skew
        positions). Returns False, and counts them dropped, when the buffer is full."""
        if len(self._pending) + len(records) > self.capacity:
            self.dropped += len(records)
            return False
        self._pending.extend(records)
        if self.healthy and len(self._pending) >= MAX_SEND:
            self._wake.set()  # a full batch: send now (while Kafka is down, the backoff rules)
        return True

    async def flush(self) -> int:
        """Send what is pending now; returns how many were sent. On a broker failure the
        records go back to the front of the buffer and BrokerUnavailableError is raised."""
        total = 0
        while self._pending:
            batch = list(itertools.islice(self._pending, MAX_SEND))
            # Taken out before awaiting: responses keep appending at the other end meanwhile.
            for _ in range(len(batch)):
                self._pending.popleft()
            try:
                await self.producer.send_batched(self.topic, batch)
            except BaseException as exc:
                # Back in front, also when cancelled mid-send (a resend may duplicate a few:
                # the lake deduplicates by event_id; losing them would be worse).
                self._pending.extendleft(reversed(batch))
                if isinstance(exc, BrokerUnavailableError):
                    self.failed_sends += 1
                    self.healthy = False
                raise
            self.sent += len(batch)
            total += len(batch)
            self.healthy = True
        return total

    async def run(self) -> None:
        """Flush every `flush_s` (sooner when a batch is full), backing off while Kafka is down."""
        backoff = self.flush_s
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=backoff)
            self._wake.clear()
            if self._stopping:
                return
            try:
                await self.flush()
                if backoff != self.flush_s:
                    log.info("impressions reach Kafka again")
                backoff = self.flush_s
            except BrokerUnavailableError as exc:
                if backoff == self.flush_s:  # the first failure of an outage: say it once
                    log.warning("impressions not sent (%d pending), retrying: %s", len(self._pending), exc)
                backoff = min(max(backoff * 2, 0.5), 5.0)
            except Exception:  # never let the sender die: the buffer would only fill up
                log.exception("impression sender failed; retrying")
                backoff = min(max(backoff * 2, 0.5), 5.0)

    def stop(self) -> None:
        """Ask `run` to return once its send in flight (if any) is acknowledged: cancelling it
        mid-send would put the batch back and `close` would send it twice."""
        self._stopping = True
        self._wake.set()

    async def close(self, timeout_s: float = 5.0) -> None:
        """Last flush at shutdown; what cannot be sent in time is counted dropped."""
        deadline = time.monotonic() + timeout_s
        while self._pending and time.monotonic() < deadline:
            try:
                await asyncio.wait_for(self.flush(), timeout=max(deadline - time.monotonic(), 0.1))
            except (BrokerUnavailableError, TimeoutError):
                await asyncio.sleep(0.2)
        if self._pending:
            log.warning("dropping %d impressions at shutdown: Kafka unavailable", len(self._pending))
            self.dropped += len(self._pending)
            self._pending.clear()
