"""Ranking rules on a hand-made catalogue and model: cold start, exclusion, expiry, fill."""

from __future__ import annotations

import numpy as np
import pytest

from components.models.kinds import EaseModel, PopularityModel
from components.names import CANARY, CHAMPION
from components.serving.catalogue import Catalogue, PopularityRule
from components.serving.ranking import PERSONALIZED, POPULAR, ServingModel, rank
from components.serving.routing import bucket, variant_for

NOW = 1_800_000_000.0
H = 3600.0


def catalogue() -> Catalogue:
    # a1..a6: a5 expired an hour ago, a6 is scheduled for tomorrow.
    base = Catalogue.from_columns(
        ["a1", "a2", "a3", "a4", "a5", "a6"],
        [NOW - 2 * H, NOW - 30 * H, NOW - 1 * H, NOW - 5 * H, NOW - 50 * H, NOW + 24 * H],
        [None, None, None, NOW + 10 * H, NOW - 1 * H, None],
        ["news", "sport", "news", "tech", "news", "tech"],
        now_s=NOW,
    )
    views = {"a1": 100, "a2": 500, "a3": 0, "a4": 40, "a5": 10_000, "a6": 10_000}
    return base.with_item_features({a: {"views_24h": v, "ctr_24h": 0.1} for a, v in views.items()}, now_s=NOW)


def ease_model() -> EaseModel:
    """Users u1, u2 over items a1..a5 (a6 unknown to the model); u1 read a1 in training."""
    items = ["a1", "a2", "a3", "a4", "a5"]
    weights = np.array(
        [
            [0.0, 0.9, 0.1, 0.5, 2.0],
            [0.9, 0.0, 0.2, 0.4, 2.0],
            [0.1, 0.2, 0.0, 0.3, 2.0],
            [0.5, 0.4, 0.3, 0.0, 2.0],
            [0.1, 0.1, 0.1, 0.1, 0.0],
        ],
        dtype=np.float32,
    )
    return EaseModel(
        user_ids=["u1", "u2"],
        item_ids=items,
        seen_indptr=np.array([0, 1, 2]),
        seen_indices=np.array([0, 3]),
        params={},
        weights=weights,
    )


def test_popularity_rule_prefers_fresh_and_popular() -> None:
    rule = PopularityRule(prior_views=10, half_life_h=24)
    scores = rule.scores(np.array([100.0, 100.0, 0.0]), np.array([0.0, 24 * H, 0.0]))
    assert scores[0] == pytest.approx(110.0)
    assert scores[1] == pytest.approx(55.0)  # one half-life later
    assert scores[2] == pytest.approx(10.0)  # fresh, unread: the prior keeps it in the race


def test_cold_start_is_popular_fresh_and_live_only() -> None:
    cat = catalogue()
    ranked = rank(None, cat, "stranger", 10, exclude=[], recent=[], has_features=False, now_s=NOW)
    assert ranked.cold_start
    assert set(ranked.reasons) == {POPULAR}
    # a5 (expired) and a6 (not yet published) never appear, however popular.
    assert ranked.article_ids == ["a2", "a1", "a4", "a3"]
    assert ranked.scores == sorted(ranked.scores, reverse=True)


def test_exclusion_covers_request_and_recent_reads() -> None:
    cat = catalogue()
    ranked = rank(None, cat, "stranger", 10, exclude=["a2"], recent=["a1"], has_features=False, now_s=NOW)
    assert ranked.article_ids == ["a4", "a3"]


def test_known_user_gets_the_model_without_seen_excluded_or_expired_items() -> None:
    cat = catalogue()
    model = ServingModel.bind("champion", "3", ease_model(), cat)
    ranked = rank(model, cat, "u1", 2, exclude=["a2"], recent=[], has_features=True, now_s=NOW)
    assert not ranked.cold_start
    # u1 read a1 in training; a2 excluded; a5 scores highest for everyone but has expired.
    assert ranked.article_ids == ["a4", "a3"]
    assert ranked.reasons == [PERSONALIZED, PERSONALIZED]


def test_model_list_is_filled_with_popular_articles_when_short() -> None:
    cat = catalogue()
    model = ServingModel.bind("champion", "3", ease_model(), cat)
    ranked = rank(model, cat, "u1", 4, exclude=[], recent=[], has_features=True, now_s=NOW)
    # Live model items for u1: a2, a3, a4 (a1 seen, a5 expired); a6 is not in the model and
    # not yet published, so there is nothing live left to fill the fourth slot with.
    assert sorted(ranked.article_ids) == ["a2", "a3", "a4"]
    # A day later (the background refresh re-ranks the catalogue): a6 is published, a4 expired.
    later = cat.reranked(NOW + 30 * H, PopularityRule())
    model = model.rebind(later)
    ranked = rank(model, later, "u1", 4, exclude=["a3"], recent=[], has_features=True, now_s=NOW + 30 * H)
    assert "a1" not in ranked.article_ids  # read in training: not even as a popular fill
    assert "a6" in ranked.article_ids and ranked.reasons[ranked.article_ids.index("a6")] == POPULAR


def test_feature_less_user_is_cold_start_unless_recent_reads_fold_in() -> None:
    cat = catalogue()
    model = ServingModel.bind("champion", "3", ease_model(), cat)
    assert rank(model, cat, "u1", 3, exclude=[], recent=[], has_features=False, now_s=NOW).cold_start
    folded = rank(model, cat, "new-reader", 2, exclude=[], recent=["a2"], has_features=False, now_s=NOW)
    assert not folded.cold_start
    assert "a2" not in folded.article_ids and folded.reasons[0] == PERSONALIZED


def test_popularity_model_answers_say_popular() -> None:
    cat = catalogue()
    popularity = PopularityModel(
        user_ids=["u1"],
        item_ids=["a1", "a3"],
        seen_indptr=np.array([0, 0]),
        seen_indices=np.array([], dtype=np.int32),
        params={},
        item_scores=np.array([3.0, 1.0], dtype=np.float32),
    )
    model = ServingModel.bind("champion", "1", popularity, cat)
    assert rank(model, cat, "u1", 1, exclude=[], recent=[], has_features=True, now_s=NOW).reasons == [POPULAR]


def test_canary_split_is_stable_per_user_and_close_to_the_share() -> None:
    users = [f"user-{i}" for i in range(20_000)]
    first = [variant_for(u, 0.1, has_canary=True) for u in users]
    assert first == [variant_for(u, 0.1, has_canary=True) for u in users]
    share = first.count(CANARY) / len(users)
    assert 0.09 < share < 0.11
    # Raising the share only moves champion users to the canary, never back.
    wider = [variant_for(u, 0.3, has_canary=True) for u in users]
    assert all(w == CANARY for f, w in zip(first, wider, strict=True) if f == CANARY)
    assert {variant_for(u, 0.5, has_canary=False) for u in users} == {CHAMPION}
    assert bucket("user-1") != bucket("user-1", salt="explore")


def test_every_answer_says_what_ranked_it() -> None:
    cat = catalogue()
    ease = ServingModel.bind(CHAMPION, "1", ease_model(), cat)
    personal = rank(ease, cat, "u2", 3, exclude=[], recent=[], has_features=True, now_s=NOW)
    assert personal.ranked_by == "cf" and not personal.cold_start
    newcomer = rank(ease, cat, "stranger", 3, exclude=[], recent=[], has_features=False, now_s=NOW)
    assert newcomer.ranked_by == POPULAR and newcomer.cold_start
    nothing = rank(None, cat, "u2", 3, exclude=[], recent=[], has_features=True, now_s=NOW)
    assert nothing.ranked_by == POPULAR
    popularity = PopularityModel(
        user_ids=["u1"],
        item_ids=["a1", "a2"],
        seen_indptr=np.array([0, 0]),
        seen_indices=np.array([], dtype=np.int32),
        params={},
        item_scores=np.array([1.0, 2.0], dtype=np.float32),
    )
    same_for_all = rank(
        ServingModel.bind(CHAMPION, "2", popularity, cat), cat, "u1", 2, exclude=[], recent=[],
        has_features=True, now_s=NOW,
    )  # fmt: skip
    assert same_for_all.ranked_by == POPULAR and set(same_for_all.reasons) == {POPULAR}
