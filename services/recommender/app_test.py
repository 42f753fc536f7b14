"""The recommend API against real services: a private Redis (so a test can stop it) holding
Feast's materialized rows, the tansu broker for impressions, an MLflow registry in SQLite with
a trained champion, the simulated lake's catalogue."""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from mlflow import MlflowClient
from starlette.testclient import TestClient

from components.config import Settings, load_settings, settings_env
from components.config.settings import ExplorationSettings
from components.events import Event
from components.feedback.recent import record_reads
from components.lake import LakeStore
from components.lake.catalog import article_from_row, read_catalog, upsert_articles
from components.names import CANARY
from components.registry.gate import rollback, set_champion
from components.registry.publish import publish
from components.registry.tracking import configure
from components.runtime.processes import ServiceProcess, wait_ready
from components.runtime.tansu import TansuBroker, free_port
from components.serving.clock import RequestClock
from components.serving.routing import bucket
from components.simulator import WorldConfig
from components.streaming import ensure_topics
from components.testing.kafka_read import read_topic
from components.testing.redis_servers import PrivateRedis
from components.testing.serving_world import ServedWorld, build_served_world
from components.training.pipeline import train_and_register
from components.training.train import Candidate
from services.recommender.app import create_app

TOKEN = "test-admin-token"


@dataclass
class Env:
    settings: Settings
    world: ServedWorld
    redis: PrivateRedis
    broker: TansuBroker


@pytest.fixture(autouse=True)
def _dump_stacks_if_stuck() -> Iterator[None]:
    """A test stuck for 5 minutes prints every thread's stack and fails the run, instead of
    being killed silently by the runner's timeout."""
    faulthandler.dump_traceback_later(300, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, kafka_broker: TansuBroker) -> Iterator[Env]:
    root = tmp_path_factory.mktemp("recommender")
    redis = PrivateRedis(free_port(), root).start()
    topic = f"events.v1.{uuid.uuid4().hex[:8]}"
    settings = load_settings(
        home=str(root / "home"),
        kafka={
            "bootstrap_servers": kafka_broker.bootstrap_servers,
            "events_topic": topic,
            "session_timeout_ms": 2_000,
        },
        redis={"url": redis.url, "key_prefix": "reco:"},
        lake={"root": str(root / "lake")},
        mlflow={"tracking_uri": f"sqlite:///{root / 'mlflow.db'}", "artifact_root": str(root / "artifacts")},
        features={"registry": str(root / "registry.db"), "project": f"reco_{uuid.uuid4().hex[:8]}"},
        serving={"admin_token": TOKEN, "poll_interval_s": 0.5, "redis_timeout_ms": 200, "redis_retry_s": 0.5},
    )
    asyncio.run(ensure_topics(settings.kafka, [topic], partitions=3))
    config = WorldConfig(seed=5, days=3, users=600, articles_per_day=40, backlog_days=10)
    world = build_served_world(settings, config)
    yield Env(settings, world, redis, kafka_broker)
    redis.stop()


@pytest.fixture
def client(env: Env) -> Iterator[TestClient]:
    with TestClient(create_app(env.settings)) as test_client:
        yield test_client


def ask(client: TestClient, **body: Any) -> dict[str, Any]:
    response = client.post("/recommend", json=body)
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = response.json()
    return payload


def live_ids(env: Env, at: datetime | None = None) -> set[str]:
    catalogue = read_catalog(LakeStore.from_settings(env.settings.lake)).to_pylist()
    at = at or datetime.now(UTC)
    return {
        row["article_id"]
        for row in catalogue
        if row["published_at"] <= at and (row["expires_at"] is None or row["expires_at"] > at)
    }


def test_known_reader_gets_a_personal_list_of_live_articles(env: Env, client: TestClient) -> None:
    user = env.world.known_users[0]
    answer = ask(client, user_id=user, k=10)
    assert answer["variant"] == "champion"
    assert answer["model_version"] == env.world.champion_version
    assert len(answer["items"]) == 10
    assert {item["reason"] for item in answer["items"]} <= {"personalized", "popular"}
    assert answer["items"][0]["reason"] == "personalized"
    assert {item["article_id"] for item in answer["items"]} <= live_ids(env)
    assert len({item["article_id"] for item in answer["items"]}) == 10
    assert answer["latency_ms"] > 0 and len(answer["request_id"]) == 32


def test_unknown_reader_gets_popular_fresh_articles(env: Env, client: TestClient) -> None:
    answer = ask(client, user_id=f"newcomer-{uuid.uuid4().hex[:6]}", k=5)
    assert [item["reason"] for item in answer["items"]] == ["popular"] * 5
    scores = [item["score"] for item in answer["items"]]
    assert scores == sorted(scores, reverse=True)
    # Anonymous readers all get the same list: the catalogue's popular order.
    assert answer["items"] == ask(client, user_id="another-newcomer", k=5)["items"]
    metrics = client.get("/metrics").text
    assert 'reco_recommend_fallbacks_total{reason="cold_start"}' in metrics


def test_request_exclusions_and_recent_reads_are_never_returned(env: Env, client: TestClient) -> None:
    user = env.world.known_users[1]
    first = [item["article_id"] for item in ask(client, user_id=user, k=10)["items"]]
    # The reader just read the first two (the feedback consumer writes them) and the page
    # excludes the next two.
    asyncio.run(_record(env, user, first[:2]))
    second = [item["article_id"] for item in ask(client, user_id=user, k=10, exclude=first[2:4])["items"]]
    assert not set(first[:4]) & set(second)
    assert len(second) == 10
    # Cold-start readers honour both as well.
    newcomer = f"newcomer-{uuid.uuid4().hex[:6]}"
    popular = [i["article_id"] for i in ask(client, user_id=newcomer, k=3)["items"]]
    asyncio.run(_record(env, newcomer, popular[:1]))
    again = [i["article_id"] for i in ask(client, user_id=newcomer, k=3, exclude=popular[1:2])["items"]]
    assert not set(popular[:2]) & set(again)


async def _record(env: Env, user: str, articles: list[str]) -> None:
    from redis.asyncio import Redis as AsyncRedis

    async with AsyncRedis.from_url(env.settings.redis.url) as redis:
        await record_reads(redis, env.settings.redis.key_prefix, user, articles)


def test_expired_articles_are_never_returned(env: Env) -> None:
    """Expire the articles a reader would get; after the catalogue refresh none comes back."""
    store = LakeStore.from_settings(env.settings.lake)
    original = read_catalog(store).to_pylist()
    user = env.world.known_users[2]
    settings = env.settings.model_copy(
        update={"serving": env.settings.serving.model_copy(update={"catalogue_refresh_s": 0.3})}
    )
    try:
        with TestClient(create_app(settings)) as client:
            before = [item["article_id"] for item in ask(client, user_id=user, k=10)["items"]]
            popular = [item["article_id"] for item in ask(client, user_id="nobody-yet", k=10)["items"]]
            gone = set(before) | set(popular)
            an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
            # The CMS moves their expiry into the past (a change received now).
            upsert_articles(
                store,
                [
                    article_from_row(row).model_copy(update={"expires_at": an_hour_ago})
                    for row in original
                    if row["article_id"] in gone
                ],
                received_at=datetime.now(UTC),
            )
            deadline = time.monotonic() + 10
            while True:
                after = [item["article_id"] for item in ask(client, user_id=user, k=10)["items"]]
                if not set(after) & gone or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert not set(after) & gone
            assert len(after) == 10
            cold = [item["article_id"] for item in ask(client, user_id="nobody-yet", k=10)["items"]]
            assert not set(cold) & gone
    finally:
        upsert_articles(store, [article_from_row(row) for row in original], received_at=datetime.now(UTC))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"user_id": "u1", "k": 0}', "k"),
        (b'{"user_id": "u1", "k": 101}', "k"),
        (b'{"user_id": "u1", "k": "10"}', "k"),
        (b'{"user_id": "u1", "exclude": ' + orjson.dumps([f"a{i}" for i in range(501)]) + b"}", "exclude"),
        (b'{"user_id": "u1", "exclude": [3]}', "exclude.0"),
        (b'{"user_id": "u1", "k": 10', "$"),
        (b'{"user_id": 7, "k": 10}', "user_id"),
        (b'{"user_id": "u1", "limit": 10}', "limit"),
        (b'{"user_id": "has space"}', "user_id"),
        (b'{"user_id": "u1", "context": {"page": {"nested": 1}}}', "context.page"),
        (b'{"user_id": "u1", "context": ' + b'{"x": "' + b"y" * 70_000 + b'"}}', "$"),
        # Regression: integers beyond 64 bits passed validation and broke the impression
        # encoder (500).
        (b'{"user_id": "u1", "context": {"n": 1180591620717411303424}}', "context"),
    ],
)
def test_bad_requests_get_422_naming_the_field(client: TestClient, body: bytes, field: str) -> None:
    response = client.post("/recommend", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    payload = response.json()
    assert payload["error"]["field"] == field, payload
    assert payload["error"]["reason"]


def test_every_answer_logs_its_impressions_to_kafka(env: Env, client: TestClient) -> None:
    user = env.world.known_users[3]
    answer = ask(client, user_id=user, k=4, context={"page": "home"})
    deadline = time.monotonic() + 15
    mine: list[Any] = []
    while time.monotonic() < deadline and len(mine) < 4:
        records = asyncio.run(
            read_topic(env.settings.kafka.bootstrap_servers, env.settings.kafka.events_topic)
        )
        mine = [r for r in records if Event.model_validate_json(r.value).request_id == answer["request_id"]]
    events = sorted((Event.model_validate_json(r.value) for r in mine), key=lambda e: e.position or 0)
    assert [e.article_id for e in events] == [item["article_id"] for item in answer["items"]]
    assert [e.position for e in events] == [0, 1, 2, 3]
    assert {e.model_version for e in events} == {answer["model_version"]}
    assert {e.propensity for e in events} == {1.0}
    assert [e.source for e in events] == [item["reason"] for item in answer["items"]]  # what put it there
    assert all(e.context == {"page": "home", "variant": "champion", "k": 4} for e in events)
    assert answer["arm"] == "greedy"  # exploration is off by default
    assert {r.key for r in mine} == {user.encode()}  # keyed by reader, as the contract says


def _impressions_of(env: Env, *request_ids: str, until: str) -> list[Event]:
    """Impressions of `request_ids` in the topic, read until those of `until` are there."""
    deadline = time.monotonic() + 15
    while True:
        records = asyncio.run(
            read_topic(env.settings.kafka.bootstrap_servers, env.settings.kafka.events_topic)
        )
        events = [Event.model_validate_json(r.value) for r in records]
        if any(e.request_id == until for e in events) or time.monotonic() > deadline:
            return [e for e in events if e.request_id in request_ids]


def test_a_request_without_a_reader_is_non_personal_and_logs_nothing(env: Env, client: TestClient) -> None:
    anonymous = ask(client, k=5, context={"page": "home"})
    assert anonymous["ranked_by"] == "popular" and anonymous["variant"] == "champion"
    assert [item["reason"] for item in anonymous["items"]] == ["popular"] * 5
    assert anonymous["items"] == ask(client, user_id="a-newcomer-too", k=5)["items"]
    marker = ask(client, user_id=env.world.known_users[6], k=2)  # logged after it
    assert _impressions_of(env, anonymous["request_id"], until=marker["request_id"]) == []
    assert len(_impressions_of(env, marker["request_id"], until=marker["request_id"])) == 2


def sections_of(env: Env) -> dict[str, str]:
    return {
        row["article_id"]: row["section"]
        for row in read_catalog(LakeStore.from_settings(env.settings.lake)).to_pylist()
    }


def related(client: TestClient, **body: Any) -> dict[str, Any]:
    response = client.post("/related", json=body)
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = response.json()
    return payload


def test_related_articles_are_live_unread_and_logged_only_for_a_reader(env: Env, client: TestClient) -> None:
    user = env.world.known_users[4]
    shown = [item["article_id"] for item in ask(client, user_id=user, k=10)["items"]]
    story, excluded, read = shown[0], shown[1], shown[2]
    anonymous = related(client, article_id=story, k=8, exclude=[excluded])
    ids = [item["article_id"] for item in anonymous["items"]]
    assert len(ids) == 8 == len(set(ids)) and set(ids) <= live_ids(env)
    assert story not in ids and excluded not in ids
    # The champion (a collaborative model) knows the story: its neighbours lead.
    assert anonymous["ranked_by"] == "cf" and anonymous["items"][0]["reason"] == "cf"
    assert {item["reason"] for item in anonymous["items"]} <= {"cf", "section", "popular"}
    asyncio.run(_record(env, user, [read]))
    personal = related(client, article_id=story, k=8, user_id=user, context={"page": "story"})
    assert read not in {item["article_id"] for item in personal["items"]}
    # Impressions: the reader's, with their surface; none for the anonymous request.
    deadline = time.monotonic() + 15
    mine: list[Event] = []
    while time.monotonic() < deadline and len(mine) < 8:
        records = asyncio.run(
            read_topic(env.settings.kafka.bootstrap_servers, env.settings.kafka.events_topic)
        )
        events = [Event.model_validate_json(r.value) for r in records]
        mine = [e for e in events if e.request_id == personal["request_id"]]
    assert [e.article_id for e in sorted(mine, key=lambda e: e.position or 0)] == [
        item["article_id"] for item in personal["items"]
    ]
    assert {e.user_id for e in mine} == {user}
    assert all(e.context["surface"] == "related" and e.context["related_to"] == story for e in mine)
    assert all(e.context["page"] == "story" for e in mine)
    assert not [e for e in events if e.request_id == anonymous["request_id"]]
    # An article the catalogue does not list yet: popular articles, said so.
    unknown = related(client, article_id="not-published-yet", k=3)
    assert unknown["ranked_by"] == "popular" and len(unknown["items"]) == 3


def test_section_filters_on_recommend_and_related(env: Env, client: TestClient) -> None:
    sections = sections_of(env)
    user = env.world.known_users[5]
    wanted = sections[ask(client, user_id=user, k=1)["items"][0]["article_id"]]
    filtered = ask(client, user_id=user, k=10, filters={"sections": [wanted]})
    assert filtered["items"] and {sections[i["article_id"]] for i in filtered["items"]} == {wanted}
    assert ask(client, user_id=user, k=10, filters={"sections": ["no-such-section"]})["items"] == []
    cold = ask(client, user_id="newcomer-filtered", k=5, filters={"sections": [wanted]})
    assert cold["items"] and {sections[i["article_id"]] for i in cold["items"]} == {wanted}
    story = next(a for a, s in sections.items() if s != wanted and a in live_ids(env))
    rail = related(client, article_id=story, k=5, filters={"sections": [wanted]})
    assert rail["items"] and {sections[i["article_id"]] for i in rail["items"]} == {wanted}


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/related", b'{"k": 3}', "article_id"),
        ("/related", b'{"article_id": "a1", "k": 0}', "k"),
        ("/related", b'{"article_id": "a1", "user_id": "has space"}', "user_id"),
        ("/related", b'{"article_id": "a1", "filters": {"tags": ["x"]}}', "filters.tags"),
        ("/recommend", b'{"user_id": "u1", "filters": {"sections": [""]}}', "filters.sections.0"),
        ("/recommend", b'{"user_id": "u1", "filters": {"sections": "news"}}', "filters.sections"),
    ],
)
def test_bad_related_and_filter_requests_name_the_field(
    client: TestClient, path: str, body: bytes, field: str
) -> None:
    response = client.post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field, response.json()


def test_the_api_docs_page_and_document(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert {"/recommend", "/related"} <= set(document["paths"])
    related_body = document["paths"]["/related"]["post"]["requestBody"]["content"]["application/json"][
        "schema"
    ]
    assert set(related_body["properties"]) == {"article_id", "user_id", "k", "exclude", "filters", "context"}
    page = client.get("/docs")
    assert page.status_code == 200 and "swagger-ui-bundle.js" in page.text
    assert client.get("/docs/swagger-ui.css").status_code == 200


def test_exploring_arm_fills_its_slots_and_logs_exact_propensities(env: Env) -> None:
    """Half the readers explore (by user hash): positions 7 and 9 are drawn by Thompson
    sampling from the model's item and the least exposed articles. Every impression logs its
    propensity; the greedy arm logs the explorer's odds of keeping the model's items, and the
    request clock serves at the time the request names."""
    settings = env.settings.model_copy(
        update={
            "exploration": ExplorationSettings(share=0.5, slots=2, pool_size=5, refresh_s=0.2),
        }
    )
    at = time.time() - 3_600
    users = env.world.known_users[:60]
    arms = {u: "explore" if bucket(u, "explore") < 0.5 else "greedy" for u in users}
    assert set(arms.values()) == {"explore", "greedy"}
    with TestClient(create_app(settings, clock=RequestClock())) as client:
        missing = client.post("/recommend", json={"user_id": users[0]})
        assert missing.status_code == 422 and missing.json()["error"]["field"] == "context.now"
        answers = {u: ask(client, user_id=u, k=10, context={"now": at, "page": "home"}) for u in users}
    live = live_ids(env, datetime.fromtimestamp(at, UTC))
    explored = 0
    for user, answer in answers.items():
        assert answer["arm"] == arms[user]
        reasons = [item["reason"] for item in answer["items"]]
        assert {item["article_id"] for item in answer["items"]} <= live
        assert all(r != "explore" for i, r in enumerate(reasons) if i not in (7, 9))
        if arms[user] == "greedy":
            assert "explore" not in reasons
        explored += reasons.count("explore")
    assert explored > 0  # with no counts yet, the model's item wins a slot 1 time in 6
    wanted = {a["request_id"]: a for a in answers.values()}
    deadline = time.monotonic() + 20
    logged: list[Event] = []
    while time.monotonic() < deadline and len(logged) < 10 * len(wanted):
        records = asyncio.run(
            read_topic(env.settings.kafka.bootstrap_servers, env.settings.kafka.events_topic)
        )
        logged = [e for e in (Event.model_validate_json(r.value) for r in records) if e.request_id in wanted]
    assert len(logged) == 10 * len(wanted)
    for event in logged:
        answer = wanted[str(event.request_id)]
        item = answer["items"][event.position or 0]
        assert event.article_id == item["article_id"] and event.source == item["reason"]
        assert event.ts == datetime.fromtimestamp(at, UTC).replace(microsecond=event.ts.microsecond)
        assert event.context["arm"] == answer["arm"] and event.context["policy"] == "thompson"
        assert "now" not in event.context
        if event.position in (7, 9):
            p = event.context["explore_p"]
            assert isinstance(p, float) and 0 < p <= 1
            assert event.context["model_item"] == (item["reason"] != "explore")
            # what served it: the explorer in the exploring arm, the model (p = 1) otherwise
            assert event.propensity == (p if answer["arm"] == "explore" else 1.0)
        else:
            assert event.propensity == 1.0 and "explore_p" not in event.context


def test_admin_needs_the_token_and_sets_the_canary_share(env: Env, client: TestClient) -> None:
    assert client.post("/admin/reload").status_code == 401
    assert client.post("/admin/reload", headers={"Authorization": "Bearer wrong"}).status_code == 401
    auth = {"Authorization": f"Bearer {TOKEN}"}
    reload = client.post("/admin/reload", headers=auth)
    assert reload.status_code == 200 and reload.json()["models"]["champion"] == env.world.champion_version
    bad = client.post("/admin/canary", headers=auth, json={"share": 1.5})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "share"
    ok = client.post("/admin/canary", headers=auth, json={"share": 0.25})
    assert ok.status_code == 200 and ok.json()["canary_share"] == 0.0  # no canary model: nothing to route
    disabled = env.settings.model_copy(
        update={"serving": env.settings.serving.model_copy(update={"admin_token": None})}
    )
    with TestClient(create_app(disabled)) as other:
        assert other.post("/admin/reload", headers=auth).status_code == 403


def test_canary_gets_a_stable_share_of_users_and_rollback_restores(env: Env) -> None:
    """Register a second version as canary for 30 % of users: each user stays on one side."""
    configure(env.settings.mlflow)
    store = LakeStore.from_settings(env.settings.lake)
    outcome = train_and_register(
        env.settings,
        store,
        [Candidate("als", {"factors": 16, "iterations": 5})],
        dates=env.world.dates,
        run_gate=False,
    )
    canary = outcome.logged.version
    assert canary is not None
    MlflowClient().set_registered_model_alias(env.settings.mlflow.model_name, CANARY, canary)
    publish(env.settings)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    users = env.world.known_users[:200]
    try:
        with TestClient(create_app(env.settings)) as client:
            assert (
                client.post("/admin/canary", headers=auth, json={"share": 0.3}).json()["canary_share"] == 0.3
            )
            first = {u: ask(client, user_id=u, k=3) for u in users}
            again = {u: ask(client, user_id=u, k=3) for u in users}
            assert {u: a["variant"] for u, a in first.items()} == {u: a["variant"] for u, a in again.items()}
            on_canary = [u for u, a in first.items() if a["variant"] == "canary"]
            assert 0.18 < len(on_canary) / len(users) < 0.42
            assert {first[u]["model_version"] for u in on_canary} == {canary}
            assert (
                'reco_recommend_requests_total{outcome="ok",variant="canary"}' in client.get("/metrics").text
            )
            # Promote the canary to champion, then roll back in the registry (the CLI's path):
            # once published, the earlier champion serves again, with no canary.
            set_champion(env.settings.mlflow.model_name, canary)
            publish(env.settings)
            reloaded = client.post("/admin/reload", headers=auth).json()["models"]
            assert reloaded["champion"] == canary
            assert rollback(env.settings.mlflow.model_name) == (canary, env.world.champion_version)
            publish(env.settings)
            reloaded = client.post("/admin/reload", headers=auth).json()["models"]
            assert reloaded["champion"] == env.world.champion_version and CANARY not in reloaded
            assert {ask(client, user_id=u, k=3)["variant"] for u in users} == {"champion"}
            assert client.post("/admin/rollback", headers=auth).status_code in (404, 405)
    finally:
        # Leave the registry as the module's other tests expect it: the first champion, no canary.
        MlflowClient().set_registered_model_alias(
            env.settings.mlflow.model_name, "champion", env.world.champion_version
        )
        with contextlib.suppress(Exception):  # rollback already dropped it
            MlflowClient().delete_registered_model_alias(env.settings.mlflow.model_name, CANARY)
        publish(env.settings)


def test_shadow_challenger_is_scored_but_never_served(env: Env, tmp_path: Path) -> None:
    configure(env.settings.mlflow)
    challenger = (
        MlflowClient().get_model_version_by_alias(env.settings.mlflow.model_name, "challenger").version
    )
    settings = env.settings.model_copy(
        update={"serving": env.settings.serving.model_copy(update={"shadow_share": 1.0})}
    )
    users = env.world.known_users[10:20]
    with TestClient(create_app(settings)) as client:
        answers = [ask(client, user_id=u, k=5) for u in users]
        metrics = client.get("/metrics").text
    assert {a["model_version"] for a in answers} == {env.world.champion_version}
    assert {a["variant"] for a in answers} == {"champion"}
    assert f'reco_shadow_overlap_count{{version="{challenger}"}} {float(len(users))}' in metrics
    assert f'reco_shadow_latency_seconds_count{{version="{challenger}"}} {float(len(users))}' in metrics


def test_starts_from_the_model_cache_while_the_lake_and_redis_are_down(env: Env, tmp_path: Path) -> None:
    """The service never asks MLflow: it reads the publication from Redis, else the lake, else
    its cache. With the lake gone and no publication in Redis, the cached champion serves the
    same list; with Redis gone as well, it still starts and serves that version."""
    cache = str(tmp_path / "cache")
    with_cache = env.settings.model_copy(
        update={"serving": env.settings.serving.model_copy(update={"model_cache_dir": cache})}
    )
    with TestClient(create_app(with_cache)) as client:
        user = env.world.known_users[5]
        served = ask(client, user_id=user, k=5)
    (tmp_path / "not-a-folder").write_text("")
    no_lake = with_cache.model_copy(
        update={
            "lake": with_cache.lake.model_copy(update={"root": str(tmp_path / "not-a-folder" / "lake")}),
            # no publication under this prefix (features are keyed by the Feast project: still there)
            "redis": with_cache.redis.model_copy(update={"key_prefix": f"other-{uuid.uuid4().hex[:6]}:"}),
        }
    )
    with TestClient(create_app(no_lake)) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert "registry" in ready.json()["degraded"]
        assert ready.json()["models"]["champion"] == env.world.champion_version
        again = ask(client, user_id=user, k=5)
    assert again["model_version"] == served["model_version"]
    assert [i["article_id"] for i in again["items"]] == [i["article_id"] for i in served["items"]]

    nothing = no_lake.model_copy(
        update={"redis": no_lake.redis.model_copy(update={"url": f"redis://127.0.0.1:{free_port()}/0"})}
    )
    with TestClient(create_app(nothing)) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert {"registry", "redis"} <= set(ready.json()["degraded"])
        assert ask(client, user_id=user, k=5)["model_version"] == env.world.champion_version


def test_redis_down_answers_degraded_from_the_fallback_and_recovers(env: Env, client: TestClient) -> None:
    user = env.world.known_users[4]
    assert client.get("/readyz").json()["degraded"] == []
    env.redis.stop()
    try:
        answer = ask(client, user_id=user, k=5)
        assert len(answer["items"]) == 5
        assert {item["reason"] for item in answer["items"]} == {"popular"}  # no features: cold start
        ready = client.get("/readyz")
        assert ready.status_code == 200 and "redis" in ready.json()["degraded"]
        assert 'reco_degraded{dependency="redis"} 1.0' in client.get("/metrics").text
    finally:
        env.redis.start()
    # Features are gone with that Redis (it keeps nothing on disk): the reader stays cold
    # start, but the service must notice Redis is back by itself.
    deadline = time.monotonic() + 10
    while "redis" in client.get("/readyz").json()["degraded"] and time.monotonic() < deadline:
        ask(client, user_id=user, k=5)
        time.sleep(0.2)
    assert "redis" not in client.get("/readyz").json()["degraded"]
    assert 'reco_degraded{dependency="redis"} 0.0' in client.get("/metrics").text


def test_hot_reload_under_load_drops_no_request(env: Env, tmp_path: Path) -> None:
    """The service on Hypercorn under steady load while the champion alias moves: every
    request succeeds and the new version takes over without a restart."""
    try:
        with on_hypercorn(env, tmp_path) as (port, service):
            configure(env.settings.mlflow)
            outcome = train_and_register(
                env.settings,
                LakeStore.from_settings(env.settings.lake),
                [Candidate("popularity", {})],
                dates=env.world.dates,
                run_gate=False,
            )
            new_version = outcome.logged.version
            assert new_version is not None
            users = env.world.known_users[:50]

            async def drive() -> tuple[int, list[str], set[str]]:
                failures: list[str] = []
                versions: set[str] = set()
                sent = 0
                moved_at = None
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:

                    async def one(i: int) -> None:
                        try:
                            r = await http.post(
                                "/recommend", json={"user_id": users[i % len(users)], "k": 10}
                            )
                            if r.status_code != 200:
                                failures.append(f"{r.status_code} {r.text[:200]}")
                            else:
                                versions.add(r.json()["model_version"])
                        except httpx.HTTPError as exc:
                            failures.append(repr(exc))

                    started = time.monotonic()
                    while time.monotonic() - started < 12:
                        await asyncio.gather(*(one(sent + j) for j in range(8)))
                        sent += 8
                        if moved_at is None and time.monotonic() - started > 2:
                            await asyncio.to_thread(set_champion, env.settings.mlflow.model_name, new_version)
                            await asyncio.to_thread(publish, env.settings)
                            moved_at = time.monotonic()
                return sent, failures, versions

            sent, failures, versions = asyncio.run(drive())
            assert failures == []
            assert sent > 200
            assert versions == {env.world.champion_version, new_version}
            assert service.running
    finally:
        set_champion(env.settings.mlflow.model_name, env.world.champion_version)
        publish(env.settings)


@contextlib.contextmanager
def on_hypercorn(env: Env, tmp_path: Path) -> Iterator[tuple[int, ServiceProcess]]:
    """The service as deployed (Hypercorn, uvloop, its own process) on a private port, ready."""
    port = free_port()
    settings = env.settings.model_copy(
        update={
            "serving": env.settings.serving.model_copy(
                update={"port": port, "model_cache_dir": str(tmp_path / "cache")}
            )
        }
    )
    service = ServiceProcess(
        "services.recommender.main", settings_env(settings), tmp_path / "service.log"
    ).start()
    try:
        try:
            asyncio.run(wait_ready(f"http://127.0.0.1:{port}/readyz", timeout_s=90))
        except TimeoutError as exc:
            raise AssertionError(f"the service did not get ready:\n{service.log_tail()}") from exc
        yield port, service
    finally:
        service.stop()


def test_metric_labels_never_come_from_the_client(client: TestClient) -> None:
    # Regression: unknown keys of 64 KB requests became label values: 50,000 series, a 14 MB
    # /metrics that blocked the event loop for 2.7 s.
    before = len(client.get("/metrics").content)
    for i in range(10):
        body = b'{"user_id": "u1", "' + (b"k%d" % i) * 20_000 + b'": 1}'
        response = client.post("/recommend", content=body, headers={"content-type": "application/json"})
        assert response.status_code == 422
        assert len(response.content) < 2_000  # the key is not echoed back whole either
    metrics = client.get("/metrics").text
    assert 'reco_recommend_invalid_requests_total{field="<other>"}' in metrics
    assert len(metrics) - before < 2_000


class HangingServer:
    """A TCP server that accepts connections and never answers (Redis behind a dead load
    balancer)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()


def test_starts_from_its_cache_within_the_startup_timeout_while_redis_hangs(env: Env, tmp_path: Path) -> None:
    # Regression (then against a hanging HTTP registry: 258 s in MLflow's retries, past
    # Hypercorn's startup timeout): a publication source that never answers must not hold the
    # start-up; the cached models serve.
    cache = str(tmp_path / "cache")
    with_cache = env.settings.model_copy(
        update={
            "serving": env.settings.serving.model_copy(
                update={"model_cache_dir": cache, "registry_timeout_s": 2}
            )
        }
    )
    with TestClient(create_app(with_cache)) as client:
        served = ask(client, user_id=env.world.known_users[6], k=5)
    hanging_redis = HangingServer()
    (tmp_path / "not-a-folder").write_text("")
    try:
        hanging = with_cache.model_copy(
            update={
                "redis": with_cache.redis.model_copy(
                    update={"url": f"redis://:s3cret-pw@127.0.0.1:{hanging_redis.port}/0"}
                ),
                "lake": with_cache.lake.model_copy(update={"root": str(tmp_path / "not-a-folder" / "lake")}),
            }
        )
        started = time.monotonic()
        with TestClient(create_app(hanging)) as client:
            startup_s = time.monotonic() - started
            ready = client.get("/readyz")
            again = ask(client, user_id=env.world.known_users[6], k=5)
    finally:
        hanging_redis.close()
    assert startup_s < 30, f"start-up took {startup_s:.0f}s (Hypercorn gives 60)"
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["models"]["champion"] == env.world.champion_version
    assert "registry" in body["degraded"]
    assert again["model_version"] == served["model_version"]
    # /readyz never prints a password
    assert "s3cret-pw" not in str(body)


def test_redis_outage_under_load_fails_no_request(env: Env, tmp_path: Path) -> None:
    """Outage drill: the service on Hypercorn under steady load while Redis is stopped for a
    few seconds and started again. Every request is answered (the fallback while Redis is
    away), and the service uses Redis again by itself once it is back."""
    users = env.world.known_users[:30]
    try:
        with on_hypercorn(env, tmp_path) as (port, _):
            sent, failures, reasons, degraded = asyncio.run(_drive_through_a_redis_outage(env, port, users))
    finally:
        if env.redis.proc is None:
            env.redis.start()
    assert failures == [] and sent > 200
    assert "redis" in degraded[: degraded.index("|")]  # it noticed ...
    assert "redis" not in degraded[degraded.index("|") + 1 :]  # ... and recovered by itself
    assert "popular" in reasons


async def _drive_through_a_redis_outage(
    env: Env, port: int, users: list[str]
) -> tuple[int, list[str], set[str], list[str]]:
    """Eight requests at a time for 12 s; Redis stopped from 2 s to 6 s. Returns (requests,
    failures, reasons served, degraded on /readyz during the outage + "|" + after)."""
    failures: list[str] = []
    reasons: set[str] = set()
    degraded_seen: list[str] = []
    sent = 0
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:

        async def one(i: int) -> None:
            try:
                r = await http.post("/recommend", json={"user_id": users[i % len(users)], "k": 5})
                if r.status_code != 200:
                    failures.append(f"{r.status_code} {r.text[:200]}")
                else:
                    reasons.update(item["reason"] for item in r.json()["items"])
            except httpx.HTTPError as exc:
                failures.append(repr(exc))

        started = time.monotonic()
        stopped = restarted = False
        while time.monotonic() - started < 12:
            await asyncio.gather(*(one(sent + j) for j in range(8)))
            sent += 8
            elapsed = time.monotonic() - started
            if not stopped and elapsed > 2:
                await asyncio.to_thread(env.redis.stop)
                stopped = True
            if stopped and not restarted and elapsed > 6:
                degraded_seen = (await http.get("/readyz")).json()["degraded"]
                await asyncio.to_thread(env.redis.start)
                restarted = True
        await asyncio.sleep(2)
        ready = (await http.get("/readyz")).json()
    return sent, failures, reasons, [*degraded_seen, "|", *ready["degraded"]]
