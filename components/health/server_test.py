"""The workers' health endpoint: 200 while the loop polls, 503 with the reason once it stalls."""

from __future__ import annotations

import time

import httpx
from prometheus_client import CollectorRegistry, Counter

from components.health.server import polling, serve_health
from components.runtime.tansu import free_port


def test_healthz_follows_the_loop_and_metrics_come_from_the_registry() -> None:
    registry = CollectorRegistry()
    Counter("reco_test_things", "Things", registry=registry).inc(3)
    last = [time.monotonic()]
    port = free_port()
    server = serve_health(port, registry, polling(lambda: last[0], stall_s=5), host="127.0.0.1")
    try:
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/healthz").status_code == 200
        last[0] -= 10  # the loop has not polled for 10 s
        stalled = httpx.get(f"{base}/healthz")
        assert stalled.status_code == 503 and stalled.text.startswith("no poll for 1")
        assert "reco_test_things_total 3.0" in httpx.get(f"{base}/metrics").text
        assert httpx.get(f"{base}/other").status_code == 404
    finally:
        server.shutdown()
