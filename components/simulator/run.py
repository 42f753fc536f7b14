"""Run a simulation into a sink, day by day, with a summary at the end."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from components.config import KafkaSettings
from components.simulator.sinks import produce_to_kafka, write_catalogue_jsonl, write_day_jsonl
from components.simulator.traffic import DayTraffic, TrafficGenerator
from components.simulator.world import World

DayCallback = Callable[[DayTraffic], None]


@dataclass
class SimulationSummary:
    days: int = 0
    events: int = 0
    sessions: int = 0
    first_visits: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    files: list[str] = field(default_factory=list)

    def add(self, traffic: DayTraffic) -> None:
        self.days += 1
        self.events += len(traffic.events)
        self.sessions += traffic.sessions
        self.first_visits += traffic.first_visits
        self.counts.update(traffic.counts)

    def as_dict(self) -> dict[str, Any]:
        impressions = self.counts.get("impression", 0)
        return {
            "days": self.days,
            "events": self.events,
            "sessions": self.sessions,
            "first_visit_share": round(self.first_visits / self.sessions, 4) if self.sessions else 0.0,
            "by_type": dict(sorted(self.counts.items())),
            "ctr": round(self.counts.get("click", 0) / impressions, 5) if impressions else 0.0,
        }


def simulate_to_files(world: World, out_dir: Path, on_day: DayCallback | None = None) -> SimulationSummary:
    """`articles.jsonl` plus one `events-YYYY-MM-DD.jsonl` per simulated day."""
    summary = SimulationSummary()
    summary.files.append(str(write_catalogue_jsonl(out_dir, world.catalogue)))
    for traffic in TrafficGenerator(world).days():
        summary.files.append(str(write_day_jsonl(out_dir, traffic)))
        summary.add(traffic)
        if on_day:
            on_day(traffic)
    return summary


async def simulate_to_kafka(
    world: World, kafka: KafkaSettings | str, topic: str, on_day: DayCallback | None = None
) -> SimulationSummary:
    """Produce the catalogue to the articles topic first, as a CMS would (key = article id),
    then every event to `topic` (key = user_id, acks=all); returns once all are acknowledged.
    `kafka`: the settings (TLS, SASL) or a plain bootstrap address."""
    from aiokafka import AIOKafkaProducer

    from components.streaming import client_options, ensure_topics

    settings = KafkaSettings(bootstrap_servers=kafka) if isinstance(kafka, str) else kafka
    producer = AIOKafkaProducer(
        **client_options(settings),
        acks="all",
        linger_ms=20,
        max_batch_size=512 * 1024,
    )
    await ensure_topics(settings, [settings.articles_topic])
    await producer.start()
    summary = SimulationSummary()
    try:
        articles = [
            await producer.send(
                settings.articles_topic, orjson.dumps(record), key=str(record["article_id"]).encode()
            )
            for record in world.catalogue.records()
        ]
        for future in articles:
            await future
        for traffic in TrafficGenerator(world).days():
            sent = await produce_to_kafka(producer, topic, traffic.events)
            if sent != len(traffic.events):
                raise RuntimeError(f"sent {sent} of {len(traffic.events)} events for {traffic.day}")
            summary.add(traffic)
            if on_day:
                on_day(traffic)
    finally:
        await producer.stop()
    return summary
