"""The service's metrics: GC pauses are recorded from the collector's callback without locks."""

import gc

import pytest

from components.serving.metrics import STAGES, ServingMetrics


def test_gc_pauses_are_exported_by_generation() -> None:
    metrics = ServingMetrics()
    metrics.watch_gc()
    try:
        for generation in (0, 1, 2):
            gc.collect(generation)
        # Allocation storms trigger collections inside the metrics code itself: no deadlock.
        for _ in range(50):
            metrics.observe("champion", 0.001)
            _ = [{} for _ in range(2_000)]
        text = metrics.exposition().decode()
    finally:
        metrics.unwatch_gc()
    counts = {
        line.split('"')[1]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("reco_gc_pause_seconds_count")
    }
    assert set(counts) == {"0", "1", "2"} and all(n >= 1 for n in counts.values())
    assert 'reco_recommend_requests_total{outcome="ok",variant="champion"} 50.0' in text
    assert metrics.gc_pauses.on_gc not in gc.callbacks


def test_stage_times_are_summed_per_stage() -> None:
    metrics = ServingMetrics()
    metrics.stages.add([0.0, 0.001, 0.0015, 0.0045, 0.0045, 0.005])
    metrics.stages.add([1.0, 1.002, 1.002, 1.003, 1.004, 1.004])
    text = metrics.exposition().decode()
    sums = {
        line.split('"')[1]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("reco_request_stage_seconds_sum")
    }
    assert list(sums) == list(STAGES)
    expected = {"user_state": 0.003, "route": 0.0005, "rank": 0.004, "explore": 0.001, "log": 0.0005}
    assert sums == pytest.approx(expected)
    assert 'reco_request_stage_seconds_count{stage="rank"} 2.0' in text
