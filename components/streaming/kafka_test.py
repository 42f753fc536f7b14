"""Producer and topic helpers against a real broker, and their behaviour when it is gone."""

import asyncio
import time
import uuid
from datetime import UTC, datetime

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from components.config import KafkaSettings
from components.events import Event, EventType, decode_event
from components.runtime.tansu import TansuBroker, free_port
from components.streaming import BrokerUnavailableError, EventProducer, ensure_topics
from components.testing.kafka_read import read_topic


def an_event(user: str) -> Event:
    return Event(
        event_id=uuid.uuid4(), type=EventType.VIEW, user_id=user, article_id="a1", ts=datetime.now(UTC)
    )


async def topic_partitions(bootstrap: str, name: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([name])
        return len(described["partitions"])
    finally:
        await admin.close()


def test_ensure_topics_creates_once_with_the_partition_count(kafka_broker: TansuBroker) -> None:
    settings = KafkaSettings(bootstrap_servers=kafka_broker.bootstrap_servers)
    name = f"t-{uuid.uuid4().hex[:8]}"
    asyncio.run(ensure_topics(settings, [name], partitions=5))
    asyncio.run(ensure_topics(settings, [name], partitions=5))  # idempotent
    assert asyncio.run(topic_partitions(kafka_broker.bootstrap_servers, name)) == 5


def test_send_events_returns_after_acknowledgement_keyed_by_user(kafka_broker: TansuBroker) -> None:
    topic = f"events-{uuid.uuid4().hex[:8]}"
    settings = KafkaSettings(bootstrap_servers=kafka_broker.bootstrap_servers, events_topic=topic)
    events = [an_event(f"u{i}") for i in range(20)]

    async def send() -> None:
        producer = EventProducer(settings, ensure=[topic])
        await producer.send_events(events)
        await producer.stop()

    asyncio.run(send())
    records = asyncio.run(read_topic(kafka_broker.bootstrap_servers, topic, 20))
    assert sorted(decode_event(r.value).event_id for r in records) == sorted(e.event_id for e in events)
    assert all(r.key == decode_event(r.value).user_id.encode() for r in records)


def test_unreachable_broker_fails_fast_with_a_clear_error() -> None:
    settings = KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_port()}")

    async def send() -> None:
        producer = EventProducer(settings, timeout_s=1.0)
        try:
            await producer.send_events([an_event("u1")])
        finally:
            await producer.stop()

    started = time.monotonic()
    with pytest.raises(BrokerUnavailableError, match="cannot reach Kafka"):
        asyncio.run(send())
    assert time.monotonic() - started < 5
