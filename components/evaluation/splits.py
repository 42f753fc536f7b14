"""Train/test splits for interaction logs.

- `stratified_split`: the Microsoft Recommenders `python_stratified_split` protocol, so that
  results compare with its published benchmark: within each group (item or user), rows are put
  in a seeded random order and the first `ratio` share goes to train.
- `time_split`: for event data, train on everything before the last `test_days` calendar days
  (UTC) and test on those days, so no future event leaks into training.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

import numpy as np
import pandas as pd


def stratified_split(
    interactions: pd.DataFrame,
    *,
    ratio: float = 0.75,
    by: Literal["item", "user"] = "item",
    seed: int = 42,
    user_col: str = "user_id",
    item_col: str = "item_id",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split each `by` group's rows: a `ratio` share to train, the rest to test.

    Same draw as Recommenders: `np.random.seed(seed)` then one uniform per row in input order,
    rows sorted by (group, draw), and a row goes to train when its rank / group size <= ratio.
    """
    if not 0.0 < ratio < 1.0:
        raise ValueError(f"ratio must be in (0, 1), got {ratio}")
    if by not in ("item", "user"):
        raise ValueError(f"by must be 'item' or 'user', got {by!r}")
    group_col = item_col if by == "item" else user_col
    for column in (user_col, item_col):
        if column not in interactions.columns:
            raise ValueError(f"interactions has no column {column!r}")
    rng = np.random.RandomState(seed)  # the legacy global generator's stream, as np.random.seed
    draw = rng.rand(len(interactions))
    ordered = interactions.assign(_draw=draw).sort_values([group_col, "_draw"], kind="mergesort")
    groups = ordered.groupby(group_col, sort=False)
    rank = (groups.cumcount() + 1) / groups[group_col].transform("count")
    in_train = rank <= ratio
    train = ordered[in_train].drop(columns="_draw")
    test = ordered[~in_train].drop(columns="_draw")
    return train, test


def time_split(
    events: pd.DataFrame, *, test_days: int = 1, ts_col: str = "ts"
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp]:
    """Events before the cutoff (midnight UTC `test_days` before the last event's day) train,
    the rest test. Returns (train, test, cutoff)."""
    if test_days < 1:
        raise ValueError(f"test_days must be >= 1, got {test_days}")
    if events.empty:
        raise ValueError("no events to split")
    ts = pd.to_datetime(events[ts_col], utc=True)
    cutoff = ts.max().floor("D") - pd.Timedelta(timedelta(days=test_days - 1))
    before = ts < cutoff
    if not before.any():
        raise ValueError(
            f"no events before the cutoff {cutoff.isoformat()}: need more than {test_days} day(s)"
        )
    return events[before.to_numpy()], events[~before.to_numpy()], cutoff
