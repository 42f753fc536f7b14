"""The recommend service's OpenAPI document (served at /openapi.json), from the request model
and the limits in the settings."""

from __future__ import annotations

from typing import Any

from components.config.settings import ServingSettings
from components.edge.openapi import OPS_PORT_NOTE, document, health_paths, json_body, json_response, ref
from components.events.jsonschema import context_json_schema
from components.events.schema import IDENTIFIER_MAX_LEN, IDENTIFIER_PATTERN
from components.serving.schema import REQUEST_CONTEXT_MAX_KEYS

IDENTIFIER = {"type": "string", "pattern": IDENTIFIER_PATTERN}
# The answer of DELETE /users/{user_id} (components.erasure.ErasureResult).
ERASURE_RESULT = {
    "type": "object",
    "required": [
        "user_hash", "erased_at", "tombstone", "redis_keys_deleted", "online_store", "online_rows_deleted",
        "pending",
    ],
    "properties": {
        "user_hash": {"type": "string", "description": "sha256 of the reader id (logs name the reader so)."},
        "erased_at": {"type": "string", "format": "date-time"},
        "tombstone": {"type": "string", "description": "The tombstone's path in the lake."},
        "redis_keys_deleted": {"type": "object", "additionalProperties": {"type": "integer"}},
        "online_store": {"type": "string", "enum": ["redis", "sqlite"]},
        "online_rows_deleted": {"type": "integer", "minimum": 0},
        "pending": {"type": "array", "items": {"type": "string"}},
    },
}  # fmt: skip


def recommender_openapi(settings: ServingSettings) -> dict[str, Any]:
    request = {
        "type": "object",
        "additionalProperties": False,
        "required": ["user_id"],
        "properties": {
            "user_id": {**IDENTIFIER, "description": "The reader (printable ASCII, 1-128 characters)."},
            "k": {"type": "integer", "minimum": 1, "maximum": settings.max_k, "default": 10},
            "exclude": {
                "type": "array",
                "maxItems": settings.max_exclude,
                "items": IDENTIFIER,
                "description": "Article ids never to return (besides the reader's recent reads).",
            },
            "context": {
                **context_json_schema(REQUEST_CONTEXT_MAX_KEYS),
                "description": "Page context, logged with the impressions.",
            },
        },
    }
    item = {
        "type": "object",
        "required": ["article_id", "score", "reason"],
        "properties": {
            "article_id": {"type": "string"},
            "score": {"type": "number"},
            "reason": {"type": "string"},
        },
    }
    answer = {
        "type": "object",
        "required": ["items", "model_version", "variant", "request_id", "latency_ms", "arm", "ranked_by"],
        "properties": {
            "items": {"type": "array", "items": item},
            "ranked_by": {
                "type": "string",
                "enum": ["ranker", "cf", "popular"],
                "description": "What ranked the list: the learned ranker, a collaborative model, or the "
                "popular list (cold start, no model, or a ranker that failed). Item reasons name the "
                "ranker's candidate source (content, sections, trending, popular).",
            },
            "model_version": {"type": "string"},
            "variant": {"type": "string"},
            "request_id": {"type": "string"},
            "latency_ms": {"type": "number"},
            "arm": {"type": "string"},
        },
    }
    invalid = {
        "type": "object",
        "required": ["error"],
        "properties": {"error": ref("FieldError"), "errors": {"type": "array", "items": ref("FieldError")}},
    }
    refused = {"type": "object", "required": ["error"]}
    admin_refusals = {
        "401": json_response("No or a wrong bearer token", refused),
        "403": json_response("Admin endpoints are disabled (no token configured)", refused),
    }
    admin: list[dict[str, list[str]]] = [{"adminToken": []}]
    paths = {
        "/recommend": {
            "post": {
                "summary": "A list of articles for a reader",
                "description": (
                    "Never returns the request's exclusions, the reader's recent reads, or "
                    "unpublished or expired articles. The answer says which model version and "
                    "variant served it; its impressions are logged by the service."
                ),
                "operationId": "recommend",
                "requestBody": json_body(request, "Who, how many, what not"),
                "responses": {
                    "200": json_response("The list", answer),
                    "408": json_response("The body did not arrive in time", invalid),
                    "422": json_response("A field broke a rule (named, with the reason)", invalid),
                    "500": json_response("Internal error (logged with the request id)", invalid),
                },
            }
        },
        **health_paths(
            {"type": "object", "required": ["ready"], "properties": {"ready": {"type": "boolean"}}}
        ),
        "/admin/reload": {
            "post": {
                "summary": "Read the model publication now and load what moved",
                "operationId": "adminReload",
                "description": OPS_PORT_NOTE,
                "security": admin,
                "responses": {"200": json_response("Loaded versions", {"type": "object"}), **admin_refusals},
            }
        },
        "/admin/canary": {
            "post": {
                "summary": "Set the canary's share of readers",
                "operationId": "adminCanary",
                "description": OPS_PORT_NOTE,
                "security": admin,
                "requestBody": json_body(
                    {
                        "type": "object",
                        "required": ["share"],
                        "properties": {"share": {"type": "number", "minimum": 0, "maximum": 1}},
                    },
                    "The share, within [0, 1]",
                ),
                "responses": {
                    "200": json_response("The rollout state", {"type": "object"}),
                    "422": json_response("A bad share", invalid),
                    **admin_refusals,
                },
            }
        },
        "/users/{user_id}": {
            "delete": {
                "summary": "Erase a reader (the right to be forgotten)",
                "operationId": "eraseUser",
                "description": (
                    "Records the reader's tombstone in the lake (silver builds and training leave "
                    "their earlier events out from then on) and deletes their Redis state: recent "
                    "reads and online feature row. The lake files, Kafka and the models catch up "
                    "later (`pending`; docs/operations.md, Erasure). Idempotent. " + OPS_PORT_NOTE
                ),
                "security": admin,
                "parameters": [
                    {
                        "name": "user_id",
                        "in": "path",
                        "required": True,
                        "description": "The reader (printable ASCII, 1-128 characters, as in events.v1).",
                        "schema": {**IDENTIFIER, "minLength": 1, "maxLength": IDENTIFIER_MAX_LEN},
                    }
                ],
                "responses": {
                    "200": json_response("What was erased, and what propagates later", ERASURE_RESULT),
                    "422": json_response("The id breaks the reader id rules (field `user_id`)", invalid),
                    "503": json_response(
                        "Redis or the lake failed: retry (every step is idempotent)", refused
                    ),
                    **admin_refusals,
                },
            }
        },
    }
    return document(
        "reco recommend API",
        "1",
        "Recommendations for readers; admin actions need the bearer token.",
        paths,
        {},
    )
