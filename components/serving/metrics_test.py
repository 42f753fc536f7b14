"""The service's metrics: GC pauses are recorded from the collector's callback without locks."""

import gc

from components.serving.metrics import ServingMetrics


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
