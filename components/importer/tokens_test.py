import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.importer.tokens import (
    IMPORT_NAMESPACE,
    canonical_times,
    column_tokens,
    derive_event_ids,
    fixed_tokens,
    json_strings,
    python_token,
    time_tokens,
    uuid5_tokens,
)


@given(st.lists(st.text(max_size=80), max_size=20))
def test_derived_ids_are_uuid5_in_the_import_namespace(names: list[str]) -> None:
    tokens = uuid5_tokens([n.encode() for n in names]).to_pylist()
    assert tokens == [json.dumps(str(uuid.uuid5(IMPORT_NAMESPACE, n))) for n in names]


def test_derived_ids_follow_what_the_row_says_and_the_instant_not_its_spelling() -> None:
    def ids(rows: list[dict[str, Any]]) -> list[str]:
        columns = {
            k: pa.array([r.get(k) for r in rows], pa.string()) for k in ("type", "user_id", "ts", "position")
        }
        columns["ts"] = canonical_times(columns["ts"])
        columns["article_id"] = pa.array(['"a"'] * len(rows))
        return derive_event_ids(columns, len(rows)).to_pylist()

    base = {"type": '"view"', "user_id": '"u1"', "ts": '"2026-10-01T10:00:00Z"'}
    same_instant = {**base, "ts": '"2026-10-01T12:00:00.000+02:00"'}
    other_user = {**base, "user_id": '"u2"'}
    other_position = {**base, "position": "3"}
    a, b, c, d = ids([base, same_instant, other_user, other_position])
    assert a == b and len({a, c, d}) == 3
    expected = str(uuid.uuid5(IMPORT_NAMESPACE, '"view"\x1f"u1"\x1f"a"\x1f"2026-10-01T10:00:00Z"\x1f\x1f'))
    assert json.loads(a) == expected


def test_times_are_rewritten_as_the_contract_writes_them_where_plain() -> None:
    given_times = [
        '"2026-10-20T05:49:07.556Z"',
        '"2026-10-20 05:49:07Z"',
        '"2026-10-20T07:49:07.5+02:00"',
        '"2026-10-20T05:49:07.000Z"',
        '"2026-02-30T00:00:00Z"',  # no such day: left for the contract to refuse
        '"20261020T054907Z"',  # not plain: left as it is
        None,
    ]
    assert canonical_times(pa.array(given_times, pa.string())).to_pylist() == [
        '"2026-10-20T05:49:07.556000Z"',
        '"2026-10-20T05:49:07Z"',
        '"2026-10-20T05:49:07.500000Z"',
        '"2026-10-20T05:49:07Z"',
        '"2026-02-30T00:00:00Z"',
        '"20261020T054907Z"',
        None,
    ]
    raw = pa.array(["2026-10-20T05:49:07Z", 'say "when"', "", "2026-10-20T05:49:07+00:00"])
    assert time_tokens(raw, empty_is_absent=True).to_pylist() == [
        '"2026-10-20T05:49:07Z"',
        '"say \\"when\\""',
        None,
        '"2026-10-20T05:49:07Z"',
    ]


def test_strings_become_json_strings_escapes_and_all() -> None:
    text = ["plain", 'quote " and \\ backslash', "tab\there", "é ünïcode", "\x00", None]
    assert json_strings(pa.array(text, pa.string())).to_pylist() == [
        None if t is None else json.dumps(t, ensure_ascii=False) for t in text
    ]


@pytest.mark.parametrize(
    ("column", "kind", "expected"),
    [
        (
            pa.array(["12", " 7 ", "1e-3", "3.0", "x12", "", None]),
            "number",
            ["12", "7", "1e-3", "3.0", '"x12"', None, None],
        ),
        (pa.array([12, None], pa.int64()), "text", ['"12"', None]),
        (pa.array([12, None], pa.int64()), "number", ["12", None]),
        (pa.array([0.25, float("nan")]), "number", ["0.25", '"nan"']),
        (pa.array(['{"device": "m"}', "[1]", "{broken"]), "object", ['{"device":"m"}', '"[1]"', '"{broken"']),
        (
            pa.array([datetime(2026, 10, 1, 8, tzinfo=UTC), datetime(2026, 10, 1, 8, 0, 0, 5, tzinfo=UTC)]),
            "text",
            ['"2026-10-01T08:00:00Z"', '"2026-10-01T08:00:00.000005Z"'],
        ),
        (pa.array([datetime(2026, 10, 1, 8)]), "text", ['"2026-10-01T08:00:00"']),  # naive: refused later
        (pa.array([True]), "number", ["true"]),  # JSON true: the contract says wrong type
    ],
)
def test_column_tokens_by_source_type_and_field_kind(
    column: pa.Array, kind: str, expected: list[Any]
) -> None:
    assert column_tokens(column, kind, empty_is_absent=True).to_pylist() == expected


def test_python_tokens_agree_with_column_tokens() -> None:
    # JSON lines are read value by value: an empty string there is a value (a CSV's empty cell
    # is no value), so compare with a column whose empty text is kept.
    zone = timezone(timedelta(hours=2))
    values = ["12", 12, 0.5, None, "", "x", {"a": 1}, datetime(2026, 10, 1, 10, tzinfo=zone)]
    for kind in ("text", "number", "object"):
        for value in values:
            token = python_token(value, kind)
            if isinstance(value, str):
                column = column_tokens(pa.array([value], pa.string()), kind, empty_is_absent=False)[0].as_py()
                assert (column or "") == token, (value, kind)


def test_a_fixed_value_is_read_as_a_csv_cell() -> None:
    assert fixed_tokens("legacy-cms", "text", 2).to_pylist() == ['"legacy-cms"', '"legacy-cms"']
    assert fixed_tokens("0", "number", 1).to_pylist() == ["0"]
    assert fixed_tokens("", "number", 2).null_count == 2
