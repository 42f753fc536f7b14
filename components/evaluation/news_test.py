"""MIND-style impression-list metrics: hand-computed lists, edge cases, and the vectorised
computation against a naive per-list one."""

from __future__ import annotations

import math

import numpy as np
import pytest

from components.evaluation.news import compare, news_metrics, per_list


def test_hand_computed_lists() -> None:
    # r1: the click has the second-best score. r2: clicks at ranks 3 and 5 of 5.
    groups = np.array(["r1"] * 4 + ["r2"] * 5, dtype=object)
    labels = np.array([0, 1, 0, 0, 1, 0, 1, 0, 0])
    scores = np.array([0.9, 0.8, 0.3, 0.1, 0.1, 0.4, 0.35, 0.8, 0.2])
    per = per_list(groups, labels, scores)
    assert per["group"].tolist() == ["r1", "r2"]
    assert per["auc"] == pytest.approx([2 / 3, 1 / 6])  # r2: 0.35 beats 0.2 only, 0.1 beats none
    assert per["mrr"] == pytest.approx([1 / 2, (1 / 3 + 1 / 5) / 2])
    ndcg_r2 = (1 / math.log2(4) + 1 / math.log2(6)) / (1 + 1 / math.log2(3))
    assert per["ndcg@5"] == pytest.approx([1 / math.log2(3), ndcg_r2])
    assert per["ndcg@10"] == pytest.approx([1 / math.log2(3), ndcg_r2])
    m = news_metrics(groups, labels, scores)
    assert (m.lists, m.skipped, m.impressions) == (2, 0, 9)
    assert m.auc == pytest.approx((2 / 3 + 1 / 6) / 2)
    assert m.as_dict() == {
        "lists": 2, "skipped": 0, "impressions": 9, "auc": m.auc, "mrr": m.mrr,
        "ndcg@5": m.ndcg_at_5, "ndcg@10": m.ndcg_at_10,
    }  # fmt: skip


def test_ndcg_cuts_at_k() -> None:
    scores = np.arange(12, 0, -1, dtype=float)  # input order is the ranking
    labels = np.zeros(12)
    labels[5] = 1  # the click is ranked 6th
    m = news_metrics(np.zeros(12, dtype=int), labels, scores)
    assert m.ndcg_at_5 == 0.0
    assert m.ndcg_at_10 == pytest.approx(1 / math.log2(7))
    assert m.mrr == pytest.approx(1 / 6)
    assert m.auc == pytest.approx(6 / 11)


def test_perfect_reversed_and_constant_scorers() -> None:
    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(50), 8)
    labels = (rng.random(400) < 0.3).astype(int)
    perfect = news_metrics(groups, labels, labels + rng.random(400) * 0.5)
    assert perfect.auc == 1.0 and perfect.ndcg_at_5 == pytest.approx(1.0)
    assert perfect.ndcg_at_10 == pytest.approx(1.0)
    # MIND's MRR averages 1/rank over every click: 1 only for lists with a single click
    clicks = np.bincount(groups, weights=labels)
    clicks = clicks[(clicks > 0) & (clicks < 8)].astype(int)
    assert perfect.mrr == pytest.approx(np.mean([sum(1 / r for r in range(1, c + 1)) / c for c in clicks]))
    assert news_metrics(groups, labels, -labels - rng.random(400) * 0.5).auc == 0.0
    constant = news_metrics(groups, labels, np.full(400, 0.7))
    assert constant.auc == 0.5 and constant.lists == perfect.lists == len(clicks)


def test_ties_follow_the_tiebreak_key_then_input_order() -> None:
    groups, labels, scores = np.zeros(3), np.array([True, False, False]), np.array([0.5, 0.5, 0.2])
    m = news_metrics(groups, labels, scores)
    assert m.auc == pytest.approx(0.75)  # half a win against the tied non-click
    assert m.mrr == 1.0 and m.ndcg_at_5 == 1.0  # input order: the click first
    m = news_metrics(groups, labels, scores, tiebreak=np.array([1, 0, 2]))
    assert m.auc == pytest.approx(0.75)
    assert m.mrr == 0.5 and m.ndcg_at_5 == pytest.approx(1 / math.log2(3))


def test_lists_without_both_a_click_and_a_non_click_are_skipped_and_counted() -> None:
    groups = np.array(["a", "a", "none", "none", "all", "b", "b", "b"])
    labels = np.array([1, 0, 0, 0, 1, 0, 0, 1])
    m = news_metrics(groups, labels, np.array([0.9, 0.1, 0.5, 0.4, 0.3, 0.3, 0.2, 0.1]))
    assert (m.lists, m.skipped, m.impressions) == (2, 2, 5)
    assert m.auc == pytest.approx((1.0 + 0.0) / 2)
    with pytest.raises(ValueError, match=r"labels: no list has both .*\(4 skipped\)"):
        news_metrics(groups, np.zeros(8), np.ones(8))


def _random_lists(seed: int, n_lists: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 25, n_lists)
    groups = np.repeat(np.array([f"req-{i}" for i in range(n_lists)], dtype=object), sizes)
    labels = (rng.random(len(groups)) < 0.2).astype(int)
    scores = rng.integers(0, 6, len(groups)).astype(float)  # many ties
    position = np.concatenate([rng.permutation(s) for s in sizes])
    return groups, labels, scores, position


def test_rows_of_a_list_need_not_be_contiguous() -> None:
    groups, labels, scores, position = _random_lists(7, 300)
    shuffle = np.random.default_rng(8).permutation(len(groups))
    ordered = news_metrics(groups, labels, scores, tiebreak=position)
    shuffled = news_metrics(groups[shuffle], labels[shuffle], scores[shuffle], tiebreak=position[shuffle])
    assert (shuffled.lists, shuffled.skipped, shuffled.impressions) == (
        ordered.lists, ordered.skipped, ordered.impressions,
    )  # fmt: skip
    for name in ("auc", "mrr", "ndcg_at_5", "ndcg_at_10"):
        assert getattr(shuffled, name) == pytest.approx(getattr(ordered, name), rel=1e-12)


def _naive(labels: np.ndarray, scores: np.ndarray, position: np.ndarray) -> list[float]:
    """Pairwise AUC and MIND's reference mrr_score / ndcg_score, ties ordered by position."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    auc = ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (
        len(pos) * len(neg)
    )
    order = np.lexsort((position, -scores))
    y = labels[order]
    mrr = np.sum(y / (np.arange(len(y)) + 1)) / np.sum(y)

    def dcg(ranked: np.ndarray, k: int) -> float:
        top = ranked[:k]
        return float(np.sum((2**top - 1) / np.log2(np.arange(len(top)) + 2)))

    ideal = np.sort(labels)[::-1]
    return [auc, mrr, dcg(y, 5) / dcg(ideal, 5), dcg(y, 10) / dcg(ideal, 10)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vectorised_metrics_match_a_naive_per_list_computation(seed: int) -> None:
    groups, labels, scores, position = _random_lists(seed, 200)
    per = per_list(groups, labels, scores, tiebreak=position)
    expected = {}
    for group in dict.fromkeys(groups):
        rows = groups == group
        if 0 < labels[rows].sum() < rows.sum():
            expected[group] = _naive(labels[rows], scores[rows], position[rows])
    assert per["group"].tolist() == list(expected)
    got = np.column_stack([per["auc"], per["mrr"], per["ndcg@5"], per["ndcg@10"]])
    np.testing.assert_allclose(got, np.array(list(expected.values())), rtol=1e-12, atol=1e-12)


def test_compare_scores_every_scorer_on_the_same_lists() -> None:
    groups, labels, scores, _ = _random_lists(4, 100)
    noisy = scores + np.random.default_rng(5).random(len(scores))
    result = compare(groups, labels, {"model": scores, "noisy": noisy})
    assert list(result) == ["model", "noisy"]
    assert result["model"] == news_metrics(groups, labels, scores).as_dict()
    assert result["noisy"] == news_metrics(groups, labels, noisy).as_dict()
    assert result["model"]["lists"] == result["noisy"]["lists"] > 0
    bad = np.where(np.arange(len(scores)) == 3, np.nan, scores)
    with pytest.raises(ValueError, match=r"scores_by_name\['bad'\]: 1 of"):
        compare(groups, labels, {"model": scores, "bad": bad})
    with pytest.raises(ValueError, match="scores_by_name"):
        compare(groups, labels, {})


def test_tuple_group_ids_are_kept_whole() -> None:
    groups = np.empty(4, dtype=object)
    groups[:] = [("u1", 1), ("u1", 1), ("u2", 1), ("u2", 1)]
    per = per_list(groups, np.array([1, 0, 0, 1]), np.array([0.2, 0.1, 0.2, 0.1]))
    assert per["group"].tolist() == [("u1", 1), ("u2", 1)]
    assert per["auc"].tolist() == [1.0, 0.0]


@pytest.mark.parametrize(
    ("groups", "labels", "scores", "tiebreak", "message"),
    [
        ([], [], [], None, "groups: no impressions"),
        ([[1, 2]], [1], [0.5], None, "groups: must be one-dimensional"),
        ([1, 1, 1], [1, 0], [0.1, 0.2, 0.3], None, "labels: length 2 differs from groups' length 3"),
        ([1, 1, 1], [1, 0, 2], [0.1, 0.2, 0.3], None, "labels: 1 of 3 values are not binary"),
        ([1, 1, 1], [1, 0, np.nan], [0.1, 0.2, 0.3], None, "labels: 1 of 3 values are not"),
        ([1, 1, 1], [1, 0, 0], [np.nan, 0.2, np.nan], None, r"scores: 2 of 3 values are not finite"),
        ([1, 1, 1], [1, 0, 0], [0.1, np.inf, 0.3], None, r"scores: 1 of 3 values are not finite"),
        ([1, 1, 1], [1, 0, 0], [0.1, 0.2], None, "scores: length 2"),
        ([1, 1, 1], [1, 0, 0], ["a", "b", "c"], None, "scores: must be numeric"),
        ([1, 1, 1], [1, 0, 0], [0.1, 0.2, 0.3], [0, np.nan, 1], "tiebreak: 1 of 3"),
        ([1, 1, 1], [1, 0, 0], [0.1, 0.2, 0.3], [0, 1], "tiebreak: length 2"),
    ],
)
def test_bad_input_names_the_argument(
    groups: list[object],
    labels: list[float],
    scores: list[object],
    tiebreak: list[float] | None,
    message: str,
) -> None:
    key = None if tiebreak is None else np.array(tiebreak)
    with pytest.raises(ValueError, match=message):
        news_metrics(np.array(groups), np.array(labels), np.array(scores), tiebreak=key)


def test_unhashable_group_ids_are_rejected() -> None:
    groups = np.empty(2, dtype=object)
    groups[0], groups[1] = ["a"], ["b"]
    with pytest.raises(ValueError, match="groups: ids must be hashable"):
        news_metrics(groups, np.array([1, 0]), np.array([0.1, 0.2]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_by_position_matches_pairs_counted_one_by_one(seed: int) -> None:
    groups, labels, scores, position = _random_lists(seed, 200)
    m = news_metrics(groups, labels, scores, positions=position)
    above = pairs = 0.0
    for p in np.unique(position):
        pos, neg = scores[(position == p) & (labels == 1)], scores[(position == p) & (labels == 0)]
        above += (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
        pairs += len(pos) * len(neg)
    assert m.auc_by_position == pytest.approx(above / pairs, rel=1e-12)
    assert m.as_dict()["auc_by_position"] == m.auc_by_position
    assert "auc_by_position" not in news_metrics(groups, labels, scores).as_dict()  # no positions given
    shuffle = np.random.default_rng(seed).permutation(len(groups))
    assert news_metrics(
        groups[shuffle], labels[shuffle], scores[shuffle], positions=position[shuffle]
    ).auc_by_position == pytest.approx(m.auc_by_position, rel=1e-12)


def test_auc_by_position_judges_the_serving_policy_fairly_on_its_own_lists() -> None:
    """A known effect on synthetic logs: readers examine position p with 1 / (1 + p) ** 0.8 and
    click what they examine with its true relevance. A noisy incumbent ordered every list; a
    better model and the truth re-rank the same lists. Within each list the incumbent wins,
    because its scores are the shown order (the examination effect); at equal positions the
    true order comes back: truth > better > incumbent."""
    rng = np.random.default_rng(5)
    n_lists, candidates, shown = 5_000, 200, 10
    logit = rng.normal(-4.0, 1.0, (n_lists, candidates))
    incumbent = logit + rng.normal(0.0, 1.2, logit.shape)
    better = logit + rng.normal(0.0, 0.6, logit.shape)
    top = np.argsort(-incumbent, axis=1)[:, :shown]
    rows = np.arange(n_lists)[:, None]
    relevance = 1.0 / (1.0 + np.exp(-logit[rows, top]))
    examined = 1.0 / (1.0 + np.arange(shown)) ** 0.8
    clicked = (rng.random(relevance.shape) < examined * relevance).ravel().astype(int)
    groups = np.repeat(np.arange(n_lists), shown)
    position = np.tile(np.arange(shown), n_lists)
    scores = {
        "incumbent": incumbent[rows, top].ravel(),
        "better": better[rows, top].ravel(),
        "truth": logit[rows, top].ravel(),
    }
    report = compare(groups, clicked, scores, tiebreak=position, positions=position)
    within = {name: report[name]["auc"] for name in scores}
    by_position = {name: report[name]["auc_by_position"] for name in scores}
    assert within["incumbent"] > within["truth"] > within["better"]
    assert by_position["truth"] > by_position["better"] + 0.02 > by_position["incumbent"] + 0.04


def test_positions_must_be_whole_slots() -> None:
    groups, labels, scores = np.array([1, 1, 2, 2]), np.array([1, 0, 0, 1]), np.array([0.3, 0.2, 0.1, 0.5])
    for bad in ([0, 1, 0, -1], [0, 0.5, 0, 1]):
        with pytest.raises(ValueError, match="positions: must be whole numbers"):
            news_metrics(groups, labels, scores, positions=np.array(bad))
    with pytest.raises(ValueError, match="positions: length 3 differs"):
        news_metrics(groups, labels, scores, positions=np.array([0, 1, 0]))
    # One position: clicked 0.3 and 0.1 against non-clicked 0.2 and 0.5 across both lists, 1 of 4 pairs.
    assert news_metrics(groups, np.array([1, 0, 1, 0]), scores, positions=np.zeros(4)).auc_by_position == 0.25
    assert news_metrics(groups, labels, scores, positions=np.array([0, 1, 1, 0])).auc_by_position is None
