"""The console's readings against real services: each part fails alone, and the drift part finds
the latest check's reports in the lake."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaProducer, TopicPartition

from components import console
from components.config import Settings
from components.lake import LakeStore
from components.lake.layout import drift_report_prefix
from components.streaming.kafka import new_consumer
from components.streaming.replay import replay_topic


def test_each_part_fails_alone(reco_settings: Settings) -> None:
    status = console.status(reco_settings, "http://127.0.0.1:9")  # nothing listens on the discard port
    assert status["versions"] == {"ok": []}  # an empty registry: no model yet
    assert status["runs"] == {"ok": []}
    assert status["ctr"]["ok"]["impressions"] == 0  # an empty stream
    assert status["drift"] == {"ok": None}
    assert "ConnectError" in status["service"]["error"]


def test_drift_reads_the_latest_check_and_its_reports(reco_settings: Settings) -> None:
    store = LakeStore.from_settings(reco_settings.lake)
    now = datetime.now(UTC)
    older, latest = drift_report_prefix(now - timedelta(days=1)), drift_report_prefix(now)
    for base, drifted in ((older, False), (latest, True)):
        store.write_atomic(f"{base}-summary.json", json.dumps({"drifted": drifted}).encode())
        store.write_atomic(f"{base}-features.html", b"<html>report</html>")
    found = console.drift(reco_settings)
    assert found is not None
    assert found["summary"] == {"drifted": True}
    assert found["reports"] == [f"{latest}-features.html"]


def test_consumer_lag_counts_what_each_group_has_not_committed(reco_settings: Settings) -> None:
    kafka = reco_settings.kafka

    async def produce_and_commit() -> dict[int, int]:
        producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers)
        await producer.start()
        try:
            for i in range(7):
                await producer.send_and_wait(kafka.events_topic, b'{"n": %d}' % i, partition=i % 2)
        finally:
            await producer.stop()
        # The ingestor made 3 of partition 0's 4 records durable; the feedback consumer none.
        consumer = new_consumer(kafka, reco_settings.ingestor.group_id)
        await consumer.start()
        try:
            consumer.assign([TopicPartition(kafka.events_topic, 0)])
            await consumer.commit({TopicPartition(kafka.events_topic, 0): 3})
        finally:
            await consumer.stop()
        stats = await replay_topic(kafka, kafka.events_topic, lambda event: None)
        return stats.ends

    ends = asyncio.run(produce_and_commit())
    assert sum(ends.values()) == 7
    lag = asyncio.run(console.consumer_lag(reco_settings, ends))
    assert lag == {reco_settings.ingestor.group_id: 4, reco_settings.feedback.group_id: 7}
