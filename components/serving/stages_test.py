"""The request stages and the snapshot, without services: route, rank on a snapshot's
catalogue, the explore stage's edit of a list, the health guard over refresh sources, the
clocks. Each runs in milliseconds."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import numpy as np
import pytest

from components.exploration import EpsilonGreedy, explore_list
from components.names import CANARY, CHAMPION, EXPLORE, FALLBACK
from components.serving.catalogue import PopularityRule
from components.serving.clock import RequestClock, WallClock
from components.serving.health import Health
from components.serving.metrics import ServingMetrics
from components.serving.ranking import ServingModel, rank
from components.serving.ranking_test import NOW, catalogue, ease_model
from components.serving.routing import bucket
from components.serving.schema import RecommendRequest
from components.serving.snapshot import Snapshot
from components.serving.sources import RefreshSource, refresh_once


def snapshot_with(*aliases: str) -> Snapshot:
    cat = catalogue()
    model = ease_model()
    models = {alias: ServingModel.bind(alias, str(n + 1), model, cat) for n, alias in enumerate(aliases)}
    return Snapshot(cat, models)


def test_route_sends_a_stable_share_to_the_canary_and_falls_back_without_models() -> None:
    assert Snapshot.empty().route("u1") == (FALLBACK, None)
    snap = snapshot_with(CHAMPION, CANARY).with_canary_share(0.3)
    users = [f"u-{i}" for i in range(2_000)]
    routed = {u: snap.route(u)[0] for u in users}
    share = sum(v == CANARY for v in routed.values()) / len(users)
    assert 0.25 < share < 0.35
    assert all((routed[u] == CANARY) == (bucket(u) < 0.3) for u in users)
    assert snapshot_with(CHAMPION).with_canary_share(1.0).route("u1")[0] == CHAMPION  # no canary model


def test_a_new_catalogue_rebinds_every_model_and_withdrawals_leave_pools_too() -> None:
    snap = snapshot_with(CHAMPION).with_exploration(
        EpsilonGreedy(0.5), {"news": ["a1", "a3"], "tech": ["a4"]}
    )
    smaller = snap.without({"a3": NOW}, now_s=NOW, rule=PopularityRule())
    assert smaller.explore_pools == {"news": ["a1"], "tech": ["a4"]}
    assert smaller.models[CHAMPION].catalogue is smaller.catalogue
    assert "a3" not in smaller.catalogue.popular(10, NOW, set())[0]
    assert snap.explore_pools["news"] == ["a1", "a3"]  # the old snapshot is untouched
    assert smaller.pool_for("a1") == ["a1"] and smaller.pool_for("unknown") == []


def test_rank_on_a_snapshot_never_returns_excluded_recent_or_dead_articles() -> None:
    snap = snapshot_with(CHAMPION)
    _, model = snap.route("u2")
    ranked = rank(model, snap.catalogue, "u2", 5, exclude=["a2"], recent=["a3"], has_features=True, now_s=NOW)
    assert {"a2", "a3", "a5", "a6"}.isdisjoint(ranked.article_ids)
    assert not ranked.cold_start


def test_explore_stage_edits_only_its_slots_and_states_propensities() -> None:
    ids = [f"m{i}" for i in range(10)]
    pools = {"m7": ["p1", "p2"], "m9": ["p3"]}
    kept = explore_list(
        ids, [1.0] * 10, ["personalized"] * 10, policy=EpsilonGreedy(1.0), pool_for=lambda a: pools.get(a, []),
        k=10, slots=2, pool_size=5, banned=set(), rng=None, reason=EXPLORE,
    )  # fmt: skip
    assert kept.article_ids == ids and kept.propensities == [1.0] * 10
    assert set(kept.item_context) == {7, 9}
    assert kept.item_context[7] == {"explore_p": pytest.approx(1 / 3), "model_item": True}
    rng = np.random.default_rng(3)
    explored = explore_list(
        ids, [1.0] * 10, ["personalized"] * 10, policy=EpsilonGreedy(1.0), pool_for=lambda a: pools.get(a, []),
        k=10, slots=2, pool_size=5, banned={"p2"}, rng=rng, reason=EXPLORE,
    )  # fmt: skip
    assert explored.article_ids[:7] == ids[:7]
    assert explored.article_ids[7] in {"m7", "p1"} and explored.article_ids[9] in {"m9", "p3"}
    for position in (7, 9):
        swapped = explored.article_ids[position] != ids[position]
        assert explored.propensities[position] == pytest.approx(0.5)
        assert (explored.reasons[position] == EXPLORE) == swapped


def test_the_guard_flags_a_failing_source_under_its_name_and_clears_it() -> None:
    metrics = ServingMetrics()
    health = Health(metrics, secrets=["s3cret"])
    outcomes: list[object] = [RuntimeError("redis://:s3cret@host down"), "stale", None]

    async def refresh() -> str | None:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome  # type: ignore[return-value]

    source = RefreshSource("catalogue", 1.0, refresh)
    asyncio.run(refresh_once(source, health))
    assert health.degraded == ["catalogue"] and "s3cret" not in health.problems["catalogue"]
    assert 'reco_degraded{dependency="catalogue"} 1.0' in metrics.exposition().decode()
    asyncio.run(refresh_once(source, health))
    assert health.problems == {"catalogue": "stale"}
    asyncio.run(refresh_once(source, health))
    assert health.degraded == []
    assert 'reco_degraded{dependency="catalogue"} 0.0' in metrics.exposition().decode()


def test_clocks() -> None:
    request = RecommendRequest.model_validate({"user_id": "u", "context": {"now": "2026-01-02T03:04:05Z"}})
    assert WallClock().at(request) is None
    clock = RequestClock()
    at = clock.at(request)
    assert at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp() and clock.now() == at
    earlier = RecommendRequest.model_validate({"user_id": "u", "context": {"now": at - 60}})
    assert clock.at(earlier) == at - 60 and clock.now() == at  # background work follows the latest
    with pytest.raises(ValueError, match="required"):
        clock.at(RecommendRequest.model_validate({"user_id": "u"}))
