"""Experiment readout: intervals and tests against known answers."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from components.evaluation.experiment import group_counts, off_policy_explore_ctr, readout
from components.evaluation.logged import join_clicks


def test_readout_matches_the_textbook_two_proportion_test() -> None:
    results = readout({"greedy": (500, 10_000, 400), "explore": (500, 10_000, 470)}, control="greedy")
    control, treatment = results
    assert control.group == "greedy" and control.lift is None and control.ctr == 0.04
    # pooled two-proportion z by hand
    p = 870 / 20_000
    z = (0.047 - 0.04) / np.sqrt(p * (1 - p) * (2 / 10_000))
    assert treatment.z == pytest.approx(z)
    assert treatment.p_value == pytest.approx(math.erfc(abs(z) / math.sqrt(2)))  # two-sided
    assert treatment.lift == pytest.approx(0.175)
    assert treatment.significant is True  # p = 0.012
    # Wilson interval holds the estimate and is inside [0, 1]
    assert 0 < control.ci_low < 0.04 < control.ci_high < 1


def test_equal_groups_are_not_significant_and_bad_counts_name_the_group() -> None:
    same = readout({"a": (10, 5_000, 200), "b": (10, 5_000, 200)}, control="a")[1]
    assert same.z == 0 and same.p_value == pytest.approx(1.0) and same.significant is False
    with pytest.raises(ValueError, match="control: group 'c'"):
        readout({"a": (1, 10, 1)}, control="c")
    with pytest.raises(ValueError, match=r"counts\['b'\]"):
        readout({"a": (1, 10, 1), "b": (1, 10, 11)}, control="a")


def test_group_counts_from_logged_impressions() -> None:
    events = []
    for i in range(40):
        arm = "explore" if i % 2 else "greedy"
        events.append({"event_id": f"i{i}", "type": "impression", "user_id": f"u{i % 4}", "article_id": "a",
                       "ts": "2026-11-20T08:00:00+00:00", "request_id": f"r{i}", "position": 0,
                       "model_version": "1", "propensity": 1.0, "context": {"arm": arm, "variant": "champion"}})  # fmt: skip
        if i % 5 == 0:
            events.append({"event_id": f"c{i}", "type": "click", "user_id": f"u{i % 4}", "article_id": "a",
                           "ts": "2026-11-20T08:00:01+00:00", "request_id": f"r{i}", "position": 0})  # fmt: skip
    counts = group_counts(join_clicks(events), "arm")
    # clicks at i = 0, 10, 20, 30 (greedy) and 5, 15, 25, 35 (explore)
    assert counts == {"explore": (2, 20, 4), "greedy": (2, 20, 4)}


def test_the_off_policy_estimate_skips_impressions_of_unknown_propensity() -> None:
    def impression(i: int, arm: str, propensity: float | None, **context: object) -> dict[str, object]:
        return {"event_id": f"i{i}", "type": "impression", "user_id": f"u{i % 4}", "article_id": "a",
                "ts": "2026-11-20T08:00:00+00:00", "request_id": f"r{i}", "position": 3,
                "model_version": None if propensity is None else "1", "propensity": propensity,
                "context": {"arm": arm, **context} if arm else {}}  # fmt: skip

    events = [impression(i, "greedy", 1.0, explore_p=0.5, model_item=True) for i in range(20)]
    events += [impression(20 + i, "explore", 0.5, explore_p=0.5, model_item=i % 2 == 0) for i in range(20)]
    events += [impression(40 + i, "", None) for i in range(10)]  # logged by another system
    events += [{"event_id": f"c{i}", "type": "click", "user_id": "u0", "article_id": "a",
                "ts": "2026-11-20T08:00:01+00:00", "request_id": f"r{i}", "position": 3}
               for i in range(40, 50)]  # fmt: skip
    logged = join_clicks(events)
    known = logged.select(logged.known_propensity)
    result = off_policy_explore_ctr(logged, 0.5)
    assert result["skipped_unknown_propensity"] == 10
    assert result["snips"]["skipped_unknown_propensity"] == 10 and result["snips"]["n"] == 40
    assert result["snips"]["value"] == off_policy_explore_ctr(known, 0.5)["snips"]["value"] == 0.0
    assert group_counts(logged, "arm")["-"] == (4, 10, 10)  # still in the CTR readout, as their own group


def test_group_counts_by_source_and_unknown_source() -> None:
    """`--by source`: each impression under the source that put its item in the list; an
    impression without one (another system's) under "-"."""
    events: list[dict[str, object]] = []
    shown = datetime.now(UTC) - timedelta(hours=1)  # relative to the run, never aging past a rule
    for i, source in enumerate(["content", "content", "trending", "popular", None, "content"]):
        impression = {"event_id": f"i{i}", "type": "impression", "user_id": f"u{i % 2}", "article_id": f"a{i}",
                      "ts": shown.isoformat(), "request_id": "r", "position": i, "propensity": 1.0}  # fmt: skip
        if source is not None:
            impression["source"] = source
        events.append(impression)
    events.append({"event_id": "c1", "type": "click", "user_id": "u1", "article_id": "a1",
                   "ts": (shown + timedelta(seconds=1)).isoformat(), "request_id": "r", "position": 1})  # fmt: skip
    logged = join_clicks(events)
    assert group_counts(logged, "source") == {
        "-": (1, 1, 0), "content": (2, 3, 1), "popular": (1, 1, 0), "trending": (1, 1, 0)
    }  # fmt: skip
    assert logged.select(logged.clicked).source.tolist() == ["content"]
    with pytest.raises(ValueError, match="by: must be one of"):
        logged.label("reason")
