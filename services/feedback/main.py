"""Kafka `events.v1` to the feedback state in Redis: `./pants run services/feedback:bin`.

Per-article exposure and click counts by hour (exploration's posteriors) and per-user recent
reads (excluded by the recommend service). Restartable at any point, SIGKILL included:
offsets are committed after Redis applied the batch, and each event id is applied once.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from prometheus_client import CollectorRegistry, Counter, Histogram
from redis.asyncio import Redis as AsyncRedis

from components.config import load_settings
from components.feedback.consumer import BatchReport, FeedbackConsumer
from components.health import polling, serve_health
from components.logs import configure_logging

log = logging.getLogger("reco.feedback")


def main() -> int:
    settings = load_settings()
    configure_logging(settings.log, "feedback")
    registry = CollectorRegistry()
    applied = Counter(
        "reco_feedback_events", "Events applied to the feedback state, by type", ["type"], registry=registry
    )
    duplicates = Counter(
        "reco_feedback_duplicates", "Events already applied (replays, redeliveries)", registry=registry
    )
    invalid = Counter(
        "reco_feedback_invalid", "Malformed records skipped, by field", ["field"], registry=registry
    )
    batch_seconds = Histogram(
        "reco_feedback_batch_seconds", "Apply and commit time per batch",
        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5), registry=registry,
    )  # fmt: skip

    def report(batch: BatchReport) -> None:
        for kind, n in batch.stats.by_type.items():
            applied.labels(type=kind).inc(n)
        duplicates.inc(batch.stats.duplicates)
        for error in batch.stats.invalid:
            invalid.labels(field=error.field).inc()
        batch_seconds.observe(batch.seconds)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        client = AsyncRedis.from_url(settings.redis.url, socket_timeout=5, socket_connect_timeout=5)
        consumer = FeedbackConsumer(settings, client, on_batch=report)

        if settings.feedback.metrics_port:
            serve_health(settings.feedback.metrics_port, registry, polling(lambda: consumer.last_progress))
        log.info("applying %s to Redis %s", settings.kafka.events_topic, settings.redis.url)
        try:
            await consumer.run(stop)
        finally:
            await client.aclose()
        total = consumer.total
        log.info("stopped: %d applied, %d duplicates, %d malformed", total.applied, total.duplicates,
                 len(total.invalid))  # fmt: skip

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
