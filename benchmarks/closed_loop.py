"""Exploration in a closed loop: `./pants run benchmarks/closed_loop.py -- --days 14`.

The simulator's readers use the real recommend service (services/recommender on Hypercorn,
request clock) for `--days` simulated days. Users are split by hash: half get the champion's
list as ranked (greedy), half the same list with Thompson sampling filling two slots from
the newest under-exposed articles (explore). Everything runs as in production, on loopback:
- the service logs impressions to Kafka (tansu); the readers' clicks, views and dwell go there too;
- the feedback consumer (services/feedback) turns the stream into exposure and click counts
  and recent reads in Redis, which the service reads (posteriors, exclusions);
- the ingestor (services/ingestor) lands the stream in the bronze lake;
- every simulated midnight: silver, features (Feast, materialized into Redis), an ALS model
  trained on the last `--train-days` days, registered in MLflow and made champion; the
  service hot-reloads it.
A few warm-up days of the platform's house ranking give the first model its data.

Measured per arm over the loop days: CTR, coverage (share of the articles live during the
loop that were ever served), mean hours until an article published during the loop got its
first 100 impressions in the arm (articles that never did count until their expiry or the
end: a lower bound, and `*_new_reached_share` says how many did). Off-policy: the SNIPS
estimate of the exploring arm's CTR from both arms' logged impressions, replayed from Kafka.

Last line, one JSON object with greedy_ctr, explore_ctr, greedy_coverage, explore_coverage,
greedy_new_exposure_h, explore_new_exposure_h, snips_explore_ctr, checks and details. Exit
code 1 if a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from components.config import Settings, load_settings, settings_env
from components.evaluation.experiment import group_counts, readout
from components.evaluation.logged import exploring_policy_odds, join_clicks
from components.evaluation.off_policy import ips, snips
from components.exploration import POLICIES
from components.features.build import build_features
from components.lake import LakeStore
from components.lake.catalog import upsert_articles
from components.lake.silver import bronze_dates, build_silver
from components.names import ARMS, CHAMPION, EXPLORE, GREEDY
from components.registry.gate import set_champion
from components.registry.publish import publish
from components.registry.tracking import configure
from components.runtime import ServiceProcess, TansuBroker, committed_total, free_port, wait_ready
from components.simulator import TrafficGenerator, World, WorldConfig
from components.simulator.behaviour import UserModel
from components.simulator.closed_loop import ClosedLoop, ShownList
from components.streaming import EventProducer, ensure_topics
from components.streaming.replay import read_events
from components.testing.services import mlflow_store
from components.testing.serving_world import drop_served_state
from components.training.pipeline import train_and_register
from components.training.train import Candidate

PARTITIONS = 4
MODEL = Candidate("als", {"factors": 32, "regularization": 5.0})
THRESHOLD = 100


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--days", type=int, default=14, help="closed-loop days")
    p.add_argument("--warmup-days", type=int, default=3)
    p.add_argument("--train-days", type=int, default=7, help="training window (days)")
    p.add_argument("--users", type=int, default=3_000)
    p.add_argument("--articles-per-day", type=int, default=150)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--explore-share", type=float, default=0.5)
    p.add_argument("--policy", choices=sorted(POLICIES), default="thompson")
    p.add_argument("--slots", type=int, default=2)
    p.add_argument("--concurrency", type=int, default=8, help="sessions in flight")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    p.add_argument("--keep", action="store_true", help="keep the temporary home and Redis keys")
    return p


def build_settings(args: argparse.Namespace, home: Path, broker: TansuBroker) -> Settings:
    store = mlflow_store(home / "mlflow")
    tag = uuid.uuid4().hex[:8]
    return load_settings(
        home=str(home),
        kafka={"bootstrap_servers": broker.bootstrap_servers, "events_topic": f"events.v1.loop{tag}"},
        redis={"url": args.redis_url, "key_prefix": f"reco-loop-{tag}:"},
        lake={"root": str(home / "lake")},
        mlflow={"tracking_uri": store.tracking_uri, "artifact_root": str(store.artifact_root)},
        features={"registry": str(home / "feast" / "registry.db"), "project": f"reco_loop_{tag}"},
        ingestor={"flush_interval_s": 0.5},
        serving={
            "port": free_port(),
            "poll_interval_s": 0.5,
            "item_refresh_s": 2.0,
            "catalogue_refresh_s": 2.0,
            # Every process of the platform shares two cores here: a 50 ms Redis budget would
            # time out under the retrain's load and serve cold-start lists (degraded mode).
            "redis_timeout_ms": 1_000.0,
        },
        exploration={
            "share": args.explore_share,
            "policy": args.policy,
            "slots": args.slots,
            "refresh_s": 1.0,
        },
    )


class Pipeline:
    """The platform side: the stream's producers and consumers, the daily retrain."""

    def __init__(self, settings: Settings, console: Console):
        self.settings = settings
        self.console = console
        self.store = LakeStore.from_settings(settings.lake)
        self.producer = EventProducer(settings.kafka)
        self.produced = 0
        self.silvered: set[str] = set()
        self.versions: list[str] = []

    async def send(self, events: list[dict[str, Any]]) -> None:
        records = [(str(e["user_id"]).encode(), orjson.dumps(e)) for e in events]
        for start in range(0, len(records), 5_000):
            await self.producer.send_batched(self.settings.kafka.events_topic, records[start : start + 5_000])
        self.produced += len(records)

    async def wait_ingested(self, total: int, timeout_s: float = 300) -> None:
        kafka = self.settings.kafka
        deadline = time.monotonic() + timeout_s
        while True:
            done = await committed_total(
                kafka, self.settings.ingestor.group_id, kafka.events_topic, PARTITIONS
            )
            if done >= total:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the ingestor made {done:,} of {total:,} records durable in {timeout_s:.0f}s"
                )
            await asyncio.sleep(0.3)

    def retrain(self, train_days: int, label: str) -> str:
        """Silver for the dates that got new bronze, features, a model on the window: champion."""
        dates = bronze_dates(self.store)
        for dt in dates:
            if dt not in self.silvered or dt in dates[-2:]:  # rebuilt: late events land there
                build_silver(self.store, dt)
                self.silvered.add(dt)
        window = dates[-train_days:]
        build_features(self.settings, self.store, window)
        outcome = train_and_register(
            self.settings,
            self.store,
            [MODEL],
            dates=window,
            seed=42,
            flow_run_id=f"closed-loop/{label}",
            run_gate=False,
        )
        version = outcome.logged.version
        if version is None:
            raise RuntimeError(f"training on {window} registered no model version")
        set_champion(self.settings.mlflow.model_name, version)
        publish(self.settings)
        self.versions.append(version)
        return version


class ServiceRanker:
    def __init__(self, base: str):
        self.client = httpx.AsyncClient(base_url=base, timeout=30, limits=httpx.Limits(max_connections=32))
        self.requests = 0

    async def __call__(self, user: str, t: float, k: int, context: dict[str, Any]) -> ShownList:
        response = await self.client.post(
            "/recommend", json={"user_id": user, "k": k, "context": {**context, "now": t}}
        )
        if response.status_code != 200:
            raise RuntimeError(f"/recommend answered {response.status_code}: {response.text[:300]}")
        body = response.json()
        self.requests += 1
        return ShownList(body["request_id"], [item["article_id"] for item in body["items"]], body["arm"])

    async def ready(self) -> dict[str, Any]:
        body: dict[str, Any] = (await self.client.get("/readyz")).json()
        return body

    async def wait_champion(self, version: str, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while (await self.ready())["models"].get(CHAMPION) != version:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the service did not load champion {version} in {timeout_s:.0f}s")
            await asyncio.sleep(0.2)

    async def fallbacks(self) -> dict[str, float]:
        """The service's fallback counts by reason (cold_start, redis_down, no_model)."""
        text = (await self.client.get("/metrics")).text
        return {
            sample.labels["reason"]: sample.value
            for family in text_string_to_metric_families(text)
            if family.name == "reco_recommend_fallbacks"
            for sample in family.samples
            if sample.name.endswith("_total")
        }

    async def drained(self, timeout_s: float = 60) -> int:
        """Impressions sent once nothing is pending."""
        deadline = time.monotonic() + timeout_s
        while True:
            impressions = (await self.ready())["impressions"]
            if impressions["pending"] == 0:
                if impressions["dropped"]:
                    raise RuntimeError(f"the service dropped {impressions['dropped']} impressions")
                return int(impressions["sent"])
            if time.monotonic() > deadline:
                raise RuntimeError(f"impressions still pending after {timeout_s:.0f}s: {impressions}")
            await asyncio.sleep(0.1)


def exposure_hours(
    world: World, reached: dict[str, float], start: float, end: float
) -> tuple[float, float, int]:
    """Mean hours from publication to the THRESHOLD-th impression over the articles published
    during the loop (at least a day before its end); those that never got there count until
    their expiry or the end. Returns (mean hours, share that got there, articles)."""
    cat = world.catalogue
    new = np.flatnonzero((cat.published_at >= start) & (cat.published_at < end - 86_400))
    hours, got = [], 0
    for i in new.tolist():
        article = cat.ids[i]
        if article in reached:
            got += 1
            hours.append((reached[article] - cat.published_at[i]) / 3_600)
        else:
            hours.append((min(cat.expires_at[i], end) - cat.published_at[i]) / 3_600)
    return float(np.mean(hours)), got / max(len(new), 1), len(new)


async def run(
    args: argparse.Namespace, settings: Settings, console: Console, procs: list[ServiceProcess]
) -> dict[str, Any]:
    home = Path(settings.home)
    env = settings_env(settings)
    kafka = settings.kafka
    await ensure_topics(kafka, [kafka.events_topic, kafka.dead_letter_topic], PARTITIONS)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    total_days = args.warmup_days + args.days
    config = WorldConfig(
        seed=args.seed, start=today - timedelta(days=total_days + 1), days=total_days, users=args.users,
        articles_per_day=args.articles_per_day,
    )  # fmt: skip
    world = World.build(config)
    model = UserModel(world)
    generator = TrafficGenerator(world, model)
    pipeline = Pipeline(settings, console)
    upsert_articles(pipeline.store, world.catalogue.articles(now=config.end))
    configure(settings.mlflow)
    await pipeline.producer.start()
    for name in ("ingestor", "feedback"):
        procs.append(ServiceProcess(f"services.{name}.main", env, home / f"{name}.log").start())
    timings: dict[str, float] = {"simulate": 0.0, "retrain": 0.0}
    started = time.perf_counter()
    for day in range(args.warmup_days):  # the house ranking: the first model's data
        await pipeline.send(generator.simulate_day(day).events)
    await pipeline.wait_ingested(pipeline.produced)
    version = await asyncio.to_thread(pipeline.retrain, args.train_days, "warmup")
    timings["warmup"] = time.perf_counter() - started
    console.log(f"warm-up: {args.warmup_days} days, {pipeline.produced:,} events, champion v{version}")

    # On a request clock (a test-only entry point): each request names its simulated time.
    service = ServiceProcess("benchmarks.clocked_recommender", env, home / "recommender.log").start()
    procs.append(service)
    ranker = ServiceRanker(f"http://127.0.0.1:{settings.serving.port}")
    await wait_ready(f"http://127.0.0.1:{settings.serving.port}/readyz", timeout_s=120)
    loop = ClosedLoop(generator, ranker, pipeline.send, concurrency=args.concurrency, threshold=THRESHOLD)
    loop_start = config.start.timestamp() + args.warmup_days * 86_400
    loop_end = loop_start + args.days * 86_400
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        for offset in range(args.days):
            day = args.warmup_days + offset
            task = progress.add_task(
                f"day {offset + 1}/{args.days}: sessions", total=len(generator.plan_sessions(day))
            )
            t0 = time.perf_counter()
            await loop.run_day(day, on_session=functools.partial(progress.advance, task))
            timings["simulate"] += time.perf_counter() - t0
            if offset == args.days - 1:
                break
            t0 = time.perf_counter()
            progress.update(task, description=f"day {offset + 1}/{args.days}: retrain")
            sent = await ranker.drained()
            await pipeline.wait_ingested(pipeline.produced + sent)
            version = await asyncio.to_thread(pipeline.retrain, args.train_days, f"day{offset + 1}")
            await ranker.wait_champion(version)
            timings["retrain"] += time.perf_counter() - t0
            arms = {a: f"{t.ctr:.4f}" for a, t in sorted(loop.arms.items())}
            progress.update(task, description=f"day {offset + 1}/{args.days}: v{version} CTR {arms}")
    served_impressions = await ranker.drained()
    fallbacks = await ranker.fallbacks()
    await pipeline.producer.stop()
    await ranker.client.aclose()

    def in_loop(event: dict[str, Any]) -> bool:
        return (
            event.get("type") in ("impression", "click")
            and event.get("ts", "") >= datetime.fromtimestamp(loop_start, UTC).isoformat()[:19]
        )

    events, malformed = await read_events(kafka, kafka.events_topic, keep=in_loop)
    logged = join_clicks(events)
    # The loop's own lists: a warm-up session that ran past midnight logged house lists too.
    logged = logged.select(np.isin(logged.arm, list(ARMS)))
    target, logging_p = exploring_policy_odds(logged, args.explore_share)
    snips_estimate = snips(logged.clicked, target, logging_p)
    ips_estimate = ips(logged.clicked, target, logging_p)
    explore_logged = logged.select(logged.arm == EXPLORE)
    comparison = {g.group: g for g in readout(group_counts(logged, "arm"), GREEDY)}

    cat = world.catalogue
    live_during = int(np.count_nonzero((cat.published_at < loop_end) & (cat.expires_at > loop_start)))
    greedy, explore = loop.arms[GREEDY], loop.arms[EXPLORE]
    g_hours, g_share, n_new = exposure_hours(world, greedy.reached, loop_start, loop_end)
    e_hours, e_share, _ = exposure_hours(world, explore.reached, loop_start, loop_end)
    result: dict[str, Any] = {
        "greedy_ctr": round(greedy.ctr, 5),
        "explore_ctr": round(explore.ctr, 5),
        "greedy_coverage": round(len(greedy.per_article) / live_during, 4),
        "explore_coverage": round(len(explore.per_article) / live_during, 4),
        "greedy_new_exposure_h": round(g_hours, 2),
        "explore_new_exposure_h": round(e_hours, 2),
        "snips_explore_ctr": round(snips_estimate.value, 5),
        "ctr_ratio": round(explore.ctr / greedy.ctr, 4),
        "snips_error": round(abs(snips_estimate.value - explore.ctr) / explore.ctr, 4),
        "greedy_new_reached_share": round(g_share, 4),
        "explore_new_reached_share": round(e_share, 4),
        "new_articles": n_new,
        "articles_live_during_loop": live_during,
        "snips_ci": [round(v, 5) for v in snips_estimate.interval()],
        "snips_effective_n": round(snips_estimate.effective_n),
        "ips_explore_ctr": round(ips_estimate.value, 5),
        "logged_explore_ctr": round(float(explore_logged.clicked.mean()), 5),
        "explore_vs_greedy": comparison[EXPLORE].as_dict(),
        "impressions": {"served": greedy.impressions + explore.impressions, "sent_by_service": served_impressions,
                        "logged_in_loop": len(logged), "orphan_clicks": logged.orphan_clicks, "malformed": malformed},
        "arms": {name: {"users": len(t.users), "lists": t.lists, "impressions": t.impressions, "clicks": t.clicks}
                 for name, t in sorted(loop.arms.items())},
        "requests": ranker.requests,
        "fallbacks": fallbacks,
        "model_versions": pipeline.versions,
        "days": args.days,
        "users": args.users,
        "explore_share": args.explore_share,
        "policy": args.policy,
        "seconds": {k: round(v, 1) for k, v in timings.items()},
    }  # fmt: skip
    result["checks"] = {
        "coverage_up": result["explore_coverage"] > result["greedy_coverage"],
        "new_exposure_faster": result["explore_new_exposure_h"] < result["greedy_new_exposure_h"],
        "explore_ctr_at_least_95pct": result["ctr_ratio"] >= 0.95,
        "snips_within_10pct": result["snips_error"] <= 0.10,
        "every_impression_logged": len(logged) == greedy.impressions + explore.impressions,
    }
    return result


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    console = Console(stderr=True)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    home = Path(tempfile.mkdtemp(prefix="reco-closed-loop-"))
    broker = TansuBroker(log_dir=home).start()
    procs: list[ServiceProcess] = []
    settings = build_settings(args, home, broker)
    started = time.perf_counter()
    try:
        result = asyncio.run(run(args, settings, console, procs))
    except Exception:
        for proc in procs:
            console.print(f"[red]{proc.module}[/red] log tail:\n{proc.log_tail(15)}")
        raise
    finally:
        for proc in procs:
            proc.stop()
        broker.stop()
        if args.keep:
            console.log(f"kept {home} and the Redis keys {settings.redis.key_prefix}*")
        else:
            drop_served_state(settings)
            subprocess.run(["rm", "-rf", str(home)], check=False)
    result["seconds"]["total"] = round(time.perf_counter() - started, 1)
    console.log(json.dumps(result["checks"]))
    print(json.dumps(result))
    return 0 if all(result["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
