"""The recommend API (Starlette): the HTTP edge of components/serving.

- `POST /recommend {user_id, k=10, exclude=[], context={}}` ->
  `{items: [{article_id, score, reason}], model_version, variant, request_id, latency_ms}`;
  422 with `{error: {field, reason, code}, errors: [...]}` for a bad body (malformed JSON,
  unknown fields, k outside 1..max_k, too long exclude list, oversized body).
- `GET /healthz` (the process answers), `GET /readyz` (200 once a champion and a catalogue are
  loaded, with the degraded dependencies listed), `GET /metrics` (Prometheus).
- Admin, with `Authorization: Bearer <RECO_SERVING__ADMIN_TOKEN>`: `POST /admin/reload` (read
  the publication now), `POST /admin/canary {share}`, `DELETE /users/{user_id}` (erase a
  reader: components/erasure; docs/operations.md, "Erasure"). A rollback is a registry
  operation (`pipelines/registry/main.py rollback`): MLflow is its system of record, and the
  service, which never talks to MLflow, serves what that command publishes.
- `POST /related {article_id, k=10, exclude=[], user_id?, filters?, context={}}`: articles
  related to one article (components/serving/related.py), answered like `/recommend`;
  `filters: {sections: [...]}` on both restricts the list to those sections.
- `GET /openapi.json`: the OpenAPI 3.1 document of all of the above; `GET /docs`: a page over
  it (Swagger UI from a pinned package, no CDN); `GET /reco.js`: the browser module pages use
  (components/webclient).

With `ops_port` set (the cluster profile), health, readiness, metrics and admin answer there
and the public port serves `/recommend`, `/related`, `/openapi.json`, `/docs` and `/reco.js` only. Pages
of the origins in `RECO_SERVING__CORS_ORIGINS` may call the public API (CORS); other pages'
writes are refused (components/edge/web.py).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import ValidationError
from redis import Redis
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from components.config import Settings
from components.edge.ports import PortSplit
from components.edge.web import DOCS_PATHS, docs_routes, web_edge
from components.erasure import ErasureResult, InvalidReaderIdError, check_user_id, erase_reader
from components.events import FieldError
from components.events.errors import field_label
from components.intake import BodyError, read_bounded_body
from components.lake import LakeStore
from components.serving.clock import Clock
from components.serving.metrics import ServingMetrics
from components.serving.openapi import recommender_openapi
from components.serving.schema import (
    ListRequest,
    RecommendRequest,
    RelatedRequest,
    field_errors,
    parse_related,
    parse_request,
)
from components.serving.service import RecommendService
from components.webclient import reco_js

log = logging.getLogger("reco.recommender")

PUBLIC_PATHS = {"/recommend", "/related", "/openapi.json", "/reco.js", *DOCS_PATHS}
# Label values of the invalid-request counter: the request's own fields, never a client's key.
KNOWN_FIELDS = {"$", *RecommendRequest.model_fields, *RelatedRequest.model_fields}


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None, **kw: Any) -> Response:
    return Response(
        orjson.dumps(payload), status_code=status, media_type="application/json", headers=headers, **kw
    )


def create_app(settings: Settings, metrics: ServingMetrics | None = None, clock: Clock | None = None) -> Any:
    """The recommend API. `clock`: the wall clock unless a replay harness injects another
    (benchmarks/clocked_recommender.py); no setting can change it."""
    metrics = metrics or ServingMetrics()
    service = RecommendService(settings, metrics, clock)
    metrics.watch_impressions(
        lambda: (
            service.impressions.sent,
            service.impressions.dropped,
            service.impressions.failed_sends,
            service.impressions.pending,
        )
    )
    limits = settings.serving
    token = limits.admin_token.get_secret_value().encode() if limits.admin_token else None

    openapi = orjson.dumps(recommender_openapi(limits))

    def invalid(errors: list[FieldError], status: int = 422) -> Response:
        metrics.requests.labels(variant="none", outcome="invalid").inc()
        for error in errors:
            metrics.invalid.labels(field=field_label(error.field, KNOWN_FIELDS)).inc()
        return _json({"error": errors[0].as_dict(), "errors": [e.as_dict() for e in errors]}, status)

    async def read(
        request: Request, parse: Callable[..., ListRequest]
    ) -> tuple[Any, float | None] | Response:
        """The validated body and the time it is served at, or the 4xx answer naming the field."""
        try:
            body = await read_bounded_body(
                request, limits.max_body_bytes, status=422, timeout_s=limits.body_timeout_s
            )
            parsed = parse(body, max_k=limits.max_k, max_exclude=limits.max_exclude)
        except BodyError as exc:
            return invalid([exc.error], exc.status)
        except ValidationError as exc:
            return invalid(field_errors(exc))
        try:
            return parsed, service.clock.at(parsed)
        except ValueError as exc:
            return invalid([FieldError("context.now", str(exc), "invalid")])

    def internal_error() -> Response:
        metrics.errors.labels(kind="internal").inc()
        return _json({"error": {"field": "$", "reason": "internal error", "code": "internal"}}, 500)

    async def recommend(request: Request) -> Response:
        got = await read(request, parse_request)
        if isinstance(got, Response):
            return got
        parsed, now = got
        try:
            answer = await service.recommend(parsed, now=now)
        except Exception:
            metrics.requests.labels(variant="none", outcome="error").inc()
            log.exception("recommend failed for user %s", parsed.user_id)
            return internal_error()
        background = BackgroundTask(answer.shadow) if answer.shadow else None
        return _json(answer.as_dict(), background=background)

    async def related(request: Request) -> Response:
        got = await read(request, parse_related)
        if isinstance(got, Response):
            return got
        parsed, now = got
        try:
            answer = await service.related(parsed, now=now)
        except Exception:
            log.exception("related failed for article %s", parsed.article_id)
            return internal_error()
        return _json(answer.as_dict())

    async def healthz(request: Request) -> Response:
        return _json({"status": "ok"})

    async def readyz(request: Request) -> Response:
        ready, body = service.readiness()
        return _json(body, 200 if ready else 503)

    async def metrics_endpoint(request: Request) -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    async def openapi_endpoint(request: Request) -> Response:
        return Response(openapi, media_type="application/json")

    async def reco_js_endpoint(request: Request) -> Response:
        return Response(
            reco_js(),
            media_type="text/javascript; charset=utf-8",
            headers={"cache-control": "public, max-age=300"},
        )

    def authorized(request: Request) -> Response | None:
        if token is None:
            return _json({"error": "admin endpoints are disabled: set RECO_SERVING__ADMIN_TOKEN"}, 403)
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token):
            return _json(
                {"error": "a valid bearer token is required"}, 401, headers={"WWW-Authenticate": "Bearer"}
            )
        return None

    async def admin_reload(request: Request) -> Response:
        if (refused := authorized(request)) is not None:
            return refused
        return _json({"models": await service.reload_models(), "problems": service.health.problems})

    async def admin_canary(request: Request) -> Response:
        if (refused := authorized(request)) is not None:
            return refused
        try:
            payload = orjson.loads(await read_bounded_body(request, 1024, status=422))
        except BodyError as exc:
            return invalid([exc.error])
        except orjson.JSONDecodeError as exc:
            return invalid([FieldError("$", f"malformed JSON: {exc}", "malformed_json")])
        share = payload.get("share") if isinstance(payload, dict) else None
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0.0 <= share <= 1.0:
            return invalid(
                [FieldError("share", f"must be a number within [0, 1] (got {share!r})", "invalid_value")]
            )
        return _json(await service.set_canary_share(float(share)))

    def erase(user_id: str) -> ErasureResult:
        lake = LakeStore.from_settings(settings.lake)
        with Redis.from_url(settings.redis.url, socket_timeout=5, socket_connect_timeout=5) as redis:
            return erase_reader(settings, lake, redis, user_id, datetime.now(UTC))

    async def erase_user(request: Request) -> Response:
        if (refused := authorized(request)) is not None:
            return refused
        try:
            user_id = check_user_id(request.path_params["user_id"])
        except InvalidReaderIdError as exc:
            return invalid([exc.error])
        try:
            result = await asyncio.to_thread(erase, user_id)
        except Exception as exc:
            log.exception("erasure failed (it is idempotent: retry)")
            return _json({"error": f"erasure failed, retry: {type(exc).__name__}"}, 503)
        return _json(result.as_dict())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await service.start()
        app.state.service = service
        metrics.watch_gc()
        yield
        metrics.unwatch_gc()
        await service.stop()

    app = Starlette(
        routes=[
            Route("/recommend", recommend, methods=["POST"]),
            Route("/related", related, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
            Route("/openapi.json", openapi_endpoint, methods=["GET"]),
            Route("/reco.js", reco_js_endpoint, methods=["GET"]),
            Route("/admin/reload", admin_reload, methods=["POST"]),
            Route("/admin/canary", admin_canary, methods=["POST"]),
            # `path`: a reader id may hold "/" (any printable ASCII); the id rules are checked inside.
            Route("/users/{user_id:path}", erase_user, methods=["DELETE"]),
            *docs_routes("reco recommend API"),
        ],
        lifespan=lifespan,
    )
    edge = web_edge(app, limits.cors_origins, methods=["GET", "POST"])
    return PortSplit(edge, public_paths=PUBLIC_PATHS, ops_port=limits.ops_port)
