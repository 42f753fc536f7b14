"""Silver's columns, types and bounds are read off the `events.v1` model."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pyarrow as pa
from hypothesis import given, settings

from components.events.columns import LINEAGE_FIELDS, _column, event_columns, event_row, silver_schema
from components.events.schema import MAX_DWELL_MS, MAX_POSITION, Event, EventType, Identifier
from components.events.strategies import event_payloads


def test_silver_holds_every_model_field_then_the_lineage() -> None:
    schema = silver_schema()
    assert schema.names == list(Event.model_fields) + [f.name for f in LINEAGE_FIELDS]
    required = {name for name, info in Event.model_fields.items() if info.is_required()}
    assert {f.name for f in schema if not f.nullable} == required | {f.name for f in LINEAGE_FIELDS}


def test_bounds_and_value_sets_come_from_the_model() -> None:
    columns = {c.name: c for c in event_columns()}
    assert columns["type"].values == tuple(t.value for t in EventType)
    assert (columns["dwell_ms"].minimum, columns["dwell_ms"].maximum) == (0, MAX_DWELL_MS)
    assert (columns["position"].maximum, columns["position"].strict_max) == (MAX_POSITION, True)
    assert (columns["propensity"].minimum, columns["propensity"].strict_min) == (0, True)
    assert (columns["user_id"].min_length, columns["user_id"].max_length) == (1, 128)
    assert columns["context"].json and columns["context"].arrow == pa.string()
    assert columns["ts"].arrow == pa.timestamp("us", tz="UTC")


def test_a_new_field_becomes_a_column_with_its_type_and_bounds() -> None:
    class Wider(Event):
        campaign: Identifier | None = None
        score: float | None = None

    assert _column("campaign", Wider.model_fields["campaign"]).max_length == 128
    assert _column("score", Wider.model_fields["score"]).arrow == pa.float64()


@settings(max_examples=60, deadline=None)
@given(event_payloads())
def test_every_valid_event_fits_the_silver_schema(payload: dict[str, Any]) -> None:
    # The receiver's clock at the event's own time: the strategies draw from a fixed range.
    event = Event.model_validate(payload, context={"now": datetime.fromisoformat(payload["ts"])})
    row = event_row(event)
    row.update(kafka_partition=0, kafka_offset=1, ingested_at=event.ts, received_at=event.ts)
    table = pa.Table.from_pylist([row], schema=silver_schema())
    assert table.num_rows == 1
    assert table.column("event_id")[0].as_py() == str(event.event_id)
