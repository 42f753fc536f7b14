"""The closed loop serves every session through the ranker (or, for a share of readers, an
in-process reference policy) and tallies what it served."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from components.events import Event
from components.simulator import HousePolicy, TrafficGenerator, UserModel, World, WorldConfig
from components.simulator.closed_loop import ClosedLoop, Ranker, ShownList
from components.simulator.traffic import REFERENCE_POLICIES, RankingPolicy, reference_policy
from components.simulator.world import stable_seed


def test_every_list_comes_from_the_ranker_and_every_click_is_reported() -> None:
    world = World.build(WorldConfig(seed=3, days=1, users=300, articles_per_day=40, backlog_days=10,
                                    start=datetime(2026, 11, 1, tzinfo=UTC)))  # fmt: skip
    generator = TrafficGenerator(world)
    house = HousePolicy(world)
    served: dict[str, list[str]] = {}
    owners: dict[str, str] = {}
    excluded: dict[str, list[str]] = {}
    clocks: list[float] = []

    async def ranker(user: str, t: float, k: int, context: dict[str, Any], exclude: list[str]) -> ShownList:
        clocks.append(t)
        excluded[f"r{len(served)}"] = exclude
        items, _, _ = house.rank(user, world.catalogue.live(t), t, k, np.random.default_rng(len(served)))
        request = f"r{len(served)}"
        served[request] = [world.catalogue.ids[i] for i in items.tolist()]
        owners[request] = user
        return ShownList(request, served[request], "explore" if user.endswith(("1", "3", "5")) else "greedy")

    sunk: list[dict[str, Any]] = []

    async def sink(events: list[dict[str, Any]]) -> None:
        sunk.extend(events)

    loop = ClosedLoop(generator, ranker, sink, concurrency=4, threshold=5, flush_events=50)
    plan = generator.plan_sessions(0)
    planned = len(plan)  # before the day: returning visitors join after it
    first_visitors = {s.user_id for s in plan if s.first_visit}
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
    # first-time visitors' lists are tallied apart (their readers' impressions, and clicks)
    assert first_visitors and not first_visitors & {s.user_id for s in plan if not s.first_visit}
    first_impressions = sum(len(v) for r, v in served.items() if owners[r] in first_visitors)
    assert sum(t.first_visit_impressions for t in tallies.values()) == first_impressions > 0
    first_clicks = sum(1 for c in clicks if owners[c["request_id"]] in first_visitors)
    assert sum(t.first_visit_clicks for t in tallies.values()) == first_clicks
    for tally in tallies.values():
        returning = tally.impressions - tally.first_visit_impressions
        assert tally.returning_ctr == pytest.approx((tally.clicks - tally.first_visit_clicks) / returning)
    # later lists of a session are asked without what the reader opened earlier in it
    opened = {(owners[c["request_id"]], c["article_id"]) for c in clicks}
    assert any(excluded.values())
    for request, articles in excluded.items():
        assert all((owners[request], a) in opened for a in articles)
    later = sum(len(served[r]) for r, articles in excluded.items() if articles)
    assert sum(t.later_impressions for t in tallies.values()) >= later > 0
    # the house ranking here ignores `exclude`: some of its slots show what the reader read
    assert 0 < sum(t.reread_impressions for t in tallies.values()) < len(served) * 10
    # an article's threshold time is when its 5th impression in that arm was served
    for tally in tallies.values():
        assert all(tally.per_article[a] >= 5 for a in tally.reached)
        assert all(min(clocks) <= t <= max(clocks) for t in tally.reached.values())


def _world(users: int = 300) -> World:
    return World.build(WorldConfig(seed=3, days=1, users=users, articles_per_day=40, backlog_days=10,
                                   start=datetime(2026, 11, 1, tzinfo=UTC)))  # fmt: skip


def _house_ranker(world: World, asked: list[str]) -> Ranker:
    """The service's stand-in: the house ranking, drawn per (reader, clock) so that the lists do
    not depend on the order of the requests; the arm by the reader's last digit."""
    house = HousePolicy(world)

    async def ranker(user: str, t: float, k: int, context: dict[str, Any], exclude: list[str]) -> ShownList:
        asked.append(user)
        rng = np.random.default_rng(stable_seed("ranker", user, t))
        items, _, _ = house.rank(user, world.catalogue.live(t), t, k, rng)
        arm = "explore" if user.endswith(("1", "3", "5")) else "greedy"
        return ShownList(f"r{len(asked)}", [world.catalogue.ids[i] for i in items.tolist()], arm)

    return ranker


def _run_day(
    world: World, references: dict[str, RankingPolicy] | None, share: float
) -> tuple[ClosedLoop, list[str], list[dict[str, Any]]]:
    asked: list[str] = []
    sunk: list[dict[str, Any]] = []

    async def sink(events: list[dict[str, Any]]) -> None:
        sunk.extend(events)

    generator = TrafficGenerator(world)
    loop = ClosedLoop(generator, _house_ranker(world, asked), sink, concurrency=4, flush_events=50,
                      references=references, reference_share=share)  # fmt: skip
    asyncio.run(loop.run_day(0))
    return loop, asked, sunk


def _references(world: World, loop_model: UserModel) -> dict[str, RankingPolicy]:
    return {name: reference_policy(name, world, loop_model) for name in REFERENCE_POLICIES}


def test_reference_readers_are_served_in_process_and_kept_from_the_ranker_and_the_sink() -> None:
    world = _world(users=600)
    asked: list[str] = []
    sunk: list[dict[str, Any]] = []

    async def sink(events: list[dict[str, Any]]) -> None:
        sunk.extend(events)

    generator = TrafficGenerator(world)
    references = _references(world, generator.model)  # the loop's own user model: its reads
    loop = ClosedLoop(generator, _house_ranker(world, asked), sink, concurrency=4, flush_events=50,
                      references=references, reference_share=0.5)  # fmt: skip
    asyncio.run(loop.run_day(0))

    assert set(loop.arms) == {"greedy", "explore", "oracle", "popfresh"}
    assert {loop.reference_arm(u) for u in asked} == {None}  # the ranker never sees a reference reader
    service_lists = sum(t.lists for arm, t in loop.arms.items() if arm not in references)
    assert len(asked) == service_lists > 0
    for name in references:
        tally = loop.arms[name]
        assert tally.lists > 0 and tally.clicks > 0
        assert {loop.reference_arm(u) for u in tally.users} == {name}
    reference_readers = loop.arms["oracle"].users | loop.arms["popfresh"].users
    assert not reference_readers & {e["user_id"] for e in sunk}  # none of their events are sent
    assert loop.events_withheld > 0 and loop.events_sent == len(sunk) > 0
    clicks = [e for e in sunk if e["type"] == "click"]
    assert len(clicks) == sum(t.clicks for arm, t in loop.arms.items() if arm not in references)
    # knowing each reader's click probability beats knowing only appeal and freshness
    assert loop.arms["oracle"].ctr > 1.5 * loop.arms["popfresh"].ctr, {a: t.ctr for a, t in loop.arms.items()}


def test_references_never_serve_what_the_reader_has_read() -> None:
    world = _world()
    generator = TrafficGenerator(world)
    references = _references(world, generator.model)

    async def nothing(events: list[dict[str, Any]]) -> None:
        return None

    loop = ClosedLoop(
        generator, _house_ranker(world, []), nothing, references=references, reference_share=1.0
    )
    model, t = generator.model, world.config.start.timestamp() + 12 * 3_600
    user = world.population.ids[0]
    first = loop._reference_list(references["popfresh"], user, t, 10, np.random.default_rng(0))
    for article in first[:3].tolist():
        model.mark_read(user, article)
    second = loop._reference_list(references["popfresh"], user, t, 10, np.random.default_rng(0))
    assert second[:7].tolist() == first[3:].tolist()
    assert not set(second.tolist()) & set(first[:3].tolist())


def test_without_a_reference_share_the_loop_is_unchanged() -> None:
    before, asked_before, sunk_before = _run_day(_world(), None, 0.0)
    world = _world()
    after, asked_after, sunk_after = _run_day(world, _references(world, UserModel(world)), 0.0)
    assert set(after.arms) == set(before.arms) == {"greedy", "explore"}
    assert asked_after == asked_before
    for arm, tally in before.arms.items():
        other = after.arms[arm]
        assert (other.lists, other.impressions, other.clicks, other.users, other.per_article) == (
            tally.lists, tally.impressions, tally.clicks, tally.users, tally.per_article
        )  # fmt: skip

    def key(e: dict[str, Any]) -> tuple[str, str, str, str]:
        return e["type"], e["user_id"], e["article_id"], e["ts"]

    assert sorted(map(key, sunk_after)) == sorted(map(key, sunk_before))
    assert after.events_withheld == 0


def test_readers_are_split_between_the_references_by_a_stable_hash() -> None:
    world = _world(users=10)
    generator = TrafficGenerator(world)
    references = _references(world, generator.model)

    async def nothing(events: list[dict[str, Any]]) -> None:
        return None

    def loop(share: float, refs: dict[str, RankingPolicy] | None = references) -> ClosedLoop:
        return ClosedLoop(
            generator, _house_ranker(world, []), nothing, references=refs, reference_share=share
        )

    users = [f"u{i}" for i in range(20_000)]
    arms = Counter(loop(0.2).reference_arm(u) for u in users)
    assert set(arms) == {None, "oracle", "popfresh"}
    for name in ("oracle", "popfresh"):
        assert abs(arms[name] / len(users) - 0.1) < 0.01, arms
    # stable, and growing the share only moves readers from the service to the references
    again = loop(0.2)
    wider = loop(0.4)
    for u in users[:2_000]:
        assert again.reference_arm(u) == loop(0.2).reference_arm(u)
        if again.reference_arm(u) is not None:
            assert wider.reference_arm(u) is not None
    assert {loop(0.0).reference_arm(u) for u in users[:1_000]} == {None}
    with pytest.raises(ValueError, match="needs at least one reference policy"):
        loop(0.2, None)
    with pytest.raises(ValueError, match=r"reference_share must be in \[0, 1\]"):
        loop(1.5)


def test_a_ranker_arm_named_like_a_reference_is_refused() -> None:
    world = _world()
    generator = TrafficGenerator(world)

    async def ranker(user: str, t: float, k: int, context: dict[str, Any], exclude: list[str]) -> ShownList:
        return ShownList("r", [world.catalogue.ids[int(world.catalogue.live(t)[0])]], "oracle")

    async def nothing(events: list[dict[str, Any]]) -> None:
        return None

    loop = ClosedLoop(
        generator, ranker, nothing, references=_references(world, generator.model), reference_share=0.01
    )
    with pytest.raises(RuntimeError, match="the name of a reference arm"):
        asyncio.run(loop.run_day(0))


def test_a_later_list_waits_until_the_readers_opens_were_sent_and_settled() -> None:
    world = _world()
    asked: list[str] = []
    house = _house_ranker(world, asked)
    sunk: list[dict[str, Any]] = []
    settled: list[tuple[str, str]] = []
    excludes: list[tuple[str, list[str], int]] = []  # (reader, exclude, settles so far)

    async def ranker(user: str, t: float, k: int, context: dict[str, Any], exclude: list[str]) -> ShownList:
        excludes.append((user, exclude, len(settled)))
        return await house(user, t, k, context, exclude)

    async def sink(events: list[dict[str, Any]]) -> None:
        sunk.extend(events)

    async def settle(user: str, article: str) -> None:
        # the click that opened it was sent before the wait
        assert any(e["type"] == "click" and (e["user_id"], e["article_id"]) == (user, article) for e in sunk)
        settled.append((user, article))

    loop = ClosedLoop(
        TrafficGenerator(world), ranker, sink, concurrency=4, flush_events=10_000, settle=settle
    )
    asyncio.run(loop.run_day(0))
    later = [(user, exclude, n) for user, exclude, n in excludes if exclude]
    assert later and settled
    for user, exclude, n in later:  # asked only after the reader's last open had settled
        assert (user, exclude[-1]) in settled[:n]
