"""Validate a request body of events and deliver it: accepted events to `events.v1`, rejected
ones (with every failing field and why) to `events.dlq.v1`.

The call returns only after the broker acknowledged both; if it cannot, it raises
BrokerUnavailableError and the caller must report that nothing was accepted (the client
retries; `event_id` makes the retry idempotent downstream).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

import orjson

from components.events import DeadLetter, Event, EventValidationError, FieldError
from components.events.codec import validate_event
from components.intake.guard import Client, IntakeGuard
from components.streaming import EventProducer

SOURCE = "collector"


class BodyError(ValueError):
    """The body as a whole is unusable; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, error: FieldError):
        self.status = status
        self.error = error
        super().__init__(f"{error.field}: {error.reason}")


@dataclass(frozen=True)
class EventOutcome:
    """The answer for one item of a body, by index; `id` is what the client sent as the item's
    id (echoed under ID_KEY)."""

    index: int
    status: Literal["accepted", "rejected"]
    id: str | None = None
    errors: tuple[FieldError, ...] = ()
    ID_KEY: ClassVar[str] = "event_id"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "status": self.status}
        if self.id is not None:
            out[self.ID_KEY] = self.id
        if self.errors:
            out["errors"] = [e.as_dict() for e in self.errors]
        return out


@dataclass
class IntakeResult:
    outcomes: list[EventOutcome] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return sum(1 for o in self.outcomes if o.status == "accepted")

    @property
    def rejected(self) -> int:
        return len(self.outcomes) - self.accepted

    def rejection_errors(self) -> list[FieldError]:
        return [e for o in self.outcomes for e in o.errors]


class RateLimitedError(RuntimeError):
    """The client is above its rate: nothing of the request was accepted or dead-lettered."""

    def __init__(self, retry_after_s: float, events: int):
        self.retry_after_s = retry_after_s
        self.events = events
        super().__init__(f"too many events from this client: retry in {int(retry_after_s)} s")


class EventIntake:
    def __init__(self, producer: EventProducer, *, max_batch: int = 500, guard: IntakeGuard | None = None):
        self.producer = producer
        self.max_batch = max_batch
        self.guard = guard

    def parse(self, body: bytes) -> tuple[list[Any], bool]:
        """The body's events as parsed JSON values, and whether the body was a batch (array)."""
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise BodyError(400, FieldError("$", f"malformed JSON: {exc}", "malformed_json")) from None
        if isinstance(document, dict):
            return [document], False
        if isinstance(document, list):
            if not document:
                raise BodyError(400, FieldError("$", "empty batch: send at least one event", "empty_batch"))
            if len(document) > self.max_batch:
                raise BodyError(
                    413,
                    FieldError(
                        "$",
                        f"batch of {len(document)} events exceeds the limit of {self.max_batch}",
                        "batch_too_large",
                    ),
                )
            return document, True
        kind = type(document).__name__
        raise BodyError(
            400,
            FieldError("$", f"wrong type ({kind}): send an event object or an array of them", "wrong_type"),
        )

    async def submit(
        self, body: bytes, *, now: datetime | None = None, client: Client | None = None
    ) -> IntakeResult:
        """Validate, filter (bots, impossible rates, duplicate bursts: `client` and the guard)
        and deliver. Raises BodyError (nothing delivered but the dead letter of a malformed
        body) or BrokerUnavailableError (nothing may be reported as accepted)."""
        now = now or datetime.now(UTC)
        guard = self.guard if client is not None else None  # filters apply to a known client
        clock = time.monotonic()
        try:
            items, _ = self.parse(body)
        except BodyError as error:
            self._admit(client, 1, clock)  # an unusable body counts against the client too
            if error.error.code == "malformed_json":
                # Unparseable bytes are still somebody's events: keep them for inspection.
                letter = DeadLetter.from_rejection(
                    body, EventValidationError([error.error]), source=SOURCE, now=now
                )
                await self.producer.send_dead_letters([letter])
            raise
        self._admit(client, len(items), clock)
        result = IntakeResult()
        valid: list[Event] = []
        letters: list[DeadLetter] = []
        for index, item in enumerate(items):
            try:
                event = validate_event(item, now=now)
            except EventValidationError as exc:
                result.outcomes.append(EventOutcome(index, "rejected", _event_id_of(item), tuple(exc.errors)))
                letters.append(DeadLetter.from_rejection(orjson.dumps(item), exc, source=SOURCE, now=now))
                continue
            refusal = guard.refuse(client, event, clock) if guard is not None and client is not None else None
            if refusal is not None:
                result.outcomes.append(EventOutcome(index, "rejected", str(event.event_id), (refusal,)))
                letters.append(
                    DeadLetter.from_rejection(
                        orjson.dumps(item), EventValidationError([refusal]), source=SOURCE, now=now
                    )
                )
                continue
            valid.append(event)
            result.outcomes.append(EventOutcome(index, "accepted", str(event.event_id)))
        await asyncio.gather(self.producer.send_events(valid), self.producer.send_dead_letters(letters))
        return result

    def _admit(self, client: Client | None, events: int, clock: float) -> None:
        if self.guard is not None and client is not None:
            wait = self.guard.admit(client, events, clock)
            if wait:
                raise RateLimitedError(wait, events)


def _event_id_of(item: Any) -> str | None:
    # Echo the client's id back when it sent a usable one, so it can match the rejection.
    if isinstance(item, dict) and isinstance(item.get("event_id"), str) and len(item["event_id"]) <= 64:
        return str(item["event_id"])
    return None
