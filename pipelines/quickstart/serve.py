"""Leave reco running to look at, after the main job: the demo news site and the services it
calls, on the main job's state (RECO_HOME), until Ctrl-C.

    ./pants run pipelines/quickstart/serve.py

Starts what is missing: the embedded broker (its topics are in memory: a fresh one has none,
so they are created), the collector, the ingestor, the feedback consumer, the recommend service
on the registered champion, and the demo site (services/demo), with the demo's origin allowed
by both public APIs (CORS). Prints the URLs, then waits. Open the demo, pick a reader (or browse
anonymously), click in one section: the "for you" rail follows the reader's recent reads.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import signal
import sys
import threading
from pathlib import Path

from rich.console import Console

from components.config import Settings, load_settings
from components.runtime import ServiceProcess, TansuBroker, is_listening, wait_ready
from components.streaming import ensure_topics
from pipelines.quickstart.main import PARTITIONS, _first_broker, _service_env

SERVICES = ("collector", "ingestor", "feedback", "recommender", "demo")


def demo_origin(settings: Settings) -> str:
    return f"http://{settings.demo.host}:{settings.demo.port}"


def serving_env(settings: Settings) -> dict[str, str]:
    """The main job's service environment, with the demo's origin allowed and its URLs set, and
    an admin token for the console (this run's own unless RECO_SERVING__ADMIN_TOKEN is set)."""
    origins = json.dumps(sorted({*settings.serving.cors_origins, demo_origin(settings)}))
    token = settings.serving.admin_token
    return {
        "RECO_SERVING__ADMIN_TOKEN": token.get_secret_value() if token else secrets.token_urlsafe(18),
        **_service_env(settings),
        "RECO_SERVING__HOST": settings.serving.host,
        "RECO_SERVING__PORT": str(settings.serving.port),
        "RECO_SERVING__CORS_ORIGINS": origins,
        "RECO_COLLECTOR__CORS_ORIGINS": origins,
        "RECO_DEMO__HOST": settings.demo.host,
        "RECO_DEMO__PORT": str(settings.demo.port),
        "RECO_DEMO__RECOMMEND_URL": f"http://{settings.serving.host}:{settings.serving.port}",
        "RECO_DEMO__COLLECTOR_URL": f"http://{settings.collector.host}:{settings.collector.port}",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ready-timeout-s", type=float, default=120)
    args = parser.parse_args(argv)
    settings = load_settings()
    console = Console(stderr=True)
    logs = Path(settings.home) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    taken = [
        (name, port)
        for name, port in (
            ("collector", settings.collector.port),
            ("recommend service", settings.serving.port),
            ("demo", settings.demo.port),
        )
        if is_listening(port, "127.0.0.1", timeout_s=0.2)
    ]
    if taken:
        console.print(f"[red]ports in use[/red]: {taken}; stop what holds them (or set RECO_*__PORT)")
        return 1
    broker = None
    host, port = _first_broker(settings.kafka.bootstrap_servers)
    if not is_listening(port, host, timeout_s=0.5):
        broker = TansuBroker(port=port, log_dir=logs).start()
    kafka = settings.kafka
    asyncio.run(
        ensure_topics(kafka, [kafka.events_topic, kafka.dead_letter_topic, kafka.articles_topic], PARTITIONS)
    )
    env = serving_env(settings)
    processes = [
        ServiceProcess(f"services.{name}.main", env, logs / f"{name}.log").start() for name in SERVICES
    ]
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        recommend = env["RECO_DEMO__RECOMMEND_URL"]
        collector = env["RECO_DEMO__COLLECTOR_URL"]
        asyncio.run(wait_ready(f"{recommend}/readyz", timeout_s=args.ready_timeout_s))
        asyncio.run(wait_ready(f"{collector}/readyz", timeout_s=args.ready_timeout_s))
        asyncio.run(wait_ready(f"{demo_origin(settings)}/healthz", timeout_s=args.ready_timeout_s))
        console.print(
            f"demo site: [cyan]{demo_origin(settings)}/[/cyan]; operator console: "
            f"[cyan]{demo_origin(settings)}/console[/cyan] (admin token: {env['RECO_SERVING__ADMIN_TOKEN']})\n"
            f"recommend API: {recommend} (docs: {recommend}/docs); collector: {collector} (docs: {collector}/docs)\n"
            f"logs: {logs}; Ctrl-C stops everything"
        )
        print(
            json.dumps({"demo": f"{demo_origin(settings)}/", "recommend": recommend, "collector": collector})
        )
        while not stop.wait(1.0):
            dead = [p.module for p in processes if not p.running]
            if dead:
                console.print(f"[red]stopped[/red]: {dead}; see {logs}")
                return 1
        return 0
    except TimeoutError as exc:
        tails = "\n".join(p.log_tail() for p in processes)
        console.print(f"[red]{exc}[/red]\n{tails}")
        return 1
    finally:
        for process in reversed(processes):
            process.stop()
        if broker:
            broker.stop()


if __name__ == "__main__":
    sys.exit(main())
