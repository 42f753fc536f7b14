"""Pages on other origins in a real browser (Debian's Chromium driven by Playwright) against the
collector and the recommend service as deployed (Hypercorn subprocesses).

- CORS: a page of an allowed origin reads `/recommend` and `/related` and sends events (JSON
  and `sendBeacon`); a page of any other origin can read nothing, and its events never reach
  Kafka.
- reco.js (components/webclient), loaded from the recommend service: a rendered list's click
  reaches Kafka with the list's request_id and the item's position; the visible time of an
  article page leaves as a dwell when the page is left; without consent nothing is sent and the
  list is asked without a reader; refused batches (429) are sent again after Retry-After."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient
from playwright.sync_api import Page, sync_playwright

from components.config import Settings, load_settings, settings_env
from components.events.articles import validate_article
from components.lake import LakeStore
from components.lake.catalog import upsert_articles
from components.names import CANARY
from components.registry.publish import publish
from components.runtime.processes import ServiceProcess, wait_ready
from components.runtime.tansu import free_port
from components.simulator import WorldConfig
from components.testing.kafka_read import read_topic
from components.testing.serving_world import build_served_world

READER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36"
)
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
def artifacts(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """Where a test's screenshots go: $RECO_TEST_ARTIFACTS/<test> (CI keeps them), else tmp_path."""
    root = os.environ.get("RECO_TEST_ARTIFACTS")
    if not root:
        return tmp_path
    folder = Path(root) / request.node.name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def browser_page(artifacts: Path) -> Iterator[Page]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: .ci/run installs Debian's chromium (apt)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            # A reader's browser as the collector's bot filter sees it (headless Chromium says
            # "HeadlessChrome", which the filter refuses as a crawler).
            page = browser.new_page(user_agent=READER_AGENT)
            yield page
            page.screenshot(path=str(artifacts / "last-page.png"))
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


@contextmanager
def _stack(
    settings: Settings,
    tmp_path: Path,
    allowed: str,
    *,
    demo_port: int | None = None,
    extra: Mapping[str, str] | None = None,
) -> Iterator[tuple[str, str]]:
    """The recommend service and the collector on Hypercorn, allowing `allowed`'s pages, and
    with `demo_port` the demo site there: (recommend URL, collector URL) once all answer."""
    serving_port, collector_port = free_port(), free_port()
    recommender = f"http://127.0.0.1:{serving_port}"
    collector = f"http://127.0.0.1:{collector_port}"
    env: Mapping[str, str] = {
        **settings_env(settings),
        "RECO_SERVING__PORT": str(serving_port),
        "RECO_SERVING__MODEL_CACHE_DIR": str(tmp_path / "cache"),
        "RECO_SERVING__CORS_ORIGINS": json.dumps([allowed]),
        "RECO_COLLECTOR__PORT": str(collector_port),
        "RECO_COLLECTOR__CORS_ORIGINS": json.dumps([allowed]),
        "RECO_DEMO__PORT": str(demo_port or 0),
        "RECO_DEMO__RECOMMEND_URL": recommender,
        "RECO_DEMO__COLLECTOR_URL": collector,
        **(extra or {}),
    }
    names = ["recommender", "collector"] + (["demo"] if demo_port else [])
    services = [ServiceProcess(f"services.{n}.main", dict(env), tmp_path / f"{n}.log").start() for n in names]
    try:
        # Alive is enough: with no model published yet, answers come from the popular fallback.
        _run(wait_ready(f"{recommender}/healthz", timeout_s=90))
        _run(wait_ready(f"{collector}/readyz", timeout_s=90))
        if demo_port:
            _run(wait_ready(f"http://127.0.0.1:{demo_port}/healthz", timeout_s=90))
        yield recommender, collector
    finally:
        for service in services:
            service.stop()


def test_only_allowed_origins_read_the_api_and_send_events(
    reco_settings: Settings, tmp_path: Path, page_origins: tuple[str, str], browser_page: Page
) -> None:
    allowed, other = page_origins
    with _stack(reco_settings, tmp_path, allowed) as (recommender, collector):
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
        invalid = _post(page, f"{recommender}/recommend", {"user_id": "has space", "k": 3})
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


def _catalogue(settings: Settings, n: int = 8) -> list[str]:
    """`n` live articles in the lake (the popular fallback serves them): their ids."""
    now = datetime.now(UTC)
    articles = [
        validate_article(
            {
                "article_id": f"story-{i}",
                "title": f"Story number {i}",
                "abstract": "Something happened.",
                "url": f"https://news.example/story-{i}",
                "section": "news" if i % 2 else "sport",
                "published_at": (now - timedelta(hours=i + 1)).isoformat(),
                "updated_at": (now - timedelta(hours=i + 1)).isoformat(),
                "status": "published",
                "language": "en",
            },
            now=now,
        )
        for i in range(n)
    ]
    upsert_articles(LakeStore.from_settings(settings.lake), articles, received_at=now)
    return [a.article_id for a in articles]


LOAD = """async ([recommendUrl, collectorUrl, userId, consent, extra]) => {
  const { createReco } = await import(`${recommendUrl}/reco.js`);
  window.reco = createReco({ recommendUrl, collectorUrl, userId, consent, batchMs: 100, ...extra });
  document.body.innerHTML = '<ol id="for-you"></ol>';
}"""


def _events_of(
    settings: Settings, user: str, done: Callable[[list[dict[str, Any]]], bool], timeout_s: float = 20
) -> list[dict[str, Any]]:
    """The reader's events in Kafka once `done(events)` holds (or the time is up)."""
    deadline = time.monotonic() + timeout_s
    while True:
        records = _run(read_topic(settings.kafka.bootstrap_servers, settings.kafka.events_topic))
        events = [e for e in (json.loads(r.value) for r in records) if e["user_id"] == user]
        if done(events) or time.monotonic() > deadline:
            return events
        time.sleep(0.3)


def test_reco_js_renders_a_list_and_its_click_dwell_and_view_reach_kafka(
    reco_settings: Settings,
    tmp_path: Path,
    page_origins: tuple[str, str],
    browser_page: Page,
    artifacts: Path,
) -> None:
    allowed, other = page_origins
    stories = _catalogue(reco_settings)
    with _stack(reco_settings, tmp_path, allowed) as (recommender, collector):
        page = browser_page
        page.goto(allowed)
        page.evaluate(LOAD, [recommender, collector, "js-reader", True, {}])
        answer = page.evaluate(
            """async () => {
              const answer = await window.reco.recommend({ k: 4, context: { page: "home" } });
              window.reco.render(answer, document.querySelector("#for-you"),
                (item) => `<li><a href="#${item.article_id}">${item.article_id}</a></li>`);
              return answer;
            }"""
        )
        shown = [item["article_id"] for item in answer["items"]]
        assert len(shown) == 4 and set(shown) <= set(stories)
        page.click('[data-reco-position="2"]')
        # An article page: viewed, read for about 1.5 s, then left.
        page.evaluate("() => { window.reco.view('story-1'); window.reco.trackDwell('story-1'); }")
        page.wait_for_timeout(1_500)
        page.screenshot(path=str(artifacts / "reco-js.png"))
        page.goto(other)  # pagehide: the dwell leaves by beacon
        events = _events_of(
            reco_settings, "js-reader", lambda es: {"click", "view", "dwell"} <= {e["type"] for e in es}
        )
        clicks = [e for e in events if e["type"] == "click"]
        assert [(e["request_id"], e["position"], e["article_id"]) for e in clicks] == [
            (answer["request_id"], 2, shown[2])
        ]
        assert [e["article_id"] for e in events if e["type"] == "view"] == ["story-1"]
        dwell = [e for e in events if e["type"] == "dwell"]
        assert len(dwell) == 1 and dwell[0]["article_id"] == "story-1"
        assert 1_000 <= dwell[0]["dwell_ms"] <= 10_000, dwell
        assert len({e["event_id"] for e in events}) == len(events)


def test_reco_js_without_consent_sends_nothing_and_asks_for_the_non_personal_list(
    reco_settings: Settings, tmp_path: Path, page_origins: tuple[str, str], browser_page: Page
) -> None:
    allowed, _ = page_origins
    _catalogue(reco_settings)
    with _stack(reco_settings, tmp_path, allowed) as (recommender, collector):
        page = browser_page
        page.goto(allowed)
        asked: list[dict[str, Any]] = []
        page.on(
            "request",
            lambda r: asked.append(json.loads(r.post_data or "{}")) if r.url.endswith("/recommend") else None,
        )
        page.evaluate(LOAD, [recommender, collector, "shy-reader", False, {}])
        result = page.evaluate(
            """async () => {
              const answer = await window.reco.recommend({ k: 3 });
              window.reco.render(answer, document.querySelector("#for-you"), (item) => `<li>${item.article_id}</li>`);
              const queued = [window.reco.view("story-2"), window.reco.click(answer, 0)];
              await window.reco.flush();
              return { answer, queued, stats: window.reco.stats };
            }"""
        )
        assert asked and all("user_id" not in body for body in asked)  # no reader id left the page
        assert result["answer"]["ranked_by"] == "popular" and len(result["answer"]["items"]) == 3
        assert result["queued"] == [False, False] and result["stats"]["sent"] == 0
        # Consent given later: from then on the reader's events flow.
        page.evaluate(
            "async () => { window.reco.setConsent(true); window.reco.view('story-3'); await window.reco.flush(); }"
        )
        events = _events_of(reco_settings, "shy-reader", lambda es: bool(es))
        assert [(e["type"], e["article_id"]) for e in events] == [("view", "story-3")]


def test_reco_js_sends_refused_batches_again_after_retry_after(
    reco_settings: Settings, tmp_path: Path, page_origins: tuple[str, str], browser_page: Page
) -> None:
    allowed, _ = page_origins
    # The collector's per-client limit applies to this page: 1 event a second, bursts of 5.
    limits = {
        "RECO_COLLECTOR__UNFILTERED_CLIENTS": "[]",
        "RECO_COLLECTOR__CLIENT_EVENTS_PER_S": "1",
        "RECO_COLLECTOR__CLIENT_BURST": "5",
        "RECO_COLLECTOR__MAX_BATCH": "5",
        "RECO_COLLECTOR__RETRY_AFTER_S": "1",
    }
    with _stack(reco_settings, tmp_path, allowed, extra=limits) as (recommender, collector):
        page = browser_page
        page.goto(allowed)
        page.evaluate(LOAD, [recommender, collector, "busy-reader", True, {"maxBatch": 5}])
        page.evaluate("() => { for (let i = 0; i < 8; i++) window.reco.view(`story-${i}`); }")
        events = _events_of(reco_settings, "busy-reader", lambda es: len(es) >= 8, timeout_s=30)
        assert sorted(e["article_id"] for e in events) == [f"story-{i}" for i in range(8)]
        stats = page.evaluate("() => window.reco.stats")
        assert stats["retried"] >= 1 and stats["sent"] == 8, stats


def test_the_demo_site_sends_a_rail_click_with_its_request_and_position_and_a_dwell(
    reco_settings: Settings, tmp_path: Path, browser_page: Page, artifacts: Path
) -> None:
    demo_port = free_port()
    demo = f"http://127.0.0.1:{demo_port}"
    stories = _catalogue(reco_settings)
    with _stack(reco_settings, tmp_path, demo, demo_port=demo_port):
        page = browser_page
        page.goto(demo)
        page.fill("#reader-input", "demo-reader")
        page.click("#picker button[type=submit]:not([name])")
        page.wait_for_selector("#for-you li >> nth=3")
        page.screenshot(path=str(artifacts / "demo-home.png"))
        request_id = page.get_attribute("#for-you", "data-request-id")
        picked = page.get_attribute('#for-you [data-reco-position="1"]', "data-reco-article-id")
        assert request_id and picked in stories
        assert "ranked by" in page.inner_text("#for-you .meta")
        page.click('#for-you [data-reco-position="1"] a')
        page.wait_for_selector("#related li")
        assert page.get_attribute("#article", "data-article-id") == picked
        page.screenshot(path=str(artifacts / "demo-article.png"))
        page.wait_for_timeout(2_000)  # reading
        page.goto(demo)  # leaving the article: its dwell goes by beacon

        def complete(events: list[dict[str, Any]]) -> bool:
            return {"click", "view", "dwell"} <= {e["type"] for e in events}

        # At least once: a click's keepalive send cut off by the navigation it causes is sent
        # again by beacon with the same event_id (silver and the feedback consumer drop repeats).
        events = list({e["event_id"]: e for e in _events_of(reco_settings, "demo-reader", complete)}.values())
        clicks = [e for e in events if e["type"] == "click"]
        assert [(e["request_id"], e["position"], e["article_id"]) for e in clicks] == [
            (request_id, 1, picked)
        ]
        assert [e["article_id"] for e in events if e["type"] == "view"] == [picked]
        dwell = [e for e in events if e["type"] == "dwell"]
        assert [d["article_id"] for d in dwell] == [picked] and 1_500 <= dwell[0]["dwell_ms"] <= 15_000, dwell


def test_the_console_shows_the_champion_and_a_ctr_chart_behind_the_token(
    reco_settings: Settings, tmp_path: Path, browser_page: Page, artifacts: Path
) -> None:
    token = f"console-{uuid.uuid4().hex}"
    settings = load_settings(
        home=str(tmp_path / "home"),
        kafka=reco_settings.kafka.model_dump(),
        redis={"url": reco_settings.redis.url, "key_prefix": reco_settings.redis.key_prefix},
        lake={"root": str(tmp_path / "lake")},
        mlflow={
            "tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
            "artifact_root": str(tmp_path / "artifacts"),
        },
        features={"registry": str(tmp_path / "registry.db"), "project": f"reco_{uuid.uuid4().hex[:8]}"},
        serving={"admin_token": token},
    )
    world = build_served_world(
        settings, WorldConfig(seed=5, days=3, users=300, articles_per_day=30, backlog_days=5)
    )
    # The same version as canary too, so the console has a canary share to set.
    MlflowClient(settings.mlflow.tracking_uri).set_registered_model_alias(
        settings.mlflow.model_name, CANARY, world.champion_version
    )
    publish(settings)
    demo_port = free_port()
    demo = f"http://127.0.0.1:{demo_port}"
    with _stack(settings, tmp_path, demo, demo_port=demo_port) as (recommender, _):
        _run(wait_ready(f"{recommender}/readyz", timeout_s=90))  # the champion is loaded
        page = browser_page
        page.goto(demo)
        page.fill("#reader-input", world.known_users[0])
        page.click("#picker button[type=submit]:not([name])")
        page.wait_for_selector("#for-you li >> nth=3")
        page.click('#for-you [data-reco-position="0"] a')  # a click for the CTR
        page.wait_for_selector("#related li")
        _events_of(settings, world.known_users[0], lambda es: any(e["type"] == "click" for e in es))

        page.goto(f"{demo}/console")
        page.fill("#token", "not-the-token")
        page.click("button[type=submit]")
        assert "not the admin token" in page.content()
        assert page.request.get(f"{demo}/console/status.json").status == 401
        page.fill("#token", token)
        page.click("button[type=submit]")
        page.wait_for_selector("body[data-loaded=true]", timeout=60_000)
        page.screenshot(path=str(artifacts / "console.png"), full_page=True)
        versions = page.inner_text("#versions")
        assert (
            "champion" in versions and "canary" in versions and world.champion_version in versions
        ), versions
        assert page.locator("#ctr-chart svg.main-svg").count() >= 1  # plotly drew the chart
        assert "champion/" in page.inner_text("#ctr")  # variant/arm (arm "-": exploration is off)
        assert "consumer lag" in page.inner_text("#lag") and settings.feedback.group_id in page.inner_text(
            "#lag"
        )
        # The canary share is the console's to change (through the service's admin API).
        page.fill("#share", "0.25")
        page.click("form[action='/console/canary'] button")
        page.wait_for_selector("body[data-loaded=true]", timeout=60_000)
        assert "0.25" in page.inner_text("#service")
