"""reco's codec of Feast's online layout, on bytes written out by hand from the protobuf wire
format and Feast's key encoding (layout_golden_test.py checks it against Feast itself)."""

from __future__ import annotations

import math
import struct
from datetime import UTC, datetime

import pytest

from components.online import layout


def test_murmur3_matches_published_vectors() -> None:
    assert layout.murmur3_32(b"") == 0
    assert layout.murmur3_32(b"", seed=1) == 0x514E28B7
    assert layout.murmur3_32(b"hello") == 0x248BFA47
    assert layout.murmur3_32(b"The quick brown fox jumps over the lazy dog") == 0x2E4FF723
    # every tail length (1, 2, 3 bytes past a whole block) goes through its own branch
    assert len({layout.murmur3_32(b"abcd"[:n] + b"efg"[:t]) for n in (4,) for t in range(4)}) == 4


def test_feature_and_timestamp_fields() -> None:
    field = layout.feature_field("user_stats", "clicks_7d")
    assert field == struct.pack("<I", layout.murmur3_32(b"user_stats:clicks_7d"))
    assert len(field) == 4
    assert layout.timestamp_field("user_stats") == b"_ts:user_stats"


def test_entity_key_versions_2_and_3() -> None:
    v3 = layout.entity_key("user_id", "u-1")
    assert v3 == struct.pack("<III", 1, 2, 7) + b"user_id" + struct.pack("<II", 2, 3) + b"u-1"
    v2 = layout.entity_key("user_id", "u-1", version=2)
    assert v2 == struct.pack("<I", 2) + b"user_id" + struct.pack("<II", 2, 3) + b"u-1"
    assert layout.redis_key("user_id", "u-1", "reco") == v3 + b"reco"
    # lengths count UTF-8 bytes, not characters
    assert layout.entity_key("user_id", "é")[-6:-2] == struct.pack("<I", 2)
    with pytest.raises(layout.LayoutError, match="entity_key_serialization_version 1"):
        layout.entity_key("user_id", "u", version=1)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "sport",
        "é∂",
        0,
        7,
        -3,
        2**62,
        -(2**63),
        0.5,
        -1e300,
        True,
        False,
        datetime(2026, 1, 2, tzinfo=UTC),
    ],
)
def test_scalars_round_trip(value: object) -> None:
    assert layout.decode_value(layout.encode_value(value)) == value


def test_missing_values() -> None:
    assert layout.decode_value(None) is None
    assert layout.decode_value(b"") is None
    assert layout.decode_value(layout.encode_value(math.nan)) is None  # how Feast writes a missing float
    assert layout.decode_value(b"\x98\x01\x00") is None  # null_val (field 19, varint 0)


def test_float_and_lists() -> None:
    assert layout.decode_value(b"\x35" + struct.pack("<f", 1.5)) == 1.5  # float_val = 6
    packed = b"\x0a\x03" + bytes([1, 2, 3])  # Int64List {val: [1, 2, 3]} packed
    assert layout.decode_value(b"\x72" + bytes([len(packed)]) + packed) == [1, 2, 3]  # int64_list_val = 14
    strings = b"\x0a\x01a\x0a\x02bc"  # StringList {val: ["a", "bc"]}
    assert layout.decode_value(b"\x62" + bytes([len(strings)]) + strings) == ["a", "bc"]  # field 12
    doubles = b"\x0a\x10" + struct.pack("<dd", 0.25, -2.0)
    assert layout.decode_value(b"\x7a" + bytes([len(doubles)]) + doubles) == [0.25, -2.0]  # field 15


def test_timestamps() -> None:
    # google.protobuf.Timestamp {seconds: 1700000000, nanos: 500000000}
    raw = b"\x08" + layout._encode_varint(1_700_000_000) + b"\x10" + layout._encode_varint(500_000_000)
    assert layout.decode_timestamp(raw) == datetime.fromtimestamp(1_700_000_000.5, tz=UTC)
    assert layout.decode_timestamp(None) is None


def test_corrupt_bytes_are_refused_with_the_reason() -> None:
    with pytest.raises(layout.LayoutError, match="truncated"):
        layout.decode_value(b"\x12\x05ab")  # a 5-byte string with 2 bytes
    with pytest.raises(layout.LayoutError, match="truncated varint"):
        layout.decode_value(b"\x20\xff")
    with pytest.raises(layout.LayoutError, match="wire type 3"):
        layout.decode_value(b"\x0b")
    with pytest.raises(layout.LayoutError, match="field 36"):
        layout.decode_value(b"\xa2\x02\x01x")  # uuid_val: a kind this reader does not know
    with pytest.raises(layout.LayoutError, match="expected a varint"):
        layout.decode_value(b"\x21" + bytes(8))  # int64_val with a 64-bit wire type


def test_decode_row_needs_the_timestamp_field() -> None:
    features = ["a", "b"]
    assert layout.decode_row([layout.encode_value(1), None, None], features) is None
    row = layout.decode_row([layout.encode_value(1), None, b"\x08\x01"], features)
    assert row == {"a": 1, "b": None}
