"""The collector's OpenAPI document, from the `events.v1` contract (served at /openapi.json)."""

from __future__ import annotations

from typing import Any

from components.config.settings import CollectorSettings
from components.edge.openapi import RETRY_AFTER, document, health_paths, json_body, json_response, ref
from components.events.jsonschema import article_json_schema, event_json_schema
from components.intake.articles import ArticleOutcome
from components.intake.intake import EventOutcome


def _results(id_key: str) -> dict[str, Any]:
    """The per-item answer of a batch endpoint (items echo their id under `id_key`)."""
    outcome = {
        "type": "object",
        "required": ["index", "status"],
        "properties": {
            "index": {"type": "integer", "minimum": 0},
            "status": {"enum": ["accepted", "rejected"]},
            id_key: {"type": "string"},
            "errors": {"type": "array", "items": ref("FieldError")},
        },
    }
    return {
        "type": "object",
        "required": ["accepted", "rejected", "results"],
        "properties": {
            "accepted": {"type": "integer", "minimum": 0},
            "rejected": {"type": "integer", "minimum": 0},
            "results": {"type": "array", "items": outcome},
        },
    }


def collector_openapi(settings: CollectorSettings) -> dict[str, Any]:
    results = _results(EventOutcome.ID_KEY)
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
    article_results = _results(ArticleOutcome.ID_KEY)
    articles_body = {
        "oneOf": [
            ref("Article"),
            {"type": "array", "minItems": 1, "maxItems": settings.max_articles, "items": ref("Article")},
            {
                "type": "object",
                "required": ["articles"],
                "additionalProperties": False,
                "properties": {
                    "articles": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": settings.max_articles,
                        "items": ref("Article"),
                    }
                },
            },
        ]
    }
    refused = {"type": "object", "required": ["error"]}
    admin: list[dict[str, list[str]]] = [{"adminToken": []}]
    admin_refusals = {
        "401": json_response("No or a wrong bearer token", refused),
        "403": json_response("Catalogue endpoints are disabled (no token configured)", refused),
    }
    ops_note = " With an ops port set (the cluster profile), it answers on the ops port only."
    paths = {
        "/articles": {
            "post": {
                "summary": "Upsert articles of the catalogue (the CMS)",
                "description": (
                    "Each article (`articles.v1`) is answered on its own, by index. Accepted ones are "
                    "on the broker (topic articles.v1, keyed by article id) when the answer comes; "
                    "the catalogue consumer writes them to the lake, a withdrawal (status "
                    "unpublished or deleted) reaches the recommend replicas within seconds." + ops_note
                ),
                "operationId": "postArticles",
                "security": admin,
                "requestBody": json_body(
                    articles_body,
                    f"One article, an array of 1-{settings.max_articles}, or {{articles: [...]}}",
                ),
                "responses": {
                    "202": json_response("Every article accepted", article_results),
                    "207": json_response("Some accepted, some rejected", article_results),
                    "422": json_response("Every article rejected", article_results),
                    "400": json_response("Unusable body (malformed JSON, empty batch)", failure),
                    "413": json_response("Body or batch too large", failure),
                    "503": json_response(
                        "The broker did not acknowledge: nothing accepted, retry", failure, RETRY_AFTER
                    ),
                    **admin_refusals,
                },
            }
        },
        "/articles/{article_id}": {
            "delete": {
                "summary": "Take an article down",
                "description": (
                    "The takedown is on the broker when the answer comes; it leaves /recommend within "
                    "5 s and the lake's snapshot keeps it as deleted, without its content." + ops_note
                ),
                "operationId": "deleteArticle",
                "security": admin,
                "parameters": [
                    {
                        "name": "article_id",
                        "in": "path",
                        "required": True,
                        "schema": article_json_schema()["properties"]["article_id"],
                    }
                ],
                "responses": {
                    "202": json_response("Taken down", {"type": "object"}),
                    "422": json_response("The id breaks the identifier rule", failure),
                    "503": json_response(
                        "The broker did not acknowledge: nothing accepted, retry", failure, RETRY_AFTER
                    ),
                    **admin_refusals,
                },
            }
        },
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
        {"Event": event_json_schema(), "Article": article_json_schema()},
    )
