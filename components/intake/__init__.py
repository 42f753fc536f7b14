"""Event intake: turn an HTTP body of one event or a batch into per-event outcomes, hand the
valid events to Kafka and the rejected ones to the dead-letter topic, all or nothing."""

from components.intake.body import read_bounded_body
from components.intake.intake import (
    BodyError,
    EventIntake,
    EventOutcome,
    IntakeResult,
)

__all__ = ["BodyError", "EventIntake", "EventOutcome", "IntakeResult", "read_bounded_body"]
