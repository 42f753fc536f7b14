import numpy as np
import pytest

from components.ranking.features import FEATURES, LoggedLists
from components.ranking.train import RankerParams, choose_device, train_ranker, training_rows

RELEVANCE = FEATURES.index("ctr_6h")  # any column: the synthetic logs put relevance there


def synthetic_logs(n_lists: int, seed: int) -> tuple[LoggedLists, np.ndarray]:
    """Lists of 10 where the logger tends to show the LEAST relevant items on top (a noisy
    order, or nothing could tell position from relevance within a list), and readers examine
    position p with probability 1 / (1 + p) ** 1.5: clicks confound relevance with position."""
    rng = np.random.default_rng(seed)
    size = 10
    relevance = rng.random((n_lists, size))
    order = np.argsort(relevance + rng.normal(0.0, 0.3, relevance.shape), axis=1)  # worst first, mostly
    shown = np.take_along_axis(relevance, order, axis=1)
    positions = np.tile(np.arange(size), (n_lists, 1))
    p_click = (1.0 / (1.0 + positions) ** 1.5) * (0.05 + 0.6 * shown)
    clicked = rng.random(p_click.shape) < p_click
    features = np.zeros((n_lists * size, len(FEATURES)), dtype=np.float32)
    features[:, FEATURES.index("position")] = positions.ravel()
    features[:, RELEVANCE] = shown.ravel()
    # a distractor with no effect
    features[:, FEATURES.index("age_h")] = rng.random(n_lists * size)
    n = n_lists * size
    lists = LoggedLists(
        request_id=np.repeat(np.array([f"r{i}" for i in range(n_lists)], dtype=object), size),
        user_id=np.full(n, "u", dtype=object),
        article=np.arange(n),
        ts=np.zeros(n),
        position=positions.ravel(),
        clicked=clicked.ravel(),
        features=features,
        known_reader=np.ones(n, dtype=bool),
    )
    return lists, shown.ravel()


def score(booster: object, features: np.ndarray) -> np.ndarray:
    import xgboost as xgb

    assert isinstance(booster, xgb.Booster)
    out: np.ndarray = booster.predict(xgb.DMatrix(features, feature_names=list(FEATURES)), output_margin=True)
    return out


def test_position_as_a_feature_recovers_relevance_the_logger_confounded() -> None:
    lists, relevance = synthetic_logs(4_000, seed=1)
    params = RankerParams(n_estimators=60, max_depth=3)
    with_position = train_ranker(lists, params)
    blind = lists.select(np.ones(len(lists.article), dtype=bool))
    blind.features = blind.features.copy()
    blind.features[:, FEATURES.index("position")] = 0.0  # a ranker that ignores position
    without_position = train_ranker(blind, params)

    grid = np.zeros((50, len(FEATURES)), dtype=np.float32)
    grid[:, RELEVANCE] = np.linspace(0.0, 1.0, 50)  # all at position 0, as serving scores them
    corrected = np.corrcoef(score(with_position, grid), grid[:, RELEVANCE])[0, 1]
    confounded = np.corrcoef(score(without_position, grid), grid[:, RELEVANCE])[0, 1]
    # the known effect: clicks rise with relevance at a fixed position
    assert corrected > 0.5
    # ignoring position, the logger's order (worst on top) makes relevance look harmful
    assert confounded < 0.0
    # and the position effect itself is learned: lower is better at a fixed relevance
    at = np.zeros((2, len(FEATURES)), dtype=np.float32)
    at[:, RELEVANCE] = 0.5
    at[1, FEATURES.index("position")] = 6
    top, low = score(with_position, at)
    assert top > low
    assert len(relevance) == len(lists.article)


def test_only_lists_with_a_click_and_a_non_click_teach() -> None:
    lists, _ = synthetic_logs(30, seed=2)
    lists.clicked[:10] = True  # the first list: all clicked
    lists.clicked[10:20] = False  # the second: none
    kept = set(training_rows(lists).request_id.tolist())
    assert "r0" not in kept and "r1" not in kept
    none_clicked = lists.select(np.zeros(len(lists.article), dtype=bool) | ~lists.clicked)
    none_clicked.clicked = np.zeros(len(none_clicked.article), dtype=bool)
    with pytest.raises(ValueError, match="lists: no request"):
        train_ranker(none_clicked)


def test_device_choice() -> None:
    import xgboost as xgb

    assert choose_device("cpu", probe=lambda: True) == "cpu"
    assert choose_device("auto", probe=lambda: False) == "cpu"
    cuda_build = bool(xgb.build_info().get("USE_CUDA"))
    assert choose_device("auto", probe=lambda: True) == ("cuda" if cuda_build else "cpu")
    with pytest.raises(ValueError, match="device: cuda requested"):
        choose_device("cuda", probe=lambda: False)
    with pytest.raises(ValueError, match="device: must be one of"):
        choose_device("tpu")
