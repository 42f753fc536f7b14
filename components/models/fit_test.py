from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from components.models import load_model, save_model
from components.models.fit import ModelSizeError, build_interactions, fit_model
from components.testing.services import MlflowStore


def _two_communities(users_per_group: int = 30, items_per_group: int = 10) -> pd.DataFrame:
    """Group A reads items a*, group B reads b*; each user reads 6 of their group's items."""
    rng = np.random.default_rng(7)
    rows = []
    for group in ("a", "b"):
        for u in range(users_per_group):
            for i in rng.choice(items_per_group, size=6, replace=False):
                rows.append((f"{group}-user{u}", f"{group}{i}"))
    return pd.DataFrame(rows, columns=["user_id", "item_id"])


def test_build_interactions_maps_ids_reproducibly_and_binarizes() -> None:
    frame = pd.DataFrame({"user_id": ["u2", "u1", "u2", "u2"], "item_id": ["x", "y", "x", "z"]})
    data = build_interactions(frame)
    assert list(data.user_ids) == ["u1", "u2"] and list(data.item_ids) == ["x", "y", "z"]
    assert data.matrix.toarray().tolist() == [[0, 1, 0], [1, 0, 1]]
    counted = build_interactions(frame, binary=False)
    assert counted.matrix.toarray().tolist() == [[0, 1, 0], [2, 0, 1]]
    with pytest.raises(ValueError, match="no column 'ts'"):
        build_interactions(frame, ts_col="ts")


@pytest.mark.parametrize("kind", ["als", "bpr", "ease"])
def test_personal_models_recommend_within_the_community(kind: str) -> None:
    data = build_interactions(_two_communities())
    model = fit_model(kind, data, {"iterations": 200} if kind == "bpr" else None)
    for user in ("a-user0", "b-user3"):
        items, _ = model.recommend(user, 3)
        assert len(items) == 3
        assert all(item[0] == user[0] for item in items), (kind, user, items)
    # A new reader folded in from two b-items is recommended b-items.
    items, _ = model.recommend("newcomer", 3, recent=["b1", "b2"])
    assert all(item.startswith("b") for item in items), (kind, items)


def test_ease_weights_match_the_closed_form() -> None:
    data = build_interactions(_two_communities(5, 8))
    model = fit_model("ease", data, {"l2": 2.0})
    x = data.matrix.toarray().astype(float)
    p = np.linalg.inv(x.T @ x + 2.0 * np.eye(x.shape[1]))
    b = np.eye(x.shape[1]) - p / np.diag(p)
    np.testing.assert_allclose(model.arrays()["weights"], b, atol=1e-5)


def test_popularity_decays_with_age() -> None:
    frame = pd.DataFrame(
        {
            "user_id": ["u1", "u2", "u3", "u4"],
            "item_id": ["old", "old", "old", "new"],
            "ts": pd.to_datetime(["2026-11-01", "2026-11-01", "2026-11-01", "2026-11-03"], utc=True),
        }
    )
    data = build_interactions(frame, ts_col="ts")
    decayed = fit_model("popularity", data, {"half_life_hours": 12.0})
    scores = dict(zip(decayed.item_ids, decayed.arrays()["item_scores"], strict=True))
    assert scores["new"] == pytest.approx(1.0)
    assert scores["old"] == pytest.approx(3 * 2.0**-4)  # 48 h old, 12 h half-life
    flat = fit_model("popularity", data, {"half_life_hours": 1e9})
    assert dict(zip(flat.item_ids, flat.arrays()["item_scores"], strict=True))["old"] == pytest.approx(3.0)
    # silver's timestamps are microseconds: the decay is the same (it once read them as seconds)
    frame["ts"] = frame["ts"].dt.as_unit("us")
    micro = fit_model("popularity", build_interactions(frame, ts_col="ts"), {"half_life_hours": 12.0})
    assert dict(zip(micro.item_ids, micro.arrays()["item_scores"], strict=True))["old"] == pytest.approx(
        3 * 2.0**-4
    )


def test_fit_names_unknown_kinds_and_parameters() -> None:
    data = build_interactions(_two_communities(2, 7))
    with pytest.raises(ValueError, match="unknown model kind 'svd'"):
        fit_model("svd", data)
    with pytest.raises(ValueError, match=r"unknown als parameter\(s\) \['factor'\]"):
        fit_model("als", data, {"factor": 3})


def test_als_is_reproducible_with_a_seed(tmp_path: Path) -> None:
    data = build_interactions(_two_communities())
    one = fit_model("als", data, seed=3)
    two = fit_model("als", data, seed=3)
    np.testing.assert_allclose(one.arrays()["item_factors"], two.arrays()["item_factors"], rtol=1e-5)
    again = load_model(save_model(one, tmp_path / "als"))
    assert again.recommend("a-user1", 5)[0] == one.recommend("a-user1", 5)[0]


def test_logged_pyfunc_loads_from_the_registry_and_recommends(
    mlflow_tracking: MlflowStore, tmp_path: Path
) -> None:
    from components.registry.tracking import log_model_artifact

    data = build_interactions(_two_communities())
    model = fit_model("ease", data)
    with mlflow.start_run():
        info = log_model_artifact(model, tmp_path)
    version = mlflow.register_model(info.model_uri, "pyfunc-test")
    loaded = mlflow.pyfunc.load_model(f"models:/pyfunc-test/{version.version}")
    out = loaded.predict(
        pd.DataFrame({"user_id": ["a-user0", "stranger"], "k": [2, 2], "exclude": [["a0"], None]})
    )
    assert out["reason"].tolist() == ["personal", "unknown_user"]
    assert len(out["article_ids"][0]) == 2 and "a0" not in out["article_ids"][0]
    assert out["article_ids"][0] == model.recommend("a-user0", 2, exclude=["a0"])[0]
    # Models from code: the artifacts hold source and numpy arrays, no pickle.
    stored = [p.name for p in mlflow_tracking.root.rglob("*") if p.is_file()]
    assert "arrays.npz" in stored
    assert not [name for name in stored if name.endswith((".pkl", ".pickle", ".cloudpickle"))]


def test_ease_refuses_a_catalogue_too_large_for_its_dense_inverse() -> None:
    frame = pd.DataFrame({"user_id": ["u1", "u1", "u2"], "item_id": ["a", "b", "c"]})
    data = build_interactions(frame)
    with pytest.raises(ModelSizeError, match="ease: 3 items exceed max_items 2"):
        fit_model("ease", data, {"max_items": 2})
    assert fit_model("ease", data, {"max_items": 3}).n_items == 3
