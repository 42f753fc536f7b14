"""The recommend service's logic, behind the HTTP edge in services/recommender.

Per request: one Redis round trip (the reader's online feature row and recent reads), the
variant by user hash, an in-memory vectorised ranking, impressions into a bounded buffer.
Everything slow happens in background tasks and is swapped in by reference: registry polls
and model loads (hot reload), the catalogue (expiry), item-side features (popularity), the
rollout share. Each dependency that fails turns its `degraded` flag on and the service keeps
answering from what it last had; the flag clears when the dependency answers again.
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
from components.config.redact import redact, secret_values
from components.exploration import (
    ExplorationPolicy,
    ExposureStats,
    explore_positions,
    explore_slate,
    make_policy,
    under_exposed,
)
from components.feedback.counts import read_exposure
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
from components.online.reader import OnlineFeatureReader
from components.online.repo import read_online_layout
from components.registry.publication import PublishedModel, PublishedModels
from components.registry.rollout import read_rollout_async, write_rollout
from components.serving.catalogue import Catalogue, PopularityRule
from components.serving.impressions import ImpressionLog, impression_records
from components.serving.metrics import ServingMetrics
from components.serving.ranking import Ranked, ServingModel, rank
from components.serving.routing import bucket, variant_for
from components.serving.schema import RecommendRequest
from components.streaming import EventProducer

log = logging.getLogger("reco.serving")

CATALOGUE_CACHE = "catalogue.parquet"
# Withdrawals pushed by the catalogue consumer are kept this long (the snapshot holds them for
# good long before), and the set is read again this often in case a message was missed.
WITHDRAWN_KEEP_S = 86_400.0
WITHDRAWN_RELOAD_S = 30.0
FALLBACK_VERSION = "popular-fallback"
ITEM_READ_SLICE = 50


@dataclass
class Answer:
    items: list[dict[str, Any]]
    model_version: str
    variant: str
    request_id: str
    latency_ms: float
    arm: str = GREEDY
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
        }


class RecommendService:
    def __init__(self, settings: Settings, metrics: ServingMetrics):
        self.settings = settings
        self.serving = settings.serving
        self.metrics = metrics
        self.rule = PopularityRule(self.serving.popular_prior_views, self.serving.popular_half_life_h)
        cache_dir = Path(self.serving.model_cache_dir or Path(settings.home) / "serving" / "models")
        self._secrets = secret_values(settings)
        self.lake = LakeStore.from_settings(settings.lake)
        self.models_store = PublishedModels(self.lake, cache_dir, settings.redis.key_prefix)
        timeout = self.serving.redis_timeout_ms / 1000
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
        self.catalogue = Catalogue.empty()
        self.models: dict[str, ServingModel] = {}
        self.canary_share = 0.0
        self.reader: OnlineFeatureReader | None = None
        self._online_names: dict[str, str] = {}
        self.degraded: dict[str, str] = {}
        self._redis_retry_at = 0.0
        self._catalogue_version: str | None = None
        # Articles withdrawn (taken down, unpublished) as the catalogue consumer pushed them,
        # id -> when: kept out of every catalogue until a snapshot without them is read.
        self.withdrawn: dict[str, float] = {}
        self._refreshes: set[asyncio.Future[None]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._reload_lock = asyncio.Lock()
        # One load per version at a time: a slow download goes on in the background and the
        # next poll waits for the same one instead of starting another.
        self._loading: dict[str, asyncio.Future[Any]] = {}
        self.exploration = settings.exploration
        self.explorer: ExplorationPolicy | None = None
        self.explore_pools: dict[str, list[str]] = {}
        self._rng = np.random.default_rng()
        # The request clock's latest reading (RECO_SERVING__CLOCK=request).
        self._request_now = 0.0

    def clock(self) -> float:
        """Now, in epoch seconds: the wall clock, or the latest request's `context.now`."""
        if self.serving.clock == "request" and self._request_now:
            return self._request_now
        return time.time()

    # --- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        """Load what can be loaded (each failure is a degraded flag, not a crash), then start
        the background loops. Nothing here waits on the registry longer than
        `registry_timeout_s`: past it, the cached models serve and the polls go on."""
        await self.refresh_catalogue()
        await self.connect_features()
        await self.refresh_items()
        await self.reload_models()
        await self.refresh_rollout()
        if self.exploration.share > 0:
            await self.refresh_exploration()
        with contextlib.suppress(Exception):
            await self.producer.start()
        loops = [
            (self.reload_models, self.serving.poll_interval_s),
            (self.refresh_rollout, self.serving.poll_interval_s),
            (self.refresh_catalogue, self.serving.catalogue_refresh_s),
            (self.refresh_items, self.serving.item_refresh_s),
        ]
        if self.exploration.share > 0:
            loops.append((self.refresh_exploration, self.exploration.refresh_s))
        self._tasks = [asyncio.create_task(self._every(fn, s)) for fn, s in loops]
        self._tasks.append(asyncio.create_task(self.impressions.run()))
        self._tasks.append(asyncio.create_task(self.listen_catalogue()))
        _freeze_heap()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.impressions.close()
        await self.producer.stop()
        await self.redis.aclose()
        await self.redis_slow.aclose()
        self.redis_sync.close()

    async def _every(self, fn: Callable[[], Awaitable[Any]], seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await fn()
            except Exception:  # a loop must survive anything: the next round retries
                log.exception("background refresh %s failed", getattr(fn, "__name__", fn))

    def _flag(self, dependency: str, problem: str | None) -> None:
        if problem is None:
            if self.degraded.pop(dependency, None) is not None:
                log.info("%s recovered", dependency)
        else:
            # /readyz shows it: no URL password or secret may pass.
            problem = redact(problem, self._secrets)[:500]
            if dependency not in self.degraded:
                log.warning("%s degraded: %s", dependency, problem)
            self.degraded[dependency] = problem
        self.metrics.degraded.labels(dependency=dependency).set(0 if problem is None else 1)

    # --- background refreshes --------------------------------------------------------------
    async def refresh_catalogue(self) -> None:
        """Re-read the lake's catalogue when its manifest says it changed (a rebuild costs
        tens of milliseconds of the event loop; the manifest read costs one small file)."""
        cache = self.models_store.cache_dir / CATALOGUE_CACHE
        now = self.clock()
        try:
            version = await asyncio.to_thread(catalog_version, self.lake)
            if version is not None and version == self._catalogue_version and len(self.catalogue):
                self._flag("catalogue", None)
                self._swap_catalogue(self.catalogue.reranked(now, self.rule))  # the clock moved on
                return
            table = await asyncio.to_thread(read_catalog, self.lake)
            await asyncio.to_thread(_write_parquet, table, cache)
            self._catalogue_version = version
            self._flag("catalogue", None)
        except Exception as exc:
            self._flag("catalogue", f"lake catalogue unreadable: {exc!r}")
            if len(self.catalogue) or not cache.exists():
                return  # keep the one in memory (or stay empty: nothing to fall back on)
            table = await asyncio.to_thread(pq.read_table, cache)
        self._returned(table)
        catalogue = Catalogue.from_table(table, now_s=now, rule=self.rule)
        # Keep the item features until the next item refresh fills the new articles in.
        catalogue = catalogue.with_features_of(self.catalogue, now_s=now, rule=self.rule)
        self._swap_catalogue(catalogue.without(self.withdrawn, now_s=now, rule=self.rule))

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
                            self._flag("catalogue_push", None)
                        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                        if message is not None:
                            self.apply_catalogue_push(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: the periodic catalogue read still applies changes
                self._flag("catalogue_push", f"catalogue push channel unavailable: {exc!r}")
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
            task = asyncio.ensure_future(self.refresh_catalogue())
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
        now = self.clock()
        self._swap_catalogue(self.catalogue.without(articles, now_s=now, rule=self.rule))
        self.explore_pools = {
            section: [a for a in pool if a not in articles] for section, pool in self.explore_pools.items()
        }
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

    def _swap_catalogue(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self.models = {alias: m.rebind(catalogue) for alias, m in self.models.items()}
        self.metrics.catalogue_live.set(int(catalogue.live(self.clock()).sum()))

    async def connect_features(self) -> None:
        """The online feature reader: reco's codec of Feast's layout, no Feast registry to ask.
        Rebuilt when the feature store's apply recorded other stored view names (versioned
        online views)."""
        try:
            names = await asyncio.to_thread(read_online_layout, self.lake, self.settings.features.project)
        except Exception as exc:  # the lake away: keep the reader (or the views' own names)
            if self.reader is not None:
                return
            names = {}
            log.warning("online layout unreadable, reading the views under their own names: %r", exc)
        if self.reader is not None and names == self._online_names:
            return
        try:
            self.reader = OnlineFeatureReader(self.settings, self.redis_slow, names)
            self._online_names = names
            self._flag("features", None)
        except Exception as exc:
            self._flag("features", f"online features unavailable: {exc!r}")

    async def refresh_items(self) -> None:
        """Item-side online features of the live catalogue (views, CTR) into memory."""
        await self.connect_features()
        if self.reader is None:
            return
        now = self.clock()
        catalogue = self.catalogue
        ids = [str(a) for a in catalogue.article_ids[catalogue.live(now)]]
        rows: list[dict[str, Any]] = []
        try:
            # In slices, yielding between them: one read of every live article would hold the
            # event loop (and the requests queued behind it) for ~100 ms.
            for start in range(0, len(ids), ITEM_READ_SLICE):
                rows.extend(await self.reader.read_articles(ids[start : start + ITEM_READ_SLICE]))
                await asyncio.sleep(0)
            self._flag("features", None)
        except Exception as exc:
            self._flag("features", f"item features unreadable: {exc!r}")
            return
        if catalogue is self.catalogue:  # not replaced by a catalogue refresh meanwhile
            self._swap_catalogue(
                catalogue.with_item_features(dict(zip(ids, rows, strict=True)), now_s=now, rule=self.rule)
            )

    async def refresh_rollout(self) -> None:
        try:
            rollout = await read_rollout_async(self.redis_slow, self.settings.redis)
        except Exception as exc:
            self._flag("redis", f"rollout state unreadable: {exc!r}")
            return
        if "redis" in self.degraded and time.monotonic() >= self._redis_retry_at:
            self._flag("redis", None)  # answered again: requests will use it as well
        self.canary_share = rollout.canary_share
        self.metrics.canary_share.set(self.canary_share)

    async def refresh_exploration(self) -> None:
        """Exposure and click counts of the live articles over the window (written by the
        feedback consumer) into a fresh policy and pool, swapped in by reference."""
        cfg = self.exploration
        now = self.clock()
        catalogue = self.catalogue
        live = catalogue.live(now)
        try:
            counts = await asyncio.to_thread(
                read_exposure, self.redis_sync, self.settings.redis.key_prefix, now, cfg.window_h
            )
        except Exception as exc:
            self._flag("exploration", f"exposure counts unreadable: {exc!r}")
            return
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
        self.explorer, self.explore_pools = policy, pools
        self._flag("exploration", None)

    def _pool_for(self, article_id: str) -> list[str]:
        catalogue = self.catalogue
        row = catalogue.index.get(article_id)
        return [] if row is None else self.explore_pools.get(str(catalogue.category[row]), [])

    async def reload_models(self) -> dict[str, str]:
        """Read the publication; load any published version not loaded yet; swap. Returns
        alias -> version. The publication comes from Redis, the lake when Redis has none, or
        the local cache when neither answers (components/registry/publication.py)."""
        timeout = self.serving.registry_timeout_s
        async with self._reload_lock:
            try:
                publication, problem = await asyncio.wait_for(
                    self.models_store.resolve(self.redis_slow), timeout
                )
            except TimeoutError:
                publication, problem = (
                    self.models_store.cached(),
                    f"the publication did not answer within {timeout:g} s",
                )
            self._flag("registry", None if problem is None else f"publication unreadable: {problem}")
            if problem is not None and self.models:
                return self.loaded_versions()
            published = publication.aliases if publication is not None else {}
            loaded: dict[str, ServingModel] = {}
            fresh = False
            by_version = {m.version: m for m in self.models.values()}
            for alias, entry in published.items():
                current = by_version.get(entry.version)
                if current is not None:  # already in memory, maybe under another alias (promotion)
                    loaded[alias] = current if current.alias == alias else replace(current, alias=alias)
                    continue
                try:
                    recommender = await asyncio.wait_for(asyncio.shield(self._load(entry)), timeout)
                except Exception as exc:  # keep serving the previous version of this alias
                    self._flag("registry", f"version {entry.version} ({alias}) not loadable: {exc!r}")
                    if alias in self.models:
                        loaded[alias] = self.models[alias]
                    continue
                loaded[alias] = ServingModel.bind(alias, entry.version, recommender, self.catalogue)
                log.info("loaded %s version %s (%s)", alias, entry.version, recommender.kind)
                fresh = True
            if CHAMPION not in loaded and CHAMPION in self.models:
                loaded[CHAMPION] = self.models[CHAMPION]  # never drop the champion on a publication hiccup
            self.models = loaded
            self.metrics.set_models({a: m.version for a, m in loaded.items()})
            with contextlib.suppress(OSError):
                keep = {e.digest for e in published.values()}
                await asyncio.to_thread(self.models_store.prune, keep)
            if fresh and self._tasks:
                _freeze_heap()
            return self.loaded_versions()

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

    def loaded_versions(self) -> dict[str, str]:
        return {alias: m.version for alias, m in self.models.items()}

    # --- requests ----------------------------------------------------------------------------
    async def _user_state(self, user_id: str) -> tuple[bool, list[str]]:
        """(has features, recent reads); (False, []) while Redis is unreachable."""
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
                    self.redis, user_id, recent_key(prefix, user_id), limit
                )
            else:
                recent_ids = await read_recent(self.redis, prefix, user_id, limit)
                features = await reader.read_user(user_id) if reader is not None else None
        except Exception as exc:
            self._redis_retry_at = now + self.serving.redis_retry_s
            self._flag("redis", f"online reads failing: {exc!r}")
            self.metrics.errors.labels(kind="redis").inc()
            self.metrics.fallback("redis_down")
            return False, []
        if "redis" in self.degraded:
            self._flag("redis", None)
        return features is not None, recent_ids

    def _choose(self, user_id: str) -> tuple[str, ServingModel | None]:
        canary = self.models.get(CANARY)
        variant = variant_for(user_id, self.canary_share, has_canary=canary is not None)
        if variant == CANARY:
            return CANARY, canary
        champion = self.models.get(CHAMPION)
        return (CHAMPION, champion) if champion is not None else (FALLBACK, None)

    async def recommend(self, request: RecommendRequest, now: float | None = None) -> Answer:
        """Rank for `request` at `now` (epoch seconds; the service's clock when None)."""
        clock = time.perf_counter
        marks = [clock()]  # the start, then the end of each stage (metrics.STAGES)
        started = marks[0]
        request_id = os.urandom(16).hex()
        has_features, recent = await self._user_state(request.user_id)
        marks.append(clock())
        variant, model = self._choose(request.user_id)
        bind_request(
            request_id=request_id,
            variant=variant,
            model_version=model.version if model is not None else FALLBACK_VERSION,
        )
        context = {**request.context, "variant": variant, "k": request.k}
        if now is None:
            now = self.clock()
        else:
            self._request_now = max(self._request_now, now)
            context.pop("now", None)  # the impression's ts says it
        marks.append(clock())
        ranked = self._rank(model, request, recent, has_features, now)
        marks.append(clock())
        version = model.version if model is not None else FALLBACK_VERSION
        if model is None:
            self.metrics.fallback("no_model")
        elif ranked.cold_start:
            self.metrics.fallback("cold_start")
        article_ids, scores, reasons = ranked.article_ids, ranked.scores, ranked.reasons
        # Deterministic ranking: every served item was the only choice.
        propensities = [1.0] * len(article_ids)
        arm, item_context = GREEDY, None
        explorer = self.explorer
        if explorer is not None and self.exploration.share > 0 and article_ids:
            arm = (
                EXPLORE if bucket(request.user_id, self.exploration.salt) < self.exploration.share else GREEDY
            )
            slate = explore_slate(
                article_ids,
                self._pool_for,
                explorer,
                explore_positions(request.k, self.exploration.slots),
                pool_size=self.exploration.pool_size,
                banned={*request.exclude, *recent},
                rng=self._rng if arm == EXPLORE else None,  # greedy: only log the explorer's odds
            )
            article_ids, propensities = slate.article_ids, slate.propensities
            scores, reasons = list(scores), list(reasons)
            item_context = {}
            for position, (p, model_item) in slate.explored.items():
                item_context[position] = {"explore_p": round(p, 9), "model_item": model_item}
                if not model_item:
                    scores[position], reasons[position] = p, EXPLORE
            context["arm"], context["policy"] = arm, explorer.name
        marks.append(clock())
        items = [
            {"article_id": a, "score": s, "reason": r}
            for a, s, r in zip(article_ids, scores, reasons, strict=True)
        ]
        records = impression_records(
            user_id=request.user_id,
            article_ids=article_ids,
            request_id=request_id,
            model_version=version,
            propensities=propensities,
            context=context,
            ts=datetime.fromtimestamp(now, tz=UTC),
            item_context=item_context,
        )
        self.impressions.add(records)
        marks.append(clock())
        latency = marks[-1] - started
        self.metrics.stages.add(marks)
        self.metrics.observe(variant, latency)
        shadow = None
        challenger = self.models.get(CHALLENGER)
        if (
            challenger is not None
            and self.serving.shadow_share > 0
            and random.random() < self.serving.shadow_share
        ):
            served = article_ids

            async def shadow() -> None:
                self._shadow(challenger, request, recent, has_features, served, now)

        return Answer(items, version, variant, request_id, round(latency * 1000, 3), arm, shadow)

    def _rank(
        self,
        model: ServingModel | None,
        request: RecommendRequest,
        recent: list[str],
        has_features: bool,
        now: float,
    ) -> Ranked:
        return rank(
            model,
            self.catalogue,
            request.user_id,
            request.k,
            exclude=request.exclude,
            recent=recent,
            has_features=has_features,
            now_s=now,
        )

    def _shadow(
        self,
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
            ranked = self._rank(challenger, request, recent, has_features, now)
        except Exception:
            self.metrics.errors.labels(kind="shadow").inc()
            log.exception("shadow scoring of version %s failed", challenger.version)
            return
        overlap = len(set(ranked.article_ids) & set(served)) / max(len(served), 1)
        self.metrics.shadow(challenger.version, overlap, time.perf_counter() - started)

    # --- readiness and admin -----------------------------------------------------------------
    def readiness(self) -> tuple[bool, dict[str, Any]]:
        if self.producer.started and self.impressions.healthy:
            self._flag("kafka", None)
        else:
            self._flag(
                "kafka",
                "impressions not reaching Kafka" if self.producer.started else "producer not connected",
            )
        ready = CHAMPION in self.models and len(self.catalogue) > 0
        return ready, {
            "ready": ready,
            "models": self.loaded_versions(),
            "canary_share": self.canary_share,
            "catalogue_live": int(self.catalogue.live(self.clock()).sum()),
            "exploration": {
                "share": self.exploration.share if self.explorer is not None else 0.0,
                "policy": self.explorer.name if self.explorer is not None else None,
                "pool": sum(len(p) for p in self.explore_pools.values()),
            },
            "degraded": sorted(self.degraded),
            "problems": dict(sorted(self.degraded.items())),
            "impressions": {
                "pending": self.impressions.pending,
                "sent": self.impressions.sent,
                "dropped": self.impressions.dropped,
            },
        }

    async def set_canary_share(self, share: float) -> dict[str, Any]:
        canary = self.models.get(CANARY)
        rollout = await asyncio.to_thread(
            write_rollout, self.settings.redis, canary.version if canary else None, share
        )
        self.canary_share = rollout.canary_share
        self.metrics.canary_share.set(self.canary_share)
        return {"canary_version": rollout.canary_version, "canary_share": rollout.canary_share}


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
