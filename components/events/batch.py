"""Validate many raw events at once and keep a tally of what was rejected and why."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from components.events.codec import decode_event
from components.events.errors import EventValidationError
from components.events.schema import Event


@dataclass
class ValidationReport:
    valid_count: int = 0
    # Filled only when asked for: a week of events as objects is a lot of memory.
    valid: list[Event] = field(default_factory=list)
    rejected: list[tuple[bytes, EventValidationError]] = field(default_factory=list)
    # "field: reason" -> count, for summaries and metrics
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return self.valid_count + len(self.rejected)


def validate_raw(
    lines: Iterable[bytes], *, now: datetime | None = None, keep_valid: bool = False
) -> ValidationReport:
    report = ValidationReport()
    for raw in lines:
        try:
            event = decode_event(raw, now=now)
        except EventValidationError as exc:
            report.rejected.append((raw, exc))
            report.reasons.update(f"{e.field}: {e.reason}" for e in exc.errors)
            continue
        report.valid_count += 1
        if keep_valid:
            report.valid.append(event)
    return report
