"""schemathesis hooks of tests/fuzz_api_test.py (loaded by name through SCHEMATHESIS_HOOKS).

`date-time` values are drawn around the receiver's clock, within the contract's lateness
window and with any zone offset, so schema-valid events are the events a live page sends (a
random date in the year 9000 is schema-valid but no event, and is refused by design)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import schemathesis
from hypothesis import strategies as st

from components.events.schema import MAX_EVENT_AGE

NOW = datetime.now(UTC)


def _stamp(args: tuple[int, int]) -> str:
    seconds_ago, offset_minutes = args
    zone = timezone(timedelta(minutes=offset_minutes))
    return (NOW - timedelta(seconds=seconds_ago)).astimezone(zone).isoformat()


schemathesis.openapi.format(
    "date-time",
    st.tuples(
        st.integers(min_value=0, max_value=int(MAX_EVENT_AGE.total_seconds()) - 3_600),
        st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59),
    ).map(_stamp),
)
