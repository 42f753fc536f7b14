"""Joining clicks to impressions, and the exploring arm's odds from both arms' logs."""

from __future__ import annotations

import numpy as np
import pytest

from components.evaluation.logged import exploring_policy_odds, join_clicks


def impression(
    eid: str, request: str, position: int, article: str, arm: str, **context: object
) -> dict[str, object]:
    return {
        "event_id": eid, "type": "impression", "user_id": "u", "article_id": article,
        "ts": "2026-11-20T08:00:00+00:00", "request_id": request, "position": position,
        "model_version": "3", "propensity": context.pop("propensity", 1.0),
        "context": {"variant": "champion", "arm": arm, **context},
    }  # fmt: skip


def click(eid: str, request: str, position: int) -> dict[str, object]:
    return {"event_id": eid, "type": "click", "user_id": "u", "article_id": "x", "ts": "2026-11-20T08:00:05+00:00",
            "request_id": request, "position": position}  # fmt: skip


def test_clicks_join_their_impression_once_and_duplicates_are_dropped() -> None:
    events = [
        impression("e1", "r1", 0, "a", "greedy"),
        impression("e2", "r1", 1, "b", "greedy", explore_p=0.25, model_item=True),
        impression("e2", "r1", 1, "b", "greedy", explore_p=0.25, model_item=True),  # resent
        impression("e3", "r2", 1, "c", "explore", explore_p=0.5, model_item=False, propensity=0.5),
        click("c1", "r1", 1),
        click("c1", "r1", 1),  # redelivered
        click("c2", "r2", 1),
        click("c3", "r9", 0),  # its impression is not in the log
    ]
    logged = join_clicks(events)
    assert len(logged) == 3
    assert logged.clicked.tolist() == [False, True, True]
    assert logged.orphan_clicks == 1
    assert logged.arm.tolist() == ["greedy", "greedy", "explore"]
    assert logged.label("variant/arm").tolist() == ["champion/greedy", "champion/greedy", "champion/explore"]
    assert np.isnan(logged.explore_p[0]) and logged.explore_p[1:].tolist() == [0.25, 0.5]
    assert logged.model_item.tolist() == [True, True, False]
    with pytest.raises(ValueError, match="by: must be"):
        logged.label("colour")


def test_exploring_odds_weigh_each_slot_by_the_mixture_that_logged_it() -> None:
    logged = join_clicks([
        impression("e1", "r1", 0, "a", "greedy"),
        impression("e2", "r1", 3, "b", "greedy", explore_p=0.2, model_item=True),
        impression("e3", "r2", 3, "c", "explore", explore_p=0.4, model_item=False, propensity=0.4),
        impression("e4", "r3", 3, "d", "explore", explore_p=0.2, model_item=True, propensity=0.2),
    ])  # fmt: skip
    target, logging = exploring_policy_odds(logged, 0.5)
    assert target.tolist() == [1.0, 0.2, 0.4, 0.2]
    assert logging.tolist() == pytest.approx([1.0, 0.5 * 0.2 + 0.5, 0.5 * 0.4, 0.5 * 0.2 + 0.5])
    # everyone exploring: the weights are exactly the on-policy ones
    target, logging = exploring_policy_odds(logged, 1.0)
    assert (target == logging).all()
    with pytest.raises(ValueError, match="explore_share"):
        exploring_policy_odds(logged, 0.0)


def test_an_impression_from_another_system_has_unknown_odds() -> None:
    foreign = impression("e9", "x1", 0, "z", "greedy")
    foreign.update(propensity=None, context={})
    del foreign["model_version"]
    logged = join_clicks([
        impression("e1", "r1", 3, "b", "greedy", explore_p=0.2, model_item=True),
        foreign,
        click("c9", "x1", 0),
    ])  # fmt: skip
    assert logged.unknown_propensity == 1 and logged.known_propensity.tolist() == [True, False]
    assert np.isnan(logged.propensity[1]) and logged.model_version.tolist() == ["3", "-"]
    assert logged.clicked.tolist() == [False, True]
    target, logging = exploring_policy_odds(logged, 0.5)
    assert logging[0] == pytest.approx(0.5 * 0.2 + 0.5) and np.isnan(logging[1])  # not 1.0
