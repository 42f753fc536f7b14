"""The collector against a real Kafka-protocol broker: per-event answers, dead letters,
and 503 without acknowledging anything while the broker is down."""

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from pydantic import SecretStr
from starlette.testclient import TestClient

from components.config import Settings
from components.events import decode_dead_letter, decode_event
from components.runtime.tansu import TansuBroker
from components.testing.kafka_read import read_topic
from services.collector.app import create_app


def event(**overrides: Any) -> dict[str, Any]:
    payload = {
        "event_id": str(uuid.uuid4()),
        "type": "click",
        "user_id": "u1",
        "article_id": "a1",
        "ts": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        "request_id": "r1",
        "position": 2,
    }
    payload.update(overrides)
    return payload


@pytest.fixture
def client(reco_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(reco_settings)) as test_client:
        yield test_client


def events_on(settings: Settings, topic: str, expected: int | None = None) -> list[Any]:
    return asyncio.run(read_topic(settings.kafka.bootstrap_servers, topic, expected, idle_s=1.5))


def test_valid_batch_is_accepted_and_on_the_topic(client: TestClient, reco_settings: Settings) -> None:
    batch = [event(user_id=f"u{i}") for i in range(5)]
    response = client.post("/events", json=batch)
    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 5 and body["rejected"] == 0
    assert [r["event_id"] for r in body["results"]] == [e["event_id"] for e in batch]
    records = events_on(reco_settings, reco_settings.kafka.events_topic, 5)
    assert sorted(str(decode_event(r.value).event_id) for r in records) == sorted(
        e["event_id"] for e in batch
    )
    assert {r.key for r in records} == {f"u{i}".encode() for i in range(5)}


def test_malformed_event_gets_4xx_naming_the_field_and_a_dead_letter(
    client: TestClient, reco_settings: Settings
) -> None:
    bad = event(ts="2026-11-01T10:00:00")  # no zone
    response = client.post("/events", json=bad)
    assert response.status_code == 422
    (result,) = response.json()["results"]
    assert result["status"] == "rejected" and result["event_id"] == bad["event_id"]
    assert result["errors"][0]["field"] == "ts"
    assert "timezone-aware" in result["errors"][0]["reason"]
    (letter_record,) = events_on(reco_settings, reco_settings.kafka.dead_letter_topic, 1)
    letter = decode_dead_letter(letter_record.value)
    assert letter.source == "collector"
    assert json.loads(letter.original_bytes()) == bad
    assert letter.errors[0].field == "ts"
    assert events_on(reco_settings, reco_settings.kafka.events_topic) == []


def test_mixed_batch_answers_per_event(client: TestClient, reco_settings: Settings) -> None:
    good = event()
    unknown_field = event(colour="red")
    wrong_type = event(position="3")
    response = client.post("/events", json=[good, unknown_field, wrong_type])
    assert response.status_code == 207
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["accepted", "rejected", "rejected"]
    assert results[1]["errors"] == [{"field": "colour", "reason": "unknown field", "code": "unknown_field"}]
    assert results[2]["errors"][0]["field"] == "position"
    assert results[2]["errors"][0]["code"] == "wrong_type"
    assert len(events_on(reco_settings, reco_settings.kafka.events_topic, 1)) == 1
    assert len(events_on(reco_settings, reco_settings.kafka.dead_letter_topic, 2)) == 2


def test_unparseable_body_is_dead_lettered_as_received(client: TestClient, reco_settings: Settings) -> None:
    raw = b'{"event_id": "x", "type": '
    response = client.post("/events", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "$"
    assert response.json()["error"]["code"] == "malformed_json"
    (letter_record,) = events_on(reco_settings, reco_settings.kafka.dead_letter_topic, 1)
    assert decode_dead_letter(letter_record.value).original_bytes() == raw


def test_limits_answer_413(client: TestClient, reco_settings: Settings) -> None:
    too_many = [event() for _ in range(reco_settings.collector.max_batch + 1)]
    response = client.post("/events", json=too_many)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "batch_too_large"
    huge = b"[" + b" " * reco_settings.collector.max_body_bytes + b"]"
    response = client.post("/events", content=huge)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"
    assert client.post("/events", content=b"[]").status_code == 400


def test_metrics_count_outcomes_and_rejections_by_field(client: TestClient) -> None:
    client.post("/events", json=[event(), event(user_id="has space")])
    text = client.get("/metrics").text
    assert 'reco_collector_events_total{outcome="accepted"} 1.0' in text
    assert 'reco_collector_events_total{outcome="rejected"} 1.0' in text
    assert 'reco_collector_rejections_total{code="string_pattern_mismatch",field="user_id"} 1.0' in text
    assert "reco_collector_produce_seconds_count 1.0" in text
    assert client.get("/healthz").json() == {"status": "ok"}


def test_broker_down_means_503_and_nothing_acknowledged(
    fresh_kafka_broker: TansuBroker, reco_settings: Settings
) -> None:
    settings = reco_settings.model_copy(
        update={
            "kafka": reco_settings.kafka.model_copy(
                update={"bootstrap_servers": fresh_kafka_broker.bootstrap_servers}
            ),
            "collector": reco_settings.collector.model_copy(update={"produce_timeout_s": 1.5}),
        }
    )
    acknowledged: list[str] = []
    with TestClient(create_app(settings)) as client:
        first = event()
        assert client.post("/events", json=first).status_code == 202
        acknowledged.append(first["event_id"])
        assert client.get("/readyz").status_code == 200

        fresh_kafka_broker.stop()
        during_outage = event()
        response = client.post("/events", json=during_outage)
        assert response.status_code == 503
        assert response.headers["retry-after"] == str(settings.collector.retry_after_s)
        assert response.json()["accepted"] == 0
        # No internal address in what a client reads (it goes to the log).
        assert str(fresh_kafka_broker.port) not in response.text
        ready = client.get("/readyz")
        assert ready.status_code == 503 and str(fresh_kafka_broker.port) not in ready.text

        # The broker comes back empty (memory storage): the client retries what got a 503.
        fresh_kafka_broker.start()
        for _ in range(40):
            retry = client.post("/events", json=during_outage)
            if retry.status_code == 202:
                break
            assert retry.status_code == 503
        assert retry.status_code == 202
        acknowledged.append(during_outage["event_id"])
        assert client.get("/readyz").status_code == 200

    records = asyncio.run(
        read_topic(settings.kafka.bootstrap_servers, settings.kafka.events_topic, 1, idle_s=8)
    )
    on_topic = {str(decode_event(r.value).event_id) for r in records}
    # Everything acknowledged after the restart is on the topic; nothing unacknowledged is.
    assert during_outage["event_id"] in on_topic
    assert on_topic <= set(acknowledged)


def test_a_quiet_broker_restart_never_acknowledges_what_the_broker_lost(
    fresh_kafka_broker: TansuBroker, reco_settings: Settings
) -> None:
    # Regression: after a restart with no request in flight, the collector answered 202 for 20
    # events that never reached the topic, and /readyz stayed 200.
    settings = reco_settings.model_copy(
        update={
            "kafka": reco_settings.kafka.model_copy(
                update={"bootstrap_servers": fresh_kafka_broker.bootstrap_servers, "topic_partitions": 4}
            )
        }
    )
    acknowledged: list[str] = []
    with TestClient(create_app(settings)) as client:
        assert client.post("/events", json=[event(user_id=f"u{i}") for i in range(20)]).status_code == 202
        fresh_kafka_broker.stop()
        fresh_kafka_broker.start()
        for i in range(20):
            sent = event(user_id=f"w{i}")
            for _ in range(50):
                response = client.post("/events", json=sent)
                if response.status_code == 202:
                    acknowledged.append(sent["event_id"])
                    break
                assert response.status_code == 503, response.text
        assert client.get("/readyz").status_code == 200
    assert len(acknowledged) == 20
    records = asyncio.run(read_topic(settings.kafka.bootstrap_servers, settings.kafka.events_topic, 20))
    assert set(acknowledged) <= {str(decode_event(r.value).event_id) for r in records}


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        # Regression: an extreme zone offset was a 500 that failed the whole batch.
        ({"ts": "9999-12-31T23:59:59-23:59"}, "ts", "timestamp_out_of_range"),
        # Regression: the collector accepted what silver quarantines.
        ({"ts": (datetime.now(UTC) - timedelta(days=31)).isoformat()}, "ts", "stale_timestamp"),
        (
            {"type": "dwell", "dwell_ms": 7 * 3600 * 1000, "request_id": None, "position": None},
            "dwell_ms",
            "less_than_equal",
        ),
    ],
)
def test_what_silver_would_refuse_is_refused_at_the_door(
    client: TestClient, overrides: dict[str, Any], field: str, code: str
) -> None:
    good = event()
    response = client.post("/events", json=[good, event(**overrides)])
    assert response.status_code == 207, response.text
    accepted, rejected = response.json()["results"]
    assert accepted["status"] == "accepted"
    assert {(e["field"], e["code"]) for e in rejected["errors"]} >= {(field, code)}


def test_an_oversized_unusable_body_is_refused_not_a_503(client: TestClient, reco_settings: Settings) -> None:
    # Regression: a large malformed body made a dead letter the broker refused: 503 forever.
    raw = b"{" + b"x" * 900_000
    response = client.post("/events", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "malformed_json"
    (record,) = events_on(reco_settings, reco_settings.kafka.dead_letter_topic, 1)
    letter = decode_dead_letter(record.value)
    assert letter.truncated and letter.original_bytes_count == len(raw)
    assert letter.original_bytes() == raw[: len(letter.original_bytes())]


def _filtered(reco_settings: Settings, **collector: Any) -> Settings:
    return reco_settings.model_copy(
        update={
            "collector": reco_settings.collector.model_copy(update={"unfiltered_clients": [], **collector})
        }
    )


def test_crawlers_impossible_rates_and_duplicate_bursts_are_refused_and_counted(
    reco_settings: Settings,
) -> None:
    settings = _filtered(reco_settings, user_events_per_min=30)
    with TestClient(create_app(settings)) as client:
        bot = client.post(
            "/events", json=event(), headers={"user-agent": "Mozilla/5.0 (compatible; Googlebot/2.1)"}
        )
        assert bot.status_code == 422
        assert bot.json()["results"][0]["errors"][0]["code"] == "bot_user_agent"

        # One reader clicking 40 articles at once: 30 a minute is the most a person does.
        clicks = [event(user_id="fast", article_id=f"a{i}") for i in range(40)]
        response = client.post("/events", json=clicks)
        codes = [r.get("errors", [{}])[0].get("code") for r in response.json()["results"]]
        assert codes.count(None) == 30 and codes.count("impossible_rate") == 10

        # The same click again under another id within the window is a duplicate burst...
        first = event(user_id="twice", article_id="a9")
        again = event(user_id="twice", article_id="a9")
        assert client.post("/events", json=first).status_code == 202
        burst = client.post("/events", json=again)
        assert burst.json()["results"][0]["errors"][0]["code"] == "duplicate_burst"
        # ... but a retry of the same event (same id) is not: ids make retries idempotent.
        assert client.post("/events", json=first).status_code == 202

        metrics = client.get("/metrics").text
    assert 'reco_collector_rejections_total{code="impossible_rate",field="user_id"} 10.0' in metrics
    assert 'reco_collector_rejections_total{code="bot_user_agent",field="$"} 1.0' in metrics
    letters = events_on(settings, settings.kafka.dead_letter_topic, 12)
    assert len(letters) == 12  # refused, never dropped silently


def test_a_client_above_its_rate_gets_429_and_nothing_of_it_is_accepted(reco_settings: Settings) -> None:
    settings = _filtered(reco_settings, client_events_per_s=1.0, client_burst=500)
    forwarded = {"x-forwarded-for": "203.0.113.7"}  # what the trusted proxy (loopback) saw
    with TestClient(create_app(settings), client=("127.0.0.1", 40_000)) as client:
        batch = [event(user_id=f"u{i % 50}", article_id=f"a{i}") for i in range(400)]
        first = client.post("/events", json=batch, headers=forwarded)
        assert first.status_code in (202, 207)
        limited_events = [event(user_id=f"v{i}") for i in range(200)]
        limited = client.post("/events", json=limited_events, headers=forwarded)
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1 and limited.json()["error"]["code"] == "rate_limited"
        # Another client (another forwarded address) is not held back by this one.
        others = [event(user_id=f"w{i}") for i in range(200)]
        assert (
            client.post("/events", json=others, headers={"x-forwarded-for": "198.51.100.9"}).status_code
            == 202
        )
        metrics = client.get("/metrics").text
    assert "reco_collector_rate_limited_events_total 200.0" in metrics
    accepted = {r["event_id"] for r in first.json()["results"] if r["status"] == "accepted"}
    expected = len(accepted) + len(others)
    on_topic = {
        str(decode_event(r.value).event_id)
        for r in events_on(settings, settings.kafka.events_topic, expected)
    }
    assert {e["event_id"] for e in others} <= on_topic
    assert not {e["event_id"] for e in limited_events} & on_topic  # nothing of the 429 got through
    # and none of it was dead-lettered either: it was never taken in
    letters = events_on(settings, settings.kafka.dead_letter_topic)
    assert not {e["event_id"] for e in limited_events} & {
        orjson.loads(decode_dead_letter(r.value).original_bytes()).get("event_id") for r in letters
    }


# --- the catalogue endpoints (the CMS) ---------------------------------------------------------

CMS_TOKEN = "cms-test-token"


def article(**overrides: Any) -> dict[str, Any]:
    published = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    payload: dict[str, Any] = {
        "article_id": "art-1",
        "title": "Council approves the new tram line",
        "abstract": "The vote ends a decade of debate.",
        "url": "https://news.example/local/art-1",
        "section": "news",
        "tags": ["transport", "council"],
        "authors": ["A. Writer"],
        "language": "en",
        "published_at": published,
        "updated_at": published,
        "status": "published",
    }
    payload.update(overrides)
    return payload


@pytest.fixture
def cms(reco_settings: Settings) -> Iterator[TestClient]:
    collector = reco_settings.collector.model_copy(update={"admin_token": SecretStr(CMS_TOKEN)})
    settings = reco_settings.model_copy(update={"collector": collector})
    with TestClient(create_app(settings), headers={"authorization": f"Bearer {CMS_TOKEN}"}) as test_client:
        yield test_client


def test_articles_are_upserted_keyed_by_id_and_bad_ones_answered_by_field(
    cms: TestClient, reco_settings: Settings
) -> None:
    good = article(article_id="art-1")
    no_title = {k: v for k, v in article(article_id="art-2").items() if k != "title"}
    bad_url = article(article_id="art-3", url="javascript:alert(1)")
    response = cms.post("/articles", json={"articles": [good, no_title, bad_url]})
    assert response.status_code == 207, response.text
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (1, 2)
    results = body["results"]
    assert results[0] == {"index": 0, "status": "accepted", "article_id": "art-1"}
    assert [e["field"] for e in results[1]["errors"]] == ["title"] and results[1]["errors"][0][
        "code"
    ] == "missing"
    assert [e["field"] for e in results[2]["errors"]] == ["url"]
    (record,) = events_on(reco_settings, reco_settings.kafka.articles_topic, 1)
    assert record.key == b"art-1"
    assert orjson.loads(record.value)["title"] == good["title"]


def test_a_takedown_is_a_tombstone_under_the_article_key(cms: TestClient, reco_settings: Settings) -> None:
    assert cms.delete("/articles/art-9").status_code == 202
    (record,) = events_on(reco_settings, reco_settings.kafka.articles_topic, 1)
    assert (record.key, record.value) == (b"art-9", None)
    response = cms.delete("/articles/" + "x" * 200)
    assert response.status_code == 422 and response.json()["error"]["field"] == "article_id"


def test_catalogue_endpoints_need_the_token(reco_settings: Settings, cms: TestClient) -> None:
    wrong = cms.post("/articles", json=article(), headers={"authorization": "Bearer wrong"})
    assert wrong.status_code == 401 and wrong.json()["error"]["field"] == "Authorization"
    assert cms.delete("/articles/a1", headers={"authorization": ""}).status_code == 401
    with TestClient(create_app(reco_settings)) as no_token:  # none configured: disabled
        assert no_token.post("/articles", json=article()).status_code == 403
    assert events_on(reco_settings, reco_settings.kafka.articles_topic) == []


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [(b"[]", 400, "empty_batch"), (b"{", 400, "malformed_json"), (b"3", 400, "wrong_type")],
)
def test_unusable_article_bodies_say_why(cms: TestClient, body: bytes, status: int, code: str) -> None:
    response = cms.post("/articles", content=body)
    assert response.status_code == status and response.json()["error"]["code"] == code
