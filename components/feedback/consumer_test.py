"""The feedback consumer against the real broker and Redis: every event applied exactly once,
across a crash between applying and committing and across a SIGKILL mid-stream."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from components.config import Settings, settings_env
from components.feedback import FeedbackWriter, read_exposure
from components.feedback.consumer import FeedbackConsumer
from components.feedback.recent import read_recent
from components.names import feedback_bucket_key
from components.runtime import ServiceProcess, committed_total
from components.streaming import EventProducer

START = datetime(2026, 11, 20, 8, tzinfo=UTC)


def events(n: int, seed: int = 0) -> list[dict[str, object]]:
    """Impressions of 20 articles to 50 users over 10 hours, every 7th one clicked and viewed."""
    out: list[dict[str, object]] = []
    for i in range(n):
        user, article = f"u{(i * 7 + seed) % 50}", f"a{i % 20:03d}"
        ts = (START + timedelta(seconds=i * 36_000 / n)).isoformat()
        out.append({"event_id": str(uuid.uuid4()), "type": "impression", "user_id": user, "article_id": article,
                    "ts": ts, "request_id": f"r{i}", "position": 0, "model_version": "1", "propensity": 1.0})  # fmt: skip
        if i % 7 == 0:
            out.append({"event_id": str(uuid.uuid4()), "type": "click", "user_id": user, "article_id": article,
                        "ts": ts, "request_id": f"r{i}", "position": 0})  # fmt: skip
            out.append(
                {
                    "event_id": str(uuid.uuid4()),
                    "type": "view",
                    "user_id": user,
                    "article_id": article,
                    "ts": ts,
                }
            )
    return out


def expected_counts(evs: list[dict[str, object]]) -> dict[str, tuple[float, float]]:
    impressions = Counter(e["article_id"] for e in evs if e["type"] == "impression")
    clicks = Counter(e["article_id"] for e in evs if e["type"] == "click")
    return {str(a): (float(impressions[a]), float(clicks[a])) for a in impressions}


async def produce(settings: Settings, evs: list[dict[str, object]]) -> None:
    producer = EventProducer(settings.kafka)
    await producer.start()
    try:
        records = [(str(e["user_id"]).encode(), orjson.dumps(e)) for e in evs]
        for start in range(0, len(records), 5_000):
            await producer.send_batched(settings.kafka.events_topic, records[start : start + 5_000])
    finally:
        await producer.stop()


def exposure(settings: Settings) -> dict[str, tuple[float, float]]:
    with Redis.from_url(settings.redis.url) as client:
        return read_exposure(client, settings.redis.key_prefix, (START + timedelta(hours=11)).timestamp(), 24)


def test_writer_applies_each_event_once_and_names_malformed_fields(reco_settings: Settings) -> None:
    evs = events(400)

    async def run() -> tuple[list[int], list[str], list[str]]:
        client = AsyncRedis.from_url(reco_settings.redis.url)
        try:
            writer = FeedbackWriter(client, reco_settings)
            raws = [orjson.dumps(e) for e in evs]
            bad = [
                b"not json",
                orjson.dumps({**evs[0], "ts": "yesterday"}),
                orjson.dumps({**evs[0], "user_id": None}),
            ]
            first = await writer.apply(raws + bad)
            again = await writer.apply(raws)
            recent = await read_recent(client, reco_settings.redis.key_prefix, "u0")
            return [first.applied, first.duplicates, again.applied, again.duplicates], \
                [f"{e.field}: {e.reason}" for e in first.invalid], recent  # fmt: skip
        finally:
            await client.aclose()

    counts, invalid, recent = asyncio.run(run())
    assert counts == [len(evs), 0, 0, len(evs)]
    assert invalid[0].startswith("$: not JSON")
    assert invalid[1].startswith("ts: not an ISO 8601")
    assert invalid[2].startswith("user_id: missing")
    assert exposure(reco_settings) == expected_counts(evs)
    # u0 clicked and viewed a000 (i=0) and a010 (i=350): newest first, each once
    assert recent == ["a010", "a000"]


def test_an_erased_readers_old_reads_are_not_recorded_again(reco_settings: Settings) -> None:
    """After `DELETE /users/{id}` (its marker), a replay of the reader's events writes none of
    their reads from before the erasure back; the articles' counts still count them (they hold
    no reader), and a read after the erasure (the reader came back) is recorded."""
    import hashlib

    from components.names import erased_key

    evs = [e for e in events(140) if e["user_id"] == "u0"]
    erased_at = START + timedelta(hours=5)
    later = {"event_id": str(uuid.uuid4()), "type": "view", "user_id": "u0", "article_id": "a-new",
             "ts": (erased_at + timedelta(minutes=1)).isoformat()}  # fmt: skip

    async def run() -> list[str]:
        client = AsyncRedis.from_url(reco_settings.redis.url)
        try:
            digest = hashlib.sha256(b"u0").hexdigest()
            await client.set(erased_key(reco_settings.redis.key_prefix, digest), str(erased_at.timestamp()))
            stats = await FeedbackWriter(client, reco_settings).apply(
                [orjson.dumps(e) for e in [*evs, later]]
            )
            assert stats.applied == len(evs) + 1
            return await read_recent(client, reco_settings.redis.key_prefix, "u0")
        finally:
            await client.aclose()

    assert any(e["type"] == "view" and str(e["ts"]) < erased_at.isoformat() for e in evs)
    assert asyncio.run(run()) == ["a-new"]
    assert exposure(reco_settings) == expected_counts(evs)


def test_an_erasure_landing_while_a_batch_is_applied_is_honoured(reco_settings: Settings) -> None:
    """The erasure lands after the writer parsed its batch but before Redis applies it: the
    reader's reads from before the erasure are not recorded (the marker is checked where the
    read is written, atomically), their counts still are."""
    import hashlib

    from components.names import erased_key

    evs = [e for e in events(140) if e["user_id"] == "u0"]
    erased_at = START + timedelta(hours=11)  # after all of them
    marker = erased_key(reco_settings.redis.key_prefix, hashlib.sha256(b"u0").hexdigest())

    class ErasedMeanwhile(AsyncRedis):
        """A client whose pipeline is opened just after `DELETE /users/u0` set the marker (from
        another connection, as the recommend service would)."""

        def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Any:
            with Redis.from_url(reco_settings.redis.url) as other:
                other.set(marker, str(erased_at.timestamp()))
            return super().pipeline(transaction, shard_hint)

    async def run() -> list[str]:
        client = ErasedMeanwhile.from_url(reco_settings.redis.url)
        try:
            stats = await FeedbackWriter(client, reco_settings).apply([orjson.dumps(e) for e in evs])
            assert stats.applied == len(evs)
            return await read_recent(client, reco_settings.redis.key_prefix, "u0")
        finally:
            await client.aclose()

    assert any(e["type"] == "view" for e in evs)
    assert asyncio.run(run()) == []
    assert exposure(reco_settings) == expected_counts(evs)


def test_window_counts_only_the_hours_it_covers(reco_settings: Settings) -> None:
    evs = events(100)
    asyncio.run(_apply(reco_settings, evs))
    with Redis.from_url(reco_settings.redis.url) as client:
        # the first 5 hours (08:00-12:59): events i < 50
        early = read_exposure(
            client, reco_settings.redis.key_prefix, (START + timedelta(hours=4)).timestamp(), 5
        )
        assert (
            client.ttl(feedback_bucket_key(reco_settings.redis.key_prefix, int(START.timestamp() // 3600)))
            > 0
        )
    assert early == expected_counts(
        evs[: len([e for e in evs if str(e["ts"]) < (START + timedelta(hours=5)).isoformat()])]
    )


async def _apply(settings: Settings, evs: list[dict[str, object]]) -> None:
    client = AsyncRedis.from_url(settings.redis.url)
    try:
        await FeedbackWriter(client, settings).apply([orjson.dumps(e) for e in evs])
    finally:
        await client.aclose()


async def _consume_until(settings: Settings, total: int, timeout_s: float = 60) -> FeedbackConsumer:
    client = AsyncRedis.from_url(settings.redis.url)
    consumer = FeedbackConsumer(settings, client)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    deadline = time.monotonic() + timeout_s
    try:
        while consumer.total.applied + consumer.total.duplicates < total and time.monotonic() < deadline:
            if task.done():
                task.result()
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await task
        await client.aclose()
    return consumer


def test_a_crash_between_apply_and_commit_replays_without_doubling(reco_settings: Settings) -> None:
    evs = events(1_500)
    asyncio.run(produce(reco_settings, evs))
    # The crash: the first 600 events reached Redis, their offsets were never committed.
    asyncio.run(_apply(reco_settings, evs[:600]))
    consumer = asyncio.run(_consume_until(reco_settings, len(evs)))
    assert consumer.total.applied == len(evs) - 600
    assert consumer.total.duplicates == 600
    assert exposure(reco_settings) == expected_counts(evs)
    committed = asyncio.run(
        committed_total(
            reco_settings.kafka, reco_settings.feedback.group_id, reco_settings.kafka.events_topic, 3
        )
    )
    assert committed == len(evs)


def test_sigkill_mid_stream_then_restart_loses_and_doubles_nothing(
    reco_settings: Settings, tmp_path: Path
) -> None:
    evs = events(20_000, seed=3)
    asyncio.run(produce(reco_settings, evs))
    env = settings_env(reco_settings) | {"RECO_FEEDBACK__MAX_POLL_RECORDS": "300"}
    expected = expected_counts(evs)
    want = sum(i for i, _ in expected.values())
    first = ServiceProcess("services.feedback.main", env, tmp_path / "feedback.log").start()
    try:
        deadline = time.monotonic() + 120
        while True:  # kill it once some, but not all, impressions are counted
            seen = sum(i for i, _ in exposure(reco_settings).values())
            if seen > 2_000 or time.monotonic() > deadline:
                break
            assert first.running, first.log_tail()
            time.sleep(0.05)
        first.kill()
    finally:
        first.kill()
    assert 0 < seen < want, f"the kill came too late to test anything ({seen} of {want})"
    second = ServiceProcess("services.feedback.main", env, tmp_path / "feedback.log").start()
    try:
        deadline = time.monotonic() + 120
        while exposure(reco_settings) != expected and time.monotonic() < deadline:
            assert second.running, second.log_tail()
            time.sleep(0.2)
    finally:
        second.stop()
    assert exposure(reco_settings) == expected
    committed = asyncio.run(
        committed_total(
            reco_settings.kafka, reco_settings.feedback.group_id, reco_settings.kafka.events_topic, 3
        )
    )
    assert committed == len(evs)
