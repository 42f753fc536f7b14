"""The recommend service's logic, behind the HTTP edge in services/recommender.

- **A snapshot** (`snapshot.py`): catalogue, models, canary share and exploration state, one
  immutable value swapped by reference; a request reads one snapshot from start to end.
- **Refresh sources** (`sources.py`): registry (the model publication), redis (the rollout
  share), catalogue, features (item-side online features), kafka, intraday (the articles'
  hourly impression and click counts, while a learned ranker is loaded), exploration; each a
  named loop under one health guard (`health.py`) that flags its problem under its name while
  the last good state serves.
- **Request stages**, each timed (`reco_request_stage_seconds`): user state (one Redis round
  trip: the reader's online feature row and recent reads), route (variant by user hash), rank
  (`ranking.py`: a learned ranker's candidate sources and trees, a collaborative model, or the
  popular list; the answer's `ranked_by` says which), explore (components/exploration edits
  the list), log (impressions into a bounded buffer a background task sends to Kafka).

The time a request is served at comes from the injected clock (`clock.py`): the wall clock in
production; a replay harness builds the app with a request clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import io
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from components.config import Settings
from components.config.redact import secret_values
from components.exploration import ExploredList, ExposureStats, explore_list, make_policy, under_exposed
from components.feedback.counts import read_buckets, read_exposure
from components.feedback.recent import read_recent
from components.lake import LakeStore
from components.lake.catalog import catalog_version, read_catalog
from components.logs import bind_request
from components.names import (
    CANARY,
    CHALLENGER,
    CHAMPION,
    EXPLORE,
    FALLBACK,
    GREEDY,
    catalogue_channel,
    catalogue_withdrawn_key,
    recent_key,
)
from components.online.pipelined import PipelinedRedis
from components.online.reader import OnlineFeatureReader
from components.online.repo import read_online_layout
from components.ranking.intraday import HourlyCounts, Intraday, window_hours
from components.registry.publication import PublishedModel, PublishedModels
from components.registry.rollout import read_rollout_async, write_rollout
from components.serving.catalogue import Catalogue, PopularityRule
from components.serving.clock import Clock, WallClock
from components.serving.health import Health
from components.serving.impressions import ImpressionLog, impression_records
from components.serving.metrics import ServingMetrics
from components.serving.ranking import POPULAR, RANKER, Ranked, ServingModel, rank
from components.serving.related import related
from components.serving.routing import bucket
from components.serving.schema import Filters, RecommendRequest, RelatedRequest
from components.serving.snapshot import Snapshot
from components.serving.sources import RefreshSource, refresh_once, run_source
from components.streaming import EventProducer

log = logging.getLogger("reco.serving")

CATALOGUE_CACHE = "catalogue.parquet"
# Withdrawals pushed by the catalogue consumer are kept this long (the snapshot holds them for
# good long before), and the set is read again this often in case a message was missed.
WITHDRAWN_KEEP_S = 86_400.0
WITHDRAWN_RELOAD_S = 30.0
FALLBACK_VERSION = "popular-fallback"
ITEM_READ_SLICE = 50
# How often the `kafka` flag (and its gauge) is brought up to date.
KAFKA_CHECK_S = 1.0
# The ranker's hourly counts: the newest hours are read on every refresh, and this many of the
# others, those read longest ago (a week of hours is read again every 3 minutes at 5 s).
INTRADAY_RECENT_H = 3
INTRADAY_REREAD_H = 8


@dataclass
class Answer:
    items: list[dict[str, Any]]
    model_version: str
    variant: str
    request_id: str
    latency_ms: float
    arm: str = GREEDY
    ranked_by: str = POPULAR
    # For the caller's background work (shadow scoring) after the response is sent.
    shadow: Callable[[], Awaitable[None]] | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "model_version": self.model_version,
            "variant": self.variant,
            "request_id": self.request_id,
            "latency_ms": self.latency_ms,
            "arm": self.arm,
            "ranked_by": self.ranked_by,
        }


class RecommendService:
    """The recommend service: a snapshot swapped by the refresh sources, a health guard, and
    the request stages (user state -> route -> rank -> explore -> log), each timed."""

    def __init__(self, settings: Settings, metrics: ServingMetrics, clock: Clock | None = None):
        self.settings = settings
        self.serving = settings.serving
        self.metrics = metrics
        self.clock = clock or WallClock()
        self.rule = PopularityRule(self.serving.popular_prior_views, self.serving.popular_half_life_h)
        cache_dir = Path(self.serving.model_cache_dir or Path(settings.home) / "serving" / "models")
        self.health = Health(metrics, secret_values(settings))
        self.lake = LakeStore.from_settings(settings.lake)
        self.models_store = PublishedModels(self.lake, cache_dir, settings.redis.key_prefix)
        timeout = self._redis_timeout_s = self.serving.redis_timeout_ms / 1000
        # The request path's round trip (the reader's row and recent reads): one pipelined
        # connection; the rest of the request path and the background work use redis-py.
        self.redis_fast = PipelinedRedis(settings.redis.url, connect_timeout_s=timeout)
        self.redis = AsyncRedis.from_url(
            settings.redis.url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        # Background polls may wait longer than a request would.
        self.redis_slow = AsyncRedis.from_url(settings.redis.url, socket_timeout=5, socket_connect_timeout=5)
        # Exposure counts are read and parsed in a thread (tens of thousands of hash fields).
        self.redis_sync = Redis.from_url(settings.redis.url, socket_timeout=5, socket_connect_timeout=5)
        self.producer = EventProducer(settings.kafka, ensure=[settings.kafka.events_topic])
        self.impressions = ImpressionLog(
            self.producer,
            settings.kafka.events_topic,
            capacity=self.serving.impression_buffer,
            flush_s=self.serving.impression_flush_ms / 1000,
        )
        # Everything a request reads, swapped as one reference (components/serving/snapshot.py).
        self.snapshot = Snapshot.empty()
        self.reader: OnlineFeatureReader | None = None
        self._online_names: dict[str, str] = {}
        self._redis_retry_at = 0.0
        self._catalogue_version: str | None = None
        # Articles withdrawn (taken down, unpublished) as the catalogue consumer pushed them,
        # id -> when: kept out of every catalogue until a snapshot without them is read.
        self.withdrawn: dict[str, float] = {}
        self._refreshes: set[asyncio.Future[None]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._sender: asyncio.Task[None] | None = None
        self._reload_lock = asyncio.Lock()
        # One load per version at a time: a slow download goes on in the background and the
        # next poll waits for the same one instead of starting another.
        self._loading: dict[str, asyncio.Future[Any]] = {}
        self.exploration = settings.exploration
        self._rng = np.random.default_rng()
        self.sources = [
            RefreshSource("registry", self.serving.poll_interval_s, self.refresh_models),
            # The rollout share is read from Redis: its source owns the `redis` flag with the
            # request path (which sets it on a failed round trip; a good read here clears it).
            RefreshSource("redis", self.serving.poll_interval_s, self.refresh_rollout),
            RefreshSource("catalogue", self.serving.catalogue_refresh_s, self.refresh_catalogue),
            RefreshSource("features", self.serving.item_refresh_s, self.refresh_items),
            RefreshSource("kafka", KAFKA_CHECK_S, self.check_impressions),
            RefreshSource("intraday", self.serving.intraday_refresh_s, self.refresh_intraday),
        ]
        # Hourly counts already read (the learned ranker's intraday signals), and when each
        # hour was read (monotonic seconds).
        self._hourly = HourlyCounts(INTRADAY_RECENT_H)
        self._hours_read_at: dict[int, float] = {}
        if self.exploration.share > 0:
            self.sources.append(
                RefreshSource("exploration", self.exploration.refresh_s, self.refresh_exploration)
            )

    def now(self) -> float:
        """Now, in epoch seconds, on the service's clock."""
        return self.clock.now()

    # --- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        """Refresh every source once (each failure is a degraded flag, not a crash), then start
        the loops. Nothing here waits on the publication longer than `registry_timeout_s`:
        past it, the cached models serve and the polls go on."""
        for name in ("catalogue", "features", "registry", "redis", "intraday", "exploration"):
            for source in self.sources:
                if source.name == name:
                    await refresh_once(source, self.health)
        with contextlib.suppress(Exception):
            await self.producer.start()
        self._tasks = [asyncio.create_task(run_source(source, self.health)) for source in self.sources]
        self._sender = asyncio.create_task(self.impressions.run())
        self._tasks.append(asyncio.create_task(self.listen_catalogue()))
        _freeze_heap()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._sender is not None:
            # The sender finishes its send in flight (cancelled mid-send, the batch would go
            # back to the buffer and out again: duplicates), then the last flush.
            self.impressions.stop()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._sender, timeout=10)
            self._sender.cancel()
        await self.impressions.close()
        await self.producer.stop()
        await self.redis_fast.aclose()
        await self.redis.aclose()
        await self.redis_slow.aclose()
        self.redis_sync.close()

    def _swap(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.metrics.catalogue_live.set(int(snapshot.catalogue.live(self.now()).sum()))

    # --- refresh sources (components/serving/sources.py): each returns its problem or None ---
    async def refresh_catalogue(self) -> str | None:
        """Re-read the lake's catalogue when its manifest says it changed (a rebuild costs
        tens of milliseconds of the event loop; the manifest read costs one small file)."""
        cache = self.models_store.cache_dir / CATALOGUE_CACHE
        now = self.now()
        current = self.snapshot.catalogue
        problem = None
        try:
            version = await asyncio.to_thread(catalog_version, self.lake)
            if version is not None and version == self._catalogue_version and len(current):
                self._swap(
                    self.snapshot.with_catalogue(current.reranked(now, self.rule))
                )  # the clock moved on
                return None
            table = await asyncio.to_thread(read_catalog, self.lake)
            await asyncio.to_thread(_write_parquet, table, cache)
            self._catalogue_version = version
        except Exception as exc:
            problem = f"lake catalogue unreadable: {exc!r}"
            if len(current) or not cache.exists():
                return problem  # keep the one in memory (or stay empty: nothing to fall back on)
            table = await asyncio.to_thread(pq.read_table, cache)
        self._returned(table)
        catalogue = Catalogue.from_table(table, now_s=now, rule=self.rule)
        # Keep the item features until the next item refresh fills the new articles in.
        catalogue = catalogue.with_features_of(self.snapshot.catalogue, now_s=now, rule=self.rule)
        catalogue = catalogue.without(self.withdrawn, now_s=now, rule=self.rule)
        self._swap(self.snapshot.with_catalogue(catalogue))
        return problem

    async def listen_catalogue(self) -> None:
        """Withdrawals pushed by the catalogue consumer, applied as they come (a takedown leaves
        /recommend within a second or two, not at the next catalogue read). On every
        (re)connection: subscribe, then load the recent withdrawals, so none falls in between."""
        prefix = self.settings.redis.key_prefix
        while True:
            # No silent reconnection (a message published meanwhile would be lost without the
            # set being loaded again): any trouble ends this connection, the next one reloads.
            client = AsyncRedis.from_url(
                self.settings.redis.url,
                socket_connect_timeout=5,
                health_check_interval=10,
                retry=Retry(NoBackoff(), 0),
            )
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(catalogue_channel(prefix))
                    loaded = 0.0
                    while True:
                        if time.monotonic() - loaded > WITHDRAWN_RELOAD_S:
                            since = time.time() - WITHDRAWN_KEEP_S
                            recent = await client.zrangebyscore(
                                catalogue_withdrawn_key(prefix), since, "+inf", withscores=True
                            )
                            self.withdraw(
                                {m.decode(): at for m, at in recent if m.decode() not in self.withdrawn}
                            )
                            loaded = time.monotonic()
                            self.health.flag("catalogue_push", None)
                        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                        if message is not None:
                            self.apply_catalogue_push(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: the periodic catalogue read still applies changes
                self.health.flag("catalogue_push", f"catalogue push channel unavailable: {exc!r}")
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(Exception):
                    await client.aclose()

    def apply_catalogue_push(self, data: bytes | str) -> None:
        """One pushed message: a list of {"article_id", "withdrawn"}."""
        try:
            changes = orjson.loads(data)
            gone = {str(c["article_id"]): time.time() for c in changes if c["withdrawn"]}
            back = [str(c["article_id"]) for c in changes if not c["withdrawn"]]
        except (orjson.JSONDecodeError, TypeError, KeyError) as exc:
            log.warning("ignoring a malformed catalogue push (%r)", exc)
            return
        self.withdraw(gone)
        if back:
            for article in back:
                self.withdrawn.pop(article, None)
            self._catalogue_version = None  # re-read the snapshot now: it holds them again
            source = next(s for s in self.sources if s.name == "catalogue")
            task = asyncio.ensure_future(refresh_once(source, self.health))
            self._refreshes.add(task)  # held until done (the loop keeps only weak references)
            task.add_done_callback(self._refreshes.discard)

    def withdraw(self, articles: dict[str, float]) -> None:
        """Take `articles` (id -> when withdrawn) out of the catalogue and the exploration
        pools now; kept out of every catalogue read until a snapshot has them back."""
        if not articles:
            return
        self.withdrawn.update(articles)
        cutoff = time.time() - WITHDRAWN_KEEP_S
        self.withdrawn = {a: at for a, at in self.withdrawn.items() if at >= cutoff}
        self._swap(self.snapshot.without(articles, now_s=self.now(), rule=self.rule))
        self.metrics.withdrawn.inc(len(articles))

    def _returned(self, table: pa.Table) -> None:
        """Forget the withdrawals the snapshot `table` has undone (an article published again
        after it was withdrawn), should the push of its return have been lost."""
        if not self.withdrawn or "received_at" not in table.column_names:
            return
        rows = table.filter(pc.is_in(table.column("article_id"), value_set=pa.array(list(self.withdrawn))))
        for row in rows.select(["article_id", "status", "received_at"]).to_pylist():
            at = self.withdrawn.get(row["article_id"])
            if at is not None and row["status"] == "published" and row["received_at"].timestamp() > at:
                del self.withdrawn[row["article_id"]]

    async def connect_features(self) -> str | None:
        """The online feature reader: reco's codec of Feast's layout, no Feast registry to ask.
        Rebuilt when the feature store's apply recorded other stored view names (versioned
        online views)."""
        try:
            names = await asyncio.to_thread(read_online_layout, self.lake, self.settings.features.project)
        except Exception as exc:  # the lake away: keep the reader (or the views' own names)
            if self.reader is not None:
                return None
            names = {}
            log.warning("online layout unreadable, reading the views under their own names: %r", exc)
        if self.reader is not None and names == self._online_names:
            return None
        try:
            self.reader = OnlineFeatureReader(self.settings, self.redis_slow, names)
        except Exception as exc:
            return f"online features unavailable: {exc!r}"
        self._online_names = names
        return None

    async def refresh_items(self) -> str | None:
        """Item-side online features of the live catalogue (views, CTR) into memory."""
        problem = await self.connect_features()
        if self.reader is None:
            return problem
        now = self.now()
        catalogue = self.snapshot.catalogue
        ids = [str(a) for a in catalogue.article_ids[catalogue.live(now)]]
        rows: list[dict[str, Any]] = []
        try:
            # In slices, yielding between them: one read of every live article would hold the
            # event loop (and the requests queued behind it) for ~100 ms.
            for start in range(0, len(ids), ITEM_READ_SLICE):
                rows.extend(await self.reader.read_articles(ids[start : start + ITEM_READ_SLICE]))
                await asyncio.sleep(0)
        except Exception as exc:
            return f"item features unreadable: {exc!r}"
        if catalogue is self.snapshot.catalogue:  # not replaced by a catalogue refresh meanwhile
            features = dict(zip(ids, rows, strict=True))
            self._swap(
                self.snapshot.with_catalogue(
                    catalogue.with_item_features(features, now_s=now, rule=self.rule)
                )
            )
        return None

    async def refresh_rollout(self) -> str | None:
        try:
            rollout = await read_rollout_async(self.redis_slow, self.settings.redis)
        except Exception as exc:
            return f"rollout state unreadable: {exc!r}"
        self.snapshot = self.snapshot.with_canary_share(rollout.canary_share)
        self.metrics.canary_share.set(rollout.canary_share)
        return None

    async def refresh_exploration(self) -> str | None:
        """Exposure and click counts of the live articles over the window (written by the
        feedback consumer) into a fresh policy and pool, swapped in by reference."""
        cfg = self.exploration
        now = self.now()
        catalogue = self.snapshot.catalogue
        live = catalogue.live(now)
        try:
            counts = await asyncio.to_thread(
                read_exposure, self.redis_sync, self.settings.redis.key_prefix, now, cfg.window_h
            )
        except Exception as exc:
            return f"exposure counts unreadable: {exc!r}"
        live_ids = [str(a) for a in catalogue.article_ids[live]]
        stats = ExposureStats.from_counts({a: counts.get(a, (0.0, 0.0)) for a in live_ids})
        # Thompson sampling draws thousands of Beta samples: off the event loop.
        policy = await asyncio.to_thread(make_policy, cfg.policy, stats, cfg, int(self._rng.integers(2**63)))
        # One pool per section, newest under-exposed first: a slot explores the section of
        # the model's item it may replace (what the reader reads), not the whole catalogue.
        pools: dict[str, list[str]] = {}
        ordered = under_exposed(stats, live_ids, catalogue.published_s[live], cfg.max_impressions)
        for article in ordered:
            pools.setdefault(str(catalogue.category[catalogue.index[article]]), []).append(article)
        self.snapshot = self.snapshot.with_exploration(policy, pools)
        return None

    async def refresh_intraday(self) -> str | None:
        """The articles' hourly impression and click counts over the ranker's window, summed
        with its decay weights (components/ranking/intraday.py); only while a ranker is
        loaded. Each refresh reads the newest INTRADAY_RECENT_H hours, the hours not read yet,
        and the INTRADAY_REREAD_H hours read longest ago (late events), so every hour of the
        window is read again every few minutes and no refresh reads (and parses) the whole
        week. The signals are aligned with the catalogue here, off the request path."""
        if not self.snapshot.has_ranker():
            return None
        hour = int(self.now() // 3_600)
        wanted = window_hours(hour)
        read_at = self._hours_read_at
        stale = sorted(
            (h for h in wanted if h in read_at and h <= hour - INTRADAY_RECENT_H), key=lambda h: read_at[h]
        )
        fetch = sorted(
            {h for h in wanted if h not in read_at or h > hour - INTRADAY_RECENT_H}
            | set(stale[:INTRADAY_REREAD_H])
        )
        try:
            fresh = await asyncio.to_thread(
                read_buckets, self.redis_sync, self.settings.redis.key_prefix, fetch
            )
        except Exception as exc:
            return f"intraday counts unreadable: {exc!r}"
        now, keep, counts = time.monotonic(), set(wanted), self._hourly

        def build() -> Intraday:
            counts.keep(keep)
            for h, counted in fresh.items():
                counts.put(h, counted)
            intraday = counts.intraday(hour)
            intraday.rows_of(self.snapshot.catalogue.article_ids)  # aligned before any request
            return intraday

        intraday = await asyncio.to_thread(build)
        self.snapshot = self.snapshot.with_intraday(intraday)  # the snapshot as it is now
        self._hours_read_at = {h: t for h, t in read_at.items() if h in keep} | {h: now for h in fresh}
        return None

    async def check_impressions(self) -> str | None:
        """Whether impressions reach Kafka (the `kafka` flag and gauge; /readyz computes the
        same on every read)."""
        return self._kafka_problem()

    def _kafka_problem(self) -> str | None:
        if self.producer.started and self.impressions.healthy:
            return None
        return "impressions not reaching Kafka" if self.producer.started else "producer not connected"

    async def reload_models(self) -> dict[str, str]:
        """The publication read now (POST /admin/reload); returns alias -> version."""
        source = next(s for s in self.sources if s.name == "registry")
        await refresh_once(source, self.health)
        return self.snapshot.versions()

    async def refresh_models(self) -> str | None:
        """Read the publication; load any published version not loaded yet; swap. The
        publication comes from Redis, the lake when Redis has none, or the local cache when
        neither answers (components/registry/publication.py)."""
        timeout = self.serving.registry_timeout_s
        async with self._reload_lock:
            try:
                publication, problem = await asyncio.wait_for(
                    self.models_store.resolve(self.redis_slow), timeout
                )
            except TimeoutError:
                publication = self.models_store.cached()
                problem = f"the publication did not answer within {timeout:g} s"
            if problem is not None:
                problem = f"publication unreadable: {problem}"
                if self.snapshot.models:
                    return problem
            published = publication.aliases if publication is not None else {}
            current = self.snapshot.models
            loaded: dict[str, ServingModel] = {}
            fresh = False
            by_version = {m.version: m for m in current.values()}
            for alias, entry in published.items():
                known = by_version.get(entry.version)
                if known is not None:  # already in memory, maybe under another alias (promotion)
                    loaded[alias] = known if known.alias == alias else replace(known, alias=alias)
                    continue
                try:
                    recommender = await asyncio.wait_for(asyncio.shield(self._load(entry)), timeout)
                except Exception as exc:  # keep serving the previous version of this alias
                    problem = f"version {entry.version} ({alias}) not loadable: {exc!r}"
                    if alias in current:
                        loaded[alias] = current[alias]
                    continue
                # Off the event loop: a ranker embeds the whole catalogue's text on its first bind.
                loaded[alias] = await asyncio.to_thread(
                    ServingModel.bind, alias, entry.version, recommender, self.snapshot.catalogue
                )
                log.info("loaded %s version %s (%s)", alias, entry.version, recommender.kind)
                fresh = True
            if CHAMPION not in loaded and CHAMPION in current:
                loaded[CHAMPION] = current[CHAMPION]  # never drop the champion on a publication hiccup
            # Bound to the catalogue current at the swap (a catalogue refresh may have run meanwhile).
            self._swap(self.snapshot.with_models(loaded).with_catalogue(self.snapshot.catalogue))
            self.metrics.set_models({a: m.version for a, m in loaded.items()})
            with contextlib.suppress(OSError):
                keep = {e.digest for e in published.values()}
                await asyncio.to_thread(self.models_store.prune, keep)
            if fresh and self._tasks:
                _freeze_heap()
            return problem

    def _load(self, entry: PublishedModel) -> asyncio.Future[Any]:
        loading = self._loading.get(entry.digest)
        if loading is None:
            loading = asyncio.ensure_future(asyncio.to_thread(self.models_store.load, entry))
            self._loading[entry.digest] = loading

            def done(future: asyncio.Future[Any], digest: str = entry.digest) -> None:
                self._loading.pop(digest, None)
                if not future.cancelled():
                    future.exception()  # retrieved: the waiting poll reports it

            loading.add_done_callback(done)
        return loading

    # --- the request stages ------------------------------------------------------------------
    async def user_state(self, user_id: str) -> tuple[bool, list[str]]:
        """Stage 1: (has features, recent reads) in one Redis round trip; (False, []) while
        Redis is unreachable (skipped for `redis_retry_s` after a failure)."""
        now = time.monotonic()
        if now < self._redis_retry_at:
            self.metrics.fallback("redis_down")
            return False, []
        limit = self.serving.recent_reads
        prefix = self.settings.redis.key_prefix
        try:
            reader = self.reader
            if reader is not None and reader.redis:
                features, recent_ids = await reader.read_user_with_list(
                    self.redis_fast, user_id, recent_key(prefix, user_id), limit, self._redis_timeout_s
                )
            else:
                recent_ids = await read_recent(self.redis, prefix, user_id, limit)
                features = await reader.read_user(user_id) if reader is not None else None
        except Exception as exc:
            self._redis_retry_at = now + self.serving.redis_retry_s
            self.health.flag("redis", f"online reads failing: {exc!r}")
            self.metrics.errors.labels(kind="redis").inc()
            self.metrics.fallback("redis_down")
            return False, []
        if "redis" in self.health:
            self.health.flag("redis", None)
        return features is not None, recent_ids

    def explore(
        self, snapshot: Snapshot, request: RecommendRequest, ranked: Ranked, recent: list[str]
    ) -> tuple[str, ExploredList | None]:
        """Stage 4: the arm, and the exploring policy's edit of the list (None: no explorer)."""
        explorer = snapshot.explorer
        if (
            explorer is None
            or self.exploration.share <= 0
            or not ranked.article_ids
            or request.user_id is None
        ):
            return GREEDY, None
        cfg = self.exploration
        arm = EXPLORE if bucket(request.user_id, cfg.salt) < cfg.share else GREEDY
        explored = explore_list(
            ranked.article_ids,
            ranked.scores,
            ranked.reasons,
            policy=explorer,
            pool_for=snapshot.pool_for,
            k=request.k,
            slots=cfg.slots,
            pool_size=cfg.pool_size,
            banned={*request.exclude, *recent},
            rng=self._rng if arm == EXPLORE else None,  # greedy: only log the explorer's odds
            reason=EXPLORE,
        )
        return arm, explored

    async def recommend(self, request: RecommendRequest, now: float | None = None) -> Answer:
        """Rank for `request` at `now` (epoch seconds; the service's clock when None)."""
        clock = time.perf_counter
        marks = [clock()]  # the start, then the end of each stage (metrics.STAGES)
        snapshot = self.snapshot  # one consistent view for the whole request
        request_id = os.urandom(16).hex()
        reader = request.user_id  # None: the page asked for the non-personal list (no consent)
        has_features, recent = await self.user_state(reader) if reader is not None else (False, [])
        marks.append(clock())
        variant, model = _route(snapshot, reader)
        version = model.version if model is not None else FALLBACK_VERSION
        bind_request(request_id=request_id, variant=variant, model_version=version)
        context = {**request.context, "variant": variant, "k": request.k}
        if now is None:
            now = self.now()
        else:
            context.pop("now", None)  # the impression's ts says it
        marks.append(clock())
        ranked = _rank(model, snapshot, request, recent, has_features, now)
        if model is None:
            self.metrics.fallback("no_model")
        elif model.is_ranker and ranked.ranked_by != RANKER:
            self.metrics.fallback("ranker_failed")
        elif ranked.cold_start:
            self.metrics.fallback("cold_start")
        marks.append(clock())
        arm, explored = self.explore(snapshot, request, ranked, recent)
        if explored is None:
            article_ids, scores, reasons = ranked.article_ids, ranked.scores, ranked.reasons
            # Deterministic ranking: every served item was the only choice.
            propensities: list[float] = [1.0] * len(article_ids)
            item_context = None
        else:
            article_ids, scores, reasons = explored.article_ids, explored.scores, explored.reasons
            propensities, item_context = explored.propensities, explored.item_context
            context["arm"], context["policy"] = arm, snapshot.explorer.name  # type: ignore[union-attr]
        marks.append(clock())
        items = [
            {"article_id": a, "score": s, "reason": r}
            for a, s, r in zip(article_ids, scores, reasons, strict=True)
        ]
        if reader is not None:  # a non-personal list names nobody: nothing is logged
            records = impression_records(
                user_id=reader,
                article_ids=article_ids,
                request_id=request_id,
                model_version=version,
                propensities=propensities,
                sources=reasons,
                context=context,
                ts=datetime.fromtimestamp(now, tz=UTC),
                item_context=item_context,
            )
            self.impressions.add(records)
        marks.append(clock())
        latency = marks[-1] - marks[0]
        self.metrics.stages.add(marks)
        self.metrics.observe(variant, latency)
        shadow = None
        challenger = snapshot.models.get(CHALLENGER)
        if (
            challenger is not None
            and reader is not None
            and self.serving.shadow_share > 0
            and random.random() < self.serving.shadow_share
        ):
            served = article_ids
            at = now

            async def shadow() -> None:
                self._shadow(snapshot, challenger, request, recent, has_features, served, at)

        return Answer(
            items, version, variant, request_id, round(latency * 1000, 3), arm, ranked.ranked_by, shadow
        )

    async def related(self, request: RelatedRequest, now: float | None = None) -> Answer:
        """Articles related to `request.article_id` at `now` (the service's clock when None).
        With a reader, their recent reads are left out and the impressions are logged under
        them (context `surface: related`); without one, nothing names or logs a reader."""
        started = time.perf_counter()
        snapshot = self.snapshot
        request_id = os.urandom(16).hex()
        recent: list[str] = []
        if request.user_id is not None:
            _, recent = await self.user_state(request.user_id)
        variant, model = _route(snapshot, request.user_id)
        version = model.version if model is not None else FALLBACK_VERSION
        bind_request(request_id=request_id, variant=variant, model_version=version)
        if now is None:
            now = self.now()
        ranked = related(
            model,
            snapshot.catalogue,
            request.article_id,
            request.k,
            exclude=request.exclude,
            recent=recent,
            now_s=now,
            keep=_keep(snapshot.catalogue, request.filters),
        )
        if request.user_id is not None and ranked.article_ids:
            context = {k: v for k, v in request.context.items() if k != "now"}
            context.update(variant=variant, k=request.k, surface="related", related_to=request.article_id)
            self.impressions.add(
                impression_records(
                    user_id=request.user_id,
                    article_ids=ranked.article_ids,
                    request_id=request_id,
                    model_version=version,
                    propensities=[1.0] * len(ranked.article_ids),
                    sources=ranked.reasons,
                    context=context,
                    ts=datetime.fromtimestamp(now, tz=UTC),
                )
            )
        latency = time.perf_counter() - started
        self.metrics.observe_related(ranked.ranked_by, latency)
        items = [
            {"article_id": a, "score": s, "reason": r}
            for a, s, r in zip(ranked.article_ids, ranked.scores, ranked.reasons, strict=True)
        ]
        return Answer(items, version, variant, request_id, round(latency * 1000, 3), GREEDY, ranked.ranked_by)

    def _shadow(
        self,
        snapshot: Snapshot,
        challenger: ServingModel,
        request: RecommendRequest,
        recent: list[str],
        has_features: bool,
        served: list[str],
        now: float,
    ) -> None:
        """Score the challenger on a copy of the request, never served: overlap with what was
        served and its latency go to the metrics."""
        started = time.perf_counter()
        try:
            ranked = _rank(challenger, snapshot, request, recent, has_features, now)
        except Exception:
            self.metrics.errors.labels(kind="shadow").inc()
            log.exception("shadow scoring of version %s failed", challenger.version)
            return
        overlap = len(set(ranked.article_ids) & set(served)) / max(len(served), 1)
        self.metrics.shadow(challenger.version, overlap, time.perf_counter() - started)

    # --- readiness and admin -----------------------------------------------------------------
    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """A pure read: ready once a champion and a catalogue are loaded."""
        snapshot = self.snapshot
        problems = dict(self.health.problems)
        problems.pop("kafka", None)
        if (kafka := self._kafka_problem()) is not None:
            problems["kafka"] = kafka
        ready = CHAMPION in snapshot.models and len(snapshot.catalogue) > 0
        explorer = snapshot.explorer
        return ready, {
            "ready": ready,
            "models": snapshot.versions(),
            "canary_share": snapshot.canary_share,
            "catalogue_live": int(snapshot.catalogue.live(self.now()).sum()),
            "exploration": {
                "share": self.exploration.share if explorer is not None else 0.0,
                "policy": explorer.name if explorer is not None else None,
                "pool": sum(len(p) for p in snapshot.explore_pools.values()),
            },
            "degraded": sorted(problems),
            "problems": dict(sorted(problems.items())),
            "impressions": {
                "pending": self.impressions.pending,
                "sent": self.impressions.sent,
                "dropped": self.impressions.dropped,
            },
        }

    async def set_canary_share(self, share: float) -> dict[str, Any]:
        canary = self.snapshot.models.get(CANARY)
        rollout = await asyncio.to_thread(
            write_rollout, self.settings.redis, canary.version if canary else None, share
        )
        self.snapshot = self.snapshot.with_canary_share(rollout.canary_share)
        self.metrics.canary_share.set(rollout.canary_share)
        return {"canary_version": rollout.canary_version, "canary_share": rollout.canary_share}


def _rank(
    model: ServingModel | None,
    snapshot: Snapshot,
    request: RecommendRequest,
    recent: list[str],
    has_features: bool,
    now: float,
) -> Ranked:
    """Stage 3 for `request` with `model` (the served one, or the shadow challenger)."""
    return rank(
        model,
        snapshot.catalogue,
        request.user_id,
        request.k,
        exclude=request.exclude,
        recent=recent,
        has_features=has_features,
        now_s=now,
        intraday=snapshot.intraday,
        keep=_keep(snapshot.catalogue, request.filters),
    )


def _route(snapshot: Snapshot, reader: str | None) -> tuple[str, ServingModel | None]:
    """The reader's variant and model; a request without a reader gets the champion."""
    if reader is not None:
        return snapshot.route(reader)
    model = snapshot.models.get(CHAMPION)
    return (CHAMPION, model) if model is not None else (FALLBACK, None)


def _keep(catalogue: Catalogue, filters: Filters) -> np.ndarray | None:
    """What the request's filters let through, a bool per article (None: no filter)."""
    return None if filters.sections is None else catalogue.in_sections(filters.sections)


def _freeze_heap() -> None:
    """Move what is alive now (Feast, MLflow, pandas modules, the models) out of the garbage
    collector's reach: a full collection over those millions of objects paused the event
    loop for 100-300 ms every so often, the service's p99 at 500 req/s (docs/benchmarks.md)."""
    gc.collect()
    gc.freeze()


def _write_parquet(table: Any, path: Path) -> None:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    tmp = path.with_suffix(f".{id(sink)}.tmp")
    tmp.write_bytes(sink.getvalue())
    tmp.replace(path)


__all__ = ["Answer", "RecommendService"]
