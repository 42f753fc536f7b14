"""Alias moves on a real MLflow registry: canary first, then champion; rollback; rollout state."""

from pathlib import Path

import numpy as np
import pytest

from components.config.settings import GateSettings, MlflowSettings, RedisSettings
from components.models import PopularityModel
from components.names import CANARY, CHAMPION
from components.registry.gate import apply_gate, promote_canary, rollback
from components.registry.lineage import Lineage
from components.registry.rollout import read_rollout, write_rollout
from components.registry.tracking import configure, log_training_run, version_by_alias
from components.testing.services import MlflowStore, RedisNamespace

LINEAGE = Lineage(silver_hashes={"2026-11-01": "abc"}, lake_uri="lake", git_commit="c0ffee", flow_run_id="")


def _register(ndcg: float) -> str:
    model = PopularityModel(
        item_scores=np.array([1.0, 2.0]),
        user_ids=["u"],
        item_ids=["a", "b"],
        seen_indptr=np.array([0, 0]),
        seen_indices=np.array([], dtype=np.int32),
        params={},
    )
    metrics = {"ndcg_at_10": ndcg, "coverage": 0.5, "recommend_p95_ms": 1.0}
    logged = log_training_run(model, metrics, LINEAGE, model_name="aliases-test")
    assert logged.version is not None
    return logged.version


def _alias(alias: str) -> str | None:
    mv = version_by_alias("aliases-test", alias)
    return None if mv is None else str(mv.version)


def test_canary_rollout_promotion_and_rollback(mlflow_tracking: MlflowStore, tmp_path: Path) -> None:
    configure(MlflowSettings(tracking_uri=mlflow_tracking.tracking_uri, artifact_root=str(tmp_path / "a")))
    policy = GateSettings()
    v1 = _register(0.20)
    first = apply_gate("aliases-test", policy, v1, promote_to=CANARY)
    assert first.alias == CHAMPION and _alias(CHAMPION) == v1  # nothing to canary against

    v2 = _register(0.25)
    second = apply_gate("aliases-test", policy, v2, promote_to=CANARY)
    assert second.promoted and second.alias == CANARY
    assert _alias(CANARY) == v2 and _alias(CHAMPION) == v1  # the champion serves until promotion

    assert promote_canary("aliases-test") == v2
    assert _alias(CHAMPION) == v2 and _alias(CANARY) is None
    with pytest.raises(LookupError, match="no 'canary' alias"):
        promote_canary("aliases-test")

    assert rollback("aliases-test") == (v2, v1)
    assert _alias(CHAMPION) == v1
    with pytest.raises(LookupError, match="replaced no earlier champion"):
        rollback("aliases-test")
    with pytest.raises(ValueError, match="promote_to"):
        apply_gate("aliases-test", policy, v2, promote_to="staging")


def test_rollout_state_round_trips_through_redis(redis_ns: RedisNamespace) -> None:
    settings = RedisSettings(url=redis_ns.url, key_prefix=redis_ns.prefix)
    assert read_rollout(settings).canary_version is None
    write_rollout(settings, "7", 0.1)
    state = read_rollout(settings)
    assert state.canary_version == "7" and state.canary_share == pytest.approx(0.1)
    write_rollout(settings, None, 0.5)
    assert read_rollout(settings).canary_share == 0.0  # no canary, no share
    with pytest.raises(ValueError, match="canary share"):
        write_rollout(settings, "7", 1.5)
