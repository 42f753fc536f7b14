"""The one timestamp parser of the platform: ISO 8601 text with a zone, kept as UTC.

The event model, the ingestor's router, the feedback consumer, the request clock of the
recommend service and the command lines all read times with it, so a timestamp one part
accepts is never refused by another (before, five hand-written parsers disagreed about
numbers, naive times and years past 9999 once moved to UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime


class TimestampError(ValueError):
    """Why a value is not a usable timestamp; `code` is the stable machine-readable kind."""

    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


def to_utc(value: datetime) -> datetime:
    """An aware datetime in UTC; a naive one (no zone) or one past the calendar in UTC is refused."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise TimestampError(
            "naive_timestamp", "timestamp must be timezone-aware (a naive timestamp has no zone)"
        )
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-23:59 lies past year 9999 in UTC
        raise TimestampError(
            "timestamp_out_of_range", "timestamp is outside the representable range in UTC"
        ) from None


def parse_timestamp(value: object) -> datetime:
    """An ISO 8601 string with a zone (`2026-11-03T08:15:00Z`, `...+01:00`) or an aware
    datetime, as an aware UTC datetime. Numbers are refused: epoch seconds and milliseconds
    cannot be told apart, and a unit mistake would silently file events decades away."""
    if isinstance(value, datetime):
        return to_utc(value)
    if not isinstance(value, str):
        kind = "null" if value is None else type(value).__name__
        raise TimestampError("wrong_type", f"wrong type ({kind}): expected an ISO 8601 string with a zone")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise TimestampError("invalid_timestamp", f"not an ISO 8601 timestamp: {value[:40]!r}") from None
    return to_utc(parsed)
