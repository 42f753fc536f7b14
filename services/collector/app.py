"""The collector: `POST /events` takes one event or a batch, answers per event, and
acknowledges only what the broker acknowledged.

Statuses: 202 all accepted, 207 some rejected, 422 all rejected, 400 unusable body, 408 body
too slow, 413 too large, 429 (with Retry-After) when the client sends too fast, 503 (with
Retry-After) when Kafka did not acknowledge: then nothing was accepted. No answer carries an
internal address or a secret: the details go to the log.

The catalogue, with `Authorization: Bearer <RECO_COLLECTOR__ADMIN_TOKEN>` (the CMS):
`POST /articles` upserts one article or a batch (`articles.v1`; statuses as for events) and
`DELETE /articles/{id}` takes one down (202); both answer only after the broker acknowledged
them. Without a token set they answer 403.

With `ops_port` set (the cluster profile), `/healthz`, `/readyz`, `/metrics` and the catalogue
endpoints answer there and the public port serves `POST /events`, `/openapi.json` and `/docs`
(Swagger UI from a pinned package). Pages of the origins in `RECO_COLLECTOR__CORS_ORIGINS` may
send events from a browser (CORS); other pages' writes are refused with 403 (field `Origin`,
components/edge/web.py). A `text/plain` body is read as JSON (`navigator.sendBeacon`).
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from components.config import Settings
from components.edge.ports import PortSplit
from components.edge.web import DOCS_PATHS, docs_routes, web_edge
from components.events import FieldError
from components.events.articles import check_article_id
from components.events.errors import field_label
from components.events.schema import Event
from components.intake import (
    BodyError,
    EventIntake,
    IntakeGuard,
    IntakeResult,
    RateLimitedError,
    read_bounded_body,
)
from components.intake.articles import ArticleIntake
from components.intake.openapi import collector_openapi
from components.logs import bind_request
from components.streaming import BrokerUnavailableError, EventProducer

log = logging.getLogger("reco.collector")

KNOWN_FIELDS = {"$", *Event.model_fields}
PUBLIC_PATHS = {"/events", "/openapi.json", *DOCS_PATHS}


class CollectorMetrics:
    def __init__(self, registry: CollectorRegistry):
        self.events = Counter("reco_collector_events", "Events by outcome", ["outcome"], registry=registry)
        self.rejections = Counter(
            "reco_collector_rejections",
            "Rejected fields by field and kind",
            ["field", "code"],
            registry=registry,
        )
        self.requests = Counter(
            "reco_collector_requests", "Requests by HTTP status", ["status"], registry=registry
        )
        self.produce_seconds = Histogram(
            "reco_collector_produce_seconds",
            "Time from a valid body to the broker's acknowledgement",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=registry,
        )
        self.articles = Counter(
            "reco_collector_articles",
            "Catalogue changes by outcome (accepted, rejected, taken_down)",
            ["outcome"],
            registry=registry,
        )
        self.rate_limited = Counter(
            "reco_collector_rate_limited_events",
            "Events of requests refused with 429 (a client above its rate)",
            registry=registry,
        )

    def count_rejections(self, errors: list[FieldError]) -> None:
        for error in errors:
            self.rejections.labels(field=field_label(error.field, KNOWN_FIELDS), code=error.code).inc()


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type="application/json", headers=headers)


def create_app(settings: Settings, registry: CollectorRegistry | None = None) -> Any:
    registry = registry or CollectorRegistry()
    metrics = CollectorMetrics(registry)
    cfg = settings.collector
    topics = [settings.kafka.events_topic, settings.kafka.dead_letter_topic, settings.kafka.articles_topic]
    producer = EventProducer(settings.kafka, timeout_s=cfg.produce_timeout_s, ensure=topics)
    guard = IntakeGuard(cfg)
    intake = EventIntake(producer, max_batch=cfg.max_batch, guard=guard)
    articles = ArticleIntake(producer, settings.kafka.articles_topic, max_batch=cfg.max_articles)
    token = cfg.admin_token.get_secret_value().encode() if cfg.admin_token else None
    unavailable_headers = {"Retry-After": str(cfg.retry_after_s)}
    openapi = orjson.dumps(collector_openapi(cfg))

    def answer(status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
        metrics.requests.labels(status=str(status)).inc()
        return _json(payload, status, headers)

    async def post_events(request: Request) -> Response:
        request_id = os.urandom(8).hex()
        bind_request(request_id=request_id)
        peer = request.client.host if request.client else None
        client = guard.client(peer, request.headers.get("x-forwarded-for"), request.headers.get("user-agent"))
        try:
            body = await read_bounded_body(request, cfg.max_body_bytes, timeout_s=cfg.body_timeout_s)
            started = time.perf_counter()
            result: IntakeResult = await intake.submit(body, client=client)
        except RateLimitedError as exc:
            metrics.rate_limited.inc(exc.events)
            error = FieldError("$", str(exc), "rate_limited")
            headers = {"Retry-After": str(int(exc.retry_after_s))}
            return answer(429, {"accepted": 0, "rejected": None, "error": error.as_dict()}, headers)
        except BodyError as exc:
            metrics.count_rejections([exc.error])
            return answer(exc.status, {"accepted": 0, "rejected": None, "error": exc.error.as_dict()})
        except BrokerUnavailableError as exc:
            log.warning("answering 503: %s", exc)
            error = FieldError("$", "event broker unavailable, retry later", "unavailable")
            return answer(503, {"accepted": 0, "error": error.as_dict()}, unavailable_headers)
        metrics.produce_seconds.observe(time.perf_counter() - started)
        metrics.events.labels(outcome="accepted").inc(result.accepted)
        metrics.events.labels(outcome="rejected").inc(result.rejected)
        metrics.count_rejections(result.rejection_errors())
        status = 202 if not result.rejected else 422 if not result.accepted else 207
        return answer(
            status,
            {
                "accepted": result.accepted,
                "rejected": result.rejected,
                "results": [o.as_dict() for o in result.outcomes],
            },
        )

    def unauthorized(request: Request) -> Response | None:
        if token is None:
            error = FieldError(
                "Authorization",
                "catalogue endpoints are disabled: set RECO_COLLECTOR__ADMIN_TOKEN",
                "disabled",
            )
            return answer(403, {"accepted": 0, "error": error.as_dict()})
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, b"Bearer " + token):
            error = FieldError("Authorization", "missing or wrong bearer token", "unauthorized")
            return answer(401, {"accepted": 0, "error": error.as_dict()}, {"WWW-Authenticate": "Bearer"})
        return None

    async def post_articles(request: Request) -> Response:
        if (refused := unauthorized(request)) is not None:
            return refused
        try:
            body = await read_bounded_body(request, cfg.max_articles_body_bytes, timeout_s=cfg.body_timeout_s)
            result = await articles.upsert(body)
        except BodyError as exc:
            return answer(exc.status, {"accepted": 0, "rejected": None, "error": exc.error.as_dict()})
        except BrokerUnavailableError as exc:
            log.warning("answering 503 to POST /articles: %s", exc)
            error = FieldError("$", "event broker unavailable, retry later", "unavailable")
            return answer(503, {"accepted": 0, "error": error.as_dict()}, unavailable_headers)
        metrics.articles.labels(outcome="accepted").inc(result.accepted)
        metrics.articles.labels(outcome="rejected").inc(result.rejected)
        status = 202 if not result.rejected else 422 if not result.accepted else 207
        payload = {
            "accepted": result.accepted,
            "rejected": result.rejected,
            "results": [o.as_dict() for o in result.outcomes],
        }
        return answer(status, payload)

    async def delete_article(request: Request) -> Response:
        if (refused := unauthorized(request)) is not None:
            return refused
        article_id = request.path_params["article_id"]
        if (error := check_article_id(article_id)) is not None:
            return answer(422, {"accepted": 0, "error": error.as_dict()})
        try:
            await articles.take_down(article_id)
        except BrokerUnavailableError as exc:
            log.warning("answering 503 to DELETE /articles: %s", exc)
            error = FieldError("$", "event broker unavailable, retry later", "unavailable")
            return answer(503, {"accepted": 0, "error": error.as_dict()}, unavailable_headers)
        metrics.articles.labels(outcome="taken_down").inc()
        return answer(202, {"accepted": 1, "article_id": article_id, "status": "deleted"})

    async def healthz(request: Request) -> Response:
        return _json({"status": "ok"})

    async def readyz(request: Request) -> Response:
        if not producer.started:
            try:
                await producer.start()
            except BrokerUnavailableError as exc:
                log.warning("not ready: %s", exc)
                return _json({"ready": False, "kafka": "broker unreachable"}, 503)
        problem = await producer.problem()
        if problem is not None:
            return _json({"ready": False, "kafka": problem}, 503)
        return _json({"ready": True, "kafka": "ok"})

    async def metrics_endpoint(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    async def openapi_endpoint(request: Request) -> Response:
        return Response(openapi, media_type="application/json")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Start even when Kafka is down: /readyz says so, requests get 503 until it is back.
        try:
            await producer.start()
        except Exception as exc:  # any broker trouble at boot: keep serving, report it
            log.warning("Kafka not ready at start-up (%r); answering 503 until it is", exc)
        yield
        await producer.stop()

    app = Starlette(
        routes=[
            Route("/events", post_events, methods=["POST"]),
            Route("/articles", post_articles, methods=["POST"]),
            Route("/articles/{article_id:path}", delete_article, methods=["DELETE"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
            Route("/openapi.json", openapi_endpoint, methods=["GET"]),
            *docs_routes("reco collector API"),
        ],
        lifespan=lifespan,
    )
    edge = web_edge(app, cfg.cors_origins, methods=["GET", "POST"])
    return PortSplit(edge, public_paths=PUBLIC_PATHS, ops_port=cfg.ops_port)
