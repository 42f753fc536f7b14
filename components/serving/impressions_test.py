"""Impression records are valid `events.v1` events; the buffer is bounded and loses nothing
while Kafka is down (real tansu broker)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema

from components.config import KafkaSettings
from components.events import Event, EventType
from components.runtime.tansu import TansuBroker
from components.serving.impressions import ImpressionLog, impression_records, uuid4_strings
from components.streaming import EventProducer, ensure_topics
from components.testing.kafka_read import read_topic


def records(n: int, request_id: str = "r1") -> list[tuple[bytes, bytes]]:
    return impression_records(
        user_id="u-1",
        article_ids=[f"a{i}" for i in range(n)],
        request_id=request_id,
        model_version="7",
        propensities=[1.0] * n,
        sources=["content", "trending", "popular"][:n] + ["sections"] * max(n - 3, 0),
        context={"variant": "canary", "page": 'home "quoted"'},
        # Relative to the run: events older than the lateness limit are refused by the contract.
        ts=(datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0),
    )


def test_records_parse_as_impression_events() -> None:
    out = records(3)
    events = [Event.model_validate_json(value) for _, value in out]
    assert [e.position for e in events] == [0, 1, 2]
    assert [e.article_id for e in events] == ["a0", "a1", "a2"]
    assert {e.type for e in events} == {EventType.IMPRESSION}
    assert {e.model_version for e in events} == {"7"} and {e.propensity for e in events} == {1.0}
    assert [e.source for e in events] == ["content", "trending", "popular"]
    assert events[0].context == {"variant": "canary", "page": 'home "quoted"'}
    assert len({e.event_id for e in events}) == 3
    assert {key for key, _ in out} == {b"u-1"}


def test_records_match_the_committed_json_schema() -> None:
    """The hand-built bytes against the contract's exported schema (docs/contracts), with an
    exploration slot's own context too; a record missing a required member is caught."""
    schema = json.loads(Path("docs/contracts/events.v1.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    out = impression_records(
        user_id="u-1",
        article_ids=["a0", "a1"],
        request_id="r-2",
        model_version="7",
        propensities=[1.0, 0.25],
        sources=["content", "explore"],
        context={"variant": "champion", "arm": "explore"},
        item_context={1: {"explore_p": 0.25, "model_item": False}},
    )
    for _, value in out:
        document = json.loads(value)
        assert list(validator.iter_errors(document)) == []
        assert Event.model_validate_json(value).type is EventType.IMPRESSION
    broken = json.loads(out[0][1])
    del broken["position"]  # (propensity may be absent: another system's impression, unknown)
    assert list(validator.iter_errors(broken)), "an impression without its position passed the schema"


def test_uuid4_strings_are_version_4_and_distinct() -> None:
    ids = uuid4_strings(2_000)
    parsed = [uuid.UUID(i) for i in ids]
    assert all(u.version == 4 and u.variant == uuid.RFC_4122 for u in parsed)
    assert [str(u) for u in parsed] == ids
    assert len(set(ids)) == len(ids)


def test_buffer_drops_whole_responses_beyond_capacity(kafka_broker: TansuBroker) -> None:
    log = ImpressionLog(
        EventProducer(KafkaSettings(bootstrap_servers=kafka_broker.bootstrap_servers)),
        "unused",
        capacity=25,
        flush_s=0.1,
    )
    assert log.add(records(10)) and log.add(records(10))
    assert not log.add(records(10))  # would make 30 > 25: all ten dropped, none half-kept
    assert (log.pending, log.dropped) == (20, 10)


def test_backlog_survives_an_outage_and_drains_in_order(tmp_path) -> None:  # type: ignore[no-untyped-def]
    broker = TansuBroker(log_dir=tmp_path).start()
    topic = f"impressions-{uuid.uuid4().hex[:8]}"
    settings = KafkaSettings(bootstrap_servers=broker.bootstrap_servers)

    async def scenario() -> tuple[ImpressionLog, list[bytes]]:
        await ensure_topics(settings, [topic], partitions=1)
        producer = EventProducer(settings, timeout_s=1.0, ensure=[topic])
        log = ImpressionLog(producer, topic, capacity=1_000, flush_s=0.05)
        sender = asyncio.create_task(log.run())
        log.add(records(5, "before"))
        await asyncio.sleep(0.5)
        broker.stop()
        log.add(records(5, "during"))
        await asyncio.sleep(1.5)
        assert log.pending == 5 and not log.healthy  # held, not lost
        broker.start()
        await ensure_topics(settings, [topic], partitions=1)  # tansu keeps topics in memory
        for _ in range(100):
            if log.pending == 0 and log.healthy:
                break
            await asyncio.sleep(0.1)
        sender.cancel()
        await producer.stop()
        got = await read_topic(settings.bootstrap_servers, topic, expected=5)
        return log, [r.value for r in got]

    try:
        log, values = asyncio.run(scenario())
    finally:
        broker.stop()
    assert log.pending == 0 and log.dropped == 0 and log.sent == 10
    # The broker lost its memory with the restart: what it holds now is the backlog, in order.
    # Delivery is at least once: a send the producer timed out on may still land before its
    # resend (the lake deduplicates by event_id), so each event counts once, where it first came.
    first: dict[str, Event] = {}
    for value in values:
        event = Event.model_validate_json(value)
        first.setdefault(str(event.event_id), event)
    assert [e.request_id for e in first.values()] == ["during"] * 5
    assert [e.position for e in first.values()] == [0, 1, 2, 3, 4]
