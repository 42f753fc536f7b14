"""The readout CLI replays the real broker's topic and reports what was produced to it."""

from __future__ import annotations

import asyncio
import json
import uuid

import numpy as np
import orjson
import pytest

from components.config import Settings, settings_env
from components.streaming import EventProducer
from pipelines.experiment.main import main


def logged_traffic(seed: int = 0) -> tuple[list[dict[str, object]], dict[str, tuple[int, int]]]:
    """Two arms of 300 lists of 10; clicks drawn at 3 % (greedy) and 6 % (explore)."""
    rng = np.random.default_rng(seed)
    events: list[dict[str, object]] = []
    truth = {"greedy": [0, 0], "explore": [0, 0]}
    for i in range(600):
        arm = "explore" if i % 2 else "greedy"
        request, user = f"r{i}", f"u{i % 97}"
        for position in range(10):
            context: dict[str, object] = {"variant": "champion", "arm": arm, "policy": "thompson"}
            if position in (3, 7):
                context |= {"explore_p": 0.5, "model_item": arm == "greedy"}
            events.append({
                "event_id": str(uuid.uuid4()), "type": "impression", "user_id": user, "article_id": f"a{position}",
                "ts": "2026-11-20T08:00:00+00:00", "request_id": request, "position": position,
                "model_version": "4", "propensity": 0.5 if arm == "explore" and position in (3, 7) else 1.0,
                "source": "explore" if arm == "explore" and position in (3, 7) else ("popular" if position % 2 else "content"),
                "context": context,
            })  # fmt: skip
            truth[arm][0] += 1
            if rng.random() < (0.06 if arm == "explore" else 0.03):
                truth[arm][1] += 1
                events.append({"event_id": str(uuid.uuid4()), "type": "click", "user_id": user,
                               "article_id": f"a{position}", "ts": "2026-11-20T08:00:09+00:00",
                               "request_id": request, "position": position})  # fmt: skip
    return events, {arm: (n, c) for arm, (n, c) in truth.items()}


def test_readout_reports_each_arm_from_the_stream(
    reco_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    events, truth = logged_traffic()
    events.append({"event_id": str(uuid.uuid4()), "type": "view", "user_id": "u1", "article_id": "a1",
                   "ts": "2026-11-20T08:00:10+00:00"})  # fmt: skip
    # impressions another system logged: no propensity, no model version (the contract's unknown)
    for position in range(5):
        events.append({"event_id": str(uuid.uuid4()), "type": "impression", "user_id": "x1", "article_id": "a1",
                       "ts": "2026-11-20T08:00:00+00:00", "request_id": "foreign", "position": position,
                       "propensity": None})  # fmt: skip

    async def produce() -> None:
        producer = EventProducer(reco_settings.kafka)
        await producer.start()
        try:
            records = [(str(e["user_id"]).encode(), orjson.dumps(e)) for e in events] + [(b"x", b"not json")]
            await producer.send_batched(reco_settings.kafka.events_topic, records)
        finally:
            await producer.stop()

    asyncio.run(produce())
    for name, value in settings_env(reco_settings).items():
        monkeypatch.setenv(name, value)
    assert main(["--explore-share", "0.5"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    groups = {g["group"]: g for g in result["groups"]}
    assert [g["group"] for g in result["groups"]] == ["greedy", "-", "explore"]
    assert groups["-"]["impressions"] == 5 and result["unknown_propensity"] == 5
    for arm, (n, clicks) in truth.items():
        assert (groups[arm]["impressions"], groups[arm]["clicks"]) == (n, clicks)
        assert groups[arm]["users"] == 97 and groups[arm]["ctr"] == round(clicks / n, 6)
    assert groups["explore"]["lift"] > 0 and groups["explore"]["p_value"] < 0.05
    assert result["malformed_records"] == 1 and result["orphan_clicks"] == 0
    snips = result["off_policy_explore_ctr"]["snips"]
    assert snips["ci_low"] < snips["value"] < snips["ci_high"]
    # the off-policy estimate skips them (and says so) instead of reading their propensity as 1
    assert snips["skipped_unknown_propensity"] == 5 and snips["n"] == sum(n for n, _ in truth.values())
    assert result["off_policy_explore_ctr"]["skipped_unknown_propensity"] == 5
    # by source: against the popular list's items, the foreign impressions under "-"
    assert main(["--by", "source"]) == 0
    by_source = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert by_source["control"] == "popular"
    sources = {g["group"]: g["impressions"] for g in by_source["groups"]}
    assert sources == {"popular": 3_000 - 600, "content": 3_000, "explore": 600, "-": 5}
    # a window with nothing in it is an error, said plainly
    assert main(["--since", "2030-01-01T00:00:00Z"]) == 1
