"""Kafka into the lake: `./pants run services/ingestor:bin`.

Two consumer loops in one process: `events.v1` into bronze, and `articles.v1` into the
versioned catalogue (withdrawals pushed to the recommend replicas through Redis). Restartable at
any point (SIGKILL included): offsets are committed only after the files they cover are
durable, so a restart replays at most the last unflushed records.
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
from components.lake.catalogue_ingest import CatalogueFlush, CatalogueIngestor
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

    catalogue_changes = Counter(
        "reco_ingestor_catalogue_changes", "Catalogue changes written to the lake", registry=registry
    )
    catalogue_withdrawn = Counter(
        "reco_ingestor_catalogue_withdrawn",
        "Articles withdrawn (taken down, unpublished) and pushed to the recommend replicas",
        registry=registry,
    )
    catalogue_push_failures = Counter(
        "reco_ingestor_catalogue_push_failures",
        "Catalogue flushes whose push to Redis failed (serving sees them at its next catalogue read)",
        registry=registry,
    )

    def report_catalogue(stats: CatalogueFlush) -> None:
        catalogue_changes.inc(stats.changes)
        catalogue_withdrawn.inc(stats.withdrawn)
        dead_letters.inc(stats.dead_letters)
        catalogue_push_failures.inc(0 if stats.pushed else 1)
        log.info(
            "catalogue: %d change(s), %d withdrawn, %d back, %d dead letters in %.3fs (snapshot %s)",
            stats.changes, stats.withdrawn, stats.returned, stats.dead_letters, stats.seconds,
            (stats.content_hash or "-")[:12],
        )  # fmt: skip

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        ingestor = BronzeIngestor(settings, store, on_flush=report)
        catalogue = CatalogueIngestor(settings, store, on_flush=report_catalogue)

        if settings.ingestor.metrics_port:
            progress = polling(lambda: min(ingestor.last_progress, catalogue.last_progress))
            serve_health(settings.ingestor.metrics_port, registry, progress)
        log.info(
            "ingesting %s into %s and %s into the catalogue",
            settings.kafka.events_topic, store.uri(BRONZE), settings.kafka.articles_topic,
        )  # fmt: skip
        # Either loop ending (a stop, or a crash) stops the other: the process exits and is restarted.
        tasks = [asyncio.create_task(ingestor.run(stop)), asyncio.create_task(catalogue.run(stop))]
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            task.result()  # re-raise a crash
        log.info(
            "stopped after %d records, %d catalogue changes", ingestor.total_records, catalogue.total_changes
        )

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
