"""The demo site and the console's edges in process (the browser tests drive them in Chromium
against the real services: tests/browser_test.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from starlette.testclient import TestClient

from components.config import Settings
from services.demo.app import CONSENT_COOKIE, READER_COOKIE, create_app

TOKEN = "demo-test-token"


@pytest.fixture
def client(reco_settings: Settings) -> Iterator[TestClient]:
    settings = reco_settings.model_copy(
        update={"serving": reco_settings.serving.model_copy(update={"admin_token": SecretStr(TOKEN)})}
    )
    with TestClient(create_app(settings), follow_redirects=False) as test_client:
        yield test_client


def test_an_empty_catalogue_still_serves_and_a_newcomer_gets_an_anonymous_id(client: TestClient) -> None:
    home = client.get("/")
    assert home.status_code == 200 and "catalogue is empty" in home.text
    assert home.cookies[READER_COOKIE].startswith("anon-")
    assert client.get("/articles/no-such-story").status_code == 404
    assert client.get("/api/articles", params={"ids": "a,b"}).json() == {}


def test_the_picker_takes_only_valid_reader_ids_and_consent_redirects_stay_on_site(
    client: TestClient,
) -> None:
    chosen = client.post(
        "/reader", content=b"reader=reader-7", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert chosen.status_code == 303 and chosen.cookies[READER_COOKIE] == "reader-7"
    spaced = client.post("/reader", content=b"reader=has+space")
    assert spaced.cookies[READER_COOKIE].startswith("anon-")
    for back in ("//evil.example", "https://evil.example/", "/articles/a1"):
        answer = client.post("/consent", content=f"consent=no&back={back}".encode())
        assert answer.headers["location"] == (back if back == "/articles/a1" else "/")
        assert answer.cookies[CONSENT_COOKIE] == "no"


def test_the_console_needs_the_admin_token(client: TestClient) -> None:
    assert "admin token" in client.get("/console").text  # the login form
    assert client.get("/console/status.json").status_code == 401
    wrong = client.post("/console/login", content=b"token=guess")
    assert wrong.headers["location"] == "/console?failed=1"
    assert client.post("/console/canary", content=b"share=0.5").status_code == 401
    right = client.post("/console/login", content=f"token={TOKEN}".encode())
    assert right.headers["location"] == "/console"
    assert client.get("/console").status_code == 200
    assert client.get("/console/reports/../../etc/passwd").status_code == 404
    assert client.get("/console/reports/reports/drift/x/../../secret.html").status_code == 404
    assert client.post("/console/canary", content=b"share=lots").json()["error"]["field"] == "share"
    assert len(client.get("/console/plotly.min.js").content) > 1_000_000  # the pinned package's


def test_the_console_is_closed_without_a_token(reco_settings: Settings) -> None:
    with TestClient(create_app(reco_settings)) as client:
        assert client.get("/console").status_code == 403
