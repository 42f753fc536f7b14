"""The references every candidate is measured against on its own split (the gate needs them)."""

import numpy as np
import pandas as pd

from components.models.fit import build_interactions, fit_model
from components.training.train import baseline_ndcg, evaluate


def frame() -> pd.DataFrame:
    # 40 readers; "hit" is read by most of them on both days, the tail once each
    rng = np.random.default_rng(0)
    rows = []
    for n in range(40):
        user = f"u{n:02d}"
        rows.append((user, "hit" if n % 4 else "hit2", "2026-11-01T08:00:00Z"))
        rows.extend((user, f"tail{rng.integers(200)}", "2026-11-01T09:00:00Z") for _ in range(2))
        rows.append((user, "hit2" if n % 4 else "hit", "2026-11-02T08:00:00Z"))
    return pd.DataFrame(rows, columns=["user_id", "article_id", "ts"]).assign(
        ts=lambda f: pd.to_datetime(f["ts"])
    )


def test_references_are_measured_on_the_same_users_and_never_recommend_what_was_read() -> None:
    events = frame()
    train, test = events[events["ts"] < "2026-11-02"], events[events["ts"] >= "2026-11-02"]
    data = build_interactions(train, item_col="article_id", ts_col="ts")
    model = fit_model("ease", data, {"l2": 10.0})
    metrics = evaluate(model, data, test, catalogue_size=250)
    assert {"baseline_popularity_ndcg_at_10", "baseline_random_ndcg_at_10"} <= set(metrics)
    # every reader read one of the two hits; the other is what they read next: popularity
    # (which excludes what they read) finds it at the top, random almost never
    assert metrics["baseline_popularity_ndcg_at_10"] > 0.5
    assert metrics["baseline_random_ndcg_at_10"] < 0.2
    relevant = test.groupby("user_id")["article_id"].agg(set).to_dict()
    users = sorted(relevant)
    again = baseline_ndcg(model, data, users, relevant, seed=42)
    assert again == baseline_ndcg(model, data, users, relevant, seed=42)  # seeded
