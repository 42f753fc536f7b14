"""Read back what a topic holds, for assertions (tansu's end_offsets() is unreliable, so read
until the expected count or until the topic stays idle)."""

from __future__ import annotations

import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer


async def read_topic(
    bootstrap: str, topic: str, expected: int | None = None, idle_s: float = 2.0
) -> list[Any]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"reader-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=2_000,
        heartbeat_interval_ms=500,
    )
    await consumer.start()
    records: list[Any] = []
    try:
        idle_rounds = 0
        while (expected is None or len(records) < expected) and idle_rounds * 0.5 < idle_s:
            batch = await consumer.getmany(timeout_ms=500)
            idle_rounds = 0 if batch else idle_rounds + 1
            for messages in batch.values():
                records.extend(messages)
    finally:
        await consumer.stop()
    return records
