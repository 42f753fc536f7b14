"""Read a topic back from its start: experiment readouts and off-policy evaluation replay the
event stream itself, not a derived table. A throwaway consumer group that never commits, so
nothing any real consumer tracks moves.

Bounded: the replay covers what the topic held when it started and then stops, even while
producers keep writing. A partition is done once its position reaches the high-water mark of
its first fetch (taken at the start); a topic idle for `idle_s` after the first fetch ends it
as well (`stopped_by` says which), and `max_s` caps it. (Not ListOffsets: tansu answers it with a
wrong end after batched writes; fetch responses carry the right one.) Events are handed to
`on_event` one by one: the caller keeps what it needs, not the stream.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import TopicPartition

from components.config import KafkaSettings
from components.streaming.kafka import new_consumer


@dataclass
class ReplayStats:
    events: int = 0  # JSON objects handed to the caller
    malformed: int = 0  # records that are not JSON objects
    records: int = 0
    stopped_by: str = ""  # "end", "idle" or "max_s"
    # Where each partition ended when the replay began (its high-water mark), by partition.
    ends: dict[int, int] = field(default_factory=dict)


async def replay_topic(
    settings: KafkaSettings,
    topic: str,
    on_event: Callable[[dict[str, Any]], None],
    *,
    idle_s: float = 3.0,
    max_s: float = 3_600.0,
) -> ReplayStats:
    # No group: assigned partitions, read from the start, nothing committed anywhere.
    consumer = new_consumer(
        settings,
        None,
        max_poll_records=10_000,
        fetch_max_bytes=32 * 1024 * 1024,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    stats = ReplayStats()
    await consumer.start()
    try:
        await consumer.topics()  # metadata, so the topic's partitions are known
        partitions = {TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or set())}
        if not partitions:
            stats.stopped_by = "end"
            return stats
        consumer.assign(sorted(partitions, key=lambda tp: tp.partition))
        await consumer.seek_to_beginning(*partitions)
        ends: dict[TopicPartition, int] = {}
        done: set[TopicPartition] = set()
        started = time.monotonic()
        deadline = started + max_s
        idle = 0.0
        while True:
            for tp in partitions - ends.keys():
                highwater = consumer.highwater(tp)
                if highwater is not None:
                    ends[tp] = highwater  # the first fetch's end: what the topic held at the start
                    if highwater == 0:
                        done.add(tp)
            if done >= partitions:
                stats.stopped_by = "end"
                break
            if time.monotonic() > deadline:
                stats.stopped_by = "max_s"
                break
            if idle >= idle_s:
                stats.stopped_by = "idle"
                break
            batch = await consumer.getmany(timeout_ms=500)
            if not batch:
                # Idle counts once a fetch came back (a slow TLS/SASL connect is not idle).
                if ends or time.monotonic() - started > 3 * idle_s:
                    idle += 0.5
                continue
            idle = 0.0
            for tp, records in batch.items():
                if tp in done:
                    continue
                ends.setdefault(tp, consumer.highwater(tp) or 0)
                for record in records:
                    if record.offset >= ends[tp]:
                        done.add(tp)  # written after the replay began: not part of it
                        break
                    stats.records += 1
                    try:
                        event = orjson.loads(record.value)
                    except orjson.JSONDecodeError:
                        stats.malformed += 1
                        continue
                    if not isinstance(event, dict):
                        stats.malformed += 1
                        continue
                    stats.events += 1
                    on_event(event)
                    if record.offset + 1 >= ends[tp]:
                        done.add(tp)
                        break
                if tp in done:
                    consumer.pause(tp)
        stats.ends = {tp.partition: end for tp, end in ends.items()}
    finally:
        await consumer.stop()
    return stats


async def read_events(
    settings: KafkaSettings,
    topic: str,
    *,
    keep: Callable[[dict[str, Any]], bool] | None = None,
    idle_s: float = 3.0,
) -> tuple[list[dict[str, Any]], int]:
    """Every JSON event of `topic` that `keep` accepts, as `replay_topic` bounds it.
    Returns (events, records that are not JSON objects). Holds them all: for small topics
    (tests, a day of a demo); readouts stream through `replay_topic`."""
    events: list[dict[str, Any]] = []

    def collect(event: dict[str, Any]) -> None:
        if keep is None or keep(event):
            events.append(event)

    stats = await replay_topic(settings, topic, collect, idle_s=idle_s)
    return events, stats.malformed
