"""The JSON Schema of an `events.v1` event, derived from the pydantic model (the one source of
the fields) plus the rules the model checks in code: which fields each event type requires or
refuses, and the bounds of the context. Used by the collector's OpenAPI document.

Not expressible in a schema, and said in the descriptions: `ts` must lie within the lateness
limit of the receiver's clock and at most five minutes ahead of it.
"""

from __future__ import annotations

from typing import Any

from components.events.schema import (
    CONTEXT_INT_MAX,
    CONTEXT_INT_MIN,
    CONTEXT_MAX_KEY_LEN,
    CONTEXT_MAX_KEYS,
    CONTEXT_MAX_STR_LEN,
    IMPRESSION_ONLY,
    IMPRESSION_REQUIRED,
    MAX_EVENT_AGE,
    MAX_FUTURE_SKEW,
    Event,
    EventType,
)

_DESCRIPTIONS = {
    "event_id": "UUID chosen by the sender: the idempotency key (a retry sends the same id).",
    "type": "impression (logged by the recommend service), view, click or dwell.",
    "user_id": "The reader: printable ASCII, 1-128 characters. The Kafka key.",
    "article_id": "The article: printable ASCII, 1-128 characters.",
    "ts": (
        "When it happened: ISO 8601 with a zone, kept in UTC. At most "
        f"{int(MAX_FUTURE_SKEW.total_seconds() // 60)} minutes ahead of the receiver's clock and "
        f"at most {MAX_EVENT_AGE.days} days behind it."
    ),
    "dwell_ms": "Reading time in milliseconds (dwell events only, required there).",
    "request_id": "The recommend response the item came from (required for impressions).",
    "position": "0-based position in that response (required for impressions).",
    "model_version": "The model version that served it (impressions).",
    "propensity": "Probability the serving policy showed this item here (impressions only).",
    "context": (
        f"At most {CONTEXT_MAX_KEYS} keys of 1-{CONTEXT_MAX_KEY_LEN} characters; values are "
        f"strings of at most {CONTEXT_MAX_STR_LEN} characters, booleans, 64-bit integers, "
        "numbers or null."
    ),
}


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
    props["propensity"] = {"type": "number", "exclusiveMinimum": 0, "maximum": 1}
    props["context"] = context_json_schema(CONTEXT_MAX_KEYS)
    for name, schema in props.items():
        schema["description"] = _DESCRIPTIONS[name]
    return props


def event_json_schema() -> dict[str, Any]:
    """One variant per event type: what it requires, what it refuses, nothing else."""
    props = _property_schemas()
    common_required = ["event_id", "type", "user_id", "article_id", "ts"]
    variants = []
    for kind in EventType:
        required = list(common_required)
        allowed = dict(props)
        # A field another type carries may be sent as null (it means absent), never with a value.
        if kind is EventType.IMPRESSION:
            required += list(IMPRESSION_REQUIRED)
        else:
            for name in IMPRESSION_REQUIRED:
                allowed[name] = {"type": "null"} if name in IMPRESSION_ONLY else _nullable(allowed[name])
        if kind is EventType.DWELL:
            required.append("dwell_ms")
        else:
            allowed["dwell_ms"] = {"type": "null"}
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
