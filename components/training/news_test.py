"""Other kinds judged on the ranker's own lists: same lists, scores per list, what a model cannot
score ranked last."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from components.models.kinds import PopularityModel
from components.ranking.features import LoggedLists
from components.training.news import model_scores, news_metrics, plain_table, reference_scores

# An hour boundary relative to the run (no fixed calendar date).
T0 = float(int(datetime.now(UTC).timestamp()) // 3_600 * 3_600)


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def articles() -> list[dict[str, object]]:
    return [{"article_id": f"a{i}", "published_at": iso(T0 - 3_600.0)} for i in range(4)]


def lists() -> LoggedLists:
    # Two lists of two items; the reader clicked a1 in r1 and a3 in r2.
    return LoggedLists(
        request_id=np.array(["r1", "r1", "r2", "r2"], dtype=object),
        user_id=np.array(["u1", "u1", "stranger", "stranger"], dtype=object),
        article=np.array([0, 1, 2, 3]),
        ts=np.full(4, T0),
        position=np.array([0, 1, 0, 1]),
        clicked=np.array([False, True, False, True]),
        features=np.zeros((4, 1), dtype=np.float32),
        known_reader=np.ones(4, dtype=bool),
    )


def test_model_scores_per_list_and_ranks_what_it_cannot_score_last() -> None:
    model = PopularityModel(
        user_ids=["u1"],
        item_ids=["a0", "a1"],
        seen_indptr=np.array([0, 0]),
        seen_indices=np.array([], dtype=np.int32),
        params={},
        item_scores=np.array([1.0, 3.0], dtype=np.float32),
    )
    table = plain_table(articles())
    scores = model_scores(model, lists(), table)
    assert scores[:2].tolist() == [1.0, 3.0]
    assert (scores[2:] < 1.0).all() and scores[2] == scores[3]  # a reader it does not know: a tie
    events = [
        {"type": "click", "article_id": "a3", "ts": iso(T0 - 10.0)},
        {"type": "click", "article_id": "a3", "ts": iso(T0 + 1.0)},  # on the test day: not counted
    ]
    refs = reference_scores(events, lists(), table, T0, seed=0)
    assert refs["popularity"].tolist() == [0.0, 0.0, 0.0, 1.0]  # clicks before the test day only
    metrics = news_metrics({"model": scores, **refs}, lists())
    assert metrics["news_auc"] == 0.75  # r1 ranked right (1.0), r2 a tie (0.5)
    assert metrics["news_popularity_auc"] == 0.75 and metrics["news_lists"] == 2.0
    assert {"news_mrr", "news_ndcg_at_5", "news_ndcg_at_10", "news_random_auc"} <= set(metrics)
