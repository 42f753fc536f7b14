"""reco's main job on embedded defaults: the README's one command.

    ./pants run pipelines/quickstart/main.py [-- --days 7 --users 2000 --seed 7]

1. starts what is missing: the embedded Kafka-protocol broker (tansu) on the configured
   address when nothing listens there, the collector, the ingestor and the feedback consumer
   (recent reads and hourly article counts in Redis) as subprocesses;
2. simulates a week of platform traffic; posts its catalogue as a CMS would, through the
   collector's `POST /articles` (the ingestor writes it to the lake's versioned catalogue);
3. sends the traffic through the collector (HTTP -> Kafka);
4. waits until the ingestor has made every accepted event durable in the bronze lake and the
   feedback consumer has applied it to Redis;
5. runs the daily Metaflow flow (pipelines/daily/flow.py) over the simulated days: silver
   (contract, dedup, Great Expectations), validation, features (Feast apply, materialize into
   Redis), a training sweep tracked in MLflow, registration and the quality gate, canary;
6. starts the recommend service (services/recommender) on the registered champion and asks
   it for a reader the model knows and for a newcomer (cold start);
7. prints a summary table (with the command that leaves the demo site and its services
   running: pipelines/quickstart/serve.py) and, last, a JSON line; exit code 1 if anything was
   lost, the flow failed or the service did not answer.

State lives under RECO_HOME (default `.reco`): the lake, the MLflow store, the Feast
registry, Metaflow's datastore, service logs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import secrets
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from components.config import Settings, load_settings
from components.lake import LakeStore
from components.lake.layout import CATALOG_MANIFEST, FEATURES_MANIFEST, REPORTS, SILVER, daily_report_path
from components.lake.silver import read_manifest, read_silver
from components.orchestration.local import daily_flow_command, daily_flow_env
from components.runtime import (
    ServiceProcess,
    TansuBroker,
    committed_total,
    free_port,
    is_listening,
    post_articles,
    post_events,
    wait_ready,
)
from components.simulator import TrafficGenerator, World, WorldConfig
from components.streaming import ensure_topics

PARTITIONS = 4
# The bearer token of the simulated CMS when the settings set none: this run's own.
RUN_TOKEN = secrets.token_urlsafe(24)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--days", type=int, default=7)
    p.add_argument("--users", type=int, default=2_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--timeout-s", type=float, default=600)
    return p


SERVE_COMMAND = "./pants run pipelines/quickstart/serve.py"


def _demo_url(settings: Settings) -> str:
    return f"http://{settings.demo.host}:{settings.demo.port}/"


def _first_broker(bootstrap_servers: str) -> tuple[str, int]:
    host, _, port = bootstrap_servers.split(",")[0].rpartition(":")
    return host or "127.0.0.1", int(port)


def _service_env(settings: Settings) -> dict[str, str]:
    return {
        "RECO_PROFILE": settings.profile.value,
        "RECO_HOME": settings.home,
        "RECO_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "RECO_KAFKA__EVENTS_TOPIC": settings.kafka.events_topic,
        "RECO_KAFKA__DEAD_LETTER_TOPIC": settings.kafka.dead_letter_topic,
        "RECO_LAKE__ROOT": settings.lake.root,
        "RECO_REDIS__URL": settings.redis.url,
        "RECO_REDIS__KEY_PREFIX": settings.redis.key_prefix,
        "RECO_COLLECTOR__HOST": settings.collector.host,
        "RECO_COLLECTOR__PORT": str(settings.collector.port),
        "RECO_INGESTOR__FLUSH_INTERVAL_S": "1.0",
        # The simulated CMS posts the catalogue with this run's own token.
        "RECO_COLLECTOR__ADMIN_TOKEN": _cms_token(settings),
    }


def _cms_token(settings: Settings) -> str:
    token = settings.collector.admin_token
    return token.get_secret_value() if token else RUN_TOKEN


async def _ingest(
    settings: Settings,
    articles: list[dict[str, Any]],
    events: list[dict[str, Any]],
    logs: Path,
    progress: Progress,
) -> tuple[set[str], int, int]:
    kafka = settings.kafka
    await ensure_topics(
        kafka, [kafka.events_topic, kafka.dead_letter_topic, kafka.articles_topic], PARTITIONS
    )
    groups = (settings.ingestor.group_id, settings.feedback.group_id)
    before = {g: await committed_total(kafka, g, kafka.events_topic, PARTITIONS) for g in groups}
    env = _service_env(settings)
    collector = ServiceProcess("services.collector.main", env, logs / "collector.log").start()
    ingestor = ServiceProcess("services.ingestor.main", env, logs / "ingestor.log").start()
    # The feedback consumer: the readers' recent reads and the articles' hourly counts in Redis,
    # which the recommend service's ranker reads.
    feedback = ServiceProcess("services.feedback.main", env, logs / "feedback.log").start()
    try:
        url = f"http://{settings.collector.host}:{settings.collector.port}"
        await wait_ready(f"{url}/readyz")
        # The CMS first: the simulated catalogue through POST /articles, into the lake by the
        # ingestor's catalogue consumer.
        cms = progress.add_task("collector: POST /articles", total=len(articles))
        await post_articles(f"{url}/articles", articles, _cms_token(settings))
        store = LakeStore.from_settings(settings.lake)
        started = time.monotonic()
        while _catalogued(store) < len(articles):
            if not ingestor.running or time.monotonic() - started > 120:
                raise RuntimeError(f"the catalogue did not reach the lake:\n{ingestor.log_tail()}")
            await asyncio.sleep(0.2)
        progress.update(cms, completed=len(articles))
        send = progress.add_task("collector: POST /events", total=None)
        acknowledged, rejected = await post_events(f"{url}/events", events)
        progress.update(send, total=1, completed=1)
        consumers = ((ingestor, "ingestor: Kafka -> bronze"), (feedback, "feedback: Kafka -> Redis"))
        done = {}
        for (process, label), group in zip(consumers, groups, strict=True):
            drain = progress.add_task(label, total=len(acknowledged))
            started = time.monotonic()
            while True:
                done[group] = (
                    await committed_total(kafka, group, kafka.events_topic, PARTITIONS) - before[group]
                )
                progress.update(drain, completed=min(done[group], len(acknowledged)))
                if done[group] >= len(acknowledged):
                    break
                if not process.running or time.monotonic() - started > 600:
                    raise RuntimeError(
                        f"{process.module} stopped or stalled at {done[group]:,} records:\n{process.log_tail()}"
                    )
                await asyncio.sleep(0.2)
        return acknowledged, rejected, done[settings.ingestor.group_id]
    finally:
        feedback.stop()
        ingestor.stop()
        collector.stop()


def _catalogued(store: LakeStore) -> int:
    """Articles in the lake's catalogue snapshot (0 before the first)."""
    if not store.exists(CATALOG_MANIFEST):
        return 0
    return int(json.loads(store.read_bytes(CATALOG_MANIFEST))["rows"])


async def _ask_recommender(
    settings: Settings, known_user: str, logs: Path, progress: Progress
) -> dict[str, Any]:
    """Start the recommend service on the champion, ask for `known_user` and for a newcomer;
    returns what it answered (the first items, variant, model version, latency)."""
    port = settings.serving.port
    if is_listening(port, settings.serving.host, timeout_s=0.2):
        port = free_port()  # something else holds the default port: use a free one
    env = {
        **_service_env(settings),
        "RECO_SERVING__HOST": settings.serving.host,
        "RECO_SERVING__PORT": str(port),
    }
    task = progress.add_task("recommend service: starting", total=None)
    service = ServiceProcess("services.recommender.main", env, logs / "recommender.log").start()
    try:
        url = f"http://{settings.serving.host}:{port}"
        await wait_ready(f"{url}/readyz", timeout_s=120)
        answers: dict[str, Any] = {}
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            for label, user in (("known_reader", known_user), ("newcomer", "quickstart-newcomer")):
                response = await client.post("/recommend", json={"user_id": user, "k": 5})
                response.raise_for_status()
                body = response.json()
                answers[label] = {
                    "user_id": user,
                    "variant": body["variant"],
                    "model_version": body["model_version"],
                    "ranked_by": body["ranked_by"],
                    "items": [f"{i['article_id']} ({i['reason']})" for i in body["items"]],
                    "latency_ms": body["latency_ms"],
                }
        progress.update(task, description="recommend service: answered", total=1, completed=1)
        return answers
    except Exception as exc:
        raise RuntimeError(f"the recommend service failed ({exc!r}):\n{service.log_tail()}") from exc
    finally:
        service.stop()


def _champion_kind(settings: Settings, served: dict[str, Any]) -> str | None:
    """The kind of the model version that answered the known reader (its MLflow lineage)."""
    version = served.get("known_reader", {}).get("model_version")
    if version is None or not str(version).isdigit():
        return None  # the popular fallback answered: no champion
    from components.training.pipeline import describe_lineage

    kind: str = describe_lineage(settings, str(version))["kind"]
    return kind


STEP_STARTED = re.compile(r"/(\w+)/\d+ \(pid \d+\)\] Task is starting")


def _run_daily_flow(
    settings: Settings, dates: list[str], logs: Path, progress: Progress
) -> tuple[bool, Path]:
    """Run the daily flow over `dates` as Metaflow runs it (one process per step), showing the
    step it is in; returns (succeeded, log file)."""
    env = daily_flow_env(settings)
    command = daily_flow_command(dates[-1], start_date=dates[0])
    task = progress.add_task("daily flow: starting", total=None)
    log_path = logs / "daily-flow.log"
    with (
        open(log_path, "w") as log,
        subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        ) as proc,
    ):
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            started = STEP_STARTED.search(line)
            if started:
                progress.update(task, description=f"daily flow: {started.group(1)}")
                progress.advance(task)
    progress.update(task, description="daily flow: done" if proc.returncode == 0 else "daily flow: FAILED")
    return proc.returncode == 0, log_path


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = load_settings()
    console = Console(stderr=True)
    started = time.perf_counter()
    home = Path(settings.home)
    logs = home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    config = WorldConfig(
        seed=args.seed, start=today - timedelta(days=args.days), days=args.days, users=args.users
    )
    console.print(
        f"[bold]reco main job[/bold] profile={settings.profile} home={home} kafka={settings.kafka.bootstrap_servers}"
    )

    broker = None
    host, port = _first_broker(settings.kafka.bootstrap_servers)
    if not is_listening(port, host, timeout_s=0.5):
        broker = TansuBroker(port=port, log_dir=logs).start()
        console.print(f"started the embedded broker (tansu, pid {broker.pid}) on {broker.bootstrap_servers}")
    try:
        columns = (
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:,}"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console) as progress:
            simulate = progress.add_task("simulate traffic (days)", total=config.days)
            events: list[dict[str, Any]] = []
            dates = []
            world = World.build(config)
            for traffic in TrafficGenerator(world).days():
                events.extend(traffic.events)
                dates.append(traffic.day.isoformat())
                progress.advance(simulate)
            articles = world.catalogue.records()
            acknowledged, rejected, ingested = asyncio.run(
                _ingest(settings, articles, events, logs, progress)
            )
            store = LakeStore.from_settings(settings.lake)
            touched = sorted({e["ts"][:10] for e in events})
            flow_ok, flow_log = _run_daily_flow(settings, touched, logs, progress)
            served: dict[str, Any] = {}
            if flow_ok:
                reader = next(e["user_id"] for e in reversed(events) if e["type"] == "click")
                served = asyncio.run(_ask_recommender(settings, reader, logs, progress))
    finally:
        if broker:
            broker.stop()
    if not flow_ok:
        console.print(f"[red]the daily flow failed[/red]; its log: {flow_log}")
        print(json.dumps({"events": len(events), "error": "daily flow failed", "flow_log": str(flow_log)}))
        return 1
    silver_ids: set[str] = set()
    results = []
    for dt in touched:
        results.append(read_manifest(store, dt))
        silver_ids.update(read_silver(store, dt).column("event_id").to_pylist())
    daily = json.loads(store.read_bytes(daily_report_path(touched[-1])))
    features = json.loads(store.read_bytes(FEATURES_MANIFEST))

    lost = len(acknowledged - silver_ids)
    table = Table(title=f"simulated {config.start.date()} .. {(config.end - timedelta(days=1)).date()}")
    for column in ("date", "silver rows", "quarantined", "duplicates dropped", "content hash"):
        table.add_column(column, justify="right" if column != "date" else "left")
    for r in results:
        table.add_row(
            r["dt"],
            f"{r['row_count']:,}",
            f"{r['quarantined']:,}",
            f"{r['duplicates_dropped']:,}",
            r["content_hash"][:12],
        )
    console.print(table)
    console.print(
        f"events: simulated {len(events):,}, accepted {len(acknowledged):,}, rejected {rejected:,}, "
        f"ingested {ingested:,}, lost {lost:,}"
    )
    console.print(
        f"model: version [bold]{daily['model_version']}[/bold] ({daily['best']}), NDCG@10 {daily['ndcg_at_10']}, "
        f"gate [bold]{daily['gate']}[/bold]: {daily['gate_reason']}"
    )
    for label, answer in served.items():
        console.print(
            f"recommend ({label.replace('_', ' ')} {answer['user_id']}): {answer['variant']} "
            f"v{answer['model_version']} ranked by {answer['ranked_by']} in {answer['latency_ms']} ms: "
            f"{', '.join(answer['items'])}"
        )
    console.print(
        f"lake: [cyan]{store.uri(SILVER)}[/cyan]; reports: {store.uri(REPORTS)}; logs: {logs}\n"
        f"demo site: [cyan]{SERVE_COMMAND}[/cyan], then [cyan]{_demo_url(settings)}[/cyan] and the operator "
        f"console [cyan]{_demo_url(settings)}console[/cyan] (the admin token: RECO_SERVING__ADMIN_TOKEN; the "
        f"services stay up until Ctrl-C)\n"
        f"MLflow UI: [cyan]mlflow ui --backend-store-uri {settings.mlflow.tracking_uri}[/cyan] (pipelines venv)\n"
        f"Metaflow card: [cyan]METAFLOW_DATASTORE_SYSROOT_LOCAL={home.absolute()} python pipelines/daily/flow.py "
        f"card view {daily['flow_run'].split('/')[-1]}/end[/cyan]"
    )
    result = {
        "events": len(events),
        "accepted": len(acknowledged),
        "rejected": rejected,
        "ingested": ingested,
        "silver_rows": sum(r["row_count"] for r in results),
        "quarantined": sum(r["quarantined"] for r in results),
        "lost": lost,
        "feature_rows": features["user_rows"] + features["article_rows"],
        "materialized": features["materialized_rows"],
        "model_version": daily["model_version"],
        "model": daily["best"],
        "champion_kind": _champion_kind(settings, served),
        "demo": {
            "command": SERVE_COMMAND,
            "url": _demo_url(settings),
            "console": f"{_demo_url(settings)}console",
        },
        "ndcg_at_10": daily["ndcg_at_10"],
        "gate": {"decision": daily["gate"], "reason": daily["gate_reason"]},
        "flow_run": daily["flow_run"],
        "recommend": served,
        "dates": [r["dt"] for r in results],
        "lake": store.uri(SILVER),
        "seconds": round(time.perf_counter() - started, 2),
    }
    print(json.dumps(result))
    return 0 if lost == 0 and rejected == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
