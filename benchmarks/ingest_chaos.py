"""Ingestion under fire: simulated events through the collector, Kafka and the ingestor while
the ingestor is SIGKILLed and restarted at random moments, and (`--broker-restarts N`) the
broker is restarted quietly (no request in flight) N times; then silver is built and compared
with what the collector acknowledged.

    ./pants run benchmarks/ingest_chaos.py -- --events 100000                       # 5 kills
    ./pants run benchmarks/ingest_chaos.py -- --events 100000 --broker-restarts 3   # and 3 restarts
    ./pants run benchmarks/ingest_chaos.py -- --events 300000 --no-chaos            # Kafka->bronze rate

The embedded broker keeps data in memory only: what it held unconsumed at a restart is gone
with it. Just before each restart the benchmark notes what was acknowledged and is not yet in
bronze ("at risk"); `broker_dropped` counts those that never reached silver. Every other
acknowledged event must be in silver: `lost_after_restart` == 0.

Last line: {"benchmark": "ingest_chaos", "sent", "silver_rows", "lost", "duplicated",
"broker_restarts", "broker_dropped", "lost_after_restart", "events_per_s", ...}. `lost` is every
acknowledged event missing from silver (broker_dropped + lost_after_restart). `events_per_s` is
the Kafka-to-bronze rate: the topic is filled through the collector first, then the ingestor
drains it (with chaos: during the kills, so the rate includes the restarts). Required:
lost_after_restart == 0 and duplicated == 0 (and so lost == 0 without broker restarts).
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
from components.lake.bronze import read_bronze_file
from components.lake.layout import BRONZE
from components.lake.silver import bronze_dates, build_silver, read_silver
from components.runtime.processes import EventSender, ServiceProcess, committed_total, post_events, wait_ready
from components.runtime.tansu import TansuBroker, free_port
from components.simulator import TrafficGenerator, World, WorldConfig
from components.streaming import ensure_topics

PARTITIONS = 4


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def bronze_ids(store: LakeStore) -> set[str]:
    """Event ids durable in bronze now (the unplaceable ones are dead letters, not here)."""
    ids = set()
    for path in store.list_files(f"{BRONZE}/", ".parquet"):
        for value in read_bronze_file(store.read_bytes(path)).column("value").to_pylist():
            ids.add(json.loads(value)["event_id"])
    return ids


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
        # A re-created topic gets the benchmark's partition count; clients retry 503s quickly.
        "RECO_KAFKA__TOPIC_PARTITIONS": str(PARTITIONS),
        "RECO_COLLECTOR__RETRY_AFTER_S": "1",
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
        kills = restarts = 0
        at_risk: set[str] = set()
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
            # restarted (and the broker restarted quietly): each strike lands while records are
            # flowing (after bronze grew since the last one).
            store = LakeStore.from_settings(settings.lake)
            plan = ["kill"] * args.kills + ["restart"] * args.broker_restarts
            rng.shuffle(plan)
            log(
                f"streaming at {args.rate:,} events/s with {args.kills} SIGKILLs of the ingestor and "
                f"{args.broker_restarts} quiet broker restarts"
            )
            ingestor.start()
            sender = EventSender(url, batch=args.batch, concurrency=args.concurrency, rate=args.rate)
            sending = asyncio.create_task(sender.send(events))
            files = 0
            for action in plan:
                while len(store.list_files(f"{BRONZE}/", ".parquet")) <= files:
                    if sending.done():
                        raise RuntimeError(
                            f"all events sent before the {action} strike: raise --events or lower --rate"
                        )
                    await asyncio.sleep(0.1)
                await asyncio.sleep(rng.uniform(0.0, 1.5))
                if action == "kill":
                    ingestor.kill()
                    kills += 1
                    log(f"SIGKILL #{kills} of the ingestor; restarting")
                    ingestor.start()
                else:
                    await sender.pause()  # quiet: no request in flight
                    acknowledged_now = set(sender.acknowledged)
                    durable = bronze_ids(store)
                    at_risk |= acknowledged_now - durable
                    broker.stop()
                    broker.start()
                    restarts += 1
                    log(
                        f"broker restart #{restarts}: {len(acknowledged_now - durable):,} acknowledged events "
                        "not yet in bronze are at risk"
                    )
                    sender.resume()
                files = len(store.list_files(f"{BRONZE}/", ".parquet"))
            acknowledged, rejected = await sending
            collector_seconds = time.perf_counter() - started
            # Caught up: every acknowledged event that was not at risk is durable in bronze.
            expected = acknowledged - at_risk
            while True:
                missing = expected - bronze_ids(store)
                if not missing:
                    break
                if time.perf_counter() - started > args.timeout_s:
                    raise TimeoutError(
                        f"ingestor did not catch up within {args.timeout_s}s ({len(missing):,} missing)"
                    )
                await asyncio.sleep(0.5)
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
        missing = acknowledged - distinct
        return {
            "benchmark": "ingest_chaos",
            "sent": len(acknowledged),
            "silver_rows": len(silver_ids),
            "lost": len(missing),
            "duplicated": len(silver_ids) - len(distinct),
            "unexpected": len(distinct - acknowledged),
            "broker_restarts": restarts,
            "broker_dropped": len(missing & at_risk),
            "lost_after_restart": len(missing - at_risk),
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
    p.add_argument("--broker-restarts", type=int, default=0, help="quiet restarts of the broker")
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--flush-records", type=int, default=20_000)
    p.add_argument("--rate", type=float, default=2_500, help="events/s sent during chaos")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--timeout-s", type=float, default=600)
    result = asyncio.run(run(p.parse_args(argv)))
    print(json.dumps(result))
    return 0 if result["lost_after_restart"] == 0 and result["duplicated"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
