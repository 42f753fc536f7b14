"""TreeEnsemble equals XGBoost's own margins on small real models (pipelines resolve: needs xgboost)."""

from __future__ import annotations

import json
import timeit
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from components.ranking.trees import TreeEnsemble

FEATURES = 8
GROUP = 10


def _features(rng: np.random.Generator, rows: int) -> np.ndarray:
    """Three small-integer columns (so thresholds fall on data values), five normal ones, 15% NaN."""
    x = rng.normal(size=(rows, FEATURES))
    x[:, :3] = rng.integers(0, 5, size=(rows, 3))
    x[rng.random(x.shape) < 0.15] = np.nan
    return x


def _signal(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    filled = np.nan_to_num(x)
    return (
        filled[:, 0] - filled[:, 3] + 0.5 * filled[:, 1] * filled[:, 4] + rng.normal(scale=0.5, size=len(x))
    )


def _held_out(model: TreeEnsemble, rng: np.random.Generator) -> np.ndarray:
    """Fresh rows, plus rows whose features sit exactly on split thresholds (and within float32 rounding)."""
    x = _features(rng, 200)
    splits = np.flatnonzero(~model.is_leaf)
    on_threshold = _features(rng, 300)
    for column in range(FEATURES):
        thresholds = model.split_conditions[splits[model.split_indices[splits] == column]].astype(np.float64)
        if thresholds.size:
            picked = rng.choice(thresholds, size=len(on_threshold))
            nudge = rng.choice([0.0, 0.0, -1e-12, 1e-12], size=len(on_threshold))
            keep = np.isnan(on_threshold[:, column]) & (rng.random(len(on_threshold)) < 0.5)
            on_threshold[:, column] = np.where(keep, np.nan, picked + nudge)
    return np.vstack([x, on_threshold])


def _check(booster: xgb.Booster, tmp_path: Path, **dmatrix: Any) -> TreeEnsemble:
    path = tmp_path / "model.json"
    booster.save_model(path)
    model = TreeEnsemble.load(path)
    x = _held_out(model, np.random.default_rng(7))
    theirs = booster.predict(xgb.DMatrix(x, **dmatrix), output_margin=True)
    ours = model.predict_margin(x)
    assert np.allclose(ours, theirs, atol=1e-5), np.abs(ours - theirs).max()
    assert np.allclose(model.predict(x), booster.predict(xgb.DMatrix(x, **dmatrix)), atol=1e-6)
    return model


def test_rank_ndcg_ranker(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = _features(rng, 1000)
    relevance = np.digitize(_signal(x, rng), [-1.0, 0.5, 2.0])
    ranker = xgb.XGBRanker(objective="rank:ndcg", n_estimators=60, max_depth=6, n_jobs=2, random_state=0)
    ranker.fit(x, relevance, qid=np.arange(len(x)) // GROUP)
    model = _check(ranker.get_booster(), tmp_path)
    assert (model.objective, model.roots.size, model.max_depth) == ("rank:ndcg", 60, 6)


def test_rank_pairwise_train_with_qid_and_feature_names(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x = _features(rng, 1000)
    names = [f"f{i}" for i in range(FEATURES)]
    train = xgb.DMatrix(x, label=_signal(x, rng) > 0, qid=np.arange(len(x)) // GROUP, feature_names=names)
    params = {"objective": "rank:pairwise", "max_depth": 4, "eta": 0.3, "nthread": 2}
    booster = xgb.train(params, train, num_boost_round=40)
    model = _check(booster, tmp_path, feature_names=names)
    assert model.feature_names == tuple(names)


def test_binary_logistic_classifier(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    x = _features(rng, 1500)
    classifier = xgb.XGBClassifier(n_estimators=50, max_depth=5, n_jobs=2, random_state=0)
    classifier.fit(x, (_signal(x, rng) > 0.3).astype(int))
    model = _check(classifier.get_booster(), tmp_path)
    assert model.objective == "binary:logistic" and 0 < model.base_score < 1


def test_squared_error_regressor(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    x = _features(rng, 1500)
    regressor = xgb.XGBRegressor(n_estimators=50, max_depth=6, n_jobs=2, random_state=0)
    regressor.fit(x, _signal(x, rng) + 3.0)
    model = _check(regressor.get_booster(), tmp_path)
    assert model.objective == "reg:squarederror" and model.base_score > 1


def test_200_trees_depth_6_on_300_rows(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    x = _features(rng, 3000)
    relevance = np.digitize(_signal(x, rng), [-1.0, 0.5, 2.0])
    train = xgb.DMatrix(x, label=relevance, qid=np.arange(len(x)) // GROUP)
    booster = xgb.train({"objective": "rank:ndcg", "max_depth": 6, "nthread": 2}, train, num_boost_round=200)
    model = _check(booster, tmp_path)
    rows = _features(rng, 300)
    seconds = min(timeit.repeat(lambda: model.predict_margin(rows), number=50, repeat=5)) / 50
    print(f"\nTreeEnsemble.predict_margin: 300 rows x {model.roots.size} trees: {seconds * 1e3:.3f} ms/call")


def _json(booster: xgb.Booster) -> dict[str, Any]:
    return json.loads(booster.save_raw(raw_format="json"))


def test_categorical_model_is_rejected() -> None:
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"x": rng.normal(size=400), "topic": pd.Categorical(rng.choice(list("abcd"), 400))})
    target = frame["x"] + 2.0 * (frame["topic"] == "b")
    regressor = xgb.XGBRegressor(n_estimators=3, max_depth=3, enable_categorical=True, n_jobs=2)
    doc = _json(regressor.fit(frame, target).get_booster())
    with pytest.raises(
        ValueError, match=r"learner.feature_types\[1\]: categorical features are not supported"
    ):
        TreeEnsemble.from_xgboost_json(doc)
    doc["learner"]["feature_types"] = []
    with pytest.raises(ValueError, match=r"trees\[0\].split_type: categorical splits are not supported"):
        TreeEnsemble.from_xgboost_json(doc)


def test_multi_output_and_dart_are_rejected() -> None:
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(90, 3)), np.arange(90) % 3
    multiclass = xgb.XGBClassifier(n_estimators=2, max_depth=2, n_jobs=2).fit(x, y)
    with pytest.raises(ValueError, match="learner_model_param.num_class: only single-output"):
        TreeEnsemble.from_xgboost_json(_json(multiclass.get_booster()))
    targets = rng.normal(size=(90, 2))
    multi = xgb.XGBRegressor(n_estimators=2, max_depth=2, multi_strategy="multi_output_tree", n_jobs=2)
    with pytest.raises(ValueError, match="learner_model_param.num_target: only single-output"):
        TreeEnsemble.from_xgboost_json(_json(multi.fit(x, targets).get_booster()))
    dart = xgb.XGBRegressor(n_estimators=2, max_depth=2, booster="dart", n_jobs=2).fit(x, y)
    with pytest.raises(ValueError, match="learner.gradient_booster.name: only 'gbtree'"):
        TreeEnsemble.from_xgboost_json(_json(dart.get_booster()))
