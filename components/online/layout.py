"""Feast's online layout, read without Feast: the bytes Feast writes to its Redis and SQLite
online stores, encoded and decoded by reco's own code so the recommend service needs neither
Feast nor protobuf (the lean `serving` resolve).

The format, as Feast documents and writes it (feast.infra.key_encoding_utils,
feast.infra.online_stores.redis / sqlite; pinned by layout_golden_test.py against rows Feast
itself materialized, and against Feast's public serialization functions):

- **Entity key** (`serialize_entity_key`): join keys sorted; with serialization version 3,
  `<I count>` first; per key `<I type=STRING>`, (v3: `<I len>`), the UTF-8 name; then per value
  `<I value type>`, `<I len>`, the value's bytes (UTF-8 for a string id).
- **Redis**: one hash per entity, key = entity key + project name. A feature's field is the
  first 4 bytes of the little-endian 64-bit murmur3 hash (32-bit, seed 0, unsigned) of
  `"<view>:<feature>"`; the row's write time is the field `_ts:<view>` (a protobuf
  `google.protobuf.Timestamp`). Every view of an entity shares the hash.
- **SQLite**: table `<project>_<view>`, rows (entity_key, feature_name, value, event_ts, ...).
- **Values**: a protobuf `feast.types.Value` (one field of a oneof): decoded here from the
  protobuf wire format for the scalar and list kinds Feast defines.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

# feast.types.ValueType.STRING (the join keys' type and reco's entity ids).
STRING_TYPE = 2
ENTITY_KEY_VERSIONS = (2, 3)

# feast/protos/feast/types/Value.proto: field number -> (kind, scalar codec).
_SCALARS: dict[int, str] = {
    1: "bytes",
    2: "string",
    3: "int32",
    4: "int64",
    5: "double",
    6: "float",
    7: "bool",
    8: "unix_timestamp",
}
_LISTS: dict[int, str] = {
    11: "bytes",
    12: "string",
    13: "int32",
    14: "int64",
    15: "double",
    16: "float",
    17: "bool",
    18: "unix_timestamp",
    # The *_set_val kinds have the same shape (a repeated field 1); read as lists.
    22: "bytes",
    23: "string",
    24: "int32",
    25: "int64",
    26: "double",
    27: "float",
    28: "bool",
    29: "unix_timestamp",
}
NULL_FIELD = 19


class LayoutError(ValueError):
    """Bytes that are not what Feast writes (a corrupt row, a newer unsupported value kind)."""


# --- keys -------------------------------------------------------------------------------------
def entity_key(join_key: str, entity_id: str, version: int = 3) -> bytes:
    """Feast's serialized entity key of one string join key (what `serialize_entity_key`
    returns for `EntityKey(join_keys=[join_key], entity_values=[Value(string_val=entity_id)])`)."""
    if version not in ENTITY_KEY_VERSIONS:
        raise LayoutError(
            f"entity_key_serialization_version {version} is not supported (supported: {ENTITY_KEY_VERSIONS})"
        )
    name = join_key.encode()
    value = entity_id.encode()
    parts = [struct.pack("<I", 1)] if version >= 3 else []
    parts.append(struct.pack("<I", STRING_TYPE))
    if version >= 3:
        parts.append(struct.pack("<I", len(name)))
    parts.append(name)
    parts.append(struct.pack("<II", STRING_TYPE, len(value)))
    parts.append(value)
    return b"".join(parts)


def redis_key(join_key: str, entity_id: str, project: str, version: int = 3) -> bytes:
    """The Redis key of an entity's online row (all its views share it)."""
    return entity_key(join_key, entity_id, version) + project.encode()


def sqlite_table(project: str, stored_name: str) -> str:
    """The SQLite online store's table of a view (`<project>_<stored name>`), quoted for SQL."""
    return '"' + f"{project}_{stored_name}".replace('"', '""') + '"'


def murmur3_32(data: bytes, seed: int = 0) -> int:
    """MurmurHash3 x86 32-bit, unsigned (what `mmh3.hash(data, signed=False)` returns)."""
    c1, c2, mask = 0xCC9E2D51, 0x1B873593, 0xFFFFFFFF
    h = seed & mask
    length = len(data)
    whole = length - length % 4
    for (k,) in struct.iter_unpack("<I", data[:whole]):
        k = (k * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        h ^= (k * c2) & mask
        h = ((h << 13) | (h >> 19)) & mask
        h = (h * 5 + 0xE6546B64) & mask
    tail = data[whole:]
    if tail:
        k = int.from_bytes(tail, "little")
        k = (k * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        h ^= (k * c2) & mask
    h ^= length
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & mask
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & mask
    h ^= h >> 16
    return h


def feature_field(view: str, feature: str) -> bytes:
    """The Redis hash field of `view`'s `feature`."""
    return struct.pack("<I", murmur3_32(f"{view}:{feature}".encode()))


def timestamp_field(view: str) -> bytes:
    """The Redis hash field holding when `view`'s row was written."""
    return f"_ts:{view}".encode()


# --- protobuf wire format ---------------------------------------------------------------------
def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise LayoutError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise LayoutError("varint longer than 10 bytes")


def _fields(buf: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, raw value) of each field of a message."""
    out: list[tuple[int, int, Any]] = []
    pos = 0
    end = len(buf)
    while pos < end:
        tag, pos = _varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        value: Any
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            if pos + 8 > end:
                raise LayoutError("truncated 64-bit field")
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == 2:
            size, pos = _varint(buf, pos)
            if pos + size > end:
                raise LayoutError("truncated length-delimited field")
            value, pos = buf[pos : pos + size], pos + size
        elif wire == 5:
            if pos + 4 > end:
                raise LayoutError("truncated 32-bit field")
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise LayoutError(f"unsupported wire type {wire} (field {number})")
        out.append((number, wire, value))
    return out


def _signed64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _scalar(kind: str, wire: int, raw: Any) -> Any:
    if kind in ("int64", "int32", "unix_timestamp"):
        if wire != 0:
            raise LayoutError(f"{kind}: expected a varint")
        value = _signed64(raw)
        return datetime.fromtimestamp(value, tz=UTC) if kind == "unix_timestamp" else value
    if kind == "bool":
        if wire != 0:
            raise LayoutError("bool: expected a varint")
        return bool(raw)
    if kind == "double":
        if wire != 1:
            raise LayoutError("double: expected 8 bytes")
        return struct.unpack("<d", raw)[0]
    if kind == "float":
        if wire != 5:
            raise LayoutError("float: expected 4 bytes")
        return struct.unpack("<f", raw)[0]
    if wire != 2:
        raise LayoutError(f"{kind}: expected a length-delimited field")
    if kind == "string":
        return bytes(raw).decode()
    return bytes(raw)


def _list(kind: str, raw: bytes) -> list[Any]:
    """A Feast list message: its repeated field 1, packed or not."""
    items: list[Any] = []
    for number, wire, value in _fields(raw):
        if number != 1:
            continue
        if wire == 2 and kind not in ("string", "bytes"):  # packed numbers
            if kind == "double":
                items.extend(v for (v,) in struct.iter_unpack("<d", value))
            elif kind == "float":
                items.extend(v for (v,) in struct.iter_unpack("<f", value))
            else:
                pos = 0
                while pos < len(value):
                    number_value, pos = _varint(value, pos)
                    items.append(_scalar(kind, 0, number_value))
        else:
            items.append(_scalar(kind, wire, value))
    return items


def decode_value(raw: bytes | None) -> Any:
    """The Python value of a serialized `feast.types.Value`: None for no bytes, an empty value,
    `null_val` or a NaN double (how Feast writes a missing float); unix timestamps become aware
    datetimes."""
    if not raw:
        return None
    fields = _fields(raw)
    if not fields:
        return None
    number, wire, value = fields[-1]  # a oneof: the last one set wins
    if number in _SCALARS:
        decoded = _scalar(_SCALARS[number], wire, value)
        if isinstance(decoded, float) and decoded != decoded and number == 5:
            return None
        return decoded
    if number in _LISTS:
        if wire != 2:
            raise LayoutError(f"list field {number}: expected a length-delimited message")
        return _list(_LISTS[number], value)
    if number == NULL_FIELD:
        return None
    raise LayoutError(f"Value field {number} is not a kind this reader knows")


def decode_timestamp(raw: bytes | None) -> datetime | None:
    """A serialized `google.protobuf.Timestamp` (seconds = 1, nanos = 2) as an aware datetime."""
    if not raw:
        return None
    seconds = nanos = 0
    for number, wire, value in _fields(raw):
        if wire != 0:
            raise LayoutError("Timestamp: expected varints")
        if number == 1:
            seconds = _signed64(value)
        elif number == 2:
            nanos = value
    return datetime.fromtimestamp(seconds + nanos / 1e9, tz=UTC)


def encode_value(value: Any) -> bytes:
    """A scalar as a serialized `feast.types.Value` (for tests and tools that write rows the
    way Feast does): str, bool, int (int64), float (double), datetime (unix timestamp), None."""
    if value is None:
        return b""
    if isinstance(value, bool):
        return b"\x38" + _encode_varint(int(value))
    if isinstance(value, int):
        return b"\x20" + _encode_varint(value & ((1 << 64) - 1))
    if isinstance(value, float):
        return b"\x29" + struct.pack("<d", value)
    if isinstance(value, datetime):
        return b"\x40" + _encode_varint(int(value.timestamp()) & ((1 << 64) - 1))
    if isinstance(value, str):
        data = value.encode()
        return b"\x12" + _encode_varint(len(data)) + data
    raise LayoutError(f"cannot encode a {type(value).__name__} as a Feast value")


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_row(reply: Sequence[bytes | None], features: Sequence[str]) -> dict[str, Any] | None:
    """A view's features from an HMGET reply on `[*feature fields, timestamp field]`; None when
    the entity has no row of that view (no timestamp: never materialized)."""
    n = len(features)
    if not reply[n]:
        return None
    return {name: decode_value(reply[i]) for i, name in enumerate(features)}


__all__ = [
    "LayoutError",
    "decode_row",
    "decode_timestamp",
    "decode_value",
    "encode_value",
    "entity_key",
    "feature_field",
    "murmur3_32",
    "redis_key",
    "sqlite_table",
    "timestamp_field",
]
