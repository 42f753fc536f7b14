"""The one timestamp parser: what it accepts, and the code and reason of each refusal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from components.events.time import TimestampError, parse_timestamp, to_utc


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-03T08:15:00Z", datetime(2026, 11, 3, 8, 15, tzinfo=UTC)),
        ("2026-11-03T09:15:00+01:00", datetime(2026, 11, 3, 8, 15, tzinfo=UTC)),
        ("2026-11-03 08:15:00.250000+00:00", datetime(2026, 11, 3, 8, 15, 0, 250_000, tzinfo=UTC)),
    ],
)
def test_iso_8601_with_a_zone_is_kept_in_utc(text: str, expected: datetime) -> None:
    parsed = parse_timestamp(text)
    assert parsed == expected and parsed.tzinfo is UTC


@pytest.mark.parametrize(
    ("value", "code", "fragment"),
    [
        ("2026-11-03T08:15:00", "naive_timestamp", "timezone-aware"),
        ("yesterday", "invalid_timestamp", "not an ISO 8601 timestamp: 'yesterday'"),
        ("", "invalid_timestamp", "not an ISO 8601 timestamp"),
        (1_762_157_700, "wrong_type", "wrong type (int)"),
        (1_762_157_700.5, "wrong_type", "wrong type (float)"),
        (None, "wrong_type", "wrong type (null)"),
        ("9999-12-31T23:59:59-23:59", "timestamp_out_of_range", "outside the representable range"),
    ],
)
def test_refusals_carry_a_code_and_a_reason(value: object, code: str, fragment: str) -> None:
    with pytest.raises(TimestampError) as caught:
        parse_timestamp(value)
    assert caught.value.code == code
    assert fragment in caught.value.reason


def test_aware_datetimes_are_converted_and_naive_ones_refused() -> None:
    east = datetime(2026, 11, 3, 10, 0, tzinfo=timezone(timedelta(hours=2)))
    assert to_utc(east) == datetime(2026, 11, 3, 8, 0, tzinfo=UTC)
    assert parse_timestamp(east).tzinfo is UTC
    with pytest.raises(TimestampError, match="timezone-aware"):
        to_utc(datetime(2026, 11, 3, 10, 0))
