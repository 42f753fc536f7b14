"""The contracts' fields as table columns, derived from their pydantic models (`events.v1`, `articles.v1`).

Silver's Arrow schema, its row builder, the dtypes of the frame Great Expectations checks and
the suite's bounds (required columns, value sets, lengths, numeric ranges) all come from here,
and this reads them off `Event`: adding a field to the model adds the column everywhere.
Silver's own lineage columns (where the lake got each event) follow the event's.
"""

from __future__ import annotations

import json
import types
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from functools import cache
from typing import Annotated, Any, Union, get_args, get_origin
from uuid import UUID

import pyarrow as pa
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from components.events.schema import Event

TIMESTAMP = pa.timestamp("us", tz="UTC")

# Where the lake got the event: appended to the event's columns in silver.
LINEAGE_FIELDS = (
    pa.field("kafka_partition", pa.int32(), nullable=False),
    pa.field("kafka_offset", pa.int64(), nullable=False),
    # When the ingestor wrote it to bronze.
    pa.field("ingested_at", TIMESTAMP, nullable=False),
    # When the broker got it (the lateness rule's clock).
    pa.field("received_at", TIMESTAMP, nullable=False),
)


@dataclass(frozen=True)
class Column:
    """One event field as a column: its Arrow type and the bounds the model enforces."""

    name: str
    arrow: pa.DataType
    required: bool
    values: tuple[str, ...] | None = None  # an enumeration's members
    min_length: int | None = None
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    strict_min: bool = False
    strict_max: bool = False
    json: bool = False  # an object, stored as its JSON text


def annotation_parts(annotation: Any) -> tuple[list[Any], list[Any], bool]:
    """The non-null member types of a field annotation, every constraint attached on the way,
    and whether None is allowed (a list type is kept whole: its column follows its items')."""
    origin = get_origin(annotation)
    if origin is Annotated:
        base, *extra = get_args(annotation)
        metadata: list[Any] = []
        for item in extra:
            metadata.extend(item.metadata if isinstance(item, FieldInfo) else [item])
        kinds, inner, nullable = annotation_parts(base)
        return kinds, metadata + inner, nullable
    if origin in (Union, types.UnionType):
        kinds, metadata, nullable = [], [], False
        for arg in get_args(annotation):
            if arg is type(None):
                nullable = True
                continue
            k, m, n = annotation_parts(arg)
            kinds += k
            metadata += m
            nullable = nullable or n
        return kinds, metadata, nullable
    if origin is list:
        return [annotation], [], False
    return [origin or annotation], [], False


def _unwrap(annotation: Any) -> tuple[list[Any], list[Any]]:
    """The non-null member types of an annotation and every constraint attached on the way."""
    kinds, metadata, _ = annotation_parts(annotation)
    return kinds, metadata


def _arrow(name: str, kinds: list[Any]) -> pa.DataType:
    if len(kinds) == 1 and get_origin(kinds[0]) is list:
        items, _ = _unwrap(get_args(kinds[0])[0])
        return pa.list_(_arrow(name, items))
    kind = set(kinds)
    if kind <= {int, float} and float in kind:
        return pa.float64()
    if kind == {int}:
        return pa.int64()
    if kind == {bool}:
        return pa.bool_()
    if kind == {datetime}:
        return TIMESTAMP
    if kind == {dict} or kind == {str} or kind == {UUID} or (len(kind) == 1 and issubclass(kinds[0], Enum)):
        return pa.string()
    raise TypeError(f"events.v1 field {name!r}: no column type for {kinds}")


def _column(name: str, info: FieldInfo) -> Column:
    kinds, metadata = _unwrap(info.annotation)
    metadata = list(info.metadata) + metadata
    bounds: dict[str, Any] = {}
    # pydantic's constraints are annotated-types objects (Ge, Gt, Le, Lt, MinLen, MaxLen):
    # read by their attribute, the one each kind carries.
    for item in metadata:
        if hasattr(item, "ge"):
            bounds["minimum"] = item.ge
        elif hasattr(item, "gt"):
            bounds.update(minimum=item.gt, strict_min=True)
        elif hasattr(item, "le"):
            bounds["maximum"] = item.le
        elif hasattr(item, "lt"):
            bounds.update(maximum=item.lt, strict_max=True)
        elif hasattr(item, "min_length"):
            bounds["min_length"] = item.min_length
        elif hasattr(item, "max_length"):
            bounds["max_length"] = item.max_length
    enum = kinds[0] if len(kinds) == 1 and isinstance(kinds[0], type) and issubclass(kinds[0], Enum) else None
    return Column(
        name=name,
        arrow=_arrow(name, kinds),
        required=info.is_required(),
        values=tuple(str(member.value) for member in enum) if enum else None,
        json=set(kinds) == {dict},
        **bounds,
    )


@cache
def model_columns(model: type[BaseModel]) -> tuple[Column, ...]:
    """Every field of a contract model as a column, in the model's order."""
    return tuple(_column(name, info) for name, info in model.model_fields.items())


def event_columns() -> tuple[Column, ...]:
    """Every `events.v1` field as a column, in the model's order."""
    return model_columns(Event)


@cache
def silver_schema() -> pa.Schema:
    """Silver's table: the event's columns (required ones not null), then the lineage."""
    fields = [pa.field(c.name, c.arrow, nullable=not c.required) for c in event_columns()]
    return pa.schema(fields + list(LINEAGE_FIELDS))


def event_row(event: Event) -> dict[str, Any]:
    """The column values of one event (an empty context is stored as null)."""
    return model_row(event)


def model_row(instance: BaseModel) -> dict[str, Any]:
    """The column values of one contract object (an empty object field is stored as null)."""
    row: dict[str, Any] = {}
    for column in model_columns(type(instance)):
        value = getattr(instance, column.name)
        if isinstance(value, Enum):
            value = value.value
        elif isinstance(value, UUID):
            value = str(value)
        elif column.json:
            value = json.dumps(value, sort_keys=True) if value else None
        elif column.arrow == pa.float64() and value is not None:
            value = float(value)
        elif isinstance(value, list):
            value = list(value)
        row[column.name] = value
    return row
