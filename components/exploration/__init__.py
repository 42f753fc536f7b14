"""Exploration: which slots of a ranked list go to under-exposed articles, and with what
probability each served item was shown (its propensity, logged with the impression)."""

from components.exploration.policy import (
    POLICIES,
    EpsilonGreedy,
    ExplorationPolicy,
    ExploredList,
    ExposureStats,
    Slate,
    ThompsonSampling,
    explore_list,
    explore_positions,
    explore_slate,
    make_policy,
    under_exposed,
)

__all__ = [
    "EpsilonGreedy",
    "ExplorationPolicy",
    "ExploredList",
    "POLICIES",
    "ExposureStats",
    "Slate",
    "ThompsonSampling",
    "explore_list",
    "explore_positions",
    "explore_slate",
    "make_policy",
    "under_exposed",
]
