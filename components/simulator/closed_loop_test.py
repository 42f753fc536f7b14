"""The closed loop serves every session through the ranker and tallies what it served."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import numpy as np

from components.events import Event
from components.simulator import HousePolicy, TrafficGenerator, World, WorldConfig
from components.simulator.closed_loop import ClosedLoop, ShownList


def test_every_list_comes_from_the_ranker_and_every_click_is_reported() -> None:
    world = World.build(WorldConfig(seed=3, days=1, users=300, articles_per_day=40, backlog_days=10,
                                    start=datetime(2026, 11, 1, tzinfo=UTC)))  # fmt: skip
    generator = TrafficGenerator(world)
    house = HousePolicy(world)
    served: dict[str, list[str]] = {}
    clocks: list[float] = []

    async def ranker(user: str, t: float, k: int, context: dict[str, Any]) -> ShownList:
        clocks.append(t)
        items, _, _ = house.rank(user, world.catalogue.live(t), t, k, np.random.default_rng(len(served)))
        request = f"r{len(served)}"
        served[request] = [world.catalogue.ids[i] for i in items.tolist()]
        return ShownList(request, served[request], "explore" if user.endswith(("1", "3", "5")) else "greedy")

    sunk: list[dict[str, Any]] = []

    async def sink(events: list[dict[str, Any]]) -> None:
        sunk.extend(events)

    loop = ClosedLoop(generator, ranker, sink, concurrency=4, threshold=5, flush_events=50)
    planned = len(generator.plan_sessions(0))  # before the day: returning visitors join after it
    sessions = asyncio.run(loop.run_day(0))
    assert sessions == planned > 0
    tallies = loop.arms
    assert set(tallies) == {"greedy", "explore"}
    assert sum(t.lists for t in tallies.values()) == len(served)
    assert sum(t.impressions for t in tallies.values()) == sum(len(v) for v in served.values())
    clicks = [e for e in sunk if e["type"] == "click"]
    assert sum(t.clicks for t in tallies.values()) == len(clicks) > 0
    for click in clicks:  # each click names a served list and the position of its article
        assert served[click["request_id"]][click["position"]] == click["article_id"]
    for event in sunk:  # the readers' events keep the contract
        Event.model_validate(event, context={"now": world.config.end})
    assert loop.events_sent == len(sunk)
    # an article's threshold time is when its 5th impression in that arm was served
    for tally in tallies.values():
        assert all(tally.per_article[a] >= 5 for a in tally.reached)
        assert all(min(clocks) <= t <= max(clocks) for t in tally.reached.values())
