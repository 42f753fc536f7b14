"""Kafka `events.v1` to the bronze lake: `./pants run services/ingestor:bin`.

Restartable at any point (SIGKILL included): offsets are committed only after the files they
cover are durable, so a restart replays at most the last unflushed records.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from prometheus_client import CollectorRegistry, Counter, Histogram

from components.config import load_settings
from components.health import polling, serve_health
from components.lake import LakeStore
from components.lake.ingest import BronzeIngestor, FlushStats
from components.lake.layout import BRONZE
from components.logs import configure_logging

log = logging.getLogger("reco.ingestor")


def main() -> int:
    settings = load_settings()
    configure_logging(settings.log, "ingestor")
    store = LakeStore.from_settings(settings.lake)
    registry = CollectorRegistry()
    records = Counter(
        "reco_ingestor_records", "Records made durable in bronze or dead-lettered", registry=registry
    )
    files = Counter("reco_ingestor_files", "Bronze files written", registry=registry)
    dead_letters = Counter(
        "reco_ingestor_dead_letters", "Records sent to the dead-letter topic", registry=registry
    )
    commit_failures = Counter(
        "reco_ingestor_commit_failures", "Flushes whose offset commit failed (replayed)", registry=registry
    )
    originals = Counter(
        "reco_ingestor_dead_letter_originals",
        "Records too large for a dead letter, kept whole in the lake (dead_letters/originals)",
        registry=registry,
    )
    log_restarts = Counter(
        "reco_ingestor_log_restarts",
        "Partitions whose log started over (re-created topic, wiped broker) and were read again",
        registry=registry,
    )

    flush_seconds = Histogram(
        "reco_ingestor_flush_seconds", "Write, dead-letter and commit time per flush",
        buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=registry,
    )  # fmt: skip
    def report(stats: FlushStats) -> None:
        records.inc(stats.records)
        files.inc(stats.files)
        dead_letters.inc(stats.dead_letters)
        commit_failures.inc(0 if stats.committed else 1)
        originals.inc(stats.originals_kept)
        log_restarts.inc(stats.log_restarts)
        flush_seconds.observe(stats.seconds)
        log.info(
            "flushed %d records into %d files (%d dead letters) in %.3fs",
            stats.records, stats.files, stats.dead_letters, stats.seconds,
        )  # fmt: skip

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        ingestor = BronzeIngestor(settings, store, on_flush=report)

        if settings.ingestor.metrics_port:
            serve_health(settings.ingestor.metrics_port, registry, polling(lambda: ingestor.last_progress))
        log.info("ingesting %s into %s", settings.kafka.events_topic, store.uri(BRONZE))
        await ingestor.run(stop)
        log.info("stopped after %d records", ingestor.total_records)

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
