"""The collector against a real Kafka-protocol broker: per-event answers, dead letters,
and 503 without acknowledging anything while the broker is down."""

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
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
        assert client.get("/readyz").status_code == 503

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
