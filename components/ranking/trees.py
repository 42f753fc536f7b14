"""Score an XGBoost gradient-boosted tree ensemble with numpy only.

The learned ranker is trained offline with XGBoost and saved in its JSON model format
(`booster.save_model("ranker.json")`). The serving process has no xgboost and must never load
compiled native code from the model registry, so it reads that JSON (plain data) into flat arrays
and evaluates it here, matching `booster.predict(DMatrix(x), output_margin=True)`:

- features are cast to float32 and a split goes left when `x < split_condition` (float32), a
  missing value (NaN) follows the node's `default_left`; only numerical splits are supported;
- nodes are renumbered breadth-first so each split's right child is its left child + 1, and all
  trees are concatenated; prediction advances a (trees x rows) node-index matrix one level per
  step (leaves stay put) with `np.take`, then sums the leaf values over trees plus the base margin;
- NaN is replaced by +inf in a copy of the row read by default-right nodes and by -inf in a copy read
  by default-left nodes, so one comparison routes both present and missing values.

The margin is what ranking objectives (`rank:ndcg`, `rank:pairwise`, `rank:map`) order by; for
`binary:logistic` the base margin is logit(base_score) and `predict` applies the sigmoid.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

IDENTITY_OBJECTIVES = frozenset({"rank:ndcg", "rank:pairwise", "rank:map", "reg:squarederror"})
LOGISTIC_OBJECTIVES = frozenset({"binary:logistic"})


def _at(node: Any, path: str, where: str = "") -> Any:
    """The value at dotted `path` below `node` (itself at JSON path `where`); ValueError if missing."""
    walked = where
    for key in path.split("."):
        walked = f"{walked}.{key}" if walked else key
        if not isinstance(node, Mapping) or key not in node:
            raise ValueError(f"{walked}: missing")
        node = node[key]
    return node


def _number(node: Any, path: str, where: str = "") -> float:
    """XGBoost writes scalar params as strings: "5E-1", and "[5E-1]" for 3.x (vector) intercepts."""
    raw, full = _at(node, path, where), f"{where}.{path}" if where else path
    text = str(raw).strip()
    if text.startswith("[") and text.endswith("]"):
        items = [item for item in text[1:-1].split(",") if item.strip()]
        if len(items) != 1:
            raise ValueError(f"{full}: expected one value (a single output), got {raw!r}")
        text = items[0]
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{full}: not a number: {raw!r}") from None


def _count(node: Any, path: str, where: str = "") -> int:
    value = _number(node, path, where)
    if not value.is_integer() or value < 0:
        raise ValueError(f"{where}.{path}: expected a count, got {value}".lstrip("."))
    return int(value)


def _array(tree: Mapping[str, Any], where: str, key: str, size: int, dtype: Any) -> np.ndarray:
    values = _at(tree, key, where)
    try:
        out = np.asarray(values, dtype=dtype)
        if np.dtype(dtype).kind == "i" and not np.array_equal(out, np.asarray(values, dtype=np.float64)):
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError(f"{where}.{key}: not a list of {np.dtype(dtype).name}") from None
    if out.shape != (size,):
        raise ValueError(f"{where}.{key}: expected {size} values (tree_param.num_nodes), got {out.size}")
    return out


@dataclass(frozen=True, eq=False)
class TreeEnsemble:
    """All trees concatenated; node ids are global and a split's two children are consecutive."""

    left_children: np.ndarray  # intp, -1 at leaves
    right_children: np.ndarray  # intp, -1 at leaves, left + 1 at splits
    split_indices: np.ndarray  # intp feature index, 0 at leaves
    split_conditions: np.ndarray  # float32 threshold at splits, leaf value at leaves (as XGBoost)
    default_left: np.ndarray  # bool: where a missing value goes
    is_leaf: np.ndarray  # bool
    leaf_values: np.ndarray  # float32, 0 at splits
    roots: np.ndarray  # intp: each tree's root node
    max_depth: int
    base_score: float
    num_feature: int
    feature_names: tuple[str, ...] | None
    objective: str
    _next: np.ndarray = field(init=False, repr=False)
    _threshold: np.ndarray = field(init=False, repr=False)
    _column: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # A split's next node is left + (x >= threshold); a leaf's is itself (a NaN threshold
        # compares False). Columns >= num_feature read the copy of the row where NaN is -inf.
        ids = np.arange(self.is_leaf.size, dtype=np.intp)
        object.__setattr__(self, "_next", np.where(self.is_leaf, ids, self.left_children))
        threshold = np.where(self.is_leaf, np.float32(np.nan), self.split_conditions).astype(np.float32)
        object.__setattr__(self, "_threshold", threshold)
        object.__setattr__(self, "_column", self.split_indices + self.num_feature * self.default_left)

    @classmethod
    def load(cls, path: str | Path) -> TreeEnsemble:
        return cls.from_xgboost_json(json.loads(Path(path).read_text()))

    @classmethod
    def from_xgboost_json(cls, doc: Mapping[str, Any]) -> TreeEnsemble:
        booster = _at(doc, "learner.gradient_booster.name")
        if booster != "gbtree":
            raise ValueError(f"learner.gradient_booster.name: only 'gbtree' is supported, got {booster!r}")
        param = "learner.learner_model_param"
        for key in ("num_class", "num_target"):
            if key in _at(doc, param) and _count(doc, f"{param}.{key}") > 1:
                raise ValueError(f"{param}.{key}: only single-output models are supported")
        objective = _at(doc, "learner.objective.name")
        if objective not in IDENTITY_OBJECTIVES | LOGISTIC_OBJECTIVES:
            raise ValueError(f"learner.objective.name: unsupported objective {objective!r}")
        num_feature = _count(doc, f"{param}.num_feature")
        base_score = _number(doc, f"{param}.base_score")
        if not math.isfinite(base_score) or (objective in LOGISTIC_OBJECTIVES and not 0 < base_score < 1):
            raise ValueError(f"{param}.base_score: {base_score} is not valid for {objective}")
        learner = _at(doc, "learner")
        for key in ("feature_names", "feature_types"):
            if not isinstance(learner.get(key, []), list):
                raise ValueError(f"learner.{key}: expected a list")
        feature_names = tuple(str(name) for name in learner.get("feature_names", [])) or None
        if feature_names is not None and len(feature_names) != num_feature:
            raise ValueError(f"learner.feature_names: {len(feature_names)} names for {num_feature} features")
        for i, kind in enumerate(learner.get("feature_types", [])):
            if kind == "c":
                raise ValueError(f"learner.feature_types[{i}]: categorical features are not supported")
        where = "learner.gradient_booster.model"
        trees = _at(doc, f"{where}.trees")
        if not isinstance(trees, list):
            raise ValueError(f"{where}.trees: expected a list")
        model, count = _at(doc, where), len(trees)
        if "gbtree_model_param" in model and _count(model, "gbtree_model_param.num_trees", where) != count:
            raise ValueError(f"{where}.gbtree_model_param.num_trees: differs from the {count} trees")
        parts = [_tree(tree, f"{where}.trees[{i}]", num_feature) for i, tree in enumerate(trees)]
        sizes = np.asarray([part[0].size for part in parts], dtype=np.intp)
        roots = (np.cumsum(sizes) - sizes).astype(np.intp)
        left, feature, condition, default = (
            np.concatenate([part[k] for part in parts] or [np.zeros(0)]) for k in range(4)
        )
        is_leaf = left < 0
        left = np.where(is_leaf, -1, left + np.repeat(roots, sizes)).astype(np.intp)
        return cls(
            left_children=left,
            right_children=np.where(is_leaf, -1, left + 1),
            split_indices=np.where(is_leaf, 0, feature).astype(np.intp),
            split_conditions=condition.astype(np.float32),
            default_left=(default != 0) & ~is_leaf,
            is_leaf=is_leaf,
            leaf_values=np.where(is_leaf, condition, 0.0).astype(np.float32),
            roots=roots,
            max_depth=max((part[4] for part in parts), default=0),
            base_score=base_score,
            num_feature=num_feature,
            feature_names=feature_names,
            objective=objective,
        )

    @property
    def base_margin(self) -> float:
        """base_score in margin space, computed in float32 as XGBoost does (-log(1/p - 1))."""
        score = np.float32(self.base_score)
        if self.objective in LOGISTIC_OBJECTIVES:
            return float(-np.log(np.float32(1.0) / score - np.float32(1.0)))
        return float(score)

    def predict_margin(self, x: np.ndarray, batch_rows: int = 4096) -> np.ndarray:
        """The raw score per row (float64), as XGBoost's `predict(DMatrix(x), output_margin=True)`."""
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.num_feature:
            raise ValueError(f"x: expected shape (rows, {self.num_feature}), got {x.shape}")
        if x.shape[0] == 0 or self.roots.size == 0:
            return np.full(x.shape[0], self.base_margin, dtype=np.float64)
        x32 = x.astype(np.float32)  # XGBoost compares in float32
        blocks = [self._margin(x32[start : start + batch_rows]) for start in range(0, len(x32), batch_rows)]
        return np.concatenate(blocks).astype(np.float64)

    def _margin(self, x32: np.ndarray) -> np.ndarray:
        rows = x32.shape[0]
        missing = np.isnan(x32)
        nan_right, nan_left = np.where(missing, np.inf, x32), np.where(missing, -np.inf, x32)
        flat = np.hstack((nan_right, nan_left)).ravel()  # columns >= num_feature: default-left reads
        row_start = np.arange(0, flat.size, 2 * self.num_feature, dtype=np.intp)
        node = self.roots[:, None]  # (trees, 1) broadcasts over rows until the first step
        for _ in range(self.max_depth):
            right = flat.take(self._column.take(node) + row_start) >= self._threshold.take(node)
            node = self._next.take(node) + right
        # XGBoost adds the trees' float32 leaf values one by one, in order, to the base margin.
        leaves = np.broadcast_to(self.leaf_values.take(node), (self.roots.size, rows))
        return leaves.sum(axis=0, dtype=np.float32, initial=np.float32(self.base_margin))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The margin for identity-link objectives; the probability for binary:logistic."""
        margin = self.predict_margin(x)
        return 1.0 / (1.0 + np.exp(-margin)) if self.objective in LOGISTIC_OBJECTIVES else margin


def _tree(
    tree: Any, where: str, num_feature: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """(left, feature, condition, default_left) renumbered breadth-first (left -1 at leaves), depth."""
    if not isinstance(tree, Mapping):
        raise ValueError(f"{where}: expected an object")
    n = _count(tree, "tree_param.num_nodes", where)
    if n < 1:
        raise ValueError(f"{where}.tree_param.num_nodes: a tree needs at least one node")
    tree_param = _at(tree, "tree_param", where)
    if "num_feature" in tree_param and _count(tree_param, "num_feature", where) != num_feature:
        raise ValueError(f"{where}.tree_param.num_feature: differs from learner_model_param.num_feature")
    if "size_leaf_vector" in tree_param and _count(tree_param, "size_leaf_vector", where) > 1:
        raise ValueError(f"{where}.tree_param.size_leaf_vector: multi-target trees are not supported")
    left, right, feature, default = (
        _array(tree, where, key, n, np.int64)
        for key in ("left_children", "right_children", "split_indices", "default_left")
    )
    condition = _array(tree, where, "split_conditions", n, np.float32)
    if np.isnan(condition).any():
        raise ValueError(f"{where}.split_conditions: NaN at node {int(np.argmax(np.isnan(condition)))}")
    if "split_type" in tree and np.any(_array(tree, where, "split_type", n, np.int64) != 0):
        raise ValueError(f"{where}.split_type: categorical splits are not supported (numerical only)")
    order, frontier, seen, depth = [0], [0], {0}, 0
    while frontier:
        children = []
        for node in frontier:
            pair = (int(left[node]), int(right[node]))
            if pair == (-1, -1):
                continue
            if not 0 <= feature[node] < num_feature:
                raise ValueError(f"{where}.split_indices[{node}]: feature {feature[node]} out of range")
            for child, key in zip(pair, ("left_children", "right_children"), strict=True):
                if not 0 < child < n or child in seen:
                    raise ValueError(f"{where}.{key}[{node}]: {child} is not a fresh node in 1..{n - 1}")
                seen.add(child)
                children.append(child)
        order += children
        depth, frontier = depth + bool(children), children
    old = np.asarray(order, dtype=np.intp)
    position = np.zeros(n, dtype=np.int64)
    position[old] = np.arange(old.size)
    new_left = np.where(left[old] < 0, -1, position[np.maximum(left[old], 0)])
    return new_left, feature[old], condition[old], default[old], depth
