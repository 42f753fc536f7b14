"""Serving's intraday signals equal the replay's point-in-time counts for the same events."""

from __future__ import annotations

import numpy as np

from components.ranking.features import FEATURES, HALF_LIVES_H, WINDOW_H, ArticleTable, DecayedCounts
from components.ranking.intraday import HourlyCounts, Intraday, window_hours


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


def _same_signals(got: Intraday, want: Intraday, ids: np.ndarray) -> None:
    a, b = got.rows_of(ids), want.rows_of(ids)
    for mine, theirs in zip(a.impressions + a.clicks, b.impressions + b.clicks, strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(a.clicks_window, b.clicks_window)


def test_hourly_counts_refreshed_a_few_hours_at_a_time_equal_a_full_read() -> None:
    """The service's incremental state (settled hours summed once) gives what summing every
    bucket gives: as hours advance, as the newest hour grows, and when a re-read of a settled
    hour brings late events."""
    rng = np.random.default_rng(3)
    ids = np.array([f"a{i}" for i in range(50)], dtype=object)
    start = 2_000

    def bucket() -> dict[str, tuple[float, float]]:
        picked = rng.choice(50, size=20, replace=False)
        return {str(ids[i]): (float(rng.integers(1, 30)), float(rng.integers(0, 4))) for i in picked}

    buckets = {h: bucket() for h in range(start - WINDOW_H - 3, start + 1)}
    counts = HourlyCounts()
    for h, b in buckets.items():
        counts.put(h, b)
    _same_signals(counts.intraday(start), Intraday.from_buckets(buckets, start), ids)
    for hour in range(start + 1, start + 4):
        buckets[hour] = bucket()
        counts.put(hour, buckets[hour])
        _same_signals(counts.intraday(hour), Intraday.from_buckets(buckets, hour), ids)
        buckets[hour] = {**buckets[hour], "a49": (7.0, 2.0)}  # the newest hour grows
        counts.put(hour, buckets[hour])
        _same_signals(counts.intraday(hour), Intraday.from_buckets(buckets, hour), ids)
    late = start - 40  # a settled hour read again, with late events
    buckets[late] = {**buckets[late], "a0": (99.0, 9.0)}
    counts.put(late, buckets[late])
    _same_signals(counts.intraday(start + 3), Intraday.from_buckets(buckets, start + 3), ids)


def test_hourly_counts_forget_old_hours_and_compact_the_article_index() -> None:
    counts = HourlyCounts()
    for h in range(50):  # 20 articles an hour, none shared between hours
        counts.put(h, {f"h{h}-{i}": (1.0, 0.0) for i in range(20)})
    counts.keep({48, 49})
    assert counts.hours == {48, 49}
    assert len(counts.articles) == 1_000  # small: not worth compacting yet
    for h in range(50, 200):
        counts.put(h, {f"h{h}-{i}": (1.0, float(i % 2)) for i in range(20)})
    counts.keep({199})
    assert set(counts.articles) == {f"h199-{i}" for i in range(20)}
    got = counts.intraday(199)
    want = Intraday.from_buckets({199: {f"h199-{i}": (1.0, float(i % 2)) for i in range(20)}}, 199)
    _same_signals(got, want, np.array(sorted(counts.articles), dtype=object))


def test_an_article_first_counted_in_the_newest_hour_keeps_the_settled_sums_right() -> None:
    buckets: dict[int, dict[str, tuple[float, float]]] = {
        h: {"a": (4.0, 1.0), "b": (2.0, 0.0)} for h in range(90, 100)
    }
    counts = HourlyCounts()
    for h, b in buckets.items():
        counts.put(h, b)
    counts.put(100, {"a": (1.0, 1.0)})
    counts.intraday(100)  # the settled hours (90-97) summed
    buckets[100] = {"a": (1.0, 1.0), "new": (5.0, 2.0)}  # the same hour, a new article
    counts.put(100, buckets[100])
    ids = np.array(["a", "b", "new"], dtype=object)
    _same_signals(counts.intraday(100), Intraday.from_buckets(buckets, 100), ids)
