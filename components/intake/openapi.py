"""The collector's OpenAPI document, from the `events.v1` contract (served at /openapi.json)."""

from __future__ import annotations

from typing import Any

from components.config.settings import CollectorSettings
from components.edge.openapi import RETRY_AFTER, document, health_paths, json_body, json_response, ref
from components.events.jsonschema import event_json_schema


def collector_openapi(settings: CollectorSettings) -> dict[str, Any]:
    outcome = {
        "type": "object",
        "required": ["index", "status"],
        "properties": {
            "index": {"type": "integer", "minimum": 0},
            "status": {"enum": ["accepted", "rejected"]},
            "event_id": {"type": "string"},
            "errors": {"type": "array", "items": ref("FieldError")},
        },
    }
    results = {
        "type": "object",
        "required": ["accepted", "rejected", "results"],
        "properties": {
            "accepted": {"type": "integer", "minimum": 0},
            "rejected": {"type": "integer", "minimum": 0},
            "results": {"type": "array", "items": outcome},
        },
    }
    failure = {
        "type": "object",
        "required": ["accepted", "error"],
        "properties": {
            "accepted": {"const": 0},
            "rejected": {"type": ["integer", "null"]},
            "error": ref("FieldError"),
        },
    }
    body = {
        "oneOf": [
            ref("Event"),
            {"type": "array", "minItems": 1, "maxItems": settings.max_batch, "items": ref("Event")},
        ]
    }
    paths = {
        "/events": {
            "post": {
                "summary": "Send one event or a batch",
                "description": (
                    "Each event is answered on its own, by index. Accepted events are on the "
                    "broker when the answer comes; rejected ones are dead-lettered with their "
                    "reasons. Events of known crawlers, a reader sending more than "
                    f"{settings.user_events_per_min} events a minute, and the same view or click "
                    f"again within {settings.duplicate_window_s:g} s are refused (codes "
                    "`bot_user_agent`, `impossible_rate`, `duplicate_burst`)."
                ),
                "operationId": "postEvents",
                "requestBody": json_body(body, f"One event, or an array of 1-{settings.max_batch}"),
                "responses": {
                    "202": json_response("Every event accepted", results),
                    "207": json_response("Some accepted, some rejected", results),
                    "422": json_response("Every event rejected", results),
                    "400": json_response(
                        "Unusable body (malformed JSON, empty batch, not an object)", failure
                    ),
                    "408": json_response("The body did not arrive in time", failure),
                    "413": json_response("Body or batch too large", failure),
                    "429": json_response(
                        "Too many events from this client: retry later", failure, RETRY_AFTER
                    ),
                    "503": json_response(
                        "The broker did not acknowledge: nothing accepted, retry", failure, RETRY_AFTER
                    ),
                },
            }
        },
        **health_paths(
            {"type": "object", "required": ["ready"], "properties": {"ready": {"type": "boolean"}}}
        ),
    }
    return document(
        "reco collector",
        "1",
        "Ingests reader events (`events.v1`) into Kafka. Every refusal names the field and the reason.",
        paths,
        {"Event": event_json_schema()},
    )
