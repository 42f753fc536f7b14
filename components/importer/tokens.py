"""Source values as the JSON tokens of an `events.v1` document (column-wise for CSV and Parquet).

What a value becomes depends on the field it fills (its column type in the contract) and on what
it is in the source; the contract then judges the document, so a value that cannot fill a field
is refused with the contract's reason, never converted into something else:

- a text field (ids, `type`, `ts`, `model_version`): a string. Text is taken as it is (a plain
  ISO 8601 time with a zone is rewritten in UTC, as the contract would store it); a number
  becomes its decimal text (a numeric user id from a Parquet export is the id "12345"); a
  timestamp column becomes ISO 8601 (UTC with `Z` when it has a zone; without one it stays
  naive, and the contract refuses a naive time);
- a numeric field (`dwell_ms`, `position`, `propensity`): a number. Text that is a JSON number
  (`12`, `0.25`, `1e-3`) is that number; other text stays text (and is refused: wrong type);
- an object field (`context`): text that is a JSON object is that object; a struct or map column
  is its object.

An empty CSV cell, a null and an absent key are all an absent field.

Events without an id get a derived one (`derive_event_ids`): UUID version 5 in the namespace
IMPORT_NAMESPACE of the JSON tokens of `type`, `user_id`, `article_id`, `ts` (in UTC, as the
contract writes it, when the source writes plain ISO 8601), `request_id` and `position`, joined
by U+001F: the same row exported twice gets the same id (a re-import adds nothing), and two rows
alike in all of these are one event.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from components.events.columns import TIMESTAMP, event_columns
from components.events.time import TimestampError, parse_timestamp

# The namespace of derived event ids (uuid5). Never change it: re-imports would duplicate.
IMPORT_NAMESPACE = UUID("6f0b9d4e-2a7c-5e1b-9f3d-8c4a2b1e0d57")
IDENTITY_FIELDS = ("type", "user_id", "article_id", "ts", "request_id", "position")
_NUMBER = r"^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$"


def field_kinds() -> dict[str, str]:
    """Field -> `text`, `number` or `object`, from the contract's column types."""
    kinds = {}
    for column in event_columns():
        if column.json:
            kinds[column.name] = "object"
        elif pa.types.is_integer(column.arrow) or pa.types.is_floating(column.arrow):
            kinds[column.name] = "number"
        else:
            kinds[column.name] = "text"
    return kinds


def _json_text(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def json_strings(text: pa.Array) -> pa.Array:
    """Each string as a JSON string token (null stays null)."""
    escaped = text
    if pc.any(pc.match_substring(text, "\\")).as_py():
        escaped = pc.replace_substring(escaped, "\\", "\\\\")
    if pc.any(pc.match_substring(text, '"')).as_py():
        escaped = pc.replace_substring(escaped, '"', '\\"')
    tokens = pc.binary_join_element_wise('"', escaped, '"', "")
    # Control characters need \u escapes: those rows (and other unprintable ones) in Python.
    control = pc.invert(pc.fill_null(pc.utf8_is_printable(text), True))
    if pc.any(control).as_py():
        rows = np.flatnonzero(np.asarray(control, dtype=bool))
        fixed = tokens.to_pylist()
        for row in rows.tolist():
            fixed[row] = _json_text(text[row].as_py())
        tokens = pa.array(fixed, pa.string())
    return tokens


def _timestamp_text(column: pa.Array) -> pa.Array:
    """ISO 8601 text of a timestamp column: UTC with `Z` (no zero fraction) when it has a
    zone, naive otherwise (the contract refuses it, saying why)."""
    aware = column.type.tz is not None
    stamps = column.cast(TIMESTAMP) if aware else column.cast(pa.timestamp("us"))
    text = pc.strftime(stamps, format="%Y-%m-%dT%H:%M:%S")  # %S carries the fraction
    text = pc.replace_substring_regex(text, r"\.000000$", "")
    return pc.binary_join_element_wise(text, "Z", "") if aware else text


def _object_token(value: Any) -> str:
    if isinstance(value, str):
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            try:
                parsed = json.loads(value)
            except ValueError:
                return _json_text(value)
        return python_token(parsed, "object") if isinstance(parsed, dict) else _json_text(value)
    if isinstance(value, list) and all(isinstance(i, tuple) and len(i) == 2 for i in value):
        value = dict(value)  # a Parquet map column
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def python_token(value: Any, kind: str) -> str:
    """One value's token ("" for absent), as the column-wise conversion gives it."""
    if value is None:
        return ""
    if kind == "object":
        return _object_token(value)
    if kind == "number":
        if isinstance(value, str):
            text = value.strip()
            return text if _is_number(text) else _json_text(value)
        if isinstance(value, float) and not np.isfinite(value):
            return _json_text(repr(value))
        if isinstance(value, bool | int | float):
            return json.dumps(value)
        return _json_text(str(value))
    if isinstance(value, str):
        return _json_text(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return _json_text(value.isoformat())
        stamp = value.astimezone(UTC)
        text = stamp.strftime("%Y-%m-%dT%H:%M:%S") + (
            f".{stamp.microsecond:06d}" if stamp.microsecond else ""
        )
        return _json_text(text + "Z")
    if isinstance(value, date):
        return _json_text(value.isoformat())
    if isinstance(value, bool | int | float):
        return _json_text(json.dumps(value))
    if isinstance(value, bytes):
        return _json_text(value.decode("utf-8", "replace"))
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _is_number(text: str) -> bool:
    return re.fullmatch(_NUMBER, text) is not None


def column_tokens(column: pa.Array | pa.ChunkedArray, kind: str, *, empty_is_absent: bool) -> pa.Array:
    """The tokens of a source column for a field of `kind` (null where absent)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    kind_of = column.type
    if pa.types.is_dictionary(kind_of):
        column = column.dictionary_decode()
        kind_of = column.type
    if pa.types.is_large_string(kind_of):
        column = column.cast(pa.string())
        kind_of = column.type
    if pa.types.is_string(kind_of):
        absent = pc.is_null(column)
        if empty_is_absent:
            absent = pc.or_(absent, pc.equal(column, ""))
        if kind == "text":
            tokens = json_strings(column)
        elif kind == "number":
            trimmed = pc.utf8_trim_whitespace(column)
            numeric = pc.fill_null(pc.match_substring_regex(trimmed, _NUMBER), False)
            tokens = pc.if_else(numeric, trimmed, json_strings(column))
        else:
            tokens = _by_distinct(column, kind)
        return pc.if_else(absent, pa.scalar(None, pa.string()), tokens)
    if pa.types.is_integer(kind_of) or (pa.types.is_floating(kind_of) and kind == "text"):
        text = column.cast(pa.string())
        return json_strings(text) if kind == "text" else text
    if pa.types.is_floating(kind_of) and kind == "number":
        text = column.cast(pa.string())
        finite = pc.fill_null(pc.is_finite(column), False)
        return pc.if_else(finite, text, json_strings(text))
    if pa.types.is_timestamp(kind_of) and kind == "text":
        return json_strings(_timestamp_text(column))
    return _absent_as_null(pa.array([python_token(v, kind) for v in column.to_pylist()], pa.string()))


def _absent_as_null(tokens: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(tokens, ""), pa.scalar(None, pa.string()), tokens)


def _by_distinct(column: pa.Array, kind: str) -> pa.Array:
    """Tokens computed once per distinct value (object texts repeat)."""
    encoded = pc.dictionary_encode(column)
    tokens = pa.array([python_token(v, kind) for v in encoded.dictionary.to_pylist()], pa.string())
    return _absent_as_null(tokens.take(encoded.indices))


def fixed_tokens(text: str, kind: str, rows: int) -> pa.Array:
    """A fixed value (`--set`), read as a CSV cell, for every row."""
    token = column_tokens(pa.array([text], pa.string()), kind, empty_is_absent=True)[0].as_py()
    return (
        pa.nulls(rows, pa.string())
        if token is None
        else pa.array(np.full(rows, token, dtype=object), pa.string())
    )


# ISO 8601 spellings that Python's parser (the contract's) and Arrow's read alike: these are
# rewritten as the contract writes the instant (UTC, `Z`) before the contract sees them.
_PLAIN_ISO_TEXT = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:Z|[+-][0-9]{2}:[0-9]{2})"
)
_PLAIN_ISO = f'^"{_PLAIN_ISO_TEXT}"$'


def canonical_times(tokens: pa.Array) -> pa.Array:
    """`ts` tokens in the contract's spelling of the same instant (UTC, `Z`, a fraction only
    when there is one) where they are plain ISO 8601 with a zone; others stay as they are (the
    contract reads them, or says why not). The same instant always gets the same text."""
    plain = pc.fill_null(pc.match_substring_regex(tokens, _PLAIN_ISO), False)
    if not pc.any(plain).as_py():
        return tokens
    inner = pc.utf8_slice_codeunits(pc.if_else(plain, tokens, '"2000-01-01T00:00:00Z"'), 1, -1)
    try:
        stamps = pc.cast(inner, TIMESTAMP)  # also: is there such a day, such a second
    except pa.ArrowInvalid:  # a day the calendar lacks: the distinct texts, by the contract's parser
        encoded = pc.dictionary_encode(inner)
        parsed: list[datetime | None] = []
        for text in encoded.dictionary.to_pylist():
            try:
                parsed.append(parse_timestamp(text))
            except TimestampError:
                parsed.append(None)
        stamps = pa.array(parsed, TIMESTAMP).take(encoded.indices)
    # In UTC already (`Z`): the same text with a `T` and the fraction in microseconds.
    base = pc.replace_substring(pc.utf8_slice_codeunits(inner, 0, 19), " ", "T")
    fraction = pc.utf8_rpad(pc.utf8_slice_codeunits(inner, 20, -1), width=6, padding="0")
    fraction = pc.if_else(pc.equal(fraction, "000000"), "", pc.binary_join_element_wise(".", fraction, ""))
    rewritten = pc.binary_join_element_wise('"', base, fraction, 'Z"', "")
    offset = pc.invert(pc.ends_with(inner, "Z"))
    if pc.any(pc.and_(plain, offset)).as_py():  # another zone: the instant in UTC
        text = pc.replace_substring_regex(pc.strftime(stamps, format="%Y-%m-%dT%H:%M:%S"), r"\.000000$", "")
        rewritten = pc.if_else(offset, pc.binary_join_element_wise('"', text, 'Z"', ""), rewritten)
    return pc.if_else(pc.and_(plain, pc.is_valid(stamps)), rewritten, tokens)


def time_tokens(column: pa.Array | pa.ChunkedArray, *, empty_is_absent: bool) -> pa.Array:
    """`column_tokens` of a `ts` column, plain ISO 8601 rewritten by `canonical_times`; text
    columns without quoting and unquoting a million times."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if not pa.types.is_string(column.type):
        return canonical_times(column_tokens(column, "text", empty_is_absent=empty_is_absent))
    plain = pc.fill_null(pc.match_substring_regex(column, f"^{_PLAIN_ISO_TEXT}$"), False)
    quoted = pc.binary_join_element_wise('"', column, '"', "")  # plain ISO needs no escapes
    if not pc.all(plain).as_py():
        quoted = pc.if_else(plain, quoted, column_tokens(column, "text", empty_is_absent=empty_is_absent))
    return canonical_times(quoted)


def derive_event_ids(tokens: dict[str, pa.Array], rows: int) -> pa.Array:
    """Derived `event_id` tokens (see the module's docstring); `ts` tokens as canonical_times
    leaves them."""
    parts = [pc.fill_null(tokens.get(name, pa.nulls(rows, pa.string())), "") for name in IDENTITY_FIELDS]
    if not rows:
        return pa.array([], pa.string())
    names = pc.binary_join_element_wise(*parts, "\x1f").cast(pa.binary()).to_pylist()
    return uuid5_tokens(names)


_HEX = np.array([f"{i:02x}".encode() for i in range(256)], dtype="S2").view(np.uint8).reshape(256, 2)
# Where the 32 hex digits go in a quoted UUID (`"8-4-4-4-12"`), and its hyphens.
_HEX_AT = np.array([*range(1, 9), *range(10, 14), *range(15, 19), *range(20, 24), *range(25, 37)])
_HYPHENS = [9, 14, 19, 24]


def uuid5_tokens(names: Sequence[bytes]) -> pa.Array:
    """The JSON tokens of `uuid.uuid5(IMPORT_NAMESPACE, name)` for each (UTF-8) name: the
    SHA-1s in Python, the UUID text in numpy (a million UUID objects cost seconds)."""
    namespace = IMPORT_NAMESPACE.bytes
    sha1 = hashlib.sha1
    digests = b"".join(map(lambda name: sha1(namespace + name).digest(), names))
    raw = np.frombuffer(digests, dtype=np.uint8).reshape(-1, 20)[:, :16].copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x50  # version 5
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    text = np.full((len(raw), 38), ord('"'), dtype=np.uint8)
    text[:, _HEX_AT] = _HEX[raw].reshape(len(raw), 32)
    text[:, _HYPHENS] = ord("-")
    offsets = np.arange(0, 38 * (len(raw) + 1), 38, dtype=np.int32)
    return pa.StringArray.from_buffers(len(raw), pa.py_buffer(offsets), pa.py_buffer(text.tobytes()))
