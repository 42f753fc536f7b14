"""The `events.v1` contract: typed events, their JSON codec, validation and dead letters."""

from components.events.codec import decode_event, encode_event, event_key
from components.events.dead_letter import DeadLetter, decode_dead_letter, encode_dead_letter
from components.events.errors import EventValidationError, FieldError
from components.events.schema import (
    CONTEXT_MAX_KEYS,
    MAX_FUTURE_SKEW,
    Event,
    EventType,
)
from components.events.topics import DEAD_LETTER_TOPIC, EVENTS_TOPIC

__all__ = [
    "CONTEXT_MAX_KEYS",
    "DEAD_LETTER_TOPIC",
    "EVENTS_TOPIC",
    "MAX_FUTURE_SKEW",
    "DeadLetter",
    "Event",
    "EventType",
    "EventValidationError",
    "FieldError",
    "decode_dead_letter",
    "decode_event",
    "encode_dead_letter",
    "encode_event",
    "event_key",
]
