"""TreeEnsemble over a hand-written two-tree model in XGBoost's JSON format (numpy only)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from components.ranking.trees import TreeEnsemble

NAN = float("nan")


def _doc(objective: str = "reg:squarederror", base_score: str = "[5E-1]") -> dict[str, Any]:
    """Tree 0 (nodes deliberately not breadth-first): f0 < 0.5 (missing left) -> 1.0, else
    f1 < -1 (missing right) -> 2.0 else 3.0. Tree 1: f1 < 0 (missing left) -> 0.25 else -0.5."""
    tree0 = {
        "tree_param": {"num_nodes": "5", "num_feature": "2", "size_leaf_vector": "1"},
        "left_children": [2, 4, -1, -1, -1],
        "right_children": [1, 3, -1, -1, -1],
        "split_indices": [0, 1, 0, 0, 0],
        "split_conditions": [0.5, -1.0, 1.0, 3.0, 2.0],
        "default_left": [1, 0, 0, 0, 0],
    }
    tree1 = {
        "tree_param": {"num_nodes": "3"},
        "left_children": [1, -1, -1],
        "right_children": [2, -1, -1],
        "split_indices": [1, 0, 0],
        "split_conditions": [0.0, 0.25, -0.5],
        "default_left": [1, 0, 0],
        "split_type": [0, 0, 0],
    }
    return {
        "learner": {
            "gradient_booster": {"name": "gbtree", "model": {"trees": [tree0, tree1]}},
            "learner_model_param": {"base_score": base_score, "num_feature": "2", "num_class": "0"},
            "objective": {"name": objective},
        }
    }


ROWS = np.array(
    [
        [0.0, 0.0],  # 1.0 - 0.5
        [0.5, -2.0],  # equal to the threshold goes right: 2.0 + 0.25
        [1.0, -1.0],  # 3.0 + 0.25
        [NAN, NAN],  # default left in both: 1.0 + 0.25
        [1.0, NAN],  # right, then default right: 3.0; default left: 0.25
        [0.5 - 1e-12, 5.0],  # 0.5 in float32, so right: 3.0 - 0.5 (float64 would go left)
        [-np.inf, np.inf],  # 1.0 - 0.5
    ]
)
TREES_SUM = np.array([0.5, 2.25, 3.25, 1.25, 3.25, 2.5, 0.5])


def test_known_margins_with_missing_values_and_thresholds() -> None:
    model = TreeEnsemble.from_xgboost_json(_doc())
    np.testing.assert_array_equal(model.predict_margin(ROWS), TREES_SUM + 0.5)
    np.testing.assert_array_equal(model.predict(ROWS), TREES_SUM + 0.5)
    np.testing.assert_array_equal(model.predict_margin(ROWS.astype(np.float32)), TREES_SUM + 0.5)
    np.testing.assert_array_equal(model.predict_margin(ROWS, batch_rows=2), TREES_SUM + 0.5)
    assert model.predict_margin(ROWS).dtype == np.float64


def test_flat_arrays_are_breadth_first_and_concatenated() -> None:
    model = TreeEnsemble.from_xgboost_json(_doc())
    np.testing.assert_array_equal(model.roots, [0, 5])
    np.testing.assert_array_equal(model.left_children, [1, -1, 3, -1, -1, 6, -1, -1])
    np.testing.assert_array_equal(model.right_children, [2, -1, 4, -1, -1, 7, -1, -1])
    np.testing.assert_array_equal(model.split_indices, [0, 0, 1, 0, 0, 1, 0, 0])
    np.testing.assert_array_equal(model.split_conditions, [0.5, 1.0, -1.0, 2.0, 3.0, 0.0, 0.25, -0.5])
    np.testing.assert_array_equal(model.default_left, [1, 0, 0, 0, 0, 1, 0, 0])
    np.testing.assert_array_equal(model.is_leaf, [0, 1, 0, 1, 1, 0, 1, 1])
    np.testing.assert_array_equal(model.leaf_values, [0, 1, 0, 2, 3, 0, 0.25, -0.5])
    assert model.split_conditions.dtype == np.float32
    assert (model.max_depth, model.num_feature, model.base_score) == (2, 2, 0.5)
    assert (model.objective, model.feature_names) == ("reg:squarederror", None)


def test_logistic_base_margin_is_the_logit_and_predict_the_sigmoid() -> None:
    model = TreeEnsemble.from_xgboost_json(_doc("binary:logistic", "[7.5E-1]"))
    margin = model.predict_margin(ROWS)
    np.testing.assert_allclose(margin, TREES_SUM + np.log(3.0), rtol=1e-6)
    np.testing.assert_allclose(model.predict(ROWS), 1.0 / (1.0 + np.exp(-margin)))


@pytest.mark.parametrize("objective", ["rank:ndcg", "rank:pairwise", "rank:map"])
def test_ranking_margin_adds_base_score_and_older_scalar_format(objective: str) -> None:
    model = TreeEnsemble.from_xgboost_json(_doc(objective, "5E-1"))
    np.testing.assert_array_equal(model.predict(ROWS), TREES_SUM + 0.5)


def test_load_reads_a_saved_file_with_feature_names(tmp_path: Path) -> None:
    doc = _doc()
    doc["learner"]["feature_names"] = ["age", "ctr"]
    doc["learner"]["feature_types"] = ["float", "float"]
    path = tmp_path / "ranker.json"
    path.write_text(json.dumps(doc))
    model = TreeEnsemble.load(path)
    assert model.feature_names == ("age", "ctr")
    np.testing.assert_array_equal(model.predict_margin(ROWS), TREES_SUM + 0.5)


def test_no_rows_no_trees_and_wrong_shapes() -> None:
    model = TreeEnsemble.from_xgboost_json(_doc())
    assert model.predict_margin(np.zeros((0, 2))).shape == (0,)
    with pytest.raises(ValueError, match=r"x: expected shape \(rows, 2\)"):
        model.predict_margin(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="x: expected shape"):
        model.predict_margin(np.zeros(2))
    empty = _doc()
    empty["learner"]["gradient_booster"]["model"]["trees"] = []
    np.testing.assert_array_equal(TreeEnsemble.from_xgboost_json(empty).predict_margin(ROWS), [0.5] * 7)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value

    return mutate


_DELETE = object()
TREE0 = "learner.gradient_booster.model.trees.0"
TREE1 = "learner.gradient_booster.model.trees.1"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            _set("learner.gradient_booster.model.trees", _DELETE),
            r"^learner.gradient_booster.model.trees: missing",
        ),
        (
            _set("learner.gradient_booster.model.trees", {}),
            r"^learner.gradient_booster.model.trees: expected a list",
        ),
        (_set("learner.gradient_booster.name", "dart"), r"^learner.gradient_booster.name: only 'gbtree'"),
        (_set("learner.gradient_booster.name", "gblinear"), r"^learner.gradient_booster.name: "),
        (_set("learner.objective.name", "reg:gamma"), r"^learner.objective.name: unsupported"),
        (_set("learner.objective", _DELETE), r"^learner.objective: missing"),
        (
            _set("learner.learner_model_param.num_class", "3"),
            r"^learner.learner_model_param.num_class: only single",
        ),
        (_set("learner.learner_model_param.num_target", "2"), r"learner_model_param.num_target: only single"),
        (_set("learner.learner_model_param.base_score", "[5E-1,5E-1]"), r"base_score: expected one value"),
        (_set("learner.learner_model_param.base_score", "high"), r"base_score: not a number"),
        (_set("learner.learner_model_param.num_feature", "2.5"), r"num_feature: expected a count"),
        (_set("learner.learner_model_param.num_feature", "3"), r"trees\[0\].tree_param.num_feature: differs"),
        (_set("learner.feature_names", ["a"]), r"^learner.feature_names: 1 names for 2 features"),
        (_set("learner.feature_types", ["float", "c"]), r"^learner.feature_types\[1\]: categorical"),
        (
            _set("learner.gradient_booster.model.trees", [1]),
            r"^learner.gradient_booster.model.trees\[0\]: expected",
        ),
        (
            _set(f"{TREE1}.tree_param", _DELETE),
            r"^learner.gradient_booster.model.trees\[1\].tree_param: missing",
        ),
        (_set(f"{TREE0}.tree_param.num_nodes", "4"), r"trees\[0\].left_children: expected 4 values"),
        (_set(f"{TREE0}.tree_param.num_nodes", "0"), r"trees\[0\].tree_param.num_nodes: a tree needs"),
        (
            _set(f"{TREE0}.tree_param.size_leaf_vector", "3"),
            r"trees\[0\].tree_param.size_leaf_vector: multi-target",
        ),
        (_set(f"{TREE0}.default_left", ["yes"] * 5), r"trees\[0\].default_left: not a list of int64"),
        (_set(f"{TREE0}.split_indices", [0.5, 1, 0, 0, 0]), r"trees\[0\].split_indices: not a list of int64"),
        (
            _set(f"{TREE0}.split_indices", [0, 2, 0, 0, 0]),
            r"trees\[0\].split_indices\[1\]: feature 2 out of range",
        ),
        (_set(f"{TREE0}.split_conditions", [NAN, 0, 0, 0, 0]), r"trees\[0\].split_conditions: NaN at node 0"),
        (
            _set(f"{TREE0}.right_children", [1, 0, -1, -1, -1]),
            r"trees\[0\].right_children\[1\]: 0 is not a fresh",
        ),
        (
            _set(f"{TREE0}.left_children", [2, 2, -1, -1, -1]),
            r"trees\[0\].left_children\[1\]: 2 is not a fresh",
        ),
        (
            _set(f"{TREE0}.left_children", [2, -1, -1, -1, -1]),
            r"trees\[0\].left_children\[1\]: -1 is not a fresh",
        ),
        (_set(f"{TREE1}.split_type", [1, 0, 0]), r"trees\[1\].split_type: categorical splits"),
        (
            _set("learner.gradient_booster.model.gbtree_model_param", {"num_trees": "3"}),
            r"num_trees: differs",
        ),
    ],
)
def test_malformed_documents_name_the_json_path(
    mutate: Callable[[dict[str, Any]], None], message: str
) -> None:
    doc = copy.deepcopy(_doc())
    mutate(doc)
    with pytest.raises(ValueError, match=message):
        TreeEnsemble.from_xgboost_json(doc)
