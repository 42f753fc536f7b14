import numpy as np
import pandas as pd
import pytest

from components.evaluation.splits import stratified_split, time_split


def _ratings() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = [
        (u, i) for i in range(1, 30) for u in rng.choice(200, size=int(rng.integers(1, 20)), replace=False)
    ]
    return pd.DataFrame(rows, columns=["user_id", "item_id"])


def _recommenders_reference(data: pd.DataFrame, ratio: float, seed: int) -> set[tuple[int, int]]:
    """The published protocol, step by step (python_stratified_split with filter_by="item")."""
    data = data.copy()
    np.random.seed(seed)
    data["random"] = np.random.rand(data.shape[0])
    data = data.sort_values(["item_id", "random"])
    groups = data.groupby("item_id")
    data["rank"] = (groups.cumcount() + 1) / groups["item_id"].transform("count")
    train = data[data["rank"] <= ratio]
    return set(zip(train["user_id"], train["item_id"], strict=True))


def test_stratified_split_matches_the_published_protocol() -> None:
    data = _ratings()
    train, test = stratified_split(data, ratio=0.75, by="item", seed=42)
    assert set(zip(train["user_id"], train["item_id"], strict=True)) == _recommenders_reference(
        data, 0.75, 42
    )
    assert len(train) + len(test) == len(data)
    # Within each item: floor(0.75 * n) rows train (an item seen once goes to test).
    counts = data.groupby("item_id").size()
    train_counts = train.groupby("item_id").size().reindex(counts.index, fill_value=0)
    assert (train_counts == np.floor(0.75 * counts + 1e-9).astype(int)).all()


def test_stratified_split_is_seeded() -> None:
    data = _ratings()
    a, _ = stratified_split(data, seed=1)
    b, _ = stratified_split(data, seed=1)
    c, _ = stratified_split(data, seed=2)
    assert a.equals(b)
    assert not a.index.equals(c.index)


def test_stratified_split_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="ratio"):
        stratified_split(_ratings(), ratio=1.0)
    with pytest.raises(ValueError, match="no column 'user'"):
        stratified_split(_ratings(), user_col="user")


def test_time_split_tests_on_the_last_day_only() -> None:
    ts = pd.to_datetime(
        ["2026-11-01T10:00:00Z", "2026-11-02T23:59:59Z", "2026-11-03T00:00:00Z", "2026-11-03T18:00:00Z"],
        utc=True,
    )
    events = pd.DataFrame({"user_id": ["a", "b", "c", "d"], "ts": ts})
    train, test, cutoff = time_split(events)
    assert cutoff == pd.Timestamp("2026-11-03T00:00Z")
    assert list(train["user_id"]) == ["a", "b"] and list(test["user_id"]) == ["c", "d"]
    train2, test2, _ = time_split(events, test_days=2)
    assert list(train2["user_id"]) == ["a"]
    with pytest.raises(ValueError, match="no events before"):
        time_split(events.iloc[2:])
