from pathlib import Path

import numpy as np
import pytest

from components.models import (
    EaseModel,
    FactorModel,
    PopularityModel,
    Recommender,
    UnknownUserError,
    load_model,
    save_model,
)
from components.models.kinds import AlsModel

USERS = ["u0", "u1"]
ITEMS = ["a", "b", "c", "d"]
# u0 read a; u1 read c and d.
SEEN = {"seen_indptr": np.array([0, 1, 3]), "seen_indices": np.array([0, 2, 3])}


def _factors() -> AlsModel:
    return AlsModel(
        user_factors=np.array([[1.0, 0.0], [0.0, 1.0]]),
        item_factors=np.array([[4.0, 0.0], [3.0, 1.0], [0.0, 5.0], [1.0, 2.0]]),
        user_ids=USERS,
        item_ids=ITEMS,
        params={"alpha": 1.0, "regularization": 0.1},
        **SEEN,
    )


def test_recommend_ranks_by_score_and_never_returns_seen_or_excluded() -> None:
    model = _factors()
    items, scores = model.recommend("u0", 3)
    assert items == ["b", "d", "c"]  # a (score 4) was seen in training
    np.testing.assert_allclose(scores, [3.0, 1.0, 0.0])
    assert model.recommend("u0", 3, exclude=["b", "zzz"])[0] == ["d", "c"]
    assert model.recommend("u0", 3, recent=["d"])[0] == ["b", "c"]
    allowed = np.array([True, False, True, True])
    assert model.recommend("u0", 3, allowed=allowed)[0] == ["d", "c"]
    # Only b is left for u1; asking for more returns what exists.
    assert model.recommend("u1", 10)[0] == ["b", "a"]


def test_unknown_user_needs_recent_reads() -> None:
    model = _factors()
    with pytest.raises(UnknownUserError):
        model.recommend("new", 2)
    with pytest.raises(UnknownUserError):
        model.recommend("new", 2, recent=["not-in-catalogue"])
    items, _ = model.recommend("new", 2, recent=["c"])
    assert "c" not in items
    assert items[0] == "d"  # folded in towards the second factor, where c lives


def test_fold_in_solves_the_als_user_equation() -> None:
    model = _factors()
    y = model.item_factors.astype(float)
    h = y[[2]]
    a = y.T @ y + 1.0 * h.T @ h + 0.1 * np.eye(2)
    expected = np.linalg.solve(a, 2.0 * h.sum(axis=0))
    np.testing.assert_allclose(model.fold_in([np.array([2])])[0], expected, rtol=1e-5)


def test_score_candidates() -> None:
    model = _factors()
    np.testing.assert_allclose(model.score("u1", ["c", "a", "nope"]), [5.0, 0.0, np.nan])


def test_ease_scores_are_history_times_weights() -> None:
    weights = np.array(
        [[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 2], [0, 0, 3, 0]],
        dtype=np.float32,
    )
    model = EaseModel(weights=weights, user_ids=USERS, item_ids=ITEMS, params={"l2": 1.0}, **SEEN)
    np.testing.assert_allclose(model.user_scores(np.array([1])), [[0, 0, 3, 2]])
    assert model.recommend("u0", 1)[0] == ["b"]
    assert model.recommend("new", 1, recent=["c"])[0] == ["d"]


def test_popularity_is_the_same_for_everyone() -> None:
    model = PopularityModel(
        item_scores=np.array([1.0, 5.0, 3.0, 2.0]), user_ids=USERS, item_ids=ITEMS, params={}, **SEEN
    )
    assert model.recommend("u0", 2)[0] == ["b", "c"]
    assert model.recommend("u1", 2)[0] == ["b", "a"]
    assert model.recommend("new", 2, recent=["b"])[0] == ["c", "d"]


def test_recommend_rows_matches_recommend() -> None:
    model = _factors()
    rows = model.recommend_rows(np.array([0, 1]), 2)
    assert [ITEMS[i] for i in rows[0]] == model.recommend("u0", 2)[0]
    assert [ITEMS[i] for i in rows[1]] == model.recommend("u1", 2)[0]


@pytest.mark.parametrize(
    "model",
    [
        _factors(),
        EaseModel(
            weights=np.eye(4, dtype=np.float32), user_ids=USERS, item_ids=ITEMS, params={"l2": 3.0}, **SEEN
        ),
        PopularityModel(item_scores=np.arange(4.0), user_ids=USERS, item_ids=ITEMS, params={"x": 1}, **SEEN),
    ],
    ids=lambda m: m.kind,
)
def test_save_and_load_round_trip_without_pickle(model: Recommender, tmp_path: Path) -> None:
    folder = save_model(model, tmp_path / "m", extra={"trained_on": "test"})
    assert sorted(p.name for p in folder.iterdir()) == ["arrays.npz", "ids.json", "model.json"]
    loaded = load_model(folder)
    assert type(loaded) is type(model)
    assert loaded.params == model.params
    for name, array in model.arrays().items():
        np.testing.assert_array_equal(loaded.arrays()[name], array)
    assert loaded.recommend("u0", 3)[0] == model.recommend("u0", 3)[0]


def test_load_rejects_unknown_kind_and_bad_shapes(tmp_path: Path) -> None:
    folder = save_model(_factors(), tmp_path / "m")
    meta = (folder / "model.json").read_text().replace('"als"', '"mystery"')
    (folder / "model.json").write_text(meta)
    with pytest.raises(ValueError, match="unknown model kind 'mystery'"):
        load_model(folder)
    with pytest.raises(ValueError, match="do not match"):
        FactorModel(
            user_factors=np.zeros((3, 2)),
            item_factors=np.zeros((4, 2)),
            user_ids=USERS,
            item_ids=ITEMS,
            params={},
            **SEEN,
        )


def test_scoring_the_allowed_rows_only_matches_masking_the_full_scores() -> None:
    """The serving path (`allowed` as ascending rows: only those are scored, FactorModel from
    factors gathered once per live set) returns what the mask over all items returns."""
    rng = np.random.default_rng(4)
    n_users, n_items = 30, 200
    items = [f"i{j}" for j in range(n_items)]
    users = [f"u{j}" for j in range(n_users)]
    seen_indptr = np.arange(0, 3 * n_users + 1, 3)
    seen_indices = rng.integers(0, n_items, 3 * n_users)
    common = {"user_ids": users, "item_ids": items, "seen_indptr": seen_indptr, "seen_indices": seen_indices}
    models: list[Recommender] = [
        AlsModel(
            user_factors=rng.normal(size=(n_users, 8)),
            item_factors=rng.normal(size=(n_items, 8)),
            params={"alpha": 1.0, "regularization": 0.1},
            **common,
        ),
        EaseModel(
            weights=rng.normal(size=(n_items, n_items)).astype(np.float32), params={"l2": 1.0}, **common
        ),
        PopularityModel(item_scores=rng.random(n_items), params={"half_life_hours": 1.0}, **common),
    ]
    mask = rng.random(n_items) < 0.4
    rows = np.flatnonzero(mask)
    for model in models:
        for user, recent in (("u3", []), ("u7", ["i5", "i9"]), ("newcomer", ["i1", "i2", "i150"])):
            kwargs = {"exclude": ["i10", "i11", items[rows[0]]], "recent": recent}
            by_rows = model.recommend(user, 10, allowed=rows, **kwargs)
            again = model.recommend(user, 10, allowed=rows, **kwargs)  # from the cached live set
            by_mask = model.recommend(user, 10, allowed=mask, **kwargs)
            assert by_rows[0] == by_mask[0] == again[0], (model.kind, user)
            np.testing.assert_allclose(by_rows[1], by_mask[1], rtol=1e-5)
            assert set(by_rows[0]) <= {items[r] for r in rows}
