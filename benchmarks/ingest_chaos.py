"""Ingestion under fire: simulated events through the collector, Kafka and the ingestor while
the ingestor is SIGKILLed and restarted at random moments; then silver is built and compared
with what the collector acknowledged.

    ./pants run benchmarks/ingest_chaos.py -- --events 100000            # with >= 5 kills
    ./pants run benchmarks/ingest_chaos.py -- --events 300000 --no-chaos # Kafka->bronze rate

Last line: {"benchmark": "ingest_chaos", "sent", "silver_rows", "lost", "duplicated",
"events_per_s", ...}. `events_per_s` is the Kafka-to-bronze rate: the topic is filled through
the collector first, then the ingestor drains it (with chaos: during the kills, so the rate
includes the restarts). Required: lost == 0 and duplicated == 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from components.config import Settings, load_settings
from components.lake import LakeStore
from components.lake.silver import bronze_dates, build_silver, read_silver
from components.runtime.processes import ServiceProcess, committed_total, post_events, wait_ready
from components.runtime.tansu import TansuBroker, free_port
from components.simulator import TrafficGenerator, World, WorldConfig
from components.streaming import ensure_topics

PARTITIONS = 4


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def simulated_events(count: int, seed: int) -> list[dict[str, Any]]:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    world = World.build(WorldConfig(seed=seed, start=today - timedelta(days=7), days=7, users=20_000))
    events: list[dict[str, Any]] = []
    for traffic in TrafficGenerator(world).days():
        events.extend(traffic.events)
        if len(events) >= count:
            break
    return events[:count]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="reco-ingest-chaos-"))
    broker = TansuBroker(log_dir=work).start()
    port = free_port()
    settings: Settings = load_settings(
        home=str(work),
        kafka={"bootstrap_servers": broker.bootstrap_servers, "session_timeout_ms": 2_000},
        lake={"root": str(work / "lake")},
        collector={"port": port, "max_batch": args.batch},
        ingestor={"flush_records": args.flush_records, "flush_interval_s": 1.0},
    )
    env = {
        "RECO_HOME": str(work),
        "RECO_KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "RECO_KAFKA__SESSION_TIMEOUT_MS": "2000",
        "RECO_LAKE__ROOT": str(work / "lake"),
        "RECO_COLLECTOR__PORT": str(port),
        "RECO_COLLECTOR__MAX_BATCH": str(args.batch),
        "RECO_INGESTOR__FLUSH_RECORDS": str(args.flush_records),
        "RECO_INGESTOR__FLUSH_INTERVAL_S": "1.0",
    }
    await ensure_topics(
        settings.kafka, [settings.kafka.events_topic, settings.kafka.dead_letter_topic], PARTITIONS
    )
    collector = ServiceProcess("services.collector.main", env, work / "collector.log")
    ingestor = ServiceProcess("services.ingestor.main", env, work / "ingestor.log")
    try:
        log(f"simulating {args.events:,} events")
        events = simulated_events(args.events, args.seed)
        collector.start()
        await wait_ready(f"http://127.0.0.1:{port}/readyz")
        collector_seconds = 0.0

        url = f"http://127.0.0.1:{port}/events"
        kills = 0
        rng = random.Random(args.seed)
        started = time.perf_counter()
        if args.no_chaos:
            # Fill the topic first, then time the ingestor draining it: the Kafka-to-bronze rate.
            log("posting through the collector")
            acknowledged, rejected = await post_events(
                url, events, batch=args.batch, concurrency=args.concurrency
            )
            collector_seconds = time.perf_counter() - started
            log(f"collector acknowledged {len(acknowledged):,} events in {collector_seconds:.1f}s")
            ingestor.start()
            first_progress: tuple[float, int] | None = None
            while True:
                done = await committed_total(
                    settings.kafka, settings.ingestor.group_id, settings.kafka.events_topic, PARTITIONS
                )
                now = time.perf_counter()
                if done and first_progress is None:
                    first_progress = (now, done)
                if done >= len(acknowledged):
                    break
                if now - started > args.timeout_s:
                    raise TimeoutError(
                        f"ingestor did not catch up within {args.timeout_s}s ({done:,} committed)"
                    )
                await asyncio.sleep(0.05)
            assert first_progress is not None
            # From the first durable flush on: excludes process start-up and the group join.
            drain_seconds = now - first_progress[0]
            drained = len(acknowledged) - first_progress[1]
            with_startup = now - (started + collector_seconds)
        else:
            # Stream through the collector at a steady rate while the ingestor is killed and
            # restarted: each kill lands while records are flowing (after it made progress).
            log(f"streaming at {args.rate:,} events/s with {args.kills} SIGKILLs of the ingestor")
            ingestor.start()
            sender = asyncio.create_task(
                post_events(url, events, batch=args.batch, concurrency=args.concurrency, rate=args.rate)
            )
            last = 0
            while kills < args.kills:
                done = await committed_total(
                    settings.kafka, settings.ingestor.group_id, settings.kafka.events_topic, PARTITIONS
                )
                if done > last:  # the restarted ingestor is committing again: strike
                    await asyncio.sleep(rng.uniform(0.0, 1.5))
                    ingestor.kill()
                    kills += 1
                    log(f"SIGKILL #{kills} of the ingestor ({done:,} committed before); restarting")
                    last = await committed_total(
                        settings.kafka, settings.ingestor.group_id, settings.kafka.events_topic, PARTITIONS
                    )
                    ingestor.start()
                elif sender.done() and done >= len(sender.result()[0]):
                    raise RuntimeError(
                        f"all events ingested after only {kills} kills: raise --events or lower --rate"
                    )
                await asyncio.sleep(0.1)
            acknowledged, rejected = await sender
            collector_seconds = time.perf_counter() - started
            while await committed_total(
                settings.kafka, settings.ingestor.group_id, settings.kafka.events_topic, PARTITIONS
            ) < len(acknowledged):
                if time.perf_counter() - started > args.timeout_s:
                    raise TimeoutError(f"ingestor did not catch up within {args.timeout_s}s")
                await asyncio.sleep(0.1)
            drain_seconds = time.perf_counter() - started
            drained = len(acknowledged)
            with_startup = drain_seconds
        ingestor.stop()
        log(f"bronze caught up ({drain_seconds:.1f}s measured) after {kills} kills")

        store = LakeStore.from_settings(settings.lake)
        silver_ids: list[str] = []
        quarantined = duplicates_dropped = 0
        for dt in bronze_dates(store):
            result = build_silver(store, dt)
            quarantined += result.quarantined
            duplicates_dropped += result.duplicates_dropped
            silver_ids.extend(read_silver(store, dt).column("event_id").to_pylist())
        distinct = set(silver_ids)
        return {
            "benchmark": "ingest_chaos",
            "sent": len(acknowledged),
            "silver_rows": len(silver_ids),
            "lost": len(acknowledged - distinct),
            "duplicated": len(silver_ids) - len(distinct),
            "unexpected": len(distinct - acknowledged),
            "kills": kills,
            "rejected_by_collector": rejected,
            "quarantined": quarantined,
            "replayed_duplicates_dropped": duplicates_dropped,
            "collector_events_per_s": round(len(acknowledged) / collector_seconds),
            # no chaos: Kafka->bronze drain rate; chaos: end to end, kills and restarts included
            "events_per_s": round(drained / drain_seconds),
            "drain_seconds": round(drain_seconds, 2),
            "events_per_s_with_startup": round(len(acknowledged) / with_startup),
        }
    finally:
        ingestor.stop()
        collector.stop()
        broker.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=100_000)
    p.add_argument("--no-chaos", action="store_true")
    p.add_argument("--kills", type=int, default=5)
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--flush-records", type=int, default=20_000)
    p.add_argument("--rate", type=float, default=4_000, help="events/s sent during chaos")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--timeout-s", type=float, default=600)
    result = asyncio.run(run(p.parse_args(argv)))
    print(json.dumps(result))
    return 0 if result["lost"] == 0 and result["duplicated"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
