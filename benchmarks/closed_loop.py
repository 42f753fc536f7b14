"""Exploration in a closed loop: `./pants run benchmarks/closed_loop.py -- --days 14`.

The simulator's readers use the real recommend service (services/recommender on Hypercorn,
request clock) for `--days` simulated days. Users are split by hash: half get the champion's
list as ranked (greedy), half the same list with Thompson sampling filling two slots from
the newest under-exposed articles (explore). Everything runs as in production, on loopback:
- the service logs impressions to Kafka (tansu); the readers' clicks, views and dwell go there too;
- the feedback consumer (services/feedback) turns the stream into exposure and click counts
  and recent reads in Redis, which the service reads (posteriors, exclusions);
- the ingestor (services/ingestor) lands the stream in the bronze lake;
- every simulated midnight: silver, features (Feast, materialized into Redis), a model of
  `--model`'s kind (ALS by default) trained on the last `--train-days` days, registered in
  MLflow and made champion; the service hot-reloads it.
A few warm-up days of the platform's house ranking give the first model its data.

Reference arms: a `--reference-share` of the readers (by a hash of seed and reader, split evenly
between the `--references`) is served in process by the simulator's truth-knowing policies,
`oracle` (each reader's true click probability) and `popfresh` (true appeal and freshness, no
personalisation), in the same run and world. The service is never asked for these readers and
their events never reach Kafka: the platform neither trains on nor counts them.

Measured per arm over the loop days: CTR, coverage (share of the articles live during the
loop that were ever served), mean hours until an article published during the loop got its
first 100 impressions in the arm (articles that never did count until their expiry or the
end: a lower bound, and `*_new_reached_share` says how many did). Off-policy: the SNIPS
estimate of the exploring arm's CTR from both arms' logged impressions, replayed from Kafka.

Last line, one JSON object with greedy_ctr, explore_ctr, greedy_coverage, explore_coverage,
greedy_new_exposure_h, explore_new_exposure_h, snips_explore_ctr, oracle_ctr, popfresh_ctr,
greedy_share_of_oracle (greedy CTR / oracle CTR), popfresh_ratio (greedy CTR / popfresh CTR),
champion_kind (the kind of the last champion), checks and details (a reference that is not
served reports null). Diagnostics per arm: `returning_ctr` and `first_visit_ctr` (readers with
and without history; `first_visit_impression_share`), `later_list_ctr` (the lists after a
session's first) and `reread_share` (impressions of articles the reader had already read: wasted
slots). A session's later lists are asked with what the reader opened earlier in it as
`exclude`, as a page does, and only once the feedback consumer has those opens in Redis (a
reader comes back to the page seconds after a click, when the stream has long delivered it;
simulated time runs far faster): `settle` in the details says how long that took
(`--no-settle`: no waiting). Exit code 1 if a check fails.
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
from redis.asyncio import Redis as AsyncRedis
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
from components.names import ARMS, CHAMPION, EXPLORE, GREEDY, recent_key
from components.registry.tracking import configure, version_by_alias
from components.runtime import ServiceProcess, TansuBroker, committed_total, free_port, wait_ready
from components.simulator import TrafficGenerator, World, WorldConfig
from components.simulator.behaviour import UserModel
from components.simulator.closed_loop import ClosedLoop, ShownList
from components.simulator.traffic import REFERENCE_POLICIES, RankingPolicy, reference_policy
from components.streaming import EventProducer, ensure_topics
from components.streaming.replay import read_events
from components.testing.services import mlflow_store
from components.testing.serving_world import drop_served_state
from components.training.pipeline import train_and_register
from components.training.train import Candidate

PARTITIONS = 4
# The model each midnight trains, by kind (`--model`): its default parameters.
MODEL_PARAMS: dict[str, dict[str, Any]] = {
    "popularity": {"half_life_hours": 6.0},
    "als": {"factors": 32, "regularization": 5.0},
    "ranker": {},
}
SWEEP = "sweep"  # every kind of MODEL_PARAMS competes; the gate decides
THRESHOLD = 100
FLUSH_EVENTS = 200
SETTLE_TIMEOUT_S = 5.0


class Settler:
    """Waits until the feedback consumer has recorded that a reader opened an article (it is
    among the newest of their recent reads in Redis): what production's seconds between a
    click and the next page view give, which simulated time does not."""

    def __init__(self, settings: Settings):
        self.client = AsyncRedis.from_url(settings.redis.url)
        self.prefix = settings.redis.key_prefix
        self.waits_ms: list[float] = []
        self.timeouts = 0

    async def __call__(self, user: str, article: str) -> None:
        started = time.perf_counter()
        key, target = recent_key(self.prefix, user), article.encode()
        while target not in await self.client.lrange(key, 0, 4):  # type: ignore[misc]
            if time.perf_counter() - started > SETTLE_TIMEOUT_S:
                self.timeouts += 1
                break
            await asyncio.sleep(0.005)
        self.waits_ms.append((time.perf_counter() - started) * 1_000)

    def summary(self) -> dict[str, Any]:
        waits = np.asarray(self.waits_ms or [0.0])
        return {
            "waits": len(self.waits_ms),
            "timeouts": self.timeouts,
            "p50_ms": round(float(np.percentile(waits, 50)), 1),
            "p95_ms": round(float(np.percentile(waits, 95)), 1),
        }


def model_candidates(kind: str) -> list[Candidate]:
    if kind == SWEEP:
        return [Candidate(k, dict(params)) for k, params in MODEL_PARAMS.items()]
    params = MODEL_PARAMS.get(kind)
    if params is None:
        raise ValueError(f"model: unknown kind {kind!r} (known: {', '.join([*sorted(MODEL_PARAMS), SWEEP])})")
    return [Candidate(kind, dict(params))]


def reference_names(text: str) -> list[str]:
    """`--references`: comma-separated names of the simulator's reference policies."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(set(names) - set(REFERENCE_POLICIES))
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown reference policies {unknown} (known: {', '.join(sorted(REFERENCE_POLICIES))})"
        )
    return sorted(set(names))


def share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"{value} is not in [0, 1)")
    return value


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
    p.add_argument(
        "--model",
        choices=[*sorted(MODEL_PARAMS), SWEEP],
        default=SWEEP,
        help="the kind of model each midnight trains (sweep: all of them compete, the gate decides)",
    )
    p.add_argument(
        "--reference-share",
        type=share,
        default=0.2,
        help="share of readers served in process by the reference policies, split evenly (0: none)",
    )
    p.add_argument(
        "--references",
        type=reference_names,
        default="oracle,popfresh",
        help=f"comma-separated reference policies (of {', '.join(sorted(REFERENCE_POLICIES))})",
    )
    p.add_argument("--concurrency", type=int, default=8, help="sessions in flight")
    p.add_argument(
        "--no-settle",
        dest="settle",
        action="store_false",
        help="ask a session's next list without waiting for its clicks to reach Redis",
    )
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
            "intraday_refresh_s": 0.2,
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

    def __init__(self, settings: Settings, console: Console, candidates: list[Candidate]):
        self.settings = settings
        self.console = console
        self.candidates = candidates
        self.store = LakeStore.from_settings(settings.lake)
        self.producer = EventProducer(settings.kafka)
        self.produced = 0
        self.silvered: set[str] = set()
        self.versions: list[str] = []
        self.kinds: list[str] = []  # the kind of each day's champion, in order
        self.kind_of: dict[str, str] = {}  # registered version -> kind
        self.gate: list[str] = []  # each day's gate decision

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
        """Silver for the dates that got new bronze, features, the candidates on the window; the
        best is registered and the quality gate decides whether it becomes champion (as the
        daily flow does). Returns the champion's version."""
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
            self.candidates,
            dates=window,
            seed=42,
            flow_run_id=f"closed-loop/{label}",
        )  # the gate runs and publishes the aliases
        if outcome.logged.version is not None:
            self.kind_of[outcome.logged.version] = outcome.best.candidate.kind
        decision = outcome.decision
        self.gate.append(f"{label}: v{outcome.logged.version} {outcome.best.candidate.name}: "
                         f"{decision.reason if decision else 'no decision'}")  # fmt: skip
        champion = version_by_alias(self.settings.mlflow.model_name, CHAMPION)
        if champion is None:
            raise RuntimeError(f"the gate promoted no model on {window}: {self.gate[-1]}")
        version = str(champion.version)
        self.versions.append(version)
        self.kinds.append(self.kind_of.get(version, "?"))
        return version


class ServiceRanker:
    def __init__(self, base: str):
        self.client = httpx.AsyncClient(base_url=base, timeout=30, limits=httpx.Limits(max_connections=32))
        self.requests = 0

    async def __call__(
        self, user: str, t: float, k: int, context: dict[str, Any], exclude: list[str]
    ) -> ShownList:
        response = await self.client.post(
            "/recommend",
            json={"user_id": user, "k": k, "exclude": exclude, "context": {**context, "now": t}},
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
    pipeline = Pipeline(settings, console, model_candidates(args.model))
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
    # Served in process from the simulator's truth, with the loop's own world and user model.
    references: dict[str, RankingPolicy] = {
        name: reference_policy(name, world, model) for name in args.references
    }
    settler = Settler(settings) if args.settle else None
    loop = ClosedLoop(
        generator,
        ranker,
        pipeline.send,
        concurrency=args.concurrency,
        threshold=THRESHOLD,
        # The readers' events reach Kafka in small batches: a simulated hour passes in about a
        # second here, so a batch of 2,000 events held clicks and reads back for one or two
        # simulated hours (a page sends them within seconds), and the intraday signals with them.
        flush_events=FLUSH_EVENTS,
        references=references if args.reference_share > 0 else None,
        reference_share=args.reference_share,
        settle=settler,
    )
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
    if settler is not None:
        await settler.client.aclose()

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
    # The service's arms (greedy, explore): what it served and logged; the reference arms are
    # neither asked of it nor in Kafka.
    service_arms = {name: t for name, t in loop.arms.items() if name not in loop.references}
    served = greedy.impressions + explore.impressions

    def arm_ctr(name: str) -> float | None:  # None: the arm was not served
        tally = loop.arms.get(name)
        return round(tally.ctr, 5) if tally is not None and tally.impressions else None

    def greedy_over(name: str) -> float | None:
        tally = loop.arms.get(name)
        return round(greedy.ctr / tally.ctr, 4) if tally is not None and tally.ctr > 0 else None

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
        "oracle_ctr": arm_ctr("oracle"),
        "popfresh_ctr": arm_ctr("popfresh"),
        "greedy_share_of_oracle": greedy_over("oracle"),
        "popfresh_ratio": greedy_over("popfresh"),
        "champion_kind": pipeline.kinds[-1],
        # Returning readers only (first-time visitors have no history to personalise from; the
        # oracle knows their tastes all the same).
        "returning_ctr": {name: round(t.returning_ctr, 5) for name, t in sorted(loop.arms.items())},
        "first_visit_ctr": {name: round(t.first_visit_ctr, 5) for name, t in sorted(loop.arms.items())},
        "first_visit_impression_share": round(
            sum(t.first_visit_impressions for t in loop.arms.values())
            / max(sum(t.impressions for t in loop.arms.values()), 1),
            4,
        ),
        "reread_share": {
            name: round(t.reread_impressions / max(t.impressions, 1), 4) for name, t in sorted(loop.arms.items())
        },
        "later_list_ctr": {
            name: round(t.later_clicks / max(t.later_impressions, 1), 5) for name, t in sorted(loop.arms.items())
        },
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
        "impressions": {"served": served, "sent_by_service": served_impressions,
                        "logged_in_loop": len(logged), "orphan_clicks": logged.orphan_clicks, "malformed": malformed,
                        "served_by_references": sum(loop.arms[n].impressions for n in loop.references if n in loop.arms),
                        "reference_events_withheld": loop.events_withheld},
        "arms": {name: {"users": len(t.users), "lists": t.lists, "impressions": t.impressions, "clicks": t.clicks}
                 for name, t in sorted(loop.arms.items())},
        "requests": ranker.requests,
        "settle": settler.summary() if settler is not None else None,
        "reference_share": loop.reference_share,
        "references": sorted(loop.references),
        "model": {"kind": args.model, "candidates": [c.name for c in pipeline.candidates]},
        "gate": pipeline.gate,
        "champion_kinds": pipeline.kinds,
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
        "every_impression_logged": len(logged) == served,
        # Every list the service served was asked of it; none of the reference readers' were.
        "references_kept_from_service": ranker.requests == sum(t.lists for t in service_arms.values()),
    }
    return result


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.reference_share > 0 and not args.references:
        p.error("--reference-share > 0 needs at least one of --references")
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
