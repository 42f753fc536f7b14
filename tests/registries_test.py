"""Every extension point chosen by name agrees with the settings that name it: a registry key
the settings cannot select, or a settings value no registry holds, fails here (not at start-up
of a deployment)."""

from __future__ import annotations

import inspect
import json
from dataclasses import fields
from typing import Any, get_args

from components.config.settings import ExplorationSettings, FeaturesSettings, code_defaults
from components.exploration import POLICIES, ExposureStats, make_policy
from components.models.fit import DEFAULT_PARAMS, FITTERS
from components.models.kinds import KINDS
from components.online.reader import ONLINE_STORES
from components.ranking.candidates import CANDIDATE_SOURCES, DEFAULT_SOURCES
from components.ranking.train import RankerParams
from components.training.ranker import DEFAULTS as RANKER_DEFAULTS
from components.training.ranker import KIND as RANKER
from pipelines.daily.flow import DEFAULT_GRID


def _choices(model: Any, field: str) -> set[str]:
    return set(get_args(model.model_fields[field].annotation))


def test_model_kinds_fitters_and_defaults_name_the_same_kinds() -> None:
    # The ranker learns from impressions (components/training/ranker.py), the others from an
    # interaction matrix (FITTERS).
    assert set(KINDS) == set(FITTERS) | {RANKER} and RANKER not in FITTERS
    assert set(FITTERS) == set(DEFAULT_PARAMS)
    assert all(cls.kind == kind for kind, cls in KINDS.items())
    assert set(json.loads(json.dumps(DEFAULT_GRID))) <= set(KINDS)
    assert set(RANKER_DEFAULTS) == {f.name for f in fields(RankerParams)} | {"device", "train_days"}
    for kind, fit in FITTERS.items():
        assert list(inspect.signature(fit).parameters) == ["data", "params", "seed"], kind


def test_exploration_policies_are_what_the_settings_can_choose() -> None:
    assert _choices(ExplorationSettings, "policy") == set(POLICIES)
    defaults = code_defaults().exploration
    assert defaults.policy in POLICIES
    stats = ExposureStats.from_counts({"a": (10.0, 1.0), "b": (0.0, 0.0)})
    for name in POLICIES:
        policy = make_policy(name, stats, defaults, seed=1)
        assert policy.name == name
        assert abs(float(policy.probabilities(["a", "b"]).sum()) - 1.0) < 1e-9


def test_online_stores_are_what_the_settings_can_choose() -> None:
    assert _choices(FeaturesSettings, "online_store") == set(ONLINE_STORES)
    assert code_defaults().features.online_store in ONLINE_STORES
    assert all(cls.name == name for name, cls in ONLINE_STORES.items())


def test_candidate_sources_by_name() -> None:
    assert set(DEFAULT_SOURCES) <= set(CANDIDATE_SOURCES)
    assert all(callable(source) for source in CANDIDATE_SOURCES.values())
