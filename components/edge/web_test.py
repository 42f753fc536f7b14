"""CORS from the settings, the foreign-origin guard and the docs page, on a small Starlette app
(the services' own tests and the browser test run them as deployed)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from components.config.settings import CollectorSettings, ServingSettings
from components.edge.web import DOCS_PATHS, docs_routes, same_origin, web_edge

ALLOWED = "https://news.example.com"
OTHER = "https://evil.example.net"


def client(origins: list[str]) -> TestClient:
    async def write(request: Request) -> JSONResponse:
        return JSONResponse({"got": (await request.body()).decode()}, headers={"Retry-After": "3"})

    app = Starlette(routes=[Route("/write", write, methods=["POST"]), *docs_routes("test API")])
    return TestClient(web_edge(app, origins, methods=["GET", "POST"]), base_url="http://api.example.com")


def preflight(c: TestClient, origin: str) -> int:
    response = c.options(
        "/write",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    return response.status_code


def test_an_allowed_origin_may_read_answers_and_send_json() -> None:
    c = client([ALLOWED])
    assert preflight(c, ALLOWED) == 200
    response = c.post(
        "/write", content=b"{}", headers={"Origin": ALLOWED, "Content-Type": "application/json"}
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED
    # A page backs off by Retry-After: it must be readable cross-origin.
    assert "retry-after" in response.headers["access-control-expose-headers"].lower()


def test_any_other_origin_gets_no_cors_and_its_writes_are_refused() -> None:
    c = client([ALLOWED])
    assert preflight(c, OTHER) == 400
    # A text/plain POST needs no preflight (sendBeacon): the guard refuses it, naming the field.
    response = c.post("/write", content=b"{}", headers={"Origin": OTHER, "Content-Type": "text/plain"})
    assert response.status_code == 403
    assert response.json()["error"]["field"] == "Origin"
    assert "access-control-allow-origin" not in response.headers


def test_no_origin_allowed_by_default_but_servers_and_same_origin_pages_are_unaffected() -> None:
    c = client([])
    assert c.post("/write", content=b"a").json() == {"got": "a"}  # no Origin: a server, curl
    same = c.post("/write", content=b"b", headers={"Origin": "http://api.example.com"})
    assert same.status_code == 200 and "access-control-allow-origin" not in same.headers
    assert c.post("/write", content=b"c", headers={"Origin": ALLOWED}).status_code == 403
    assert c.get("/docs", headers={"Origin": OTHER}).status_code == 200  # reads are not writes


def test_same_origin_compares_host_and_port() -> None:
    assert same_origin("http://api.example.com:8080", "api.example.com:8080")
    assert not same_origin("http://api.example.com:8081", "api.example.com:8080")
    assert not same_origin("null", "api.example.com")
    assert not same_origin("http://a.example", None)


def test_the_docs_page_and_its_assets_are_served_from_the_package() -> None:
    c = client([])
    page = c.get("/docs")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert 'url: "openapi.json"' in page.text and "https://" not in page.text  # no CDN
    for path in DOCS_PATHS[1:]:
        asset = c.get(path)
        assert asset.status_code == 200 and len(asset.content) > 10_000, path
    assert "SwaggerUIBundle" in c.get("/docs/swagger-ui-bundle.js").text


@pytest.mark.parametrize(
    "origin",
    [
        "*",
        "https://news.example.com/",
        "news.example.com",
        "ftp://news.example.com",
        "https://a.example/path",
    ],
)
def test_a_bad_origin_in_the_settings_is_named(origin: str) -> None:
    for section in (ServingSettings, CollectorSettings):
        with pytest.raises(ValidationError, match="cors_origins") as caught:
            section(cors_origins=[origin])
        assert "not a web origin" in str(caught.value)


def test_good_origins_pass() -> None:
    origins = ["https://news.example.com", "http://127.0.0.1:8000", "http://[::1]:3000"]
    assert ServingSettings(cors_origins=origins).cors_origins == origins
