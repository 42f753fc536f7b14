"""Producer and topic helpers against a real broker, and their behaviour when it is gone."""

import asyncio
import contextlib
import ssl
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from components.config import KafkaSettings
from components.events import Event, EventType, decode_event
from components.runtime.tansu import TansuBroker, free_port
from components.streaming import (
    BrokerUnavailableError,
    EventProducer,
    TopicMissingError,
    client_options,
    ensure_topics,
    new_consumer,
    rewind_restarted_partitions,
)
from components.streaming.replay import replay_topic
from components.testing.kafka_read import read_topic
from components.testing.tls_proxy import TlsProxy, self_signed


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


def test_ensure_topics_creates_once_with_the_settings_partition_count(kafka_broker: TansuBroker) -> None:
    settings = KafkaSettings(bootstrap_servers=kafka_broker.bootstrap_servers, topic_partitions=5)
    name = f"t-{uuid.uuid4().hex[:8]}"
    asyncio.run(ensure_topics(settings, [name]))
    asyncio.run(ensure_topics(settings, [name]))  # idempotent
    assert asyncio.run(topic_partitions(kafka_broker.bootstrap_servers, name)) == 5


def test_a_missing_topic_is_an_error_where_creation_is_off(kafka_broker: TansuBroker) -> None:
    name = f"t-{uuid.uuid4().hex[:8]}"
    settings = KafkaSettings(
        bootstrap_servers=kafka_broker.bootstrap_servers, events_topic=name, create_topics=False
    )

    async def send() -> str | None:
        producer = EventProducer(settings, ensure=[name], timeout_s=3)
        try:
            with pytest.raises(TopicMissingError, match="RECO_KAFKA__CREATE_TOPICS is off"):
                await producer.send_events([an_event("u1")])
            return await producer.problem()
        finally:
            await producer.stop()

    problem = asyncio.run(send())
    assert problem is not None and name in problem
    with pytest.raises(TopicMissingError):
        asyncio.run(ensure_topics(settings, [name]))


def test_a_topic_deleted_under_a_connected_producer_is_refused_not_acknowledged(
    fresh_kafka_broker: TansuBroker,
) -> None:
    # Regression: the broker acknowledged writes to a topic it no longer had (tansu drops
    # them) and the collector answered 202.
    topic = "events.v1"
    settings = KafkaSettings(bootstrap_servers=fresh_kafka_broker.bootstrap_servers, topic_partitions=4)

    async def scenario() -> tuple[Event, Event]:
        producer = EventProducer(settings, ensure=[topic], timeout_s=3)
        try:
            await producer.send_events([an_event(f"u{i}") for i in range(20)])
            admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
            await admin.start()
            await admin.delete_topics([topic])
            await admin.close()
            refused, retried = an_event("u1"), an_event("u2")
            with pytest.raises(TopicMissingError, match="does not hold partition"):
                await producer.send_events([refused])
            await producer.send_events([retried])  # the topic is back (re-created)
            return refused, retried
        finally:
            await producer.stop()

    refused, retried = asyncio.run(scenario())
    on_topic = {
        decode_event(r.value).event_id for r in asyncio.run(read_topic(settings.bootstrap_servers, topic))
    }
    assert on_topic == {retried.event_id}
    assert asyncio.run(topic_partitions(settings.bootstrap_servers, topic)) == 4


def test_after_a_quiet_broker_restart_every_acknowledged_event_is_on_the_topic(
    fresh_kafka_broker: TansuBroker,
) -> None:
    # Regression: after a restart with no request in flight, 20 of 20 acknowledged events
    # never reached the topic.
    topic = "events.v1"
    settings = KafkaSettings(bootstrap_servers=fresh_kafka_broker.bootstrap_servers, topic_partitions=4)

    async def scenario() -> tuple[list[Event], int]:
        producer = EventProducer(settings, ensure=[topic], timeout_s=3)
        acknowledged, refusals = [], 0
        try:
            await producer.send_events([an_event(f"u{i}") for i in range(20)])
            fresh_kafka_broker.stop()
            fresh_kafka_broker.start()
            for i in range(30):
                event = an_event(f"w{i}")
                while True:  # a client retrying what was refused
                    try:
                        await producer.send_events([event])
                        acknowledged.append(event)
                        break
                    except BrokerUnavailableError:
                        refusals += 1
                        await asyncio.sleep(0.1)
            return acknowledged, refusals
        finally:
            await producer.stop()

    acknowledged, refusals = asyncio.run(scenario())
    records = asyncio.run(read_topic(settings.bootstrap_servers, topic))
    on_topic = {decode_event(r.value).event_id for r in records}
    assert {e.event_id for e in acknowledged} <= on_topic
    assert asyncio.run(topic_partitions(settings.bootstrap_servers, topic)) == 4


def test_offsets_going_backwards_are_detected(fresh_kafka_broker: TansuBroker) -> None:
    topic = "events.v1"
    settings = KafkaSettings(bootstrap_servers=fresh_kafka_broker.bootstrap_servers, topic_partitions=1)

    async def scenario() -> int:
        producer = EventProducer(settings, ensure=[topic], timeout_s=3)
        try:
            await producer.send_events([an_event("u1") for _ in range(5)])
            admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
            await admin.start()
            await admin.delete_topics([topic])
            await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
            await admin.close()
            with pytest.raises(TopicMissingError, match="went backwards"):
                await producer.send_events([an_event("u1")])
            return producer.resets
        finally:
            await producer.stop()

    assert asyncio.run(scenario()) == 1


def test_a_consumer_past_the_end_of_a_restarted_log_is_rewound(fresh_kafka_broker: TansuBroker) -> None:
    topic = "events.v1"
    # 4 partitions, as tansu gives a topic it auto-creates (a producer's metadata refresh may
    # re-create it before reco does): the consumer is assigned all of them either way.
    settings = KafkaSettings(bootstrap_servers=fresh_kafka_broker.bootstrap_servers, topic_partitions=4)

    async def scenario() -> tuple[list[TopicPartition], int]:
        producer = EventProducer(settings, ensure=[topic], timeout_s=3)
        consumer = new_consumer(settings, None)
        try:
            await producer.send_events([an_event(f"u{i}") for i in range(40)])
            await consumer.start()
            await consumer.topics()
            partitions = [TopicPartition(topic, p) for p in range(4)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            seen = 0
            while seen < 40:
                seen += sum(len(v) for v in (await consumer.getmany(timeout_ms=500)).values())
            fresh_kafka_broker.stop()
            fresh_kafka_broker.start()
            sent = 0
            while sent < 4:
                try:
                    await producer.send_events([an_event(f"w{sent}")])
                    sent += 1
                except BrokerUnavailableError:
                    await asyncio.sleep(0.1)
            rewound: list[TopicPartition] = []
            after = 0
            deadline = time.monotonic() + 20
            while after < 4 and time.monotonic() < deadline:
                with contextlib.suppress(KafkaError):
                    after += sum(len(v) for v in (await consumer.getmany(timeout_ms=300)).values())
                rewound += await rewind_restarted_partitions(consumer)
            return rewound, after
        finally:
            await consumer.stop()
            await producer.stop()

    rewound, after = asyncio.run(scenario())
    assert rewound, "the consumer never noticed the log started over"
    assert after >= 4  # what the new log holds is read, not skipped


def test_kafka_tls_through_a_real_handshake(tmp_path: Path) -> None:
    certificate = self_signed(tmp_path)
    proxy_port = free_port()
    broker = TansuBroker(log_dir=tmp_path, advertised_port=proxy_port).start()
    proxy = TlsProxy(certificate, broker.port, proxy_port).start()
    settings = KafkaSettings(
        bootstrap_servers=f"127.0.0.1:{proxy_port}",
        security_protocol="SSL",
        ssl_cafile=str(certificate.cert),
        session_timeout_ms=2_000,
    )
    events = [an_event(f"u{i}") for i in range(10)]

    async def round_trip() -> list[Event]:
        producer = EventProducer(settings, ensure=[settings.events_topic], timeout_s=5)
        received: list[Event] = []
        try:
            await producer.send_events(events)
            stats = await replay_topic(settings, settings.events_topic, lambda e: received.append(Event(**e)))
            assert stats.stopped_by == "end"
        finally:
            await producer.stop()
        return received

    async def untrusted() -> None:
        plain_trust = settings.model_copy(update={"ssl_cafile": None})
        producer = EventProducer(plain_trust, timeout_s=2)
        try:
            await producer.send_events(events[:1])
        finally:
            await producer.stop()

    try:
        received = asyncio.run(round_trip())
        assert sorted(e.event_id for e in received) == sorted(e.event_id for e in events)
        assert proxy.handshakes >= 1
        with pytest.raises(BrokerUnavailableError):
            asyncio.run(untrusted())  # a certificate the client does not trust: no connection
    finally:
        proxy.stop()
        broker.stop()


def test_sasl_settings_need_credentials_and_reach_every_client() -> None:
    with pytest.raises(ValueError, match="needs sasl_username and sasl_password"):
        KafkaSettings(bootstrap_servers="k:9093", security_protocol="SASL_SSL")
    settings = KafkaSettings(
        bootstrap_servers="k:9093",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="reco",
        sasl_password="pw",  # type: ignore[arg-type]
    )
    options = client_options(settings)
    assert options["security_protocol"] == "SASL_SSL" and options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("reco", "pw")
    assert options["ssl_context"].verify_mode == ssl.CERT_REQUIRED

    async def construct() -> None:
        # aiokafka validates the combination (SASL_SSL needs a context, a known mechanism...)
        new_consumer(settings, "g")
        EventProducer(settings)._new_producer()

    asyncio.run(construct())
    assert "pw" not in repr(settings)


def test_replay_is_bounded_while_producers_keep_writing(kafka_broker: TansuBroker) -> None:
    topic = f"events-{uuid.uuid4().hex[:8]}"
    settings = KafkaSettings(bootstrap_servers=kafka_broker.bootstrap_servers, events_topic=topic)
    before = [an_event(f"u{i}") for i in range(500)]

    async def scenario() -> tuple[set[str], int]:
        producer = EventProducer(settings, ensure=[topic])
        await producer.send_events(before)
        stop = asyncio.Event()

        async def keep_writing() -> None:
            while not stop.is_set():
                await producer.send_events([an_event("late") for _ in range(20)])

        writer = asyncio.create_task(keep_writing())
        seen: set[str] = set()
        try:
            stats = await asyncio.wait_for(
                replay_topic(settings, topic, lambda e: seen.add(e["event_id"]), idle_s=30), timeout=60
            )
        finally:
            stop.set()
            await writer
            await producer.stop()
        assert stats.stopped_by == "end"  # not idle (never, the writer is busy), not the cap
        return seen, stats.events

    seen, _ = asyncio.run(scenario())
    assert {str(e.event_id) for e in before} <= seen


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


def test_a_finished_check_whose_callbacks_have_not_run_is_not_awaited_forever(
    kafka_broker: TansuBroker,
) -> None:
    # Regression (found by the chaos benchmark): a caller that reached the shared metadata
    # check after it finished but before its done-callbacks ran awaited the finished future
    # again and again without yielding: the collector's event loop spun and every request hung.
    topic = f"events-{uuid.uuid4().hex[:8]}"
    settings = KafkaSettings(bootstrap_servers=kafka_broker.bootstrap_servers, events_topic=topic)
    outcome: dict[str, object] = {}

    async def scenario() -> None:
        producer = EventProducer(settings, ensure=[topic])
        try:
            await producer.send_events([an_event("u1")])
            finished: asyncio.Future[dict[str, set[int]]] = asyncio.get_running_loop().create_future()
            finished.set_result({})  # done, its callbacks not run yet
            producer._check, producer._check_seq = finished, producer._checks_started
            assert producer._producer is not None
            outcome["present"] = await producer._confirm(producer._producer)
        finally:
            await producer.stop()

    worker = threading.Thread(target=lambda: asyncio.run(scenario()), daemon=True)
    worker.start()
    worker.join(timeout=20)
    assert not worker.is_alive(), "the check spun the event loop"
    assert topic in outcome["present"]  # type: ignore[operator]
