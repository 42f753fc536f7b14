"""Read a topic back from its start: experiment readouts and off-policy evaluation replay the
event stream itself, not a derived table. A throwaway consumer group that never commits, so
nothing any real consumer tracks moves."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer

from components.config import KafkaSettings


async def read_events(
    settings: KafkaSettings,
    topic: str,
    *,
    keep: Callable[[dict[str, Any]], bool] | None = None,
    idle_s: float = 3.0,
) -> tuple[list[dict[str, Any]], int]:
    """Every JSON event of `topic` that `keep` accepts, in partition order, read until the
    topic stays idle for `idle_s` (the broker's end offsets are not reliable on tansu).
    Returns (events, records that are not JSON objects)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.bootstrap_servers,
        client_id=settings.client_id,
        group_id=f"reco-replay-{uuid.uuid4().hex[:12]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=settings.session_timeout_ms,
        heartbeat_interval_ms=max(settings.session_timeout_ms // 4, 100),
        max_poll_records=10_000,
        fetch_max_bytes=32 * 1024 * 1024,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    await consumer.start()
    events: list[dict[str, Any]] = []
    malformed = 0
    try:
        idle = 0.0
        while idle < idle_s:
            batch = await consumer.getmany(timeout_ms=500)
            if not batch:
                idle += 0.5
                continue
            idle = 0.0
            for records in batch.values():
                for record in records:
                    try:
                        event = orjson.loads(record.value)
                    except orjson.JSONDecodeError:
                        malformed += 1
                        continue
                    if not isinstance(event, dict):
                        malformed += 1
                    elif keep is None or keep(event):
                        events.append(event)
    finally:
        await consumer.stop()
    return events, malformed
