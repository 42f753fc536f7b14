from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
import orjson
import pytest

from components.events import EventType, decode_event
from components.simulator import (
    CATEGORIES,
    HOUSE_MODEL_VERSION,
    PreferenceShift,
    TrafficGenerator,
    World,
    WorldConfig,
)

START = datetime(2026, 3, 2, tzinfo=UTC)


def small_world(seed: int = 11, days: int = 2, **overrides: object) -> World:
    config = WorldConfig(seed=seed, start=START, days=days, users=3_000, articles_per_day=60, **overrides)  # type: ignore[arg-type]
    return World.build(config)


@pytest.fixture(scope="module")
def two_days() -> list:
    return list(TrafficGenerator(small_world()).days())


def test_same_seed_same_events_other_seed_other_events() -> None:
    first = TrafficGenerator(small_world(seed=5, days=1)).simulate_day(0).events
    again = TrafficGenerator(small_world(seed=5, days=1)).simulate_day(0).events
    other = TrafficGenerator(small_world(seed=6, days=1)).simulate_day(0).events
    assert first == again
    assert len(first) > 1_000
    assert first[:50] != other[:50]


def test_every_event_honours_the_contract(two_days: list) -> None:
    now = START + timedelta(days=3)
    for traffic in two_days:
        for payload in traffic.events:
            decode_event(orjson.dumps(payload), now=now)


def test_events_are_in_time_order_and_ids_unique(two_days: list) -> None:
    for traffic in two_days:
        stamps = [e["ts"] for e in traffic.events]
        assert stamps == sorted(stamps)
    ids = [e["event_id"] for t in two_days for e in t.events]
    assert len(ids) == len(set(ids))


def test_click_through_and_visitor_mix_are_plausible(two_days: list) -> None:
    counts: Counter[str] = Counter()
    sessions = first = 0
    for traffic in two_days:
        counts.update(traffic.counts)
        sessions += traffic.sessions
        first += traffic.first_visits
    ctr = counts["click"] / counts["impression"]
    assert 0.01 < ctr < 0.15, ctr
    assert abs(first / sessions - 0.25) < 0.03
    # every view ends with a dwell
    assert counts["view"] == counts["dwell"]
    assert counts["view"] >= counts["click"]


def test_clicks_follow_their_impression_and_position_bias_shows(two_days: list) -> None:
    impressions = {}
    clicks_by_position: Counter[int] = Counter()
    shown_by_position: Counter[int] = Counter()
    for traffic in two_days:
        for e in traffic.events:
            if e["type"] == "impression":
                impressions[(e["request_id"], e["position"])] = e
                shown_by_position[e["position"]] += 1
                assert e["model_version"] == HOUSE_MODEL_VERSION
                assert 0 < e["propensity"] <= 1
            elif e["type"] == "click":
                shown = impressions[(e["request_id"], e["position"])]
                assert shown["article_id"] == e["article_id"]
                assert shown["user_id"] == e["user_id"]
                assert shown["ts"] <= e["ts"]
                clicks_by_position[e["position"]] += 1
    top = clicks_by_position[0] / shown_by_position[0]
    bottom = clicks_by_position[9] / shown_by_position[9]
    assert top > 1.5 * bottom


def test_no_clicks_on_unpublished_or_expired_articles(two_days: list) -> None:
    world = small_world()
    index = world.catalogue.index()
    for traffic in two_days:
        for e in traffic.events:
            if e["type"] in (EventType.CLICK, EventType.VIEW):
                i = index[e["article_id"]]
                at = datetime.fromisoformat(e["ts"]).timestamp()
                assert world.catalogue.published_at[i] <= at + 1
                assert world.catalogue.expires_at[i] > at - 3_600


def test_popularity_is_heavy_tailed(two_days: list) -> None:
    clicks = Counter(e["article_id"] for t in two_days for e in t.events if e["type"] == "click")
    ranked = sorted(clicks.values(), reverse=True)
    top_decile = sum(ranked[: max(1, len(ranked) // 10)])
    assert top_decile / sum(ranked) > 0.35


def test_first_time_visitors_are_cold_start_users(two_days: list) -> None:
    known = set(small_world().population.ids)
    visitors = {e["user_id"] for t in two_days for e in t.events if e["user_id"] not in known}
    assert visitors, "expected first-time visitors"
    assert all(user.startswith("v") for user in visitors)


def _click_category_share(traffic_days: list, world: World) -> np.ndarray:
    index = world.catalogue.index()
    counts = np.zeros(len(CATEGORIES))
    for traffic in traffic_days:
        for e in traffic.events:
            if e["type"] == "click":
                counts[world.catalogue.category[index[e["article_id"]]]] += 1
    return counts / counts.sum()


def test_preference_shift_moves_what_readers_click() -> None:
    shift = PreferenceShift(at=START + timedelta(days=1), strength=0.9)
    shifted_world = small_world(seed=3, preference_shift=shift)
    shifted = list(TrafficGenerator(shifted_world).days())
    stable_world = small_world(seed=3)
    stable = list(TrafficGenerator(stable_world).days())
    # Until the shift both worlds are the same world: identical traffic (sessions that run past
    # the shift diverge, so compare up to an hour before it).
    cutoff = (shift.at - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    before = [e for e in shifted[0].events if e["ts"] < cutoff]
    assert len(before) > 1_000
    assert before == [e for e in stable[0].events if e["ts"] < cutoff]
    after_shift = _click_category_share(shifted[1:], shifted_world)
    moved = np.abs(after_shift - _click_category_share(stable[1:], stable_world)).sum() / 2
    day_to_day = (
        np.abs(
            _click_category_share(stable[:1], stable_world) - _click_category_share(stable[1:], stable_world)
        ).sum()
        / 2
    )
    assert moved > 0.15
    assert moved > 2 * day_to_day


def test_config_rejects_bad_values_by_name() -> None:
    with pytest.raises(ValueError, match="new_visitor_share"):
        WorldConfig(start=START, new_visitor_share=1.0)
    with pytest.raises(ValueError, match="start"):
        WorldConfig(start=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="strength"):
        PreferenceShift(at=START, strength=2.0)
