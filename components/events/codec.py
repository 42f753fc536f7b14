"""JSON codec of `events.v1`: compact UTF-8 JSON, absent optional fields omitted."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from components.events.errors import EventValidationError, FieldError, from_pydantic
from components.events.schema import Event

_serializer = Event.__pydantic_serializer__


def encode_event(event: Event) -> bytes:
    return _serializer.to_json(event, exclude_none=True)


def event_key(event: Event) -> bytes:
    """Kafka message key: per-user ordering and partitioning."""
    return event.user_id.encode()


def decode_event(raw: bytes | str, *, now: datetime | None = None, max_age: timedelta | None = None) -> Event:
    """Parse and validate one JSON event; raises EventValidationError naming each bad field.

    `now` is the receiver's clock for the future and lateness checks (default: the wall
    clock); `max_age` replaces the lateness limit (a backfill).
    """
    try:
        return Event.model_validate_json(raw, context={"now": now, "max_age": max_age})
    except ValidationError as exc:
        raise from_pydantic(exc) from None


def validate_event(
    data: Mapping[str, Any], *, now: datetime | None = None, max_age: timedelta | None = None
) -> Event:
    """Validate an already parsed JSON object (one element of a batch body)."""
    if not isinstance(data, Mapping):
        raise EventValidationError(
            [FieldError("$", f"wrong type ({type(data).__name__}): an event is a JSON object")]
        )
    try:
        return Event.model_validate(data, context={"now": now, "max_age": max_age})
    except ValidationError as exc:
        raise from_pydantic(exc) from None
