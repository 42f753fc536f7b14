"""Serving's intraday signals equal the replay's point-in-time counts for the same events."""

from __future__ import annotations

import numpy as np

from components.ranking.features import FEATURES, HALF_LIVES_H, WINDOW_H, ArticleTable, DecayedCounts
from components.ranking.intraday import Intraday, window_hours


def test_from_buckets_equals_the_replay_counters_at_every_half_life() -> None:
    rng = np.random.default_rng(5)
    hours = np.sort(rng.integers(1_000, 1_040, size=400))
    rows = rng.integers(0, 6, size=400)
    clicked = rng.random(400) < 0.3
    ids = [f"a{i}" for i in range(6)]
    buckets: dict[int, dict[str, tuple[float, float]]] = {}
    imps = [DecayedCounts(6, hl) for hl in HALF_LIVES_H]
    clks = [DecayedCounts(6, hl) for hl in HALF_LIVES_H]
    for hour, row, click in zip(hours.tolist(), rows.tolist(), clicked.tolist(), strict=True):
        old = buckets.setdefault(hour, {}).get(ids[row], (0.0, 0.0))
        buckets[hour][ids[row]] = (old[0] + 1, old[1] + click)
        for counter in imps:
            counter.add(row, hour)
        if click:
            for counter in clks:
                counter.add(row, hour)
    now = 1_045
    aligned = Intraday.from_buckets(buckets, now).rows_of(np.array(ids, dtype=object))
    got_imps, got_clicks, window = aligned.at(np.arange(6), now)
    for i in range(len(HALF_LIVES_H)):
        np.testing.assert_allclose(got_imps[i], imps[i].at(np.arange(6), now), rtol=1e-12)
        np.testing.assert_allclose(got_clicks[i], clks[i].at(np.arange(6), now), rtol=1e-12)
    np.testing.assert_array_equal(window, np.bincount(rows[clicked], minlength=6))
    # A later request decays forward from the hour read, as the replay would with no new event.
    later_imps, _, _ = aligned.at(np.arange(6), now + 3)
    np.testing.assert_allclose(later_imps[0], imps[0].at(np.arange(6), now + 3), rtol=1e-12)


def test_hours_outside_the_window_or_after_now_are_ignored_and_unknown_articles_are_zero() -> None:
    now = 5_000
    buckets = {now - WINDOW_H: {"old": (5.0, 5.0)}, now + 1: {"future": (3.0, 1.0)}, now: {"a": (2.0, 1.0)}}
    intraday = Intraday.from_buckets(buckets, now)
    assert set(intraday.articles) == {"a"}
    ids = np.array(["a", "nobody-clicked"], dtype=object)
    imps, clicks, window = intraday.rows_of(ids).at(np.arange(2), now)
    assert (
        imps[0].tolist() == [2.0, 0.0] and clicks[1].tolist() == [1.0, 0.0] and window.tolist() == [1.0, 0.0]
    )
    assert intraday.rows_of(ids) is intraday.rows_of(ids)  # aligned once per catalogue
    assert window_hours(now)[0] == now - WINDOW_H + 1 and window_hours(now)[-1] == now
    assert len(window_hours(now)) == WINDOW_H


def test_the_window_feature_is_named_and_the_table_is_unchanged() -> None:
    assert "clicks_7d" in FEATURES and "clicks_total" not in FEATURES
    table = ArticleTable(
        ids=["a"], section=np.array([0]), published_s=np.array([0.0]), vectors=np.zeros((1, 1)), n_sections=1
    )
    assert table.index == {"a": 0}


def test_trending_is_the_one_hour_clicks_of_every_article_cached_per_hour() -> None:
    buckets = {100: {"a": (10.0, 4.0), "b": (3.0, 1.0)}, 98: {"a": (5.0, 2.0)}}
    rows = Intraday.from_buckets(buckets, 100).rows_of(np.array(["a", "b", "c"], dtype=object))
    for hour in (100, 103):
        clicks = rows.at(np.arange(3), hour)[1][0]
        np.testing.assert_allclose(rows.trending(hour), clicks, rtol=1e-12)
    assert rows.trending(103) is rows.trending(103)
