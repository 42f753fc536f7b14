"""The recommend service's OpenAPI document (served at /openapi.json), from the request model
and the limits in the settings."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from components.config.settings import ServingSettings
from components.edge.openapi import OPS_PORT_NOTE, document, health_paths, json_body, json_response, ref
from components.events.jsonschema import context_json_schema
from components.events.schema import IDENTIFIER_MAX_LEN, IDENTIFIER_PATTERN
from components.serving.related import RELATED_STAGES
from components.serving.schema import REQUEST_CONTEXT_MAX_KEYS, RecommendRequest, RelatedRequest

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


def _inlined(node: Any, defs: dict[str, Any]) -> Any:
    """pydantic's JSON Schema without titles, its `$defs` inlined (small, and a reader of the
    docs sees each request whole)."""
    if isinstance(node, dict):
        if "$ref" in node:
            return _inlined(defs[node["$ref"].rsplit("/", 1)[1]], defs)
        return {k: _inlined(v, defs) for k, v in node.items() if k not in ("title", "$defs")}
    if isinstance(node, list):
        return [_inlined(v, defs) for v in node]
    return node


def request_schema(model: type[BaseModel], settings: ServingSettings) -> dict[str, Any]:
    """The request's JSON Schema from the model that validates it, with the rules it checks in
    code: k and exclude bounded by the settings, the context's size and value rules."""
    raw = model.model_json_schema()
    schema: dict[str, Any] = _inlined(raw, raw.get("$defs", {}))
    properties = schema["properties"]
    properties["k"].update(minimum=1, maximum=settings.max_k)
    properties["exclude"]["maxItems"] = settings.max_exclude
    properties["context"] = {
        **context_json_schema(REQUEST_CONTEXT_MAX_KEYS),
        "description": properties["context"]["description"],
    }
    return schema


def recommender_openapi(settings: ServingSettings) -> dict[str, Any]:
    request = request_schema(RecommendRequest, settings)
    related_request = request_schema(RelatedRequest, settings)
    item = {
        "type": "object",
        "required": ["article_id", "score", "reason"],
        "properties": {
            "article_id": {"type": "string"},
            "score": {"type": "number"},
            "reason": {"type": "string"},
        },
    }
    answer: dict[str, Any] = {
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
    related_answer = {
        **answer,
        "properties": {
            **answer["properties"],
            "ranked_by": {
                "type": "string",
                "enum": list(RELATED_STAGES),
                "description": "What placed the first item: `content` (nearest article texts, with the "
                "learned ranker), `cf` (readers of this article also read), `section` (popular in its "
                "section), `popular`. Item reasons name the stage of each item.",
            },
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
                    "variant served it; its impressions are logged by the service. Without "
                    "`user_id` (a reader who did not consent) the list is non-personal and no "
                    "impression is logged."
                ),
                "operationId": "recommend",
                "requestBody": json_body(request, "Who, how many, what not"),
                "responses": {
                    "200": json_response("The list", answer),
                    "408": json_response("The body did not arrive in time", invalid),
                    "403": json_response("A page of an origin that is not allowed", invalid),
                    "422": json_response("A field broke a rule (named, with the reason)", invalid),
                    "500": json_response("Internal error (logged with the request id)", invalid),
                },
            }
        },
        "/related": {
            "post": {
                "summary": "Articles related to one article (a story page's rail)",
                "description": (
                    "Never returns the article itself, the request's exclusions, unpublished or "
                    "expired articles, or (with `user_id`) the reader's recent reads. An article "
                    "the catalogue does not list yet is answered with popular articles "
                    "(`ranked_by: popular`). Impressions are logged only when `user_id` is given "
                    "(context `surface: related`): clicks echo `request_id` and `position`."
                ),
                "operationId": "related",
                "requestBody": json_body(related_request, "Which article, how many, what not"),
                "responses": {
                    "200": json_response("The list", related_answer),
                    "403": json_response("A page of an origin that is not allowed", invalid),
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
        "Recommendations for readers; admin actions need the bearer token. Pages of the origins in "
        "`RECO_SERVING__CORS_ORIGINS` may call `/recommend` and `/related` from a browser (CORS); "
        "a write from any other page's origin is refused with 403 (field `Origin`).",
        paths,
        {},
    )
