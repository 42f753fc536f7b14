"""End to end on real processes: the collector (Hypercorn) and the ingestor as subprocesses,
a tansu broker, a local lake. An ingestor SIGKILLed mid-stream loses nothing, silver holds
each acknowledged event exactly once, and a bad event is refused and dead-lettered."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from components.config import Settings
from components.events import decode_dead_letter
from components.lake import LakeStore
from components.lake.silver import bronze_dates, build_silver, read_silver
from components.runtime.processes import ServiceProcess, committed_total, post_events, wait_ready
from components.runtime.tansu import TansuBroker, free_port
from components.simulator import TrafficGenerator, World, WorldConfig
from components.testing.fixtures import Topics
from components.testing.kafka_read import read_topic


def test_kill_the_ingestor_mid_stream_and_lose_nothing(
    kafka_broker: TansuBroker, kafka_topics: Topics, reco_settings: Settings, tmp_path: Path
) -> None:
    port, metrics_port = free_port(), free_port()
    env = {
        "RECO_HOME": str(tmp_path),
        "RECO_KAFKA__BOOTSTRAP_SERVERS": kafka_broker.bootstrap_servers,
        "RECO_KAFKA__EVENTS_TOPIC": kafka_topics.events,
        "RECO_KAFKA__DEAD_LETTER_TOPIC": kafka_topics.dead_letter,
        "RECO_KAFKA__SESSION_TIMEOUT_MS": "2000",
        "RECO_LAKE__ROOT": reco_settings.lake.root,
        "RECO_COLLECTOR__PORT": str(port),
        "RECO_INGESTOR__FLUSH_RECORDS": "500",
        "RECO_INGESTOR__FLUSH_INTERVAL_S": "0.5",
        "RECO_INGESTOR__METRICS_PORT": str(metrics_port),
    }
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    world = World.build(
        WorldConfig(seed=4, start=today - timedelta(days=2), days=1, users=300, articles_per_day=30)
    )
    events = next(TrafficGenerator(world).days()).events[:4_000]
    # A field added to events.v1 (optional `session_id`) travels collector -> Kafka -> bronze ->
    # silver with no change outside the model: a third of the events carry one.
    for i, event in enumerate(events):
        if i % 3 == 0:
            event["session_id"] = f"s-{event['user_id']}-{i // 500}"
    sessions = {e["event_id"]: e.get("session_id") for e in events}
    collector = ServiceProcess("services.collector.main", env, tmp_path / "collector.log").start()
    ingestor = ServiceProcess("services.ingestor.main", env, tmp_path / "ingestor.log").start()
    base = f"http://127.0.0.1:{port}"

    async def scenario() -> set[str]:
        await wait_ready(f"{base}/readyz")
        sender = asyncio.create_task(
            post_events(f"{base}/events", events, batch=200, concurrency=2, rate=1_500)
        )
        # strike once the ingestor has made something durable, while events still flow
        for _ in range(600):
            if await committed_total(
                reco_settings.kafka,
                reco_settings.ingestor.group_id,
                kafka_topics.events,
                kafka_topics.partitions,
            ):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        ingestor.kill()
        ingestor.start()
        acknowledged, rejected = await sender
        assert rejected == 0
        async with httpx.AsyncClient() as client:
            bad = {**events[0], "event_id": str(uuid.uuid4()), "ts": "2026-11-01T10:00:00"}
            response = await client.post(f"{base}/events", json=bad)
            assert response.status_code == 422
            assert response.json()["results"][0]["errors"][0]["field"] == "ts"
        for _ in range(1_200):
            done = await committed_total(
                reco_settings.kafka,
                reco_settings.ingestor.group_id,
                kafka_topics.events,
                kafka_topics.partitions,
            )
            if done >= len(acknowledged):
                break
            await asyncio.sleep(0.1)
        async with httpx.AsyncClient() as client:
            metrics = (await client.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
        # the restarted ingestor's own count: positive, at most everything
        (line,) = (m for m in metrics.splitlines() if m.startswith("reco_ingestor_records_total "))
        assert 0 < float(line.split()[1]) <= len(acknowledged)
        return acknowledged

    try:
        acknowledged = asyncio.run(scenario())
    finally:
        ingestor.stop()
        collector.stop()
    assert len(acknowledged) == len(events), collector.log_tail()

    store = LakeStore.from_settings(reco_settings.lake)
    silver_ids: list[str] = []
    silver_sessions: dict[str, str | None] = {}
    for dt in bronze_dates(store):
        build_silver(store, dt)
        table = read_silver(store, dt)
        silver_ids.extend(table.column("event_id").to_pylist())
        silver_sessions.update(
            zip(table["event_id"].to_pylist(), table["session_id"].to_pylist(), strict=True)
        )
    assert len(silver_ids) == len(set(silver_ids)), "an event is in silver twice"
    assert set(silver_ids) == acknowledged, ingestor.log_tail()
    assert silver_sessions == sessions

    letters = asyncio.run(read_topic(kafka_broker.bootstrap_servers, kafka_topics.dead_letter, 1))
    assert [decode_dead_letter(r.value).errors[0].code for r in letters] == ["naive_timestamp"]
