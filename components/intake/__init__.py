"""Event intake: turn an HTTP body of one event or a batch into per-event outcomes, hand the
valid events to Kafka and the rejected ones to the dead-letter topic, all or nothing."""

from components.intake.body import read_bounded_body
from components.intake.guard import Client, IntakeGuard
from components.intake.intake import (
    BodyError,
    EventIntake,
    EventOutcome,
    IntakeResult,
    RateLimitedError,
)

__all__ = [
    "BodyError",
    "Client",
    "EventIntake",
    "EventOutcome",
    "IntakeGuard",
    "IntakeResult",
    "RateLimitedError",
    "read_bounded_body",
]
