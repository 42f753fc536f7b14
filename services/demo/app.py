"""The demo news site (Starlette + Jinja2 templates): the catalogue as a small news site whose
pages call the recommend service and the collector from the reader's browser with reco.js,
as a publisher's pages would.

- `GET /`: the newest articles by section and a "for you" rail (`/recommend`, with the reason
  of each item and the answer's variant, arm and model version); a reader picker (readers with
  recent reads, from Redis) or anonymous browsing under a cookie id; a consent switch.
- `GET /articles/{id}`: the article, a "related" rail (`/related`); its view, and its visible
  reading time as a dwell when the page is hidden or left.
- `GET /api/articles?ids=...`: titles and sections of articles (what the rails print).
- `POST /reader`, `POST /consent`: the picker's and the switch's cookies.
- `GET /console` (the operator console, behind the recommend service's admin token, asked once
  and kept in an HttpOnly cookie): champion, canary and challenger with lineage and the gate's
  decisions, the latest training runs, CTR per variant and arm with intervals from the stream
  (a chart drawn with plotly.js served from the pinned `plotly` package), the canary share
  (changeable: `POST /console/canary`), impressions sent and dropped, and the latest drift check
  with its Evidently reports (components/console).

The browser reaches the recommend service and the collector at `RECO_DEMO__RECOMMEND_URL` and
`RECO_DEMO__COLLECTOR_URL`; both must list this site's origin in their `cors_origins`.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
from redis.asyncio import Redis as AsyncRedis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from components import console
from components.config import Settings
from components.erasure import InvalidReaderIdError, check_user_id
from components.lake import LakeStore
from components.lake.catalog import read_catalog
from components.lake.layout import REPORTS
from components.names import recent_key

TEMPLATES = Path(__file__).with_name("templates")
READER_COOKIE, CONSENT_COOKIE, CONSOLE_COOKIE = "reco_reader", "reco_consent", "reco_console"
STATUS_TTL_S = 10.0
CATALOGUE_TTL_S = 30.0
MAX_IDS = 100
YEAR_S = 365 * 24 * 3600


@dataclass
class Catalogue:
    """The catalogue's published articles, newest first, re-read from the lake every 30 s."""

    store: LakeStore
    articles: dict[str, dict[str, Any]] = field(default_factory=dict)
    newest: list[str] = field(default_factory=list)
    read_at: float = -CATALOGUE_TTL_S
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def fresh(self) -> Catalogue:
        if time.monotonic() - self.read_at < CATALOGUE_TTL_S:
            return self
        async with self.lock:
            if time.monotonic() - self.read_at >= CATALOGUE_TTL_S:
                try:
                    rows = await asyncio.to_thread(lambda: read_catalog(self.store).to_pylist())
                except FileNotFoundError:  # no catalogue yet: an empty site that says so
                    rows = []
                now = datetime.now(UTC)
                live = [
                    r
                    for r in rows
                    if r.get("status", "published") == "published"
                    and r["published_at"] <= now
                    and (r.get("expires_at") is None or r["expires_at"] > now)
                ]
                live.sort(key=lambda r: r["published_at"], reverse=True)
                self.articles = {r["article_id"]: r for r in live}
                self.newest = [r["article_id"] for r in live]
                self.read_at = time.monotonic()
        return self

    def summary(self, article_id: str) -> dict[str, Any] | None:
        row = self.articles.get(article_id)
        if row is None:
            return None
        return {"title": row.get("title") or article_id, "section": row.get("section") or ""}


@cache
def _plotly() -> bytes:
    """plotly.js from the pinned `plotly` package (no CDN)."""
    import plotly

    return (files(plotly) / "package_data" / "plotly.min.js").read_bytes()


def _reader_id(value: str) -> str | None:
    """A reader id as events.v1 allows it (components.erasure's check), else None."""
    try:
        return check_user_id(value.strip())
    except InvalidReaderIdError:
        return None


async def _form(request: Request) -> dict[str, str]:
    """A small urlencoded form (the picker's, the switch's): first value of each field."""
    body = await request.body()
    if len(body) > 4096:
        return {}
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}


def create_app(settings: Settings) -> Starlette:
    demo = settings.demo
    catalogue = Catalogue(LakeStore.from_settings(settings.lake))
    templates = Jinja2Templates(directory=str(TEMPLATES))
    redis = AsyncRedis.from_url(settings.redis.url, socket_timeout=2, socket_connect_timeout=2)
    prefix = settings.redis.key_prefix

    async def readers() -> list[str]:
        """Readers with recent reads (the feedback consumer writes them), for the picker."""
        if demo.readers == 0:
            return []
        found: list[str] = []
        marker = recent_key(prefix, "")
        try:
            async for key in redis.scan_iter(match=f"{marker}*", count=500):
                found.append(key.decode()[len(marker) :])
                if len(found) >= demo.readers:
                    break
        except Exception:  # Redis down: the picker offers none, the site still works
            return []
        return sorted(found)

    def page(request: Request, name: str, **values: Any) -> Response:
        reader = request.cookies.get(READER_COOKIE)
        new_reader = _reader_id(reader or "") is None
        if new_reader:
            reader = f"anon-{os.urandom(6).hex()}"
        consent = request.cookies.get(CONSENT_COOKIE, "yes") == "yes"
        config = {
            "recommend_url": demo.recommend_url,
            "collector_url": demo.collector_url,
            "reader": reader,
            "consent": consent,
        }
        response = templates.TemplateResponse(
            request, name, {"config": config, "reader": reader, "consent": consent, **values}
        )
        if new_reader:
            response.set_cookie(READER_COOKIE, str(reader), max_age=YEAR_S, samesite="lax")
        return response

    async def home(request: Request) -> Response:
        cat = await catalogue.fresh()
        sections: dict[str, list[dict[str, Any]]] = {}
        for article_id in cat.newest:
            row = cat.articles[article_id]
            bucket = sections.setdefault(str(row.get("section") or "news"), [])
            if len(bucket) < 5:
                bucket.append({"article_id": article_id, "title": row.get("title") or article_id})
        return page(request, "home.html", sections=sections, readers=await readers())

    async def article(request: Request) -> Response:
        cat = await catalogue.fresh()
        article_id = request.path_params["article_id"]
        row = cat.articles.get(article_id)
        if row is None:
            missing = page(request, "missing.html", article_id=article_id)
            missing.status_code = 404
            return missing
        return page(request, "article.html", article=row)

    async def articles_api(request: Request) -> Response:
        cat = await catalogue.fresh()
        ids = [a for a in request.query_params.get("ids", "").split(",") if a][:MAX_IDS]
        return JSONResponse({a: s for a in ids if (s := cat.summary(a)) is not None})

    async def choose_reader(request: Request) -> Response:
        form = await _form(request)
        reader = _reader_id(str(form.get("reader", "")))
        response = RedirectResponse("/", status_code=303)
        if reader is None or form.get("anonymous"):
            response.set_cookie(READER_COOKIE, f"anon-{os.urandom(6).hex()}", max_age=YEAR_S, samesite="lax")
        else:
            response.set_cookie(READER_COOKIE, reader, max_age=YEAR_S, samesite="lax")
        return response

    async def consent(request: Request) -> Response:
        form = await _form(request)
        back = str(form.get("back") or "/")
        if not back.startswith("/") or back.startswith("//"):  # this site's pages only
            back = "/"
        response = RedirectResponse(back, status_code=303)
        response.set_cookie(CONSENT_COOKIE, "yes" if form.get("consent") == "yes" else "no", max_age=YEAR_S)
        return response

    # --- the operator console ------------------------------------------------------------
    token = settings.serving.admin_token.get_secret_value() if settings.serving.admin_token else None
    ops_url = (demo.recommend_ops_url or demo.recommend_url).rstrip("/")
    status_cache: dict[str, Any] = {}

    def admitted(request: Request) -> bool:
        given = request.cookies.get(CONSOLE_COOKIE, "")
        return token is not None and hmac.compare_digest(given.encode(), token.encode())

    async def console_page(request: Request) -> Response:
        if token is None:
            return HTMLResponse("<p>The console needs RECO_SERVING__ADMIN_TOKEN set.</p>", status_code=403)
        if not admitted(request):
            return templates.TemplateResponse(
                request, "login.html", {"failed": "failed" in request.query_params}
            )
        return templates.TemplateResponse(request, "console.html", {"ops_url": ops_url})

    async def console_login(request: Request) -> Response:
        form = await _form(request)
        if token is None or not hmac.compare_digest(form.get("token", "").encode(), token.encode()):
            return RedirectResponse("/console?failed=1", status_code=303)
        response = RedirectResponse("/console", status_code=303)
        response.set_cookie(CONSOLE_COOKIE, token, httponly=True, samesite="strict", path="/console")
        return response

    async def console_status(request: Request) -> Response:
        if not admitted(request):
            return JSONResponse({"error": "the console's token is required"}, status_code=401)
        if time.monotonic() - status_cache.get("at", -STATUS_TTL_S) >= STATUS_TTL_S:
            status_cache["value"] = await asyncio.to_thread(console.status, settings, ops_url)
            status_cache["at"] = time.monotonic()
        return JSONResponse(status_cache["value"])

    async def console_canary(request: Request) -> Response:
        if not admitted(request) or token is None:
            return JSONResponse({"error": "the console's token is required"}, status_code=401)
        form = await _form(request)
        try:
            share = float(form.get("share", ""))
        except ValueError:
            return JSONResponse({"error": {"field": "share", "reason": "must be a number"}}, status_code=422)
        async with httpx.AsyncClient(timeout=5) as client:
            answer = await client.post(
                f"{ops_url}/admin/canary", json={"share": share}, headers={"authorization": f"Bearer {token}"}
            )
        if answer.status_code != 200:
            return JSONResponse(answer.json(), status_code=answer.status_code)
        status_cache.clear()
        return RedirectResponse("/console", status_code=303)

    async def console_report(request: Request) -> Response:
        if not admitted(request):
            return JSONResponse({"error": "the console's token is required"}, status_code=401)
        path = request.path_params["path"]
        if not path.startswith(f"{REPORTS}/drift/") or ".." in path.split("/") or not path.endswith(".html"):
            return JSONResponse({"error": {"field": "path", "reason": "not a drift report"}}, status_code=404)
        store = catalogue.store
        if not await asyncio.to_thread(store.exists, path):
            return JSONResponse({"error": {"field": "path", "reason": "no such report"}}, status_code=404)
        return HTMLResponse(await asyncio.to_thread(store.read_bytes, path))

    async def plotly_js(request: Request) -> Response:
        return Response(
            _plotly(), media_type="text/javascript", headers={"cache-control": "public, max-age=86400"}
        )

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await redis.aclose()

    return Starlette(
        routes=[
            Route("/", home, methods=["GET"]),
            Route("/articles/{article_id:path}", article, methods=["GET"]),
            Route("/api/articles", articles_api, methods=["GET"]),
            Route("/reader", choose_reader, methods=["POST"]),
            Route("/consent", consent, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/console", console_page, methods=["GET"]),
            Route("/console/login", console_login, methods=["POST"]),
            Route("/console/status.json", console_status, methods=["GET"]),
            Route("/console/canary", console_canary, methods=["POST"]),
            Route("/console/plotly.min.js", plotly_js, methods=["GET"]),
            Route("/console/reports/{path:path}", console_report, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
