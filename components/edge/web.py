"""What reco's HTTP services need to be called from web pages: CORS from the settings, a guard
against writes from pages nobody allowed, and an API docs page whose assets come from a pinned
package (Swagger UI in `swagger-ui-py`), never a CDN.

CORS: an origin in the allowed list may read the public API's answers and send JSON (the
preflight answers for it); any other origin gets no CORS headers, so its pages cannot read an
answer. CORS alone does not stop a *write*: a page may POST a `text/plain` body (what
`navigator.sendBeacon` sends) without a preflight. `ForeignOriginGuard` refuses such a request
(403, field `Origin`) when its `Origin` is neither allowed nor the service's own host; servers,
curl and same-origin pages are unaffected.
"""

from __future__ import annotations

import html
from collections.abc import Collection, Sequence
from functools import cache
from importlib.resources import files
from typing import Any
from urllib.parse import urlsplit

from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from components.edge.ports import ASGIApp, Scope, send_field_error

# The docs page and its assets, served beside /openapi.json.
DOCS_PATHS = ("/docs", "/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css")
_ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css"}
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def with_cors(app: ASGIApp, origins: Sequence[str], *, methods: Sequence[str]) -> ASGIApp:
    """`app` answering the allowed `origins`' preflights and carrying CORS headers for them;
    unchanged when none is allowed (the default)."""
    if not origins:
        return app
    cors: ASGIApp = CORSMiddleware(
        app,
        allow_origins=list(origins),
        allow_methods=list(methods),
        allow_headers=["content-type"],
        # A page backs off on 429/503 by Retry-After: it must be able to read it.
        expose_headers=["retry-after"],
        allow_credentials=False,
        max_age=600,
    )
    return cors


def same_origin(origin: str, host: str | None) -> bool:
    """Whether a browser's `Origin` names the host the request was sent to."""
    return bool(host) and urlsplit(origin).netloc.lower() == str(host).lower()


class ForeignOriginGuard:
    """Refuses state-changing requests from pages of origins that are neither allowed nor the
    service's own (see the module's docstring)."""

    def __init__(self, app: ASGIApp, origins: Collection[str]):
        self.app = app
        self.origins = frozenset(origins)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] not in _SAFE_METHODS:
            headers = dict(scope["headers"])
            origin = headers.get(b"origin", b"").decode("latin-1")
            host = headers.get(b"host", b"").decode("latin-1")
            if origin and origin not in self.origins and not same_origin(origin, host):
                reason = f"pages of {origin[:200]} may not call this API (not in the service's cors_origins)"
                await send_field_error(send, 403, "Origin", reason, "origin_not_allowed")
                return
        await self.app(scope, receive, send)


def web_edge(app: ASGIApp, origins: Sequence[str], *, methods: Sequence[str]) -> ASGIApp:
    """`app` as pages reach it: CORS for the allowed origins, foreign writes refused."""
    return ForeignOriginGuard(with_cors(app, origins, methods=methods), origins)


@cache
def _asset(name: str) -> bytes:
    """A Swagger UI file from the pinned package, read at the first request that needs it."""
    import swagger_ui  # imported here: its handlers pull jinja2 and yaml, which startup need not pay

    return (files(swagger_ui) / "static" / name).read_bytes()


def docs_page(title: str) -> bytes:
    """The page: Swagger UI over the service's own /openapi.json. Relative URLs, so it works
    behind a gateway that mounts the service under a path prefix."""
    name = html.escape(title)
    return f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{name}</title>
<link rel="stylesheet" href="docs/swagger-ui.css"></head>
<body><div id="api"></div>
<script src="docs/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({{url: "openapi.json", dom_id: "#api", deepLinking: true}});</script>
</body>
</html>
""".encode()


def docs_routes(title: str) -> list[Route]:
    """GET /docs and its two assets (cached by browsers for a day; they change with the pin)."""
    page = docs_page(title)

    async def index(request: Request) -> Response:
        return Response(page, media_type="text/html; charset=utf-8")

    def asset_endpoint(name: str, media_type: str) -> Any:
        async def endpoint(request: Request) -> Response:
            return Response(
                _asset(name), media_type=media_type, headers={"cache-control": "public, max-age=86400"}
            )

        return endpoint

    return [
        Route("/docs", index, methods=["GET"]),
        *(
            Route(f"/docs/{name}", asset_endpoint(name, media_type), methods=["GET"])
            for name, media_type in _ASSETS.items()
        ),
    ]


__all__ = [
    "DOCS_PATHS",
    "ForeignOriginGuard",
    "docs_page",
    "docs_routes",
    "same_origin",
    "web_edge",
    "with_cors",
]
