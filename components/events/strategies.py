"""Hypothesis strategies for `events.v1`, shared by the tests of every component that speaks it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from components.events.schema import (
    CONTEXT_INT_MAX,
    CONTEXT_INT_MIN,
    CONTEXT_MAX_KEYS,
    MAX_DWELL_MS,
    MAX_EVENT_AGE,
    MAX_POSITION,
    EventType,
)

# A fixed receiver clock keeps generated timestamps valid however long a test runs.
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

identifiers = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40)
# Within the lateness limit of the receiver's clock (older events are refused).
timestamps = st.datetimes(
    min_value=(NOW - MAX_EVENT_AGE + timedelta(minutes=1)).replace(tzinfo=None),
    max_value=NOW.replace(tzinfo=None),
    timezones=st.just(UTC),
)
context_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=CONTEXT_INT_MIN, max_value=CONTEXT_INT_MAX),
    # A number without a fraction is an integer to JSON Schema: within 64 bits, as integers are.
    st.floats(allow_nan=False, allow_infinity=False).filter(
        lambda x: not x.is_integer() or CONTEXT_INT_MIN <= x <= CONTEXT_INT_MAX
    ),
    st.text(max_size=40),
)
contexts = st.dictionaries(st.text(min_size=1, max_size=20), context_values, max_size=CONTEXT_MAX_KEYS)


@st.composite
def event_payloads(draw: st.DrawFn, event_type: EventType | None = None) -> dict[str, Any]:
    """A valid event as the JSON-ready dict a client would send."""
    kind = event_type or draw(st.sampled_from(list(EventType)))
    payload: dict[str, Any] = {
        "event_id": str(draw(st.uuids())),
        "type": kind.value,
        "user_id": draw(identifiers),
        "article_id": draw(identifiers),
        "ts": draw(timestamps).isoformat(),
    }
    if draw(st.booleans()):
        payload["context"] = draw(contexts)
    if draw(st.booleans()):
        payload["session_id"] = draw(identifiers)
    if kind is EventType.DWELL:
        payload["dwell_ms"] = draw(st.integers(min_value=0, max_value=MAX_DWELL_MS))
    if kind is EventType.IMPRESSION:
        payload["request_id"] = draw(identifiers)
        payload["position"] = draw(st.integers(min_value=0, max_value=MAX_POSITION - 1))
        payload["model_version"] = draw(identifiers)
        payload["propensity"] = draw(
            st.floats(min_value=1e-6, max_value=1.0, allow_nan=False, exclude_min=False)
        )
        if draw(st.booleans()):
            payload["source"] = draw(
                st.sampled_from(["content", "sections", "trending", "popular", "explore"])
            )
    elif draw(st.booleans()):
        payload["request_id"] = draw(identifiers)
        payload["position"] = draw(st.integers(min_value=0, max_value=MAX_POSITION - 1))
    return payload


def shifted(ts: datetime, **delta: float) -> str:
    return (ts + timedelta(**delta)).isoformat()
