"""Pages on other origins in a real browser (Debian's Chromium driven by Playwright) against the
collector and the recommend service as deployed (Hypercorn subprocesses): a page of an allowed
origin reads `/recommend` and `/related` and sends events (JSON and `sendBeacon`); a page of
any other origin can read nothing, and its events never reach Kafka."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, sync_playwright

from components.config import Settings, settings_env
from components.runtime.processes import ServiceProcess, wait_ready
from components.runtime.tansu import free_port
from components.testing.kafka_read import read_topic

CHROMIUM = os.environ.get("RECO_TEST_CHROMIUM", "/usr/bin/chromium")
PAGE = (
    b"<!doctype html><html><head><title>a publisher's page</title></head><body>reco test page</body></html>"
)


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def page_origins() -> Iterator[tuple[str, str]]:
    """Two page servers on their own ports: two origins."""
    servers = [ThreadingHTTPServer(("127.0.0.1", free_port()), _Page) for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield tuple(f"http://127.0.0.1:{s.server_address[1]}" for s in servers)  # type: ignore[misc]
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def browser_page(tmp_path: Path) -> Iterator[Page]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: .ci/run installs Debian's chromium (apt)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            yield page
            page.screenshot(path=str(tmp_path / "page.png"))
        finally:
            browser.close()


def _run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Runs `coroutine` on a thread of its own: Playwright's sync API holds this thread's loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _event(event_type: str = "view") -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "type": event_type,
        "user_id": "browser-reader",
        "article_id": "a1",
        "ts": datetime.now(UTC).isoformat(),
    }


FETCH = """async ([url, body, contentType]) => {
  try {
    const answer = await fetch(url, {method: "POST", headers: {"content-type": contentType}, body});
    return {status: answer.status, body: await answer.json()};
  } catch (error) {
    return {error: String(error)};
  }
}"""


def _post(page: Page, url: str, body: Any, content_type: str = "application/json") -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(FETCH, [url, json.dumps(body), content_type])
    return result


def _event_ids(settings: Settings, wanted: str, timeout_s: float = 20) -> set[str]:
    """Event ids in the events topic once `wanted` is among them (or the time is up)."""
    deadline = time.monotonic() + timeout_s
    while True:
        records = _run(read_topic(settings.kafka.bootstrap_servers, settings.kafka.events_topic))
        ids = {json.loads(r.value)["event_id"] for r in records}
        if wanted in ids or time.monotonic() > deadline:
            return ids
        time.sleep(0.3)


def test_only_allowed_origins_read_the_api_and_send_events(
    reco_settings: Settings, tmp_path: Path, page_origins: tuple[str, str], browser_page: Page
) -> None:
    allowed, other = page_origins
    serving_port, collector_port = free_port(), free_port()
    env = {
        **settings_env(reco_settings),
        "RECO_SERVING__PORT": str(serving_port),
        "RECO_SERVING__MODEL_CACHE_DIR": str(tmp_path / "cache"),
        "RECO_SERVING__CORS_ORIGINS": json.dumps([allowed]),
        "RECO_COLLECTOR__PORT": str(collector_port),
        "RECO_COLLECTOR__CORS_ORIGINS": json.dumps([allowed]),
    }
    services = [
        ServiceProcess("services.recommender.main", env, tmp_path / "recommender.log").start(),
        ServiceProcess("services.collector.main", env, tmp_path / "collector.log").start(),
    ]
    try:
        recommender = f"http://127.0.0.1:{serving_port}"
        collector = f"http://127.0.0.1:{collector_port}"
        # Alive is enough: with no model published yet, answers come from the popular fallback.
        _run(wait_ready(f"{recommender}/healthz", timeout_s=90))
        _run(wait_ready(f"{collector}/readyz", timeout_s=90))
        page = browser_page

        # A page of another origin first: it reads nothing, and its beacon is refused.
        page.goto(other)
        refused = _post(page, f"{recommender}/recommend", {"user_id": "browser-reader", "k": 3})
        assert "error" in refused and "Failed to fetch" in refused["error"], refused
        assert "error" in _post(page, f"{recommender}/related", {"article_id": "a1"})
        assert "error" in _post(page, f"{collector}/events", _event())
        foreign = _event()
        assert page.evaluate(
            "([url, body]) => navigator.sendBeacon(url, body)", [f"{collector}/events", json.dumps(foreign)]
        )

        # A page of the allowed origin reads both services and sends events both ways.
        page.goto(allowed)
        answer = _post(page, f"{recommender}/recommend", {"user_id": "browser-reader", "k": 3})
        assert answer.get("status") == 200, answer
        assert len(answer["body"]["request_id"]) == 32 and answer["body"]["ranked_by"] == "popular"
        assert _post(page, f"{recommender}/related", {"article_id": "a1", "k": 3}).get("status") == 200
        invalid = _post(page, f"{recommender}/recommend", {"k": 3})
        assert invalid["status"] == 422 and invalid["body"]["error"]["field"] == "user_id"  # readable too
        sent = _event()
        accepted = _post(page, f"{collector}/events", sent)
        assert accepted.get("status") == 202, accepted
        beacon = _event("dwell") | {"dwell_ms": 4_000}
        assert page.evaluate(
            "([url, body]) => navigator.sendBeacon(url, body)", [f"{collector}/events", json.dumps(beacon)]
        )
        ids = _event_ids(reco_settings, beacon["event_id"])
        assert {sent["event_id"], beacon["event_id"]} <= ids
        # The foreign beacon was sent before both, and never reached Kafka.
        assert foreign["event_id"] not in ids
    finally:
        for service in services:
            service.stop()
