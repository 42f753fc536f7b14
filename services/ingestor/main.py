"""Kafka `events.v1` to the bronze lake: `./pants run services/ingestor/main.py`.

Restartable at any point (SIGKILL included): offsets are committed only after the files they
cover are durable, so a restart replays at most the last unflushed records.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from components.config import load_settings
from components.lake import LakeStore
from components.lake.ingest import BronzeIngestor, FlushStats

log = logging.getLogger("reco.ingestor")


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    settings = load_settings()
    store = LakeStore.from_settings(settings.lake)

    def report(stats: FlushStats) -> None:
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
        log.info("ingesting %s into %s", settings.kafka.events_topic, store.uri("bronze/events"))
        await ingestor.run(stop)
        log.info("stopped after %d records", ingestor.total_records)

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
