"""Exploration policies: probabilities sum to 1 per slot, the logged propensity is the
frequency the item is served with, and the policies explore what they should."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from components.exploration import (
    EpsilonGreedy,
    ExposureStats,
    ThompsonSampling,
    explore_positions,
    explore_slate,
    under_exposed,
)


def stats() -> ExposureStats:
    # a1 is well known and good, a2 well known and bad, a3..a6 barely shown.
    return ExposureStats.from_counts(
        {"a1": (2_000, 160), "a2": (2_000, 10), "a3": (5, 1), "a4": (0, 0), "a5": (3, 0), "a6": (1, 0)}
    )


def test_positions_spread_over_the_lower_half_and_end_at_the_last() -> None:
    assert explore_positions(10, 2) == [7, 9]
    assert explore_positions(10, 1) == [9]
    assert explore_positions(10, 4) == [6, 7, 8, 9]
    assert explore_positions(10, 9) == [5, 6, 7, 8, 9]  # never more than the lower half
    assert explore_positions(3, 5) == [1, 2]
    assert explore_positions(2, 1) == [1]
    assert explore_positions(1, 2) == []


@pytest.mark.parametrize("policy", [ThompsonSampling(stats(), seed=1), EpsilonGreedy(0.3)])
def test_probabilities_sum_to_one_for_any_candidates(policy: ThompsonSampling | EpsilonGreedy) -> None:
    for candidates in (["a1"], ["a2", "a3"], ["a1", "a2", "a3", "a4", "a5", "a6"], ["a9", "a4"]):
        p = policy.probabilities(candidates)
        assert p.shape == (len(candidates),)
        assert (p >= 0).all()
        assert p.sum() == pytest.approx(1.0, abs=1e-12)


def test_thompson_prefers_the_better_known_article_and_explores_the_unknown() -> None:
    policy = ThompsonSampling(stats(), draws=4_096, seed=2)
    known = policy.probabilities(["a1", "a2"])
    assert known[0] > 0.99  # 8 % CTR vs 0.5 % on 2,000 impressions each
    unknown = policy.probabilities(["a2", "a4"])  # an unshown article beats a known bad one
    assert unknown[1] > 0.5


def test_epsilon_greedy_keeps_the_models_item_with_one_minus_epsilon_plus_its_share() -> None:
    p = EpsilonGreedy(0.2).probabilities(["m", "x", "y", "z"])
    assert p.tolist() == pytest.approx([0.8 + 0.05, 0.05, 0.05, 0.05])
    with pytest.raises(ValueError, match="epsilon"):
        EpsilonGreedy(0.0)


@pytest.mark.parametrize(
    "make", [lambda: ThompsonSampling(stats(), draws=128, seed=3), lambda: EpsilonGreedy(0.4)]
)
def test_logged_propensity_is_the_frequency_the_item_is_served_with(make) -> None:  # type: ignore[no-untyped-def]
    """Serve the same request many times: at each explore slot the share of lists showing an
    item (given the items before it) must match the propensity logged with it."""
    policy = make()
    greedy = [f"g{i}" for i in range(10)]
    pool = ["a4", "a6", "a5", "a3", "a2"]
    rng = np.random.default_rng(4)
    runs = 20_000
    shown: Counter[tuple[int, str]] = Counter()
    logged: dict[tuple[int, str], float] = {}
    for _ in range(runs):
        slate = explore_slate(greedy, lambda _: pool, policy, [3], pool_size=3, rng=rng)
        assert slate.article_ids[:3] == greedy[:3] and slate.article_ids[4:] == greedy[4:]
        assert slate.propensities[:3] == [1.0] * 3 and slate.propensities[4:] == [1.0] * 6
        key = (3, slate.article_ids[3])
        shown[key] += 1
        logged[key] = slate.propensities[3]
    assert sum(logged.values()) == pytest.approx(1.0)
    for key, count in shown.items():
        assert count / runs == pytest.approx(logged[key], abs=0.015), key
    # the pool was cut at pool_size (model's item + 3), in pool order
    assert {article for _, article in shown} <= {"g3", "a4", "a6", "a5"}


def test_slots_never_repeat_an_item_nor_show_banned_ones() -> None:
    policy = EpsilonGreedy(1.0)  # always a uniform draw: the pool is used as much as possible
    greedy = [f"g{i}" for i in range(10)]
    pool = ["g5", "read", "a1", "a2"]
    rng = np.random.default_rng(5)
    for _ in range(500):
        slate = explore_slate(greedy, lambda _: pool, policy, [3, 7], pool_size=5, banned={"read"}, rng=rng)
        assert len(set(slate.article_ids)) == 10
        assert "read" not in slate.article_ids
        assert slate.article_ids[5] == "g5"  # a greedy item is never a candidate elsewhere
        for position, (p, is_model) in slate.explored.items():
            assert slate.propensities[position] == p
            assert is_model == (slate.article_ids[position] == greedy[position])


def test_without_rng_the_greedy_slate_is_kept_and_its_exploring_probability_logged() -> None:
    policy = EpsilonGreedy(0.2)
    greedy = ["g0", "g1", "g2", "g3", "g4"]
    slate = explore_slate(greedy, lambda _: ["a1", "a2", "a3"], policy, [1, 3], pool_size=3, rng=None)
    assert slate.article_ids == greedy
    assert slate.propensities == [1.0] * 5
    assert slate.explored == {1: (pytest.approx(0.85), True), 3: (pytest.approx(0.85), True)}


def test_short_lists_explore_only_the_positions_they_have() -> None:
    slate = explore_slate(
        ["g0", "g1"], lambda _: ["a1"], EpsilonGreedy(1.0), [1, 3], pool_size=2, rng=np.random.default_rng(0)
    )
    assert set(slate.explored) == {1}


def test_each_slot_draws_from_the_pool_of_its_models_item() -> None:
    pools = {"g3": ["s1", "s2"], "g7": ["t1"]}
    greedy = [f"g{i}" for i in range(10)]
    rng = np.random.default_rng(6)
    seen: dict[int, set[str]] = {3: set(), 7: set()}
    for _ in range(300):
        slate = explore_slate(
            greedy, lambda item: pools.get(item, []), EpsilonGreedy(1.0), [3, 7], pool_size=5, rng=rng
        )
        for position in (3, 7):
            seen[position].add(slate.article_ids[position])
    assert seen == {3: {"g3", "s1", "s2"}, 7: {"g7", "t1"}}


def test_under_exposed_keeps_the_little_shown_newest_first() -> None:
    order = under_exposed(stats(), ["a1", "a3", "a4", "a5", "a6", "b1"], [0, 10, 50, 30, 40, 20], 4)
    # a1 (2,000 impressions) and a3 (5) are exposed enough; b1 has no counts at all
    assert order == ["a4", "a6", "a5", "b1"]


def test_stats_must_align_and_be_counts() -> None:
    with pytest.raises(ValueError, match="align"):
        ExposureStats(np.array(["a"], dtype=object), np.zeros(2), np.zeros(1))
    with pytest.raises(ValueError, match="negative"):
        ExposureStats(np.array(["a"], dtype=object), np.array([-1.0]), np.zeros(1))


def test_thompson_is_reproducible_by_seed() -> None:
    a = ThompsonSampling(stats(), seed=9).probabilities(["a1", "a3", "a4", "zz"])
    b = ThompsonSampling(stats(), seed=9).probabilities(["a1", "a3", "a4", "zz"])
    assert a.tolist() == b.tolist()
