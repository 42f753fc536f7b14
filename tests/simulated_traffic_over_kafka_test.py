"""Simulated traffic crosses a real Kafka-protocol broker intact: the catalogue first, keyed
by article and honouring `articles.v1`, then every event once, keyed by its user, in each
user's order, and still honouring the `events.v1` contract."""

import asyncio
from collections import defaultdict
from datetime import UTC, datetime

from components.config import KafkaSettings
from components.events import decode_event
from components.events.articles import decode_article
from components.runtime.tansu import TansuBroker
from components.simulator import World, WorldConfig, simulate_to_kafka
from components.testing.fixtures import Topics
from components.testing.kafka_read import read_topic

START = datetime(2026, 4, 6, tzinfo=UTC)


def test_every_event_arrives_once_in_user_order(kafka_broker: TansuBroker, kafka_topics: Topics) -> None:
    world = World.build(WorldConfig(seed=2, start=START, days=2, users=400, articles_per_day=30))
    kafka = KafkaSettings(
        bootstrap_servers=kafka_broker.bootstrap_servers, articles_topic=kafka_topics.articles
    )
    summary = asyncio.run(simulate_to_kafka(world, kafka, kafka_topics.events))
    records = asyncio.run(read_topic(kafka_broker.bootstrap_servers, kafka_topics.events, summary.events))
    catalogue = asyncio.run(
        read_topic(kafka_broker.bootstrap_servers, kafka_topics.articles, len(world.catalogue))
    )
    articles = [decode_article(r.value, now=world.config.end) for r in catalogue]
    assert [r.key for r in catalogue] == [a.article_id.encode() for a in articles]
    assert sorted(a.article_id for a in articles) == sorted(world.catalogue.ids)

    assert len(records) == summary.events
    now = datetime(2026, 4, 9, tzinfo=UTC)
    per_user: dict[str, list[datetime]] = defaultdict(list)
    partition_of_user: dict[str, int] = {}
    ids = set()
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        event = decode_event(record.value, now=now)
        assert record.key == event.user_id.encode()
        # one partition per user: the key decides it
        assert partition_of_user.setdefault(event.user_id, record.partition) == record.partition
        per_user[event.user_id].append(event.ts)
        ids.add(event.event_id)
    assert len(ids) == summary.events
    assert len({r.partition for r in records}) == kafka_topics.partitions
    for stamps in per_user.values():
        assert stamps == sorted(stamps)
