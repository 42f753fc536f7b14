"""The catalogue consumer against a real broker and Redis: changes reach the lake, withdrawals
the push channel and the set, broken records the dead-letter topic, and offsets are committed
only after the lake has the changes."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer, TopicPartition
from redis.asyncio import Redis

from components.config import Settings
from components.events import decode_dead_letter
from components.lake import LakeStore
from components.lake.catalog import read_catalog, read_changes
from components.lake.catalogue_ingest import CatalogueIngestor
from components.names import catalogue_channel, catalogue_withdrawn_key
from components.streaming import new_consumer
from components.testing.kafka_read import read_topic

PUBLISHED = (datetime.now(UTC) - timedelta(hours=5)).replace(microsecond=0).isoformat()


def article(article_id: str, **fields: Any) -> bytes:
    return orjson.dumps(
        {
            "article_id": article_id,
            "title": f"About {article_id}",
            "abstract": "",
            "url": f"https://news.example/{article_id}",
            "section": "science",
            "language": "en",
            "published_at": PUBLISHED,
            "updated_at": PUBLISHED,
            "status": "published",
            **fields,
        }
    )


async def produce(settings: Settings, records: list[tuple[bytes | None, bytes | None]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(settings.kafka.articles_topic, value, key=key)
    finally:
        await producer.stop()


async def committed(settings: Settings) -> int:
    consumer = new_consumer(settings.kafka, settings.ingestor.catalogue_group_id)
    await consumer.start()
    try:
        total = 0
        for partition in range(3):
            total += await consumer.committed(TopicPartition(settings.kafka.articles_topic, partition)) or 0
        return total
    finally:
        await consumer.stop()


def test_changes_reach_the_lake_and_withdrawals_the_replicas(reco_settings: Settings) -> None:
    store = LakeStore.from_settings(reco_settings.lake)
    prefix = reco_settings.redis.key_prefix

    async def scenario() -> tuple[list[Any], int]:
        messages: list[Any] = []
        async with Redis.from_url(reco_settings.redis.url) as redis, redis.pubsub() as pubsub:
            await pubsub.subscribe(catalogue_channel(prefix))
            stop = asyncio.Event()
            ingestor = CatalogueIngestor(reco_settings, store)
            run = asyncio.create_task(ingestor.run(stop))
            await produce(
                reco_settings,
                [
                    (b"a1", article("a1")),
                    (b"a2", article("a2")),
                    (b"a3", article("a3")),
                    (b"a2", None),  # a takedown
                    (b"a3", article("a3", status="unpublished")),
                    (b"a4", article("a4", title="")),  # breaks the contract
                    (b"wrong-key", article("a5")),
                    (None, article("a6")),
                ],
            )
            deadline = asyncio.get_running_loop().time() + 30
            while ingestor.total_changes < 5 and asyncio.get_running_loop().time() < deadline:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
                if message is not None:
                    messages.append(orjson.loads(message["data"]))
            for _ in range(10):
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
                if message is not None:
                    messages.append(orjson.loads(message["data"]))
            withdrawn = {m.decode() for m in await redis.zrange(catalogue_withdrawn_key(prefix), 0, -1)}
            stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(run, 30)
        assert withdrawn == {"a2", "a3"}
        return messages, await committed(reco_settings)

    messages, offsets = asyncio.run(scenario())
    pushed = {m["article_id"]: m["withdrawn"] for batch in messages for m in batch}
    # Withdrawals are pushed; an ordinary upsert is not (the next snapshot read brings it).
    assert pushed == {"a2": True, "a3": True}
    catalogue = {r["article_id"]: r["status"] for r in read_catalog(store).to_pylist()}
    assert catalogue == {"a1": "published", "a3": "unpublished"}
    assert read_changes(store).num_rows == 5
    assert offsets == 8  # every record, broken ones included, after the lake had the changes
    letters = asyncio.run(
        read_topic(
            reco_settings.kafka.bootstrap_servers, reco_settings.kafka.dead_letter_topic, 3, idle_s=1.5
        )
    )
    reasons = sorted(e.field for r in letters for e in decode_dead_letter(r.value).errors)
    assert reasons == ["$key", "$key", "title"]


def test_a_return_is_pushed_only_for_an_article_that_had_left(reco_settings: Settings) -> None:
    from components.lake.catalogue_ingest import push_withdrawals

    prefix = reco_settings.redis.key_prefix
    now = datetime.now(UTC)

    async def scenario() -> list[Any]:
        seen = []
        async with Redis.from_url(reco_settings.redis.url) as redis, redis.pubsub() as pubsub:
            await pubsub.subscribe(catalogue_channel(prefix))
            assert await push_withdrawals(redis, prefix, {"x1": "deleted", "x2": "published"}, now) == (1, 0)
            assert await push_withdrawals(redis, prefix, {"x1": "published", "x2": "published"}, now) == (
                0,
                1,
            )
            for _ in range(10):
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
                if message is not None:
                    seen.append(orjson.loads(message["data"]))
            assert await redis.zcard(catalogue_withdrawn_key(prefix)) == 0
        return seen

    assert asyncio.run(scenario()) == [
        [{"article_id": "x1", "withdrawn": True}],
        [{"article_id": "x1", "withdrawn": False}],
    ]
