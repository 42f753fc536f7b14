"""The shared fixtures talk to real services and clean up after themselves."""

import asyncio
import os
import socket

import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from components.config import Settings
from components.runtime.tansu import TansuBroker
from components.testing.fixtures import Topics
from components.testing.services import (
    create_database,
    database_exists,
    drop_database,
    redis_namespace,
)


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def produce_and_commit(bootstrap: str, topic: str) -> tuple[list[bytes], int]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for i in range(20):
            await producer.send_and_wait(topic, f"m{i}".encode(), key=b"k", partition=0)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id="g1", enable_auto_commit=False,
        auto_offset_reset="earliest", session_timeout_ms=2_000, heartbeat_interval_ms=500,
    )  # fmt: skip
    await consumer.start()
    partition = TopicPartition(topic, 0)
    consumer.assign([partition])
    values: list[bytes] = []
    try:
        while len(values) < 20:
            batch = await consumer.getmany(partition, timeout_ms=2_000)
            values.extend(m.value for m in batch.get(partition, []))
        await consumer.commit({partition: 20})
        committed = await consumer.committed(partition)
    finally:
        await consumer.stop()
    return values, committed


def test_broker_carries_messages_and_committed_offsets(
    kafka_broker: TansuBroker, kafka_topics: Topics
) -> None:
    values, committed = asyncio.run(produce_and_commit(kafka_broker.bootstrap_servers, kafka_topics.events))
    assert values == [f"m{i}".encode() for i in range(20)]
    assert committed == 20


def test_fresh_broker_stops_by_pid_and_restarts_on_its_port(fresh_kafka_broker: TansuBroker) -> None:
    port, pid = fresh_kafka_broker.port, fresh_kafka_broker.pid
    assert pid is not None and port_open(port)
    fresh_kafka_broker.stop()
    assert not port_open(port)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    fresh_kafka_broker.start()
    assert port_open(port) and fresh_kafka_broker.pid != pid


def test_each_test_gets_its_own_database(postgres_dsn: str) -> None:
    with psycopg.connect(postgres_dsn) as conn:
        conn.execute("CREATE TABLE t (x int)")
        conn.execute("INSERT INTO t VALUES (1)")
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (1,)
        name = conn.info.dbname
    assert name.startswith("reco_test_")


def test_database_helpers_create_and_drop() -> None:
    name, dsn = create_database()
    try:
        assert database_exists(name)
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == (name,)
    finally:
        drop_database(name)
    assert not database_exists(name)


def test_redis_namespace_is_private_and_cleared() -> None:
    first, second = redis_namespace(), redis_namespace()
    assert first.prefix != second.prefix
    with first.client() as client:
        client.set(f"{first.prefix}a", 1)
        client.set(f"{first.prefix}b", 2)
        client.set(f"{second.prefix}a", 3)
    assert len(first.keys()) == 2
    assert first.clear() == 2
    assert first.keys() == []
    assert len(second.keys()) == 1
    second.clear()


def test_settings_point_at_the_test_services(reco_settings: Settings, kafka_broker: TansuBroker) -> None:
    assert reco_settings.kafka.bootstrap_servers == kafka_broker.bootstrap_servers
    assert reco_settings.kafka.events_topic.startswith("events.v1.")
    assert reco_settings.redis.key_prefix.startswith("reco-test_")
    assert reco_settings.kafka.session_timeout_ms == 2_000
