"""The JSON Schema of an `events.v1` event, derived from the pydantic model (the one source of
the fields) plus the rules the model checks in code: which fields each event type requires or
refuses, and the bounds of the context. Used by the collector's OpenAPI document.

Not expressible in a schema, and said in the descriptions: `ts` must lie within the lateness
limit of the receiver's clock and at most five minutes ahead of it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from uuid import UUID

import pyarrow as pa
from pydantic import BaseModel

from components.events.articles import Article
from components.events.columns import Column, event_columns, model_columns
from components.events.dead_letter import DeadLetter
from components.events.schema import (
    CONTEXT_INT_MAX,
    CONTEXT_INT_MIN,
    CONTEXT_MAX_KEY_LEN,
    CONTEXT_MAX_KEYS,
    CONTEXT_MAX_STR_LEN,
    IMPRESSION_ONLY,
    IMPRESSION_REQUIRED,
    Event,
    EventType,
)

# pydantic writes the bounds of an annotated union member as its own keywords.
_BOUNDS = {"ge": "minimum", "gt": "exclusiveMinimum", "le": "maximum", "lt": "exclusiveMaximum"}


def _non_null(schema: dict[str, Any]) -> dict[str, Any]:
    """The field's schema without pydantic's `null` alternative of an optional field, with
    its bounds as JSON Schema keywords."""
    options = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
    inner = dict(options[0]) if len(options) == 1 else {k: v for k, v in schema.items() if k != "anyOf"}
    for key, standard in _BOUNDS.items():
        if key in schema:
            inner[standard] = schema[key]
        if key in inner:
            inner[standard] = inner.pop(key)
    return {k: v for k, v in inner.items() if k not in ("default", "title")}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def context_json_schema(max_keys: int) -> dict[str, Any]:
    """A small context object (see `check_context`)."""
    return {
        "type": "object",
        "maxProperties": max_keys,
        "propertyNames": {"minLength": 1, "maxLength": CONTEXT_MAX_KEY_LEN},
        "additionalProperties": {
            "anyOf": [
                {"type": "string", "maxLength": CONTEXT_MAX_STR_LEN},
                {"type": "boolean"},
                {"type": "integer", "minimum": CONTEXT_INT_MIN, "maximum": CONTEXT_INT_MAX},
                {"type": "number", "not": {"type": "integer"}},
                {"type": "null"},
            ]
        },
    }


def _property_schemas() -> dict[str, dict[str, Any]]:
    raw = Event.model_json_schema(mode="validation")["properties"]
    props = {name: _non_null(schema) for name, schema in raw.items()}
    for schema in props.values():
        schema.pop("title", None)
        schema.pop("default", None)
    props["type"] = {"type": "string", "enum": [t.value for t in EventType]}
    # pydantic puts the bounds of a union member where JSON Schema does not read them.
    propensity = next(c for c in event_columns() if c.name == "propensity")
    props["propensity"] = {
        "type": "number",
        "exclusiveMinimum" if propensity.strict_min else "minimum": propensity.minimum,
        "exclusiveMaximum" if propensity.strict_max else "maximum": propensity.maximum,
    }
    props["context"] = context_json_schema(CONTEXT_MAX_KEYS)
    for name, schema in props.items():
        schema["description"] = Event.model_fields[name].description
    return props


def event_json_schema() -> dict[str, Any]:
    """One variant per event type: what it requires, what it refuses, nothing else."""
    props = _property_schemas()
    common_required = [name for name, info in Event.model_fields.items() if info.is_required()]
    # An optional field whose default is null may be sent as null (it means absent).
    nullable = {
        name for name, info in Event.model_fields.items() if not info.is_required() and info.default is None
    }
    variants = []
    for kind in EventType:
        required = list(common_required)
        if kind is EventType.IMPRESSION:
            required += list(IMPRESSION_REQUIRED)
        if kind is EventType.DWELL:
            required.append("dwell_ms")
        # A field another type carries may be sent as null, never with a value.
        refused = set(IMPRESSION_ONLY) if kind is not EventType.IMPRESSION else set()
        if kind is not EventType.DWELL:
            refused.add("dwell_ms")
        allowed = {
            name: (
                {"type": "null"}
                if name in refused
                else _nullable(schema) if name in nullable and name not in required else schema
            )
            for name, schema in props.items()
        }
        allowed["type"] = {"const": kind.value, "description": props["type"]["description"]}
        variants.append(
            {
                "title": f"{kind.value} event",
                "type": "object",
                "additionalProperties": False,
                "required": required,
                "properties": allowed,
            }
        )
    return {
        "title": "events.v1 event",
        "description": ("One event; unknown fields are refused and every refusal names the field and why."),
        "oneOf": variants,
    }


def dead_letter_json_schema() -> dict[str, Any]:
    """The `events.dlq.v1` envelope, straight from its model."""
    return DeadLetter.model_json_schema(mode="validation")


def article_json_schema() -> dict[str, Any]:
    """The `articles.v1` article, straight from its model (the rules checked in code, such as
    the time order and distinct tags, are said in the descriptions)."""
    schema = Article.model_json_schema(mode="validation")
    schema["title"] = "articles.v1 article"
    # Self-contained (the enum inlined): it is embedded in OpenAPI documents, where a `#/$defs`
    # reference would point at the document's root.
    return _standard_bounds(_inline_defs(schema, schema.pop("$defs", {})))


def _standard_bounds(node: Any) -> Any:
    """pydantic writes the bounds of a validated integer (JsonInt) as `ge`/`le`: JSON Schema's
    readers only know `minimum`/`maximum`."""
    if isinstance(node, dict):
        out = {k: _standard_bounds(v) for k, v in node.items()}
        if out.get("type") in ("integer", "number"):
            for key, standard in _BOUNDS.items():
                if key in out:
                    out[standard] = out.pop(key)
        return out
    if isinstance(node, list):
        return [_standard_bounds(v) for v in node]
    return node


def _inline_defs(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        target = node.get("$ref", "")
        if isinstance(target, str) and target.startswith("#/$defs/"):
            rest = {k: v for k, v in node.items() if k != "$ref"}
            return {**_inline_defs(defs[target.removeprefix("#/$defs/")], defs), **rest}
        return {k: _inline_defs(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline_defs(v, defs) for v in node]
    return node


# The committed JSON Schema of each contract (`docs/contracts/`): the tests fail when the
# models change and the files do not (`./pants run pipelines/docs/main.py -- --write`).
CONTRACT_SCHEMAS = {
    "docs/contracts/events.v1.schema.json": ("events.v1", event_json_schema),
    "docs/contracts/events.dlq.v1.schema.json": ("events.dlq.v1", dead_letter_json_schema),
    "docs/contracts/articles.v1.schema.json": ("articles.v1", article_json_schema),
}


def render_contract_schema(path: str) -> str:
    """The text of one committed contract schema (draft 2020-12, stable key order)."""
    name, build = CONTRACT_SCHEMAS[path]
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": f"urn:reco:{name}", **build()}
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


_KINDS = {"string": "string", "int64": "integer", "double": "number"}


def _kind(column: Column, annotation: Any) -> str:
    if column.values:
        return " \\| ".join(f"`{value}`" for value in column.values)
    if annotation is UUID:
        return "UUID"
    if column.json:
        return "object"
    if pa.types.is_list(column.arrow):
        return f"list of {_KINDS.get(str(column.arrow.value_type), str(column.arrow.value_type))}"
    return _KINDS.get(str(column.arrow), "ISO 8601 time")


def fields_table(model: type[BaseModel], required_when: Mapping[str, str] | None = None) -> str:
    """A contract's fields as a Markdown table (docs/architecture.md), from its model:
    `required_when` names the fields only some kinds of record require."""
    columns = {c.name: c for c in model_columns(model)}
    lines = ["| field | type | required | description |", "|---|---|---|---|"]
    for name, info in model.model_fields.items():
        required = "yes" if info.is_required() else (required_when or {}).get(name, "no")
        description = (info.description or "").replace("|", "\\|")
        lines.append(f"| `{name}` | {_kind(columns[name], info.annotation)} | {required} | {description} |")
    return "\n".join(lines) + "\n"


def contract_table() -> str:
    """The `events.v1` fields as a Markdown table."""
    return fields_table(
        Event, {**{name: "impressions" for name in IMPRESSION_REQUIRED}, "dwell_ms": "dwell events"}
    )


def article_table() -> str:
    """The `articles.v1` fields as a Markdown table."""
    return fields_table(Article)
