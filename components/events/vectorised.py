"""`events.v1` checked a column at a time (pyarrow.compute): the contract's fast path for batches.

The pydantic model costs about 10 µs per event, too much for a bulk import or a silver build of
a million events on two cores. This module decides for whole arrays of JSON documents at once,
and it never decides differently from the model (`decode_event`):

- a row passes here only if its bytes are exactly the canonical encoding (`encode_event`) of an
  event the contract accepts: the fields in the model's order, no whitespace, no null, numbers and
  times as the model writes them. Then `encode_event(decode_event(value)) == value`, and the
  columns it returns are `event_row`'s;
- every other row (another spelling, a broken rule, anything this module does not model) goes to
  the model itself, so every refusal carries the contract's own reasons and codes.

The bounds are read off the model (`event_columns()`: value sets, lengths, ranges; the field
types and patterns), the time rules and the cross-field rules from the contract's constants
(`OLDEST_TS`, `MAX_FUTURE_SKEW`, `EventType.DWELL`, `IMPRESSION_REQUIRED`, `IMPRESSION_ONLY`).
A field of a kind this module cannot check (a new pattern, a new type) turns the fast path off
for every row (`FAST_PATH_FIELDS` says why) rather than guessing. vectorised_test.py proves the
verdicts identical on generated valid and broken events (hypothesis).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any, get_origin
from uuid import UUID

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic.fields import FieldInfo
from pydantic_core import to_json  # pants: no-infer-dep (ships with pydantic)

from components.events.codec import decode_event, encode_event
from components.events.columns import TIMESTAMP, Column, annotation_parts, event_columns, event_row
from components.events.errors import EventValidationError, FieldError
from components.events.schema import (
    IDENTIFIER_PATTERN,
    IMPRESSION_ONLY,
    IMPRESSION_REQUIRED,
    MAX_FUTURE_SKEW,
    OLDEST_TS,
    Event,
    EventType,
)

# Below this many rows a batch is checked on one thread (threads cost more than they save).
_PARALLEL_ROWS = 50_000
# Decimal notation only, and few enough digits that the shortest spelling of the double is the
# token itself: how the model writes numbers between 1e-4 and 1e15.
_MAX_FLOAT_DIGITS = 15
_JSON_STRING_CHAR = r'(?:[!#-\[\]-~]|\\["\\])'  # printable ASCII, `"` and `\` escaped


class UnsupportedFieldError(ValueError):
    """A field of the contract this module cannot check column-wise."""


@dataclass(frozen=True)
class FastField:
    """One contract field as the fast path sees it: its column, its kind, its canonical token."""

    column: Column
    kind: str  # uuid, enum, identifier, text, timestamp, integer, number, object
    nullable: bool  # None allowed: absent from the canonical encoding when None
    token: str  # RE2 pattern of the canonical JSON token


def _walk(annotation: Any) -> tuple[set[Any], list[Any], bool]:
    """(member types, constraints, None allowed) of a field annotation."""
    kinds, metadata, nullable = annotation_parts(annotation)
    return {get_origin(k) or k for k in kinds}, metadata, nullable


def _fast_field(column: Column, info: FieldInfo) -> FastField:
    kinds, metadata, nullable = _walk(info.annotation)
    patterns = {getattr(m, "pattern", None) for m in [*info.metadata, *metadata]} - {None}
    if column.values is not None:
        if not all(re.fullmatch(r"[A-Za-z0-9_.-]+", v) for v in column.values):
            raise UnsupportedFieldError(f"{column.name}: enumeration values need JSON escapes")
        alternatives = "|".join(re.escape(v) for v in column.values)
        return FastField(column, "enum", nullable, f'"(?:{alternatives})"')
    if kinds == {UUID}:
        hexes = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
        return FastField(column, "uuid", nullable, f'"{hexes}"')
    if kinds == {datetime}:
        return FastField(
            column,
            "timestamp",
            nullable,
            r'"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{6})?Z"',
        )
    if kinds == {dict}:
        return FastField(column, "object", nullable, r"\{.*\}")
    if kinds == {str}:
        if patterns == {IDENTIFIER_PATTERN}:
            return FastField(column, "identifier", nullable, f'"{_JSON_STRING_CHAR}+"')
        if not patterns:
            # Printable ASCII and spaces only, not empty; other text goes to the model.
            return FastField(column, "text", nullable, r'"(?:[ !#-\[\]-~]|\\["\\])+"')
        raise UnsupportedFieldError(f"{column.name}: pattern {patterns}")
    if kinds == {int}:
        return FastField(column, "integer", nullable, r"(?:0|-?[1-9][0-9]{0,17})")
    if kinds == {int, float}:
        digits = _MAX_FLOAT_DIGITS - 1
        return FastField(
            column,
            "number",
            nullable,
            rf"(?:0|-?[1-9][0-9]{{0,{digits}}}|-?(?:0|[1-9][0-9]{{0,{digits}}})\.[0-9]+)",
        )
    raise UnsupportedFieldError(f"{column.name}: type {kinds}")


def _fast_fields() -> tuple[tuple[FastField, ...], str | None]:
    try:
        fields = tuple(_fast_field(c, Event.model_fields[c.name]) for c in event_columns())
    except UnsupportedFieldError as exc:
        return (), str(exc)
    objects = [f for f in fields if f.kind == "object"]
    if len(objects) > 1 or (objects and fields[-1] is not objects[0]):
        return (), "an object field that is not the last one"
    return fields, None


# The fields (empty when the fast path is off) and, when off, why.
FAST_PATH_FIELDS, FAST_PATH_OFF = _fast_fields()


def _document_pattern(fields: Sequence[FastField]) -> str:
    parts = []
    for i, f in enumerate(fields):
        key = f'{"," if i else ""}"{f.column.name}":'
        group = f"(?P<{f.column.name}>{f.token})"
        parts.append(f"(?:{key}{group})?" if f.nullable else f"{key}{group}")
    return r"^\{" + "".join(parts) + r"\}$"


DOCUMENT_PATTERN = _document_pattern(FAST_PATH_FIELDS) if FAST_PATH_FIELDS else ""
EVENT_SCHEMA = pa.schema([pa.field(c.name, c.arrow, nullable=not c.required) for c in event_columns()])
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_OLDEST_US = (OLDEST_TS - _EPOCH) // _MICROSECOND
_SKEW_US = MAX_FUTURE_SKEW // _MICROSECOND


@dataclass
class BatchVerdict:
    """The contract's verdict on every row of a batch, in input order."""

    valid: np.ndarray  # bool per input row
    rows: np.ndarray  # int64: the input row of each valid event, ascending
    events: pa.Table  # the valid events' columns (EVENT_SCHEMA, `event_row`'s values)
    canonical: pa.Array  # binary: `encode_event` of each valid event
    errors: dict[int, EventValidationError] = field(default_factory=dict)  # input row -> why
    fast: int = 0  # rows decided by the fast path


def max_age_for(lateness_days: int) -> timedelta:
    """The contract's `max_age` for a lateness limit, as silver applies it: the broker stamps
    a record a moment after the collector checked it, so the skew allowance is added."""
    return timedelta(days=lateness_days) + MAX_FUTURE_SKEW


def _as_strings(values: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """The values as UTF-8 strings (invalid UTF-8 and nulls become empty: never canonical),
    and which rows could be read."""
    readable = np.ones(len(values), dtype=bool)
    if values.null_count:
        readable &= np.asarray(values.is_valid())
        values = pc.fill_null(values, pa.scalar(b"" if pa.types.is_binary(values.type) else "", values.type))
    if pa.types.is_string(values.type):
        return values, readable
    try:
        return pc.cast(values, pa.string()), readable
    except pa.ArrowInvalid:
        text = []
        for i, item in enumerate(values.to_pylist()):
            try:
                text.append(item.decode())
            except UnicodeDecodeError:
                readable[i] = False
                text.append("")
        return pa.array(text, pa.string()), readable


def _mask(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A boolean array as numpy, null as False."""
    return np.asarray(pc.fill_null(array, False), dtype=bool)


def _inner(token: pa.Array) -> pa.Array:
    """The text of quoted JSON string tokens (printable ASCII: only `"` and backslash are escaped)."""
    inner = pc.utf8_slice_codeunits(token, 1, -1)
    if pc.any(pc.match_substring(inner, "\\")).as_py():
        inner = pc.replace_substring_regex(inner, r'\\(["\\])', r"\1")
    return inner


def _number_canonical(token: pa.Array, number: pa.Array) -> np.ndarray:
    """Where the token is how the model writes that number: an integer, or the shortest decimal
    spelling of the double (integral ones with `.0`) between 1e-4 and 1e15."""
    is_float = _mask(pc.match_substring(token, "."))
    shortest = pc.cast(number, pa.string())
    magnitude = pc.abs(number)
    in_range = _mask(pc.and_(pc.greater_equal(magnitude, 1e-4), pc.less(magnitude, 1e15)))
    integral = pc.equal(pc.floor(number), number)
    spelled = pc.if_else(integral, pc.binary_join_element_wise(shortest, ".0", ""), shortest)
    return ~is_float | (_mask(pc.equal(spelled, token)) & in_range)


def _timestamps(token: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """(timestamp, canonical?) of `"YYYY-MM-DDTHH:MM:SS[.ffffff]Z"` tokens (quotes included)."""
    text = pc.utf8_slice_codeunits(token, 1, -1)
    try:
        stamp = pc.cast(text, TIMESTAMP)
        valid = np.ones(len(token), dtype=bool)
    except pa.ArrowInvalid:  # a day 31 of a 30-day month, a second 60: those rows, one by one
        stamps, flags = [], []
        for item in text.to_pylist():
            try:
                stamps.append(pc.cast(pa.array([item]), TIMESTAMP)[0].as_py())
                flags.append(True)
            except pa.ArrowInvalid:
                stamps.append(None)
                flags.append(False)
        stamp, valid = pa.array(stamps, TIMESTAMP), np.array(flags, dtype=bool)
    # The model leaves a zero fraction out.
    return pc.fill_null(stamp, pa.scalar(0, TIMESTAMP)), valid & ~_mask(pc.ends_with(text, ".000000Z"))


def check_tokens(
    tokens: dict[str, pa.Array], now_us: np.ndarray, max_age: timedelta, *, verify: bool
) -> tuple[np.ndarray, dict[str, pa.Array]]:
    """Which rows pass the contract, given each field's canonical JSON token ("" when absent)
    in the order of `FAST_PATH_FIELDS`; and the fields' column values (garbage where a row does
    not pass; object fields as their token: see `_check_objects`). `verify` also checks that
    each token is a canonical token of its field (extraction by DOCUMENT_PATTERN did already)."""
    n = len(now_us)
    ok = np.ones(n, dtype=bool)
    columns: dict[str, pa.Array] = {}
    present: dict[str, np.ndarray] = {}
    for f in FAST_PATH_FIELDS:
        name, c = f.column.name, f.column
        token = pc.fill_null(tokens[name], "")
        has = _mask(pc.not_equal(token, ""))
        present[name] = has
        if not f.nullable:
            ok &= has
        if verify:
            ok &= _mask(pc.match_substring_regex(token, f"^(?:{f.token})$")) | ~has
        if f.kind in ("uuid", "enum"):
            columns[name] = pc.utf8_slice_codeunits(token, 1, -1)
        elif f.kind in ("identifier", "text"):
            value = _inner(token)
            length = pc.utf8_length(value)
            good = np.ones(n, dtype=bool)
            if c.min_length is not None:
                good &= _mask(pc.greater_equal(length, c.min_length))
            if c.max_length is not None:
                good &= _mask(pc.less_equal(length, c.max_length))
            ok &= good | ~has
            columns[name] = value
        elif f.kind == "timestamp":
            placeholder = pc.if_else(pa.array(has & ok), token, '"2000-01-01T00:00:00Z"')
            stamp, canonical = _timestamps(placeholder)
            ts_us = np.asarray(pc.cast(stamp, pa.int64()), dtype=np.int64)
            # The model's rules (Event._ts_is_sane): not before OLDEST_TS, not more than the skew
            # ahead of the receiver's clock, not older than max_age.
            within = (ts_us >= _OLDEST_US) & (ts_us <= now_us + _SKEW_US)
            within &= now_us - ts_us <= max_age // _MICROSECOND
            ok &= (canonical & within) | ~has
            columns[name] = stamp
        elif f.kind in ("integer", "number"):
            placeholder = pc.if_else(pa.array(has & ok), token, "0")
            number = pc.cast(placeholder, pa.int64() if f.kind == "integer" else pa.float64())
            good = np.ones(n, dtype=bool)
            if f.kind == "number":
                good &= _number_canonical(placeholder, number)
            if c.minimum is not None:
                good &= _mask((pc.greater if c.strict_min else pc.greater_equal)(number, c.minimum))
            if c.maximum is not None:
                good &= _mask((pc.less if c.strict_max else pc.less_equal)(number, c.maximum))
            ok &= good | ~has
            columns[name] = number
        else:  # object
            columns[name] = token
    # The model's cross-field rules (Event._type_specific_fields).
    kind = columns["type"]
    dwell = _mask(pc.equal(kind, EventType.DWELL.value))
    impression = _mask(pc.equal(kind, EventType.IMPRESSION.value))
    ok &= present["dwell_ms"] == dwell
    for name in IMPRESSION_REQUIRED:
        ok &= present[name] | ~impression
    for name in IMPRESSION_ONLY:
        ok &= ~present[name] | impression
    for f in FAST_PATH_FIELDS:
        if f.nullable:
            columns[f.column.name] = pc.if_else(
                pa.array(present[f.column.name]), columns[f.column.name], None
            )
    return ok, columns


def _extract(text: pa.Array) -> tuple[np.ndarray, dict[str, pa.Array]]:
    """Each field's token of canonical documents (none where a document is not canonical)."""
    parts = pc.extract_regex(text, DOCUMENT_PATTERN)
    matched = np.asarray(parts.is_valid(), dtype=bool)
    return matched, {f.column.name: parts.field(f.column.name) for f in FAST_PATH_FIELDS}


def assemble(tokens: dict[str, pa.Array]) -> pa.Array:
    """The JSON documents of rows of field tokens ("" or null: absent), fields in the model's
    order: canonical when every token is."""
    rows = len(next(iter(tokens.values()))) if tokens else 0
    parts: list[pa.Array | str] = ["{"]
    first_absent = False
    for i, f in enumerate(FAST_PATH_FIELDS or tuple(_fields_for_assembly())):
        name = f.column.name
        token = tokens.get(name, pa.nulls(rows, pa.string()))
        if pc.any(pc.equal(token, "")).as_py():  # absent: null
            token = pc.if_else(pc.equal(token, ""), pa.scalar(None, pa.string()), token)
        key = f'{"," if i else ""}"{name}":'
        if token.null_count == rows:
            first_absent = first_absent or (i == 0 and rows > 0)
            continue
        # One join for the whole document: a key where its field is there, nothing where not.
        parts += [
            (
                key
                if token.null_count == 0
                else pc.if_else(pc.is_valid(token), key, pa.scalar(None, pa.string()))
            ),
            token,
        ]
        first_absent = first_absent or (i == 0 and token.null_count > 0)
    parts.append("}")
    joined = pc.binary_join_element_wise(*parts, "", null_handling="replace", null_replacement="")
    if first_absent:
        # A leading field left out leaves a leading comma: `{,"type"...` is no JSON.
        joined = pc.replace_substring_regex(joined, r"^\{,", "{")
    return joined


def _fields_for_assembly() -> list[FastField]:
    """The contract's fields when the fast path is off (assembly still needs their order)."""
    return [FastField(c, "", True, "") for c in event_columns()]


def _chunks(n: int) -> list[tuple[int, int]]:
    if n < _PARALLEL_ROWS:
        return [(0, n)]
    bounds = np.linspace(0, n, (os.cpu_count() or 1) + 1, dtype=int).tolist()
    return list(pairwise(bounds))


def _parallel(spans: list[tuple[int, int]], work: Any) -> list[Any]:
    if len(spans) == 1:
        return [work(*spans[0])]
    with ThreadPoolExecutor(len(spans)) as pool:  # pyarrow's kernels release the GIL
        return list(pool.map(lambda span: work(*span), spans))


def _now_micros(now: datetime | pa.Array, n: int) -> np.ndarray:
    if isinstance(now, datetime):
        return np.full(n, (now - _EPOCH) // _MICROSECOND, dtype=np.int64)  # exact, no float
    return np.asarray(pc.cast(pc.cast(now, TIMESTAMP), pa.int64()), dtype=np.int64)


def _now_at(now: datetime | pa.Array, row: int) -> datetime:
    if isinstance(now, datetime):
        return now
    value = now[row].as_py()
    assert isinstance(value, datetime)
    return value


def validate_batch(
    values: pa.Array | Sequence[bytes], *, now: datetime | pa.Array, max_age: timedelta, fast: bool = True
) -> BatchVerdict:
    """The contract's verdict on every JSON document of `values`, as `decode_event(value,
    now=now, max_age=max_age)` gives it (`now`: one clock, or one per row as UTC timestamps).
    `fast=False` sends every row to the model (for comparisons)."""
    if not isinstance(values, pa.Array):
        values = pa.array(values, pa.binary())
    n = len(values)
    now_us = _now_micros(now, n)
    if not (fast and FAST_PATH_FIELDS and n):
        return _decide(values, np.zeros(n, dtype=bool), {}, now, max_age)
    text, readable = _as_strings(values)

    def work(start: int, stop: int) -> tuple[np.ndarray, dict[str, pa.Array]]:
        matched, tokens = _extract(text.slice(start, stop - start))
        ok, columns = check_tokens(tokens, now_us[start:stop], max_age, verify=False)
        return ok & matched, columns

    results = _parallel(_chunks(n), work)
    passed = np.concatenate([r[0] for r in results]) & readable
    columns = {name: _concat([r[1][name] for r in results]) for name in results[0][1]}
    return _decide(values, passed, columns, now, max_age)


def validate_tokens(
    tokens: dict[str, pa.Array], *, now: datetime | pa.Array, max_age: timedelta, threads: bool = True
) -> tuple[pa.Array, BatchVerdict]:
    """The documents `assemble(tokens)` and the contract's verdict on them, for rows given as
    one JSON token per field (string arrays; "" or null: absent), e.g. by a bulk import."""
    tokens = _with_defaults(tokens)
    documents = assemble(tokens)
    n = len(documents)
    now_us = _now_micros(now, n)
    if not (FAST_PATH_FIELDS and n):
        return documents, _decide(documents, np.zeros(n, dtype=bool), {}, now, max_age)
    full = {f.column.name: tokens.get(f.column.name, pa.nulls(n, pa.string())) for f in FAST_PATH_FIELDS}

    def work(start: int, stop: int) -> tuple[np.ndarray, dict[str, pa.Array]]:
        part = {name: token.slice(start, stop - start) for name, token in full.items()}
        return check_tokens(part, now_us[start:stop], max_age, verify=True)

    results = _parallel(_chunks(n) if threads else [(0, n)], work)
    passed = np.concatenate([r[0] for r in results])
    columns = {name: _concat([r[1][name] for r in results]) for name in results[0][1]}
    return documents, _decide(documents, passed, columns, now, max_age)


def _with_defaults(tokens: dict[str, pa.Array]) -> dict[str, pa.Array]:
    """Absent fields that the model fills with a default it always writes (the context's
    `{}`) given that default: the same event, in the model's spelling."""
    out = dict(tokens)
    rows = len(next(iter(tokens.values()))) if tokens else 0
    for f in FAST_PATH_FIELDS:
        info = Event.model_fields[f.column.name]
        if f.nullable or info.is_required():
            continue
        default = to_json(info.get_default(call_default_factory=True)).decode()
        given = pc.fill_null(out.get(f.column.name, pa.nulls(rows, pa.string())), "")
        out[f.column.name] = pc.if_else(pc.equal(given, ""), default, given)
    return out


def _concat(chunks: list[pa.Array]) -> pa.Array:
    return pa.concat_arrays(chunks) if len(chunks) > 1 else chunks[0]


def _decide(
    values: pa.Array,
    passed: np.ndarray,
    columns: dict[str, pa.Array],
    now: datetime | pa.Array,
    max_age: timedelta,
) -> BatchVerdict:
    """Object fields checked, then the rows the fast path did not pass decided by the model."""
    columns = dict(columns)
    for f in FAST_PATH_FIELDS:
        if f.kind == "object" and f.column.name in columns:
            passed, columns[f.column.name] = _check_objects(columns[f.column.name], passed, f.column.name)
    fast_rows = np.flatnonzero(passed)
    if len(fast_rows) == len(values):  # all of them (the common case): no copies
        fast_table = pa.table({c.name: columns[c.name] for c in event_columns()}).cast(EVENT_SCHEMA)
        fast_canonical = values.cast(pa.binary())
    elif len(fast_rows):
        take = pa.array(fast_rows, pa.int64())
        fast_table = pa.table({c.name: columns[c.name].take(take) for c in event_columns()}).cast(
            EVENT_SCHEMA
        )
        fast_canonical = values.take(take).cast(pa.binary())
    else:
        fast_table = EVENT_SCHEMA.empty_table()
        fast_canonical = pa.array([], pa.binary())

    slow_rows: list[int] = []
    slow_events: list[dict[str, Any]] = []
    slow_canonical: list[bytes] = []
    errors: dict[int, EventValidationError] = {}
    for row in np.flatnonzero(~passed).tolist():
        value = values[row].as_py()
        try:
            if value is None:
                raise EventValidationError([FieldError("$", "no document (null)", "missing")])
            event = decode_event(value, now=_now_at(now, row), max_age=max_age)
        except EventValidationError as exc:
            errors[row] = exc
            continue
        slow_rows.append(row)
        slow_events.append(event_row(event))
        slow_canonical.append(encode_event(event))
    if slow_rows:
        order = np.concatenate([fast_rows, np.array(slow_rows, dtype=np.int64)])
        events = pa.concat_tables([fast_table, pa.Table.from_pylist(slow_events, schema=EVENT_SCHEMA)])
        canonical = pa.concat_arrays([fast_canonical, pa.array(slow_canonical, pa.binary())])
        sort = pa.array(np.argsort(order, kind="stable"))
        rows, events, canonical = order[sort.to_numpy()], events.take(sort), canonical.take(sort)
    else:
        rows, events, canonical = fast_rows.astype(np.int64), fast_table, fast_canonical
    valid = np.zeros(len(values), dtype=bool)
    valid[rows] = True
    return BatchVerdict(valid, rows, events, canonical, errors, fast=len(fast_rows))


# A valid event of the fewest fields, to check an object field's text on its own (the object
# rules are per field: the model's other rules never look at it).
_PROBE_AT = OLDEST_TS
_PROBE = (
    '{"event_id":"00000000-0000-0000-0000-000000000000","type":"view","user_id":"probe",'
    f'"article_id":"probe","ts":"{_PROBE_AT:%Y-%m-%dT%H:%M:%S}Z",'
)


def _object_verdict(name: str, text: str) -> tuple[bool, Any]:
    """(the text is a valid value of object field `name` in the model's spelling, its column value)."""
    document = f'{_PROBE}"{name}":{text}}}'.encode()
    try:
        event = decode_event(document, now=_PROBE_AT)
    except EventValidationError:
        return False, None
    return encode_event(event) == document, event_row(event)[name]


def _check_objects(objects: pa.Array, passed: np.ndarray, name: str) -> tuple[np.ndarray, pa.Array]:
    """Object fields (the context) checked once per distinct text, by the model on a probe
    event. Returns the new pass mask and the column (`event_row`'s value)."""
    candidates = np.flatnonzero(passed)
    if not len(candidates):
        return passed, pa.nulls(len(passed), pa.string())
    encoded = pc.dictionary_encode(objects.take(pa.array(candidates)))
    codes = np.asarray(encoded.indices)
    verdicts = [_object_verdict(name, text) for text in encoded.dictionary.to_pylist()]
    keep = np.array([ok for ok, _ in verdicts], dtype=bool)
    out = passed.copy()
    out[candidates[~keep[codes]]] = False
    # Each candidate's value, scattered into a full-length column (null elsewhere).
    taken = pa.array([value for _, value in verdicts], pa.string()).take(pa.array(codes))
    index = np.full(len(passed), -1, dtype=np.int64)
    index[candidates] = np.arange(len(candidates))
    return out, pc.if_else(pa.array(index >= 0), taken.take(pa.array(np.maximum(index, 0))), None)
