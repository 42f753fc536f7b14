"""Simulator throughput: generate at least N events (whole days) and write them as JSON lines.

    ./pants run benchmarks/simulator.py [-- --events 1000000 --users 20000]

Last line: {"benchmark": "simulator", "events", "seconds", "events_per_s", "days", "mb_written",
"peak_rss_mb"}. Target: 1M events in under 60 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from components.simulator import TrafficGenerator, World, WorldConfig
from components.simulator.sinks import write_day_jsonl


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--users", type=int, default=20_000)
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args(argv)

    started = time.perf_counter()
    start = datetime(2026, 1, 5, tzinfo=UTC)
    world = World.build(WorldConfig(seed=args.seed, start=start, days=365, users=args.users))
    events = days = written = 0
    with tempfile.TemporaryDirectory(prefix="reco-bench-sim-") as out:
        for traffic in TrafficGenerator(world).days():
            path = write_day_jsonl(Path(out), traffic)
            written += path.stat().st_size
            events += len(traffic.events)
            days += 1
            print(
                f"day {traffic.day}: {len(traffic.events):,} events, {time.perf_counter() - started:.1f}s",
                file=sys.stderr,
            )
            if events >= args.events:
                break
    seconds = time.perf_counter() - started
    result = {
        "benchmark": "simulator",
        "events": events,
        "seconds": round(seconds, 2),
        "events_per_s": round(events / seconds),
        "days": days,
        "simulated_until": (start + timedelta(days=days)).date().isoformat(),
        "mb_written": round(written / 2**20, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
