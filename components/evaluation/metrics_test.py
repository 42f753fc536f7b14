import math

import pytest

from components.evaluation.metrics import ranking_metrics


def test_hand_computed_ranking_metrics() -> None:
    recommendations = {"a": ["1", "2", "3"], "b": ["4", "5", "6"], "lonely": ["1", "2", "3"]}
    relevant = {"a": {"1", "3"}, "b": {"7"}, "no_recs": {"1"}}
    m = ranking_metrics(recommendations, relevant, 3, catalogue_size=10)
    # a: hits at ranks 1 and 3. DCG = 1 + 1/log2(4) = 1.5; IDCG = 1 + 1/log2(3).
    ndcg_a = 1.5 / (1 + 1 / math.log2(3))
    assert m.users == 2  # only users with both relevant items and recommendations
    assert m.ndcg == pytest.approx(ndcg_a / 2)
    assert m.precision == pytest.approx((2 / 3) / 2)
    assert m.recall == pytest.approx(1.0 / 2)
    # AP(a) = (1/1 + 2/3) / 2 relevant; b has no hit.
    assert m.map == pytest.approx(((1 + 2 / 3) / 2) / 2)
    assert m.map_at_k == pytest.approx(((1 + 2 / 3) / 2) / 2)
    assert m.coverage == pytest.approx(6 / 10)


def test_more_relevant_items_than_k() -> None:
    m = ranking_metrics({"u": ["1", "2"]}, {"u": {"1", "2", "3", "4", "5"}}, 2)
    assert m.ndcg == pytest.approx(1.0)  # ideal DCG only counts min(|relevant|, k) hits
    assert m.precision == pytest.approx(1.0)
    assert m.recall == pytest.approx(2 / 5)
    assert m.map == pytest.approx(2 / 5)  # (1/1 + 2/2) / 5 relevant
    assert m.map_at_k == pytest.approx(1.0)  # (1/1 + 2/2) / min(5, 2)


def test_short_lists_are_divided_by_k_and_longer_ones_cut() -> None:
    m = ranking_metrics({"u": ["1"]}, {"u": {"1"}}, 4)
    assert m.precision == pytest.approx(1 / 4)
    assert m.ndcg == pytest.approx(1.0)
    long = ranking_metrics({"u": ["9", "9b", "1"]}, {"u": {"1"}}, 2)
    assert long.ndcg == 0.0 and long.recall == 0.0


def test_novelty_and_popularity_bias() -> None:
    popularity = {"1": 0.5, "2": 0.25, "3": 0.125}
    m = ranking_metrics(
        {"u": ["1", "2"], "v": ["3", "new"]}, {"u": {"1"}, "v": {"3"}}, 2, item_popularity=popularity
    )
    # "new" was never seen: it counts at half the rarest popularity, 0.0625 (4 bits).
    assert m.novelty == pytest.approx((1 + 2 + 3 + 4) / 4)
    assert m.popularity_bias == pytest.approx((0.5 + 0.25 + 0.125 + 0.0) / 4)


def test_rejects_bad_k_and_empty_overlap() -> None:
    with pytest.raises(ValueError, match="k must be"):
        ranking_metrics({"u": ["1"]}, {"u": {"1"}}, 0)
    with pytest.raises(ValueError, match="no user"):
        ranking_metrics({"u": ["1"]}, {"v": {"1"}}, 1)


def test_as_dict_names_metrics_with_k() -> None:
    names = ranking_metrics({"u": ["1"]}, {"u": {"1"}}, 10).as_dict()
    assert {"ndcg_at_10", "precision_at_10", "recall_at_10", "map", "map_at_10", "coverage"} <= set(names)
