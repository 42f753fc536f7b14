import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.events import (
    DeadLetter,
    Event,
    EventType,
    EventValidationError,
    decode_dead_letter,
    decode_event,
    encode_dead_letter,
    encode_event,
    event_key,
)
from components.events.codec import validate_event
from components.events.strategies import NOW, event_payloads

REQUIRED = ["event_id", "type", "user_id", "article_id", "ts"]
ALL_FIELDS = set(Event.model_fields)


def rejection(payload: Any) -> EventValidationError:
    with pytest.raises(EventValidationError) as info:
        decode_event(json.dumps(payload), now=NOW)
    return info.value


def reasons(error: EventValidationError) -> dict[str, str]:
    return {e.field: e.reason for e in error.errors}


def codes(error: EventValidationError) -> dict[str, str]:
    return {e.field: e.code for e in error.errors}


@given(event_payloads())
def test_json_round_trip_keeps_every_field(payload: dict[str, Any]) -> None:
    event = decode_event(json.dumps(payload), now=NOW)
    again = decode_event(encode_event(event), now=NOW)
    assert again == event
    assert str(event.event_id) == payload["event_id"]
    assert event.ts == datetime.fromisoformat(payload["ts"])
    assert event.ts.tzinfo is UTC
    assert event_key(event) == payload["user_id"].encode()


@given(event_payloads())
def test_parsed_dict_and_raw_json_validate_alike(payload: dict[str, Any]) -> None:
    assert validate_event(payload, now=NOW) == decode_event(json.dumps(payload), now=NOW)


@given(event_payloads(), st.sampled_from(REQUIRED))
def test_missing_required_field_is_named(payload: dict[str, Any], field: str) -> None:
    del payload[field]
    error = rejection(payload)
    assert reasons(error)[field] == "missing field"
    assert codes(error)[field] == "missing"


@given(
    event_payloads(),
    st.text(min_size=1, max_size=20).filter(lambda name: name not in ALL_FIELDS),
    st.integers(),
)
def test_unknown_field_is_rejected(payload: dict[str, Any], field: str, value: int) -> None:
    payload[field] = value
    error = rejection(payload)
    assert reasons(error)[field] == "unknown field"
    assert codes(error)[field] == "unknown_field"


WRONG_TYPES = [
    ("user_id", 12345),
    ("article_id", ["a1"]),
    ("event_id", 7),
    ("ts", True),
    ("position", "3"),
    ("dwell_ms", 12.5),
    ("propensity", "0.5"),
    ("context", ["not", "a", "dict"]),
]


@given(event_payloads(), st.sampled_from(WRONG_TYPES))
def test_wrong_type_is_named(payload: dict[str, Any], wrong: tuple[str, Any]) -> None:
    field, value = wrong
    payload[field] = value
    found = codes(rejection(payload))
    assert found.get(field) == "wrong_type" or any(key.startswith(f"{field}.") for key in found), found


@given(event_payloads(), st.text(min_size=1, max_size=12).filter(lambda t: t not in set(EventType)))
def test_unknown_event_type_is_rejected(payload: dict[str, Any], kind: str) -> None:
    payload["type"] = kind
    assert "unknown value" in reasons(rejection(payload))["type"]


@given(event_payloads())
def test_naive_timestamp_is_rejected(payload: dict[str, Any]) -> None:
    payload["ts"] = datetime.fromisoformat(payload["ts"]).replace(tzinfo=None).isoformat()
    error = rejection(payload)
    assert "timezone-aware" in reasons(error)["ts"]
    assert codes(error)["ts"] == "naive_timestamp"


@given(event_payloads(), st.integers(min_value=6, max_value=10**6))
def test_future_timestamp_is_rejected(payload: dict[str, Any], minutes: int) -> None:
    payload["ts"] = (NOW + timedelta(minutes=minutes)).isoformat()
    error = rejection(payload)
    assert f"({minutes * 60} s ahead" in reasons(error)["ts"]
    assert codes(error)["ts"] == "future_timestamp"


def test_small_clock_skew_is_accepted() -> None:
    payload = {
        "event_id": "0b8f4a9e-6a53-4b8e-9a43-1d7f3a8c2e10",
        "type": "view",
        "user_id": "u1",
        "article_id": "a1",
        "ts": (NOW + timedelta(minutes=4)).isoformat(),
    }
    assert decode_event(json.dumps(payload), now=NOW).ts == NOW + timedelta(minutes=4)


def test_offset_timestamp_is_normalised_to_utc() -> None:
    payload = {
        "event_id": "0b8f4a9e-6a53-4b8e-9a43-1d7f3a8c2e10",
        "type": "click",
        "user_id": "u1",
        "article_id": "a1",
        "ts": "2026-05-01T14:00:00+02:00",
    }
    event = decode_event(json.dumps(payload), now=NOW)
    assert event.ts == datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    assert b'"ts":"2026-05-01T12:00:00Z"' in encode_event(event)


@given(event_payloads(), st.integers(min_value=1, max_value=40))
def test_truncated_json_is_malformed(payload: dict[str, Any], cut: int) -> None:
    raw = json.dumps(payload)[:-cut]
    with pytest.raises(EventValidationError) as info:
        decode_event(raw, now=NOW)
    assert info.value.fields == ["$"]
    assert info.value.errors[0].reason.startswith("malformed JSON")


@pytest.mark.parametrize("body", ["[]", "42", '"event"', "null"])
def test_non_object_json_is_rejected_as_a_whole(body: str) -> None:
    with pytest.raises(EventValidationError) as info:
        decode_event(body, now=NOW)
    assert info.value.fields == ["$"]
    assert info.value.errors[0].reason.startswith("wrong type")


@given(event_payloads(EventType.DWELL))
def test_dwell_needs_dwell_ms(payload: dict[str, Any]) -> None:
    del payload["dwell_ms"]
    assert reasons(rejection(payload)) == {"dwell_ms": "required for dwell events"}


@given(
    event_payloads(EventType.IMPRESSION),
    st.sampled_from(["request_id", "position", "model_version", "propensity"]),
)
def test_impression_needs_its_logging_fields(payload: dict[str, Any], field: str) -> None:
    del payload[field]
    assert reasons(rejection(payload))[field] == "required for impression events"


@given(event_payloads(EventType.CLICK))
def test_only_impressions_carry_propensity_and_only_dwell_carries_dwell_ms(
    payload: dict[str, Any],
) -> None:
    payload["propensity"] = 0.5
    payload["dwell_ms"] = 100
    found = reasons(rejection(payload))
    assert found["propensity"].startswith("only impression events")
    assert found["dwell_ms"].startswith("only dwell events")


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("propensity", 0, "greater than 0"),
        ("propensity", 1.5, "less than or equal to 1"),
        ("position", -1, "greater than or equal to 0"),
        ("user_id", "has space", "pattern"),
        ("user_id", "", "pattern"),
        ("ts", "1999-12-31T23:00:00Z", "before 2000-01-01"),
    ],
)
def test_out_of_range_values_say_why(field: str, value: Any, fragment: str) -> None:
    payload = {
        "event_id": "0b8f4a9e-6a53-4b8e-9a43-1d7f3a8c2e10",
        "type": "impression",
        "user_id": "u1",
        "article_id": "a1",
        "ts": "2026-05-01T12:00:00Z",
        "request_id": "r1",
        "position": 0,
        "model_version": "m1",
        "propensity": 0.2,
        field: value,
    }
    assert fragment in reasons(rejection(payload))[field]


def test_context_is_bounded() -> None:
    payload = {
        "event_id": "0b8f4a9e-6a53-4b8e-9a43-1d7f3a8c2e10",
        "type": "view",
        "user_id": "u1",
        "article_id": "a1",
        "ts": "2026-05-01T12:00:00Z",
        "context": {f"k{i}": i for i in range(17)},
    }
    assert "at most 16 keys" in reasons(rejection(payload))["context"]
    payload["context"] = {"nested": {"no": "dicts"}}
    assert "context.nested" in " ".join(reasons(rejection(payload)))


@settings(max_examples=50)
@given(st.binary(min_size=1, max_size=200), event_payloads())
def test_dead_letter_keeps_the_original_bytes(raw: bytes, payload: dict[str, Any]) -> None:
    del payload["user_id"]
    error = rejection(payload)
    letter = DeadLetter.from_rejection(
        raw, error, source="collector", topic="events.v1", partition=2, offset=41, now=NOW
    )
    back = decode_dead_letter(encode_dead_letter(letter))
    assert back == letter
    assert back.original_bytes() == raw
    assert back.field_errors() == error.errors
    assert back.payload_encoding == ("utf-8" if _is_utf8(raw) else "base64")


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
