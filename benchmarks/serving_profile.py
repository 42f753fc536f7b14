"""Where the recommend request's time goes, inside reco: `./pants run benchmarks/serving_profile.py`.

Builds a served world (as benchmarks/serving.py does, smaller by default), starts the recommend
app in this process and drives `--requests` requests through its ASGI callable directly (no
server, no sockets but Redis and Kafka's; 32 at a time on uvloop, as the server's worker runs
them), then again under cProfile. Prints the functions with the most own time and, last line,
one JSON object: us_per_request (wall seconds per request, profiler off: reco's own cost per
request, the server's excluded), the request stages' shares (reco_request_stage_seconds) and
the top functions by own time (profiler on, which inflates small Python calls).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import uvloop
from rich.console import Console

from components.runtime.tansu import TansuBroker
from components.serving.metrics import stage_shares
from components.simulator import WorldConfig
from components.testing.serving_world import (
    BENCH_CHAMPION,
    build_served_world,
    drop_served_state,
    request_bodies,
    served_settings,
)
from services.recommender.app import create_app


async def drive(
    app: Any, bodies: list[bytes], profile: cProfile.Profile | None, concurrency: int = 32
) -> float:
    """Send every body through the ASGI app, `concurrency` at a time (as a loaded server
    interleaves requests while each waits on Redis); returns the wall seconds."""

    async def one(body: bytes) -> None:
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        status: list[int] = []

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/recommend",
            "raw_path": b"/recommend",
            "query_string": b"",
            "root_path": "",
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
        }
        await app(scope, receive, send)
        if status != [200]:
            raise RuntimeError(f"status {status}")

    queue = list(reversed(bodies))

    async def worker() -> None:
        while queue:
            await one(queue.pop())

    started = time.perf_counter()
    if profile is not None:
        profile.enable()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    if profile is not None:
        profile.disable()
    return time.perf_counter() - started


async def lifespan(app: Any, bodies: list[bytes], profile: cProfile.Profile) -> dict[str, Any]:
    messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await messages.put({"type": "lifespan.startup"})
    started = asyncio.Event()
    replies: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return await messages.get()

    async def send(message: dict[str, Any]) -> None:
        replies.append(message)
        if message["type"] == "lifespan.startup.complete":
            started.set()

    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send))
    await asyncio.wait_for(started.wait(), 120)
    await drive(app, bodies[:500], None)  # warm-up
    plain = await drive(app, bodies, None)
    profiled = await drive(app, bodies, profile)
    await messages.put({"type": "lifespan.shutdown"})
    await asyncio.wait_for(task, 60)
    return {"plain_s": plain, "profiled_s": profiled}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=5_000)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--users", type=int, default=3_000)
    parser.add_argument("--articles-per-day", type=int, default=120)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    home = Path(tempfile.mkdtemp(prefix="reco-serving-profile-"))
    broker = TansuBroker(log_dir=home).start()
    settings = None
    try:
        settings = served_settings(home, broker.bootstrap_servers, args.redis_url, "prof")
        config = WorldConfig(
            seed=args.seed, days=args.days, users=args.users, articles_per_day=args.articles_per_day
        )
        world = build_served_world(settings, config, [BENCH_CHAMPION])
        console.log(f"served world {world.describe()}")
        bodies = request_bodies(world, args.requests, args.seed)
        app = create_app(settings)
        profile = cProfile.Profile()
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())  # as Hypercorn's worker runs it
        timings = asyncio.run(lifespan(app, bodies, profile))
        metrics = app.app.state.service.metrics if hasattr(app, "app") else None
        stages = stage_shares(metrics.exposition().decode()) if metrics is not None else {}
        stats = pstats.Stats(profile, stream=sys.stderr)
        stats.sort_stats("tottime").print_stats(args.top)
        top = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[: args.top]  # type: ignore[attr-defined]
        n = len(bodies)
        result = {
            "requests": n,
            "us_per_request": round(timings["plain_s"] / n * 1e6, 1),
            "us_per_request_profiled": round(timings["profiled_s"] / n * 1e6, 1),
            "stage_share": stages,
            "top_own_time_us_per_request": {
                f"{Path(f).name}:{line}:{fn}": round(v[2] / n * 1e6, 2) for (f, line, fn), v in top
            },
        }
        print(orjson.dumps(result).decode())
        return 0
    finally:
        broker.stop()
        if settings is not None:
            drop_served_state(settings)
        subprocess.run(["rm", "-rf", str(home)], check=False)


if __name__ == "__main__":
    sys.exit(main())
