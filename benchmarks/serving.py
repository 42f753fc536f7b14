"""The recommend service against the seed's design: `./pants run benchmarks/serving.py`.

Builds a served world (simulated lake, features materialized into Redis, an ALS champion in a
SQLite MLflow registry), then, one after the other with the same worker count:
- reco: services/recommender on Hypercorn (uvloop), impressions going to a tansu broker;
- reference: benchmarks/reference_service.py (FastAPI, sync Feast, pyfunc predict) on uvicorn.
Each gets a warm-up, a closed loop at concurrency 32 (maximum rate) and an open loop at a
fixed 500 req/s (latency), from benchmarks/loadgen.py in its own process. The request mix is
the same for both: 80 % readers the model knows, 20 % newcomers, 0-3 excluded articles.

Then the server's ceiling: benchmarks/ceiling_app.py, a trivial endpoint returning a fixed body
of the size of reco's answers, on Hypercorn with the same settings and workers.

Last line, one JSON object: max_rps, p50_ms, p99_ms (at 500 req/s), errors, ref_max_rps,
ref_p50_ms, ref_p99_ms, ref_errors, speedup (max_rps / ref_max_rps), ceiling_rps,
ceiling_share (max_rps / ceiling_rps: the part of the cost that is reco's), stage_share (each
request stage's share of reco's own request time), workers, plus details.

`--champion ranker` serves the learned two-stage ranker instead (trained on the served world's
logged impressions; candidate sources, intraday signals, numpy trees). The reference is not run
then: a pyfunc `predict` has neither the catalogue nor the intraday counters a ranker scores
with, so it cannot serve the same champion; the `ref_*` keys are null and `rank_share` (the rank
stage's share of the request time) is reported.

`--endpoint related` loads `POST /related` instead (a story page's rail: a catalogue article,
half of the requests with a known reader, 0-3 excluded); no reference (the seed design has no
related endpoint), and the ceiling is measured as above.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console

from components.config import Settings, settings_env
from components.runtime.processes import ServiceProcess, wait_ready
from components.runtime.tansu import TansuBroker, free_port
from components.serving.metrics import stage_shares
from components.simulator import WorldConfig
from components.testing.serving_world import (
    BENCH_CHAMPION,
    ServedWorld,
    build_served_world,
    drop_served_state,
    related_bodies,
    request_bodies,
    served_settings,
)
from components.training.train import Candidate

RANKER = "ranker"
# The served champion by `--champion`.
CHAMPIONS = {"als": BENCH_CHAMPION, RANKER: Candidate(RANKER, {})}

HERE = Path(__file__).resolve().parent


def gc_pauses(metrics_text: str) -> dict[str, dict[str, float]]:
    """Garbage-collector pauses of the service by generation: count and total seconds."""
    out: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(metrics_text):
        if family.name != "reco_gc_pause_seconds":
            continue
        for sample in family.samples:
            gen = sample.labels.get("generation", "")
            if sample.name.endswith("_count"):
                out.setdefault(gen, {})["count"] = sample.value
            elif sample.name.endswith("_sum"):
                out.setdefault(gen, {})["seconds"] = round(sample.value, 4)
    return out


def response_bytes(url: str, bodies: Path, n: int = 50) -> int:
    """The mean size of the service's answers to the first `n` request bodies."""
    sizes = [
        len(httpx.post(url, content=body, headers={"content-type": "application/json"}, timeout=10).content)
        for body in bodies.read_bytes().split(b"\n")[:n]
    ]
    return round(sum(sizes) / len(sizes))


def load(url: str, bodies: Path, mode: str, seconds: float, **kw: Any) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.loadgen", "--url", url, "--bodies", str(bodies), "--mode", mode]
    cmd += ["--seconds", str(seconds)] + [f"--{k}={v}" for k, v in kw.items()]
    out = subprocess.run(
        cmd,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def measure(name: str, url: str, bodies: Path, args: argparse.Namespace, console: Console) -> dict[str, Any]:
    load(url, bodies, "closed", args.warmup, concurrency=8)
    closed = load(url, bodies, "closed", args.seconds, concurrency=32)
    console.log(f"{name}: closed loop {closed}")
    opened = load(url, bodies, "open", args.seconds, rate=args.rate)
    console.log(f"{name}: open loop at {args.rate:.0f}/s {opened}")
    return {"closed": closed, "open": opened}


def build(
    args: argparse.Namespace, home: Path, broker: TansuBroker, console: Console
) -> tuple[Settings, ServedWorld]:
    settings = served_settings(home, broker.bootstrap_servers, args.redis_url, "bench")
    started = time.perf_counter()
    config = WorldConfig(
        seed=args.seed, days=args.days, users=args.users, articles_per_day=args.articles_per_day
    )
    world = build_served_world(settings, config, [CHAMPIONS[args.champion]])
    console.log(f"served world {world.describe()} in {time.perf_counter() - started:.0f} s")
    return settings, world


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=1, help="worker processes of both servers")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each measured phase")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=500.0, help="open-loop request rate")
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--users", type=int, default=8_000)
    parser.add_argument("--articles-per-day", type=int, default=120)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--keep", action="store_true", help="keep the temporary home")
    parser.add_argument(
        "--champion", choices=sorted(CHAMPIONS), default="als", help="the kind of the served champion"
    )
    parser.add_argument(
        "--endpoint",
        choices=["recommend", "related"],
        default="recommend",
        help="what is loaded: a reader's list, or a story's related articles (no reference then)",
    )
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    home = Path(tempfile.mkdtemp(prefix="reco-serving-bench-"))
    if args.keep:
        console.log(f"keeping {home} (and its rows in Redis) afterwards")
    broker = TansuBroker(log_dir=home).start()
    procs: list[ServiceProcess] = []
    settings = None
    try:
        settings, world = build(args, home, broker, console)
        bodies = home / "bodies.jsonl"
        make_bodies = related_bodies if args.endpoint == "related" else request_bodies
        bodies.write_bytes(b"\n".join(make_bodies(world, 5_000, args.seed)))
        env = settings_env(settings)
        (home / "env.json").write_text(json.dumps(env))

        reco = ServiceProcess(
            "services.recommender.main", env, home / "reco.log", ["--workers", str(args.workers)]
        ).start()
        procs.append(reco)
        base = f"http://127.0.0.1:{settings.serving.port}"
        asyncio.run(wait_ready(f"{base}/readyz", timeout_s=120))
        endpoint = f"{base}/{args.endpoint}"
        ours = measure("reco", endpoint, bodies, args, console)
        ready = httpx.get(f"{base}/readyz", timeout=10).json()
        metrics_text = httpx.get(f"{base}/metrics", timeout=10).text
        pauses = gc_pauses(metrics_text)
        stages = stage_shares(metrics_text)
        body_bytes = response_bytes(endpoint, bodies)
        reco.stop()

        # The server's own ceiling: the same Hypercorn settings serving a fixed body of the
        # same size from a trivial endpoint (what is left is reco's request path).
        ceiling_port = free_port()
        ceiling_proc = ServiceProcess(
            "benchmarks.ceiling_app",
            env,
            home / "ceiling.log",
            ["--port", str(ceiling_port), "--workers", str(args.workers), "--body-bytes", str(body_bytes)],
        ).start()
        procs.append(ceiling_proc)
        ceiling_base = f"http://127.0.0.1:{ceiling_port}"
        asyncio.run(wait_ready(f"{ceiling_base}/healthz", timeout_s=60))
        ceiling = measure("ceiling", f"{ceiling_base}/recommend", bodies, args, console)
        ceiling_proc.stop()

        theirs: dict[str, Any] = {
            "closed": {"rps": None, "errors": None},
            "open": {"p50_ms": None, "p99_ms": None, "errors": None},
        }
        if args.champion != RANKER and args.endpoint == "recommend":
            theirs = reference(env, home, args, procs, console, bodies)
        ours_rps = ours["closed"]["rps"]
        ref_rps = theirs["closed"]["rps"]

        result = {
            "max_rps": ours_rps,
            "p50_ms": ours["open"]["p50_ms"],
            "p99_ms": ours["open"]["p99_ms"],
            "errors": ours["closed"]["errors"] + ours["open"]["errors"],
            "ref_max_rps": ref_rps,
            "ref_p50_ms": theirs["open"]["p50_ms"],
            "ref_p99_ms": theirs["open"]["p99_ms"],
            "ref_errors": None if ref_rps is None else theirs["closed"]["errors"] + theirs["open"]["errors"],
            "speedup": None if ref_rps is None else round(ours_rps / max(ref_rps, 1e-9), 2),
            "ceiling_rps": ceiling["closed"]["rps"],
            "ceiling_share": round(ours_rps / max(ceiling["closed"]["rps"], 1e-9), 3),
            "body_bytes": body_bytes,
            "stage_share": stages,
            "rank_share": stages.get("rank"),
            "champion": args.champion,
            "endpoint": args.endpoint,
            "workers": args.workers,
            "rate": args.rate,
            "impressions": ready.get("impressions"),
            "gc_pauses": pauses,
            "world": world.describe(),
            "reco": ours,
            "reference": theirs,
        }
        print(json.dumps(result))
        return 0
    finally:
        for proc in procs:
            proc.stop()
        broker.stop()
        if not args.keep:
            if settings is not None:
                drop_served_state(settings)
            subprocess.run(["rm", "-rf", str(home)], check=False)


def reference(
    env: dict[str, str],
    home: Path,
    args: argparse.Namespace,
    procs: list[ServiceProcess],
    console: Console,
    bodies: Path,
) -> dict[str, Any]:
    """The seed's design (FastAPI, sync Feast, pyfunc predict) on uvicorn, measured alike."""
    ref_port = free_port()
    ref = ServiceProcess(
        "uvicorn",
        env,
        home / "reference.log",
        ["benchmarks.reference_service:app", "--host", "127.0.0.1", "--port", str(ref_port),
         "--workers", str(args.workers), "--no-access-log"],
    ).start()  # fmt: skip
    procs.append(ref)
    ref_base = f"http://127.0.0.1:{ref_port}"
    asyncio.run(wait_ready(f"{ref_base}/healthz", timeout_s=120))
    theirs = measure("reference", f"{ref_base}/recommend", bodies, args, console)
    ref.stop()
    return theirs


if __name__ == "__main__":
    sys.exit(main())
