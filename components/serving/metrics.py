"""Prometheus metrics of the recommend service.

With several worker processes set PROMETHEUS_MULTIPROC_DIR (prometheus-client's multiprocess
mode) so that /metrics sums every worker; without it each worker reports its own."""

from __future__ import annotations

import bisect
import gc
import itertools
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, values
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    SummaryMetricFamily,
)
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class _ImpressionCollector(Collector):
    """Impression counts live in the buffer object; read at scrape time."""

    def __init__(self, counts: Callable[[], tuple[int, int, int, int]]):
        self.counts = counts

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        sent, dropped, failed, pending = self.counts()
        total = CounterMetricFamily("reco_impressions", "Impression events by outcome", labels=["outcome"])
        total.add_metric(["sent"], sent)
        total.add_metric(["dropped"], dropped)
        yield total
        yield CounterMetricFamily("reco_impression_send_failures", "Failed sends to Kafka", value=failed)
        yield GaugeMetricFamily("reco_impressions_pending", "Impressions waiting for Kafka", value=pending)


class _GcPauses(Collector):
    """Collection pauses by generation, recorded without locks and exported at scrape time.

    Not a prometheus Histogram: its `observe` holds a non-reentrant lock, and a collection
    that starts inside it calls back into it and deadlocks the worker."""

    BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, float("inf"))

    def __init__(self) -> None:
        self.counts = [[0] * len(self.BUCKETS) for _ in range(3)]
        self.sums = [0.0, 0.0, 0.0]
        self._started = 0.0

    def on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        if not self._started:
            return
        pause = time.perf_counter() - self._started
        generation = info["generation"]
        self.sums[generation] += pause
        self.counts[generation][bisect.bisect_left(self.BUCKETS, pause)] += 1

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(
            "reco_gc_pause_seconds",
            "Garbage-collector pauses of the worker, by generation",
            labels=["generation"],
        )
        for generation in range(3):
            cumulative = itertools.accumulate(self.counts[generation])
            family.add_metric(
                [str(generation)],
                buckets=[
                    ("+Inf" if le == float("inf") else str(le), float(n))
                    for le, n in zip(self.BUCKETS, cumulative, strict=False)
                ],
                sum_value=self.sums[generation],
            )
        yield family


# The recommend request's stages, in order (components/serving/service.py).
STAGES = ("user_state", "route", "rank", "explore", "log")


class StageTimes(Collector):
    """Time spent in each request stage, summed without locks on the request path (a
    prometheus Summary's `observe` takes a lock: ~1 us a stage) and exported at scrape time
    as `reco_request_stage_seconds` (sum and count per stage)."""

    def __init__(self) -> None:
        self.sums = [0.0] * len(STAGES)
        self.count = 0

    def add(self, marks: list[float]) -> None:
        """`marks`: perf_counter readings at the start of the request and at the end of each
        stage (len(STAGES) + 1 values)."""
        sums = self.sums
        for i in range(len(STAGES)):
            sums[i] += marks[i + 1] - marks[i]
        self.count += 1

    def collect(self) -> Iterator[SummaryMetricFamily]:
        family = SummaryMetricFamily(
            "reco_request_stage_seconds", "Time in each stage of a recommend request", labels=["stage"]
        )
        for stage, total in zip(STAGES, self.sums, strict=True):
            family.add_metric([stage], count_value=self.count, sum_value=total)
        yield family


class ServingMetrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "reco_recommend_requests",
            "Recommend requests by variant and outcome",
            ["variant", "outcome"],
            registry=r,
        )
        self.latency = Histogram(
            "reco_recommend_latency_seconds",
            "Time to answer a valid recommend request, by variant",
            ["variant"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.related_requests = Counter(
            "reco_related_requests",
            "Answered related-articles requests, by what placed the first item (content, cf, section, popular)",
            ["ranked_by"],
            registry=r,
        )
        self.related_latency = Histogram(
            "reco_related_latency_seconds",
            "Time to answer a valid related-articles request",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.fallbacks = Counter(
            "reco_recommend_fallbacks", "Answers not (fully) from a model, by reason", ["reason"], registry=r
        )
        self.errors = Counter("reco_recommend_errors", "Errors by kind", ["kind"], registry=r)
        self.invalid = Counter(
            "reco_recommend_invalid_requests", "Requests refused with 422, by field", ["field"], registry=r
        )
        self.degraded = Gauge(
            "reco_degraded",
            "1 while a dependency is failing",
            ["dependency"],
            registry=r,
            multiprocess_mode="max",
        )
        self.model_info = Gauge(
            "reco_model_loaded",
            "Loaded model version per alias",
            ["alias", "version"],
            registry=r,
            multiprocess_mode="max",
        )
        self.canary_share = Gauge(
            "reco_canary_share", "Share of users routed to the canary", registry=r, multiprocess_mode="max"
        )
        self.withdrawn = Counter(
            "reco_catalogue_withdrawn_articles",
            "Articles withdrawn (taken down, unpublished) as pushed by the catalogue consumer",
            registry=r,
        )
        self.catalogue_live = Gauge(
            "reco_catalogue_live_articles",
            "Live articles in the catalogue",
            registry=r,
            multiprocess_mode="max",
        )
        self.shadow_overlap = Histogram(
            "reco_shadow_overlap",
            "Share of the served list the shadow challenger also ranked",
            ["version"],
            buckets=(0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
            registry=r,
        )
        self.shadow_latency = Histogram(
            "reco_shadow_latency_seconds",
            "Shadow scoring time",
            ["version"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.gc_pauses = _GcPauses()
        self.stages = StageTimes()
        self._models: dict[str, str] = {}
        self._by_variant: dict[str, tuple[Any, Any]] = {}
        self._fallback_children: dict[str, Any] = {}
        self._impressions = CollectorRegistry()
        self._impressions.register(self.stages)  # per worker, like the impression buffer

    def watch_gc(self) -> None:
        """Time every collection (a pause of the event loop, so of every request in flight)."""
        if self.gc_pauses.on_gc not in gc.callbacks:
            gc.callbacks.append(self.gc_pauses.on_gc)
            self._impressions.register(self.gc_pauses)

    def unwatch_gc(self) -> None:
        if self.gc_pauses.on_gc in gc.callbacks:
            gc.callbacks.remove(self.gc_pauses.on_gc)
            self._impressions.unregister(self.gc_pauses)

    def fallback(self, reason: str) -> None:
        child = self._fallback_children.get(reason)
        if child is None:
            child = self._fallback_children[reason] = self.fallbacks.labels(reason=reason)
        child.inc()

    def observe_related(self, ranked_by: str, seconds: float) -> None:
        self.related_requests.labels(ranked_by=ranked_by).inc()
        self.related_latency.observe(seconds)

    def observe(self, variant: str, seconds: float) -> None:
        children = self._by_variant.get(variant)
        if children is None:  # `labels()` costs ~8 us: resolve each variant's children once
            children = (
                self.requests.labels(variant=variant, outcome="ok"),
                self.latency.labels(variant=variant),
            )
            self._by_variant[variant] = children
        children[0].inc()
        children[1].observe(seconds)

    def shadow(self, version: str, overlap: float, seconds: float) -> None:
        self.shadow_overlap.labels(version=version).observe(overlap)
        self.shadow_latency.labels(version=version).observe(seconds)

    def set_models(self, versions: dict[str, str]) -> None:
        for alias, version in self._models.items():
            if versions.get(alias) != version:
                self.model_info.labels(alias=alias, version=version).set(0)
        for alias, version in versions.items():
            self.model_info.labels(alias=alias, version=version).set(1)
        self._models = dict(versions)

    def watch_impressions(self, counts: Callable[[], tuple[int, int, int, int]]) -> None:
        self._impressions.register(_ImpressionCollector(counts))

    def exposition(self) -> bytes:
        # Multiprocess mode is what prometheus-client chose for its values when imported, not
        # what the environment says now: importing Feast sets PROMETHEUS_MULTIPROC_DIR to a
        # folder of its own, which would hide every in-memory value of this worker.
        if values.ValueClass is not values.MutexValue:
            merged = CollectorRegistry()
            MultiProcessCollector(merged)
            # The impression buffer is per worker: the answering worker's own counts.
            return generate_latest(merged) + generate_latest(self._impressions)
        return generate_latest(self.registry) + generate_latest(self._impressions)


def stage_shares(metrics_text: str) -> dict[str, float]:
    """Each request stage's share of the time spent in all stages (reco_request_stage_seconds)."""
    sums: dict[str, float] = {}
    for line in metrics_text.splitlines():
        if line.startswith("reco_request_stage_seconds_sum{"):
            stage = line.split('stage="', 1)[1].split('"', 1)[0]
            sums[stage] = float(line.rsplit(" ", 1)[1])
    total = sum(sums.values())
    return {stage: round(value / total, 3) for stage, value in sorted(sums.items())} if total else {}
