"""The collector: `POST /events` takes one event or a batch, answers per event, and
acknowledges only what the broker acknowledged.

Statuses: 202 all accepted, 207 some rejected, 422 all rejected, 400 unusable body, 413 too
large, 503 (with Retry-After) when Kafka did not acknowledge: then nothing was accepted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from components.config import Settings
from components.events import FieldError
from components.intake import BodyError, EventIntake, IntakeResult, read_bounded_body
from components.streaming import BrokerUnavailableError, EventProducer

log = logging.getLogger("reco.collector")

KNOWN_FIELDS = {
    "$", "event_id", "type", "user_id", "article_id", "ts", "dwell_ms", "request_id",
    "position", "model_version", "propensity", "context",
}  # fmt: skip


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

    def count_rejections(self, errors: list[FieldError]) -> None:
        for error in errors:
            # Unknown field names come from clients: keep label values bounded.
            top = error.field.split(".")[0]
            field = top if top in KNOWN_FIELDS else "<other>"
            self.rejections.labels(field=field, code=error.code).inc()


def create_app(settings: Settings, registry: CollectorRegistry | None = None) -> Starlette:
    registry = registry or CollectorRegistry()
    metrics = CollectorMetrics(registry)
    topics = [settings.kafka.events_topic, settings.kafka.dead_letter_topic]
    producer = EventProducer(settings.kafka, timeout_s=settings.collector.produce_timeout_s, ensure=topics)
    intake = EventIntake(producer, max_batch=settings.collector.max_batch)
    unavailable_headers = {"Retry-After": str(settings.collector.retry_after_s)}

    def answer(status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
        metrics.requests.labels(status=str(status)).inc()
        return JSONResponse(payload, status_code=status, headers=headers)

    async def post_events(request: Request) -> Response:
        try:
            body = await read_bounded_body(request, settings.collector.max_body_bytes)
            started = time.perf_counter()
            result: IntakeResult = await intake.submit(body)
        except BodyError as exc:
            metrics.count_rejections([exc.error])
            return answer(exc.status, {"accepted": 0, "rejected": None, "error": exc.error.as_dict()})
        except BrokerUnavailableError as exc:
            return answer(
                503,
                {
                    "accepted": 0,
                    "error": {
                        "field": "$",
                        "reason": f"event broker unavailable, retry later ({exc})",
                        "code": "unavailable",
                    },
                },
                unavailable_headers,
            )
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

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        if not producer.started:
            try:
                await producer.start()
            except BrokerUnavailableError as exc:
                return JSONResponse({"ready": False, "kafka": str(exc)}, status_code=503)
        if not await producer.healthy():
            return JSONResponse({"ready": False, "kafka": "no metadata from the broker"}, status_code=503)
        return JSONResponse({"ready": True, "kafka": "ok"})

    async def metrics_endpoint(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Start even when Kafka is down: /readyz says so, requests get 503 until it is back.
        try:
            await producer.start()
        except Exception as exc:  # any broker trouble at boot: keep serving, report it
            log.warning("Kafka not ready at start-up (%r); answering 503 until it is", exc)
        yield
        await producer.stop()

    return Starlette(
        routes=[
            Route("/events", post_events, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
