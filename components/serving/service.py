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

import pyarrow.parquet as pq
from redis.asyncio import Redis as AsyncRedis

from components.config import Settings
from components.features.recent import read_recent, recent_key
from components.lake import LakeStore
from components.lake.catalog import catalog_version, read_catalog
from components.registry.rollout import read_rollout_async, write_rollout
from components.serving.catalogue import Catalogue, PopularityRule
from components.serving.impressions import ImpressionLog, impression_records
from components.serving.metrics import ServingMetrics
from components.serving.model_store import ModelStore, RegistryUnavailableError, use_registry
from components.serving.ranking import Ranked, ServingModel, rank
from components.serving.routing import CANARY, CHAMPION, FALLBACK, variant_for
from components.serving.schema import RecommendRequest
from components.streaming import EventProducer

log = logging.getLogger("reco.serving")

CATALOGUE_CACHE = "catalogue.parquet"
FALLBACK_VERSION = "popular-fallback"
ITEM_READ_SLICE = 50
CHALLENGER = "challenger"
# Deterministic ranking: every served item was the only choice (exploration changes this).
GREEDY_PROPENSITY = 1.0


@dataclass
class Answer:
    items: list[dict[str, Any]]
    model_version: str
    variant: str
    request_id: str
    latency_ms: float
    # For the caller's background work (shadow scoring) after the response is sent.
    shadow: Callable[[], Awaitable[None]] | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "model_version": self.model_version,
            "variant": self.variant,
            "request_id": self.request_id,
            "latency_ms": self.latency_ms,
        }


class RecommendService:
    def __init__(self, settings: Settings, metrics: ServingMetrics):
        self.settings = settings
        self.serving = settings.serving
        self.metrics = metrics
        self.rule = PopularityRule(self.serving.popular_prior_views, self.serving.popular_half_life_h)
        cache_dir = Path(self.serving.model_cache_dir or Path(settings.home) / "serving" / "models")
        self.models_store = ModelStore(settings.mlflow, cache_dir)
        self.lake = LakeStore.from_settings(settings.lake)
        timeout = self.serving.redis_timeout_ms / 1000
        self.redis = AsyncRedis.from_url(
            settings.redis.url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        # Background polls may wait longer than a request would.
        self.redis_slow = AsyncRedis.from_url(settings.redis.url, socket_timeout=5, socket_connect_timeout=5)
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
        self.reader: Any = None  # OnlineFeatureReader once Feast's registry answered
        self.degraded: dict[str, str] = {}
        self._redis_retry_at = 0.0
        self._catalogue_version: str | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._reload_lock = asyncio.Lock()

    # --- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        """Load what can be loaded (each failure is a degraded flag, not a crash), then start
        the background loops."""
        await self.refresh_catalogue()
        await self.connect_features()
        await self.refresh_items()
        await self.reload_models()
        await self.refresh_rollout()
        with contextlib.suppress(Exception):
            await self.producer.start()
        loops = [
            (self.reload_models, self.serving.poll_interval_s),
            (self.refresh_rollout, self.serving.poll_interval_s),
            (self.refresh_catalogue, self.serving.catalogue_refresh_s),
            (self.refresh_items, self.serving.item_refresh_s),
        ]
        self._tasks = [asyncio.create_task(self._every(fn, s)) for fn, s in loops]
        self._tasks.append(asyncio.create_task(self.impressions.run()))
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
            if dependency not in self.degraded:
                log.warning("%s degraded: %s", dependency, problem)
            self.degraded[dependency] = problem
        self.metrics.degraded.labels(dependency=dependency).set(0 if problem is None else 1)

    # --- background refreshes --------------------------------------------------------------
    async def refresh_catalogue(self) -> None:
        """Re-read the lake's catalogue when its manifest says it changed (a rebuild costs
        tens of milliseconds of the event loop; the manifest read costs one small file)."""
        cache = self.models_store.cache_dir / CATALOGUE_CACHE
        now = time.time()
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
        catalogue = Catalogue.from_table(table, now_s=now, rule=self.rule)
        # Keep the item features until the next item refresh fills the new articles in.
        self._swap_catalogue(catalogue.with_features_of(self.catalogue, now_s=now, rule=self.rule))

    def _swap_catalogue(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self.models = {alias: m.rebind(catalogue) for alias, m in self.models.items()}
        self.metrics.catalogue_live.set(int(catalogue.live(time.time()).sum()))

    async def connect_features(self) -> None:
        if self.reader is not None:
            return
        try:
            self.reader = await asyncio.to_thread(_online_reader, self.settings)
            self._flag("features", None)
        except Exception as exc:
            self._flag("features", f"feature registry unavailable: {exc!r}")

    async def refresh_items(self) -> None:
        """Item-side online features of the live catalogue (views, CTR) into memory."""
        if self.reader is None:
            await self.connect_features()
            if self.reader is None:
                return
        now = time.time()
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

    async def reload_models(self) -> dict[str, str]:
        """Resolve the aliases; load any version not loaded yet; swap. Returns alias -> version."""
        async with self._reload_lock:
            try:
                aliases = await asyncio.to_thread(self.models_store.resolve)
                self._flag("registry", None)
            except RegistryUnavailableError as exc:
                self._flag("registry", str(exc))
                if self.models:
                    return self.loaded_versions()
                aliases = self.models_store.cached_aliases()
            loaded: dict[str, ServingModel] = {}
            fresh = False
            by_version = {m.version: m for m in self.models.values()}
            for alias, version in aliases.items():
                current = by_version.get(version)
                if current is not None:  # already in memory, maybe under another alias (promotion)
                    loaded[alias] = current if current.alias == alias else replace(current, alias=alias)
                    continue
                try:
                    fetched = await asyncio.to_thread(self.models_store.load, version)
                except Exception as exc:  # keep serving the previous version of this alias
                    self._flag("registry", f"version {version} ({alias}) not loadable: {exc!r}")
                    if alias in self.models:
                        loaded[alias] = self.models[alias]
                    continue
                loaded[alias] = ServingModel.bind(alias, version, fetched.recommender, self.catalogue)
                log.info("loaded %s version %s (%s)", alias, version, fetched.recommender.kind)
                fresh = True
            if CHAMPION not in loaded and CHAMPION in self.models:
                loaded[CHAMPION] = self.models[CHAMPION]  # never drop the champion on a registry hiccup
            self.models = loaded
            self.metrics.set_models({a: m.version for a, m in loaded.items()})
            with contextlib.suppress(OSError):
                await asyncio.to_thread(self.models_store.prune, {m.version for m in loaded.values()})
            if fresh and self._tasks:
                _freeze_heap()
            return self.loaded_versions()

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
                features = (await reader.read(user_id, [])).user if reader is not None else None
                features = features if features and any(v is not None for v in features.values()) else None
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

    async def recommend(self, request: RecommendRequest) -> Answer:
        started = time.perf_counter()
        request_id = os.urandom(16).hex()
        has_features, recent = await self._user_state(request.user_id)
        variant, model = self._choose(request.user_id)
        now = time.time()
        ranked = self._rank(model, request, recent, has_features, now)
        version = model.version if model is not None else FALLBACK_VERSION
        if model is None:
            self.metrics.fallback("no_model")
        elif ranked.cold_start:
            self.metrics.fallback("cold_start")
        items = [
            {"article_id": a, "score": s, "reason": r}
            for a, s, r in zip(ranked.article_ids, ranked.scores, ranked.reasons, strict=True)
        ]
        context = {**request.context, "variant": variant, "k": request.k}
        records = impression_records(
            user_id=request.user_id,
            article_ids=ranked.article_ids,
            request_id=request_id,
            model_version=version,
            propensities=[GREEDY_PROPENSITY] * len(ranked.article_ids),
            context=context,
            ts=datetime.fromtimestamp(now, tz=UTC),
        )
        self.impressions.add(records)
        latency = time.perf_counter() - started
        self.metrics.observe(variant, latency)
        shadow = None
        challenger = self.models.get(CHALLENGER)
        if (
            challenger is not None
            and self.serving.shadow_share > 0
            and random.random() < self.serving.shadow_share
        ):
            served = ranked.article_ids

            async def shadow() -> None:
                self._shadow(challenger, request, recent, has_features, served, now)

        return Answer(items, version, variant, request_id, round(latency * 1000, 3), shadow)

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
            "catalogue_live": int(self.catalogue.live(time.time()).sum()),
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

    async def rollback(self) -> dict[str, Any]:
        from components.registry.gate import rollback

        use_registry(self.settings.mlflow)
        replaced, restored = await asyncio.to_thread(rollback, self.settings.mlflow.model_name)
        await asyncio.to_thread(write_rollout, self.settings.redis, None, 0.0)
        self.canary_share = 0.0
        return {"rolled_back": replaced, "champion": restored, "models": await self.reload_models()}


def _freeze_heap() -> None:
    """Move what is alive now (Feast, MLflow, pandas modules, the models) out of the garbage
    collector's reach: a full collection over those millions of objects paused the event
    loop for 100-300 ms every so often, the service's p99 at 500 req/s (docs/benchmarks.md)."""
    gc.collect()
    gc.freeze()


def _online_reader(settings: Settings) -> Any:
    from components.features.online import OnlineFeatureReader
    from components.features.store import feature_store

    return OnlineFeatureReader(feature_store(settings))


def _write_parquet(table: Any, path: Path) -> None:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    tmp = path.with_suffix(f".{id(sink)}.tmp")
    tmp.write_bytes(sink.getvalue())
    tmp.replace(path)


__all__ = ["Answer", "RecommendService"]
