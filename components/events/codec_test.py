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
        "ts": "2026-05-20T14:00:00+02:00",
    }
    event = decode_event(json.dumps(payload), now=NOW)
    assert event.ts == datetime(2026, 5, 20, 12, 0, tzinfo=UTC)
    assert b'"ts":"2026-05-20T12:00:00Z"' in encode_event(event)


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


@given(event_payloads(EventType.IMPRESSION), st.sampled_from(["request_id", "position"]))
def test_impression_needs_its_logging_fields(payload: dict[str, Any], field: str) -> None:
    del payload[field]
    assert reasons(rejection(payload))[field] == "required for impression events"


@given(event_payloads(EventType.IMPRESSION), st.booleans())
def test_an_impression_from_another_system_may_not_know_its_propensity_or_model(
    payload: dict[str, Any], absent: bool
) -> None:
    for name in ("model_version", "propensity"):
        if absent:
            payload.pop(name, None)
        else:
            payload[name] = None
    event = decode_event(json.dumps(payload), now=NOW)
    assert event.propensity is None and event.model_version is None


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
        ("user_id", "", "at least 1 character"),
        ("user_id", "u" * 129, "at most 128 characters"),
        ("session_id", "has space", "pattern"),
        ("ts", "1999-12-31T23:00:00Z", "before 2000-01-01"),
    ],
)
def test_out_of_range_values_say_why(field: str, value: Any, fragment: str) -> None:
    payload = {
        "event_id": "0b8f4a9e-6a53-4b8e-9a43-1d7f3a8c2e10",
        "type": "impression",
        "user_id": "u1",
        "article_id": "a1",
        "ts": "2026-05-20T12:00:00Z",
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
        "ts": "2026-05-20T12:00:00Z",
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


def _click(**overrides: Any) -> dict[str, Any]:
    payload = {
        "event_id": "0b8f4a9e-6a53-4b8e-9a43-1d7f3a8c2e10",
        "type": "click",
        "user_id": "u1",
        "article_id": "a1",
        "ts": (NOW - timedelta(hours=1)).isoformat(),
    }
    payload.update(overrides)
    return payload


@pytest.mark.parametrize("ts", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"])
def test_timestamp_outside_utc_range_is_a_field_error_not_a_crash(ts: str) -> None:
    # Regression: astimezone(UTC) overflowed and the collector answered 500.
    error = rejection(_click(ts=ts))
    assert codes(error)["ts"] == "timestamp_out_of_range"
    with pytest.raises(EventValidationError):
        validate_event(_click(ts=ts), now=NOW)


def test_events_older_than_the_lateness_limit_are_refused_at_the_door() -> None:
    # Regression: the collector accepted what silver quarantined (older than 30 days).
    old = _click(ts=(NOW - timedelta(days=31)).isoformat())
    error = rejection(old)
    assert codes(error)["ts"] == "stale_timestamp"
    assert "older than 30 days" in reasons(error)["ts"]
    assert decode_event(json.dumps(_click(ts=(NOW - timedelta(days=29)).isoformat())), now=NOW)
    # A backfill raises the limit explicitly.
    backfill = Event.model_validate(old, context={"now": NOW, "max_age": timedelta(days=400)})
    assert backfill.ts == NOW - timedelta(days=31)


def test_dwell_over_six_hours_is_refused_at_the_door() -> None:
    # Regression: the collector accepted dwell up to 24 h, silver quarantined above 6 h.
    six_hours = 6 * 3600 * 1000
    assert decode_event(json.dumps(_click(type="dwell", dwell_ms=six_hours)), now=NOW).dwell_ms == six_hours
    error = rejection(_click(type="dwell", dwell_ms=six_hours + 1))
    assert "less than or equal to 21600000" in reasons(error)["dwell_ms"]


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 10**30])
def test_context_integers_are_64_bit(value: int) -> None:
    # Regression: integers above 2**64 passed validation and broke JSON encoding (500).
    error = rejection(_click(context={"n": value}))
    assert "outside the 64-bit integer range" in reasons(error)["context"]
    assert decode_event(json.dumps(_click(context={"n": 2**63 - 1})), now=NOW).context == {"n": 2**63 - 1}


@pytest.mark.parametrize("text", ["-60757762937164653359164163247570944", "1e40", "9223372036854775808.0"])
def test_context_numbers_read_as_integers_are_64_bit_too(text: str) -> None:
    """Regression (found by the API fuzzer): the JSON parser hands an integer beyond 64 bits
    over as a float, which passed; the contract's schema reads any number without a fraction
    as an integer, so those are out of range. Fractions and in-range integral numbers pass."""
    raw = json.dumps(_click(context={"n": 0})).replace('"n": 0', f'"n": {text}')
    with pytest.raises(EventValidationError) as caught:
        decode_event(raw, now=NOW)
    assert "outside the 64-bit integer range" in reasons(caught.value)["context"]
    for fine in ("1.5", "2.0", "-9223372036854775808"):
        ok = decode_event(json.dumps(_click(context={"n": 0})).replace('"n": 0', f'"n": {fine}'), now=NOW)
        assert ok.context["n"] == float(fine)


def test_unknown_field_names_are_bounded_in_errors() -> None:
    # A client picks unknown field names: errors (responses, dead letters, metrics) must not
    # carry a 64 KB name back.
    error = rejection({**_click(), "x" * 65_536: 1})
    (field,) = (e.field for e in error.errors)
    assert len(field) <= 130 and field.startswith("xxx") and field.endswith("…")


def test_dead_letter_of_a_large_original_is_bounded_and_names_where_it_is() -> None:
    # Regression: a 200 KB record became a dead letter the broker refused, which stopped the
    # ingestor (and turned a collector rejection into a 503).
    from components.events.dead_letter import MAX_PAYLOAD_BYTES

    raw = b"\xff" + b"x" * (3 * MAX_PAYLOAD_BYTES)
    error = rejection({"not": "an event"})
    letter = DeadLetter.from_rejection(raw, error, source="ingestor", now=NOW, original_ref="raw/ab.bin")
    encoded = encode_dead_letter(letter)
    assert len(encoded) < 2 * MAX_PAYLOAD_BYTES
    back = decode_dead_letter(encoded)
    assert back.truncated and back.original_bytes_count == len(raw)
    assert back.original_bytes() == raw[:MAX_PAYLOAD_BYTES]
    assert back.original_ref == "raw/ab.bin"
    import hashlib

    assert back.original_sha256 == hashlib.sha256(raw).hexdigest()


def test_thousands_of_unknown_fields_make_a_bounded_rejection() -> None:
    error = rejection({**_click(), **{f"k{i}": i for i in range(10_000)}})
    assert len(error.errors) == 50
    assert error.errors[-1].code == "too_many_errors"
