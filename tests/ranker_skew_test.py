"""Train/serve skew of the learned ranker: the point-in-time features training replays from the
events equal what the recommend service computes for the same reader at the same time, through
the real serving path: the events applied to Redis by the feedback writer (hourly buckets,
recent reads), read back as the service reads them, the catalogue's text turned into vectors by
the registered content model, and the ranker model's own feature code."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from components.config import load_settings
from components.feedback import FeedbackWriter
from components.feedback.counts import read_buckets
from components.feedback.recent import read_recent
from components.models import load_model, save_model
from components.models.ranker import RankerModel
from components.ranking.backtest import content_and_table, prior_ctr
from components.ranking.features import FEATURES, FeatureReplay, epoch_seconds
from components.ranking.intraday import Intraday, window_hours
from components.ranking.train import RankerParams, train_ranker
from components.serving.catalogue import Catalogue
from components.serving.ranking import ServingModel
from components.simulator import TrafficGenerator, World, WorldConfig
from components.simulator.behaviour import UserModel
from components.testing.services import RedisNamespace
from components.training.ranker import ranker_model


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")


def test_training_features_equal_what_serving_computes(redis_ns: RedisNamespace, tmp_path: Path) -> None:
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=3)
    world = World.build(WorldConfig(seed=5, start=start, days=2, users=400))
    events: list[dict[str, Any]] = []
    for day in TrafficGenerator(world, model=UserModel(world)).days():
        events.extend(e for e in day.events if e["type"] in ("impression", "click", "view"))
    events.sort(key=lambda e: epoch_seconds(e["ts"]))
    at = epoch_seconds(events[-1]["ts"]) + 90.0
    reader = next(str(e["user_id"]) for e in reversed(events) if e["type"] == "click")

    # Serving: every event through the feedback writer into Redis, read back as the service does.
    settings = load_settings(home=str(tmp_path), redis={"url": redis_ns.url, "key_prefix": redis_ns.prefix})

    async def apply() -> list[str]:
        client = AsyncRedis.from_url(redis_ns.url)
        try:
            writer = FeedbackWriter(client, settings)
            for chunk in range(0, len(events), 2_000):
                stats = await writer.apply([orjson.dumps(e) for e in events[chunk : chunk + 2_000]])
                assert not stats.invalid
            return await read_recent(client, redis_ns.prefix, reader, settings.serving.recent_reads)
        finally:
            await client.aclose()

    recent = asyncio.run(apply())
    hour = int(at // 3_600)
    with Redis.from_url(redis_ns.url) as client:
        buckets = read_buckets(client, redis_ns.prefix, window_hours(hour))
    intraday = Intraday.from_buckets(buckets, hour)

    # Training: the replay of the same events; the reader's next request (at `at`) probes every
    # article published by then.
    records: list[dict[str, Any]] = [
        r for r in world.catalogue.records() if epoch_seconds(r["published_at"]) <= at
    ]
    content, table = content_and_table(records, fit_before=at)
    ctr = prior_ctr(events, at)
    candidates = np.arange(len(table.ids))
    replay = FeatureReplay(table, prior_ctr=ctr, probes={reader: (at, candidates)})
    probe = {"event_id": str(uuid.uuid4()), "type": "impression", "user_id": reader,
             "article_id": table.ids[0], "ts": _iso(at), "request_id": "probe", "position": 0}  # fmt: skip
    replay.extend([*events, probe])
    logged = replay.result()  # flushes the probe's request
    _, probed_rows, trained = replay.probed[reader]

    booster = train_ranker(logged, RankerParams(n_estimators=3))
    model = ranker_model(booster, content, prior_ctr=ctr, n_sections=table.n_sections, params={})
    served_model = load_model(save_model(model, tmp_path / "model"))  # as the service loads it
    assert isinstance(served_model, RankerModel)
    catalogue = Catalogue.from_columns(
        [r["article_id"] for r in records],
        [epoch_seconds(r["published_at"]) for r in records],
        [None] * len(records),
        [r["section"] for r in records],
        now_s=at,
        texts=[f"{r['title']}\n{r['abstract']}\n{' '.join(r.get('tags') or [])}" for r in records],
    )
    bound = ServingModel.bind("champion", "1", served_model, catalogue)
    assert bound.articles is not None
    rows = np.array([catalogue.index[table.ids[r]] for r in probed_rows])
    reads = np.array([catalogue.index[a] for a in recent if a in catalogue.index])
    served = served_model.features(
        bound.articles, rows, reads=reads, intraday=intraday.rows_of(catalogue.article_ids), now_s=at
    )

    assert len(recent) > 0 and len(rows) > 50
    assert served.shape == trained.shape
    for j, name in enumerate(FEATURES):
        np.testing.assert_allclose(served[:, j], trained[:, j], rtol=1e-5, atol=1e-6, err_msg=name)
    # The features carry signal (not all zero): intraday counts and the reader's profile.
    for name in ("impressions_1h", "clicks_6h", "clicks_7d", "section_affinity", "content_similarity",
                 "section_similarity", "max_similarity"):  # fmt: skip
        assert np.ptp(served[:, FEATURES.index(name)]) > 0, name
