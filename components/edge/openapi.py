"""Building blocks of reco's OpenAPI 3.1 documents (JSON Schema 2020-12 inside), so each
service describes its edge from the same models that validate its requests."""

from __future__ import annotations

from typing import Any

FIELD_ERROR = {
    "type": "object",
    "description": "Which field failed (a dotted path; `$` is the body as a whole), why, and a stable code.",
    "required": ["field", "reason", "code"],
    "properties": {
        "field": {"type": "string"},
        "reason": {"type": "string"},
        "code": {"type": "string"},
    },
}
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "required": True,
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    }
}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_response(
    description: str, schema: dict[str, Any], headers: dict[str, Any] | None = None
) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }
    if headers:
        response["headers"] = headers
    return response


def text_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}}


def json_body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"required": True, "description": description, "content": {"application/json": {"schema": schema}}}


def document(
    title: str, version: str, description: str, paths: dict[str, Any], schemas: dict[str, Any]
) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "paths": paths,
        "components": {
            "schemas": {"FieldError": FIELD_ERROR, **schemas},
            "securitySchemes": {"adminToken": {"type": "http", "scheme": "bearer"}},
        },
    }


OPS_PORT_NOTE = (
    "Served on the ops port when the service has one (the cluster profile), else on the public port."
)


def health_paths(ready_schema: dict[str, Any]) -> dict[str, Any]:
    """`/healthz`, `/readyz` and `/metrics`, the same on every reco service."""
    return {
        "/healthz": {
            "get": {
                "summary": "The process answers",
                "description": OPS_PORT_NOTE,
                "operationId": "healthz",
                "responses": {"200": json_response("Alive", {"type": "object"})},
            }
        },
        "/readyz": {
            "get": {
                "summary": "Ready to take traffic, with what is degraded",
                "description": OPS_PORT_NOTE,
                "operationId": "readyz",
                "responses": {
                    "200": json_response("Ready", ready_schema),
                    "503": json_response("Not ready (the body says why)", ready_schema),
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "description": OPS_PORT_NOTE,
                "operationId": "metrics",
                "responses": {"200": text_response("Prometheus text exposition")},
            }
        },
    }
