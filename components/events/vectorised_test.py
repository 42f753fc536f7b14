"""The column-wise contract decides every row as the pydantic model does (hypothesis).

Generated documents: canonical encodings of valid events (the fast path's case), the same
documents broken one field at a time (a wrong type, a value past a bound, a field missing or
unknown, a time at the edges of the clock rules) and written in the model's field order (so
they reach the fast path's checks), and other spellings (whitespace, another key order, an
upper-case UUID, `+00:00`). For each, the batch verdict must equal `decode_event`'s, and a
valid row's columns and canonical bytes must be `event_row`'s and `encode_event`'s. The
receiver's clock is fixed (strategies.NOW), never today's.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic_core import to_json  # pants: no-infer-dep (ships with pydantic)

from components.events import Event, EventValidationError, decode_event, encode_event
from components.events.codec import validate_event
from components.events.columns import event_row
from components.events.schema import MAX_EVENT_AGE, MAX_FUTURE_SKEW, OLDEST_TS
from components.events.strategies import NOW, event_payloads
from components.events.vectorised import (
    FAST_PATH_FIELDS,
    FAST_PATH_OFF,
    assemble,
    max_age_for,
    validate_batch,
    validate_tokens,
)

FIELDS = list(Event.model_fields)
MAX_AGES = [max_age_for(MAX_EVENT_AGE.days), max_age_for(90), timedelta(days=3)]

json_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(min_value=0, max_value=2, allow_nan=False),
    st.text(max_size=140),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=140),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=126, max_size=130),
    st.sampled_from(["", "view", "impression", "dwell", "click", "2026-05-31T00:00:00Z", "0.5", "3"]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(
        st.text(max_size=70), st.one_of(st.none(), st.integers(), st.text(max_size=300)), max_size=17
    ),
)


def model_ordered(payload: dict[str, Any]) -> bytes:
    """Compact JSON with the model's fields in its order, unknown ones last, numbers as Python
    writes them, text as UTF-8."""
    ordered = {name: payload[name] for name in FIELDS if name in payload}
    ordered.update((k, v) for k, v in payload.items() if k not in ordered)
    return json.dumps(ordered, separators=(",", ":"), ensure_ascii=False).encode()


def canonical_time(value: Any) -> Any:
    try:
        return encode_time(datetime.fromisoformat(value))
    except (TypeError, ValueError, OverflowError):
        return value


def encode_time(stamp: datetime) -> str:
    stamp = stamp.astimezone(UTC)
    return (
        stamp.strftime("%Y-%m-%dT%H:%M:%S") + (f".{stamp.microsecond:06d}" if stamp.microsecond else "") + "Z"
    )


def rendered(payload: dict[str, Any]) -> bytes:
    """The payload as the model would write it, whatever is wrong with it: the model's field
    order (unknown fields last), its time, number and string spellings (pydantic_core), nulls
    left out unless asked for with `keep-null`. Broken documents reach the fast path's checks."""
    keep_null = bool(payload.pop("keep-null", False))
    ordered = {name: payload[name] for name in FIELDS if name in payload}
    ordered.update((k, v) for k, v in payload.items() if k not in ordered)
    parts = []
    for name, value in ordered.items():
        if value is None and not keep_null:
            continue
        if name == "ts":
            value = canonical_time(value)
        try:
            parts.append(f"{to_json(name).decode()}:{to_json(value).decode()}")
        except Exception:  # an integer past 64 bits: Python's spelling
            parts.append(f"{json.dumps(name)}:{json.dumps(value)}")
    return ("{" + ",".join(parts) + "}").encode()


def canonical(payload: dict[str, Any], now: datetime, max_age: timedelta) -> bytes:
    try:
        return encode_event(validate_event(payload, now=now, max_age=max_age))
    except EventValidationError:
        return rendered(payload)


@st.composite
def edge_times(draw: st.DrawFn, now: datetime, max_age: timedelta) -> str:
    base = draw(
        st.sampled_from(
            [now + MAX_FUTURE_SKEW, now - max_age, OLDEST_TS, now, datetime(2026, 2, 28, tzinfo=UTC)]
        )
    )
    shift = draw(st.sampled_from([-1, 0, 1, 1_000_000, -1_000_000]))
    stamp = base + timedelta(microseconds=shift)
    text = stamp.isoformat().replace("+00:00", draw(st.sampled_from(["Z", "+00:00"])))
    return draw(st.sampled_from([text, text.replace("28T", "29T"), text.replace("T", " ")]))


@st.composite
def documents(draw: st.DrawFn, now: datetime, max_age: timedelta) -> bytes:
    payload = draw(event_payloads())
    payload.setdefault("context", {})  # the model writes it always: documents without it are not canonical
    how = draw(st.sampled_from(["canonical", "break", "drop", "extra", "time", "number", "spelling", "swap"]))
    if how == "canonical":
        return canonical(payload, now, max_age)
    if how == "break":
        payload[draw(st.sampled_from(FIELDS))] = draw(json_values)
    elif how == "drop":
        payload.pop(draw(st.sampled_from(FIELDS)), None)
        payload["keep-null"] = draw(st.booleans())
    elif how == "swap":  # a field of another event type, or one an impression needs, taken away
        name = draw(st.sampled_from(["dwell_ms", "propensity", "request_id", "position", "model_version"]))
        if name in payload:
            del payload[name]
        else:
            payload[name] = draw(st.sampled_from([0, 1, 5, 0.5, "r-1"]))
        payload["type"] = draw(st.sampled_from(["view", "click", "dwell", "impression", payload["type"]]))
    elif how == "extra":
        payload[draw(st.text(min_size=1, max_size=10))] = draw(json_values)
    elif how == "time":
        payload["ts"] = draw(edge_times(now, max_age))
    elif how == "number":
        name = draw(st.sampled_from(["propensity", "position", "dwell_ms"]))
        payload[name] = draw(
            st.one_of(
                st.floats(min_value=0, max_value=1.5, allow_nan=False),
                st.floats(min_value=1e-9, max_value=1e-3),
                st.integers(min_value=-2, max_value=2 * 10**7),
                st.sampled_from([1.0, 0.5, 0.0001, 0.00001, 1e-6, 0.1 + 0.2, 3.0, 21_600_000.0]),
            )
        )
        return rendered(payload)
    else:
        document = canonical(payload, now, max_age)
        spelling = draw(st.sampled_from(["spaces", "upper", "offset", "order"]))
        if spelling == "spaces":
            return json.dumps(json.loads(document)).encode()
        if spelling == "upper":
            return document.replace(payload["event_id"].encode(), payload["event_id"].upper().encode())
        if spelling == "offset":
            return document.replace(b'Z"', b'+00:00"', 1)
        return orjson.dumps(dict(reversed(list(json.loads(document).items()))))
    if draw(st.booleans()):
        return model_ordered(payload)
    return rendered(payload)


def model_verdict(document: bytes, now: datetime, max_age: timedelta) -> Event | EventValidationError:
    try:
        return decode_event(document, now=now, max_age=max_age)
    except EventValidationError as exc:
        return exc


def assert_same_verdicts(docs: list[bytes], nows: list[datetime], max_age: timedelta) -> int:
    verdict = validate_batch(
        pa.array(docs, pa.binary()), now=pa.array(nows, pa.timestamp("us", tz="UTC")), max_age=max_age
    )
    rows = verdict.rows.tolist()
    events = verdict.events.to_pylist()
    for i, (document, now) in enumerate(zip(docs, nows, strict=True)):
        expected = model_verdict(document, now, max_age)
        if isinstance(expected, EventValidationError):
            assert not verdict.valid[i], document
            assert str(verdict.errors[i]) == str(expected)
            continue
        assert verdict.valid[i], (document, verdict.errors.get(i))
        at = rows.index(i)
        assert events[at] == event_row(expected), document
        assert verdict.canonical[at].as_py() == encode_event(expected)
    return verdict.fast


FAST_SEEN: list[int] = []


def test_every_field_of_the_contract_has_a_fast_check() -> None:
    # A field kind the fast path cannot check turns it off for every row: say so here.
    assert FAST_PATH_OFF is None
    assert [f.column.name for f in FAST_PATH_FIELDS] == FIELDS


@settings(max_examples=400)
@given(st.data())
def test_batch_verdicts_are_the_models(data: st.DataObject) -> None:
    max_age = data.draw(st.sampled_from(MAX_AGES))
    clocks = [NOW, NOW + timedelta(days=2), NOW - timedelta(hours=1, microseconds=123_457)]
    nows = data.draw(st.lists(st.sampled_from(clocks), min_size=1, max_size=12))
    docs = [data.draw(documents(now, max_age)) for now in nows]
    FAST_SEEN.append(assert_same_verdicts(docs, nows, max_age))


def test_the_generated_documents_reached_the_fast_path() -> None:
    # Runs after the property above (file order): most of its documents must have been
    # decided column-wise, or it proved little.
    if FAST_SEEN:
        assert sum(FAST_SEEN) > 200, FAST_SEEN


@given(st.lists(event_payloads(), min_size=1, max_size=20))
def test_canonical_events_take_the_fast_path(payloads: list[dict[str, Any]]) -> None:
    max_age = max_age_for(MAX_EVENT_AGE.days)
    plain = [{k: v for k, v in p.items() if k not in ("propensity", "context")} for p in payloads]
    docs = []
    for payload in plain:
        payload.pop("model_version", None)
        if payload["type"] == "impression":
            payload["model_version"] = "m-1"
        docs.append(encode_event(validate_event(payload, now=NOW, max_age=max_age)))
    assert assert_same_verdicts(docs, [NOW] * len(docs), max_age) == len(docs)


@pytest.mark.parametrize(
    "ts",
    [
        "2026-02-29T10:00:00Z",  # not a leap year
        "2026-04-31T10:00:00Z",
        "2026-05-31T23:59:60Z",
        "2026-05-31T24:00:00Z",
        "2026-05-31T10:00:00.000000Z",  # the model writes no zero fraction: not canonical
        "1999-12-31T23:59:59.999999Z",
        "0000-01-01T00:00:00Z",
    ],
)
def test_impossible_and_uncanonical_times_go_to_the_model(ts: str) -> None:
    payload: dict[str, Any] = {
        "event_id": "00000000-0000-0000-0000-000000000001",
        "type": "view",
        "user_id": "u",
    }
    payload.update(article_id="a", ts=ts, context={})
    document = orjson.dumps(payload)
    verdict = validate_batch([document], now=NOW, max_age=max_age_for(10_000))
    assert verdict.fast == 0
    assert verdict.valid[0] == (not isinstance(model_verdict(document, NOW, max_age_for(10_000)), Exception))


@settings(max_examples=200)
@given(
    st.lists(
        st.tuples(event_payloads(), st.booleans(), st.sampled_from([None, *FIELDS])), min_size=1, max_size=10
    )
)
def test_tokens_assemble_into_the_documents_the_model_decides(
    rows: list[tuple[dict[str, Any], bool, str | None]],
) -> None:
    """A bulk import hands one JSON token per field: the assembled document is the payload in
    the model's order, and its verdict is the model's."""
    max_age = max_age_for(MAX_EVENT_AGE.days)
    tokens: dict[str, list[str]] = {name: [] for name in FIELDS}
    expected_docs = []
    for payload, as_string, dropped in rows:
        if as_string and "position" in payload:
            payload["position"] = str(payload["position"])  # a CSV cell: the model refuses it
        payload["ts"] = canonical_time(payload["ts"])
        payload.pop(dropped or "", None)
        payload.setdefault("context", {})  # absent, the model's default: assembled as it writes it
        for name in FIELDS:
            value = payload.get(name)
            tokens[name].append(
                json.dumps(value, separators=(",", ":"), ensure_ascii=False) if name in payload else ""
            )
        expected_docs.append(model_ordered(payload))
    arrays = {name: pa.array(values, pa.string()) for name, values in tokens.items()}
    documents, verdict = validate_tokens(arrays, now=NOW, max_age=max_age)
    assert [d.encode() for d in documents.to_pylist()] == expected_docs
    for i, document in enumerate(expected_docs):
        expected = model_verdict(document, NOW, max_age)
        assert verdict.valid[i] == (not isinstance(expected, EventValidationError))
        if not isinstance(expected, EventValidationError):
            at = verdict.rows.tolist().index(i)
            assert verdict.events.to_pylist()[at] == event_row(expected)
            assert verdict.canonical[at].as_py() == encode_event(expected)


def test_assembly_leaves_absent_fields_out() -> None:
    tokens = {"event_id": pa.array(["", '"x"']), "type": pa.array(['"view"', None])}
    assert assemble(tokens).to_pylist() == ['{"type":"view"}', '{"event_id":"x"}']


def base_event(kind: str) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "event_id": "00000000-0000-4000-8000-000000000001",
        "type": kind,
        "user_id": "u-1",
        "article_id": "a-1",
        "ts": encode_time(NOW - timedelta(hours=1)),
        "context": {},
    }
    if kind == "dwell":
        payload["dwell_ms"] = 1_000
    if kind == "impression":
        payload.update(request_id="r-1", position=3, model_version="m-1", propensity=0.5)
    return payload


def boundary_documents() -> list[bytes]:
    """Every bound of the model's columns at, inside and past its edge, every cross-field rule
    broken, every time rule at its edge (to the microsecond), in canonical spelling."""
    docs = []
    for column in (f.column for f in FAST_PATH_FIELDS):
        for kind in ("view", "dwell", "impression"):
            values: list[Any] = []
            if column.min_length is not None or column.max_length is not None:
                for n in {column.min_length or 0, column.max_length or 0}:
                    values += ["x" * max(n - 1, 0), "x" * n, "x" * (n + 1), '"' * n, "\\\\" * (n // 2 + 1)]
            for bound in (column.minimum, column.maximum):
                if bound is not None:
                    values += [bound - 1, bound, bound + 1, float(bound), bound - 1e-9, bound + 1e-9]
            for value in values:
                payload = base_event(kind)
                payload[column.name] = value
                docs.append(rendered(payload))
    for kind in ("view", "click", "dwell", "impression"):
        for name in ("dwell_ms", "request_id", "position", "model_version", "propensity", "session_id"):
            payload = base_event(kind)
            if name in payload:
                del payload[name]
            else:
                payload[name] = 1 if name in ("dwell_ms", "position", "propensity") else "x"
            docs.append(rendered(payload))
    for edge in (NOW + MAX_FUTURE_SKEW, NOW - max_age_for(MAX_EVENT_AGE.days), OLDEST_TS):
        for shift in (-1, 0, 1):
            payload = base_event("view")
            payload["ts"] = encode_time(edge + timedelta(microseconds=shift))
            docs.append(rendered(payload))
    return docs


def test_every_bound_and_rule_at_its_edge_decides_as_the_model() -> None:
    docs = boundary_documents()
    max_age = max_age_for(MAX_EVENT_AGE.days)
    fast = assert_same_verdicts(docs, [NOW] * len(docs), max_age)
    # And no valid one in the model's spelling went to the model: the edges are inside.
    spelled = [d for d in docs if (e := model_verdict(d, NOW, max_age)) and not isinstance(e, Exception)]
    assert fast == len(
        [
            d
            for d in spelled
            if encode_event(decode_event(d, now=NOW, max_age=max_age)) == d and b"e-" not in d
        ]
    )


@pytest.mark.parametrize(
    "token",
    [
        "0.000001",
        "0.00001",
        "0.0001",
        "1e-6",
        "0.10",
        "1.0",
        "1",
        "1.00",
        "0.30000000000000004",
        "0.3",
        "5e-1",
        "0.5",
        "0.123456789012345",
        "0.1234567890123456",
        "-0.0",
        "0",
        "0.0",
    ],
)
def test_numbers_in_another_spelling_go_to_the_model(token: str) -> None:
    probe = rendered(base_event("view"))  # the context's probe row: valid
    document = rendered(base_event("impression")).replace(
        b'"propensity":0.5', f'"propensity":{token}'.encode()
    )
    verdict = validate_batch([probe, document], now=NOW, max_age=max_age_for(MAX_EVENT_AGE.days))
    expected = model_verdict(document, NOW, max_age_for(MAX_EVENT_AGE.days))
    assert verdict.valid[1] == (not isinstance(expected, Exception))
    if verdict.valid[1]:
        assert isinstance(expected, Event)
        assert verdict.canonical[1].as_py() == encode_event(expected)
        assert verdict.events.column("propensity")[1].as_py() == event_row(expected)["propensity"]
