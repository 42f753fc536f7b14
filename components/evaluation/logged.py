"""Logged impressions joined with their clicks: what experiment readouts and off-policy
estimators read. Pure Python and numpy, over events.v1 documents from the stream or the lake.

An impression is identified by (request_id, position); a click carries both. Events are
deduplicated by event_id first (the impression log may resend a few after a broker outage).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from components.events.schema import EXPOSURE_TYPES, POSITIVE_TYPES
from components.events.time import parse_timestamp

UNASSIGNED = "-"


@dataclass(frozen=True)
class LoggedImpressions:
    request_id: np.ndarray  # str objects
    user_id: np.ndarray
    article_id: np.ndarray
    position: np.ndarray  # int
    ts: np.ndarray  # epoch seconds
    propensity: np.ndarray  # under the policy that served it
    arm: np.ndarray  # context.arm ("greedy", "explore") or "-"
    variant: np.ndarray  # context.variant ("champion", "canary", ...) or "-"
    model_version: np.ndarray
    explore_p: np.ndarray  # the exploring policy's probability of the item; nan off explore slots
    model_item: np.ndarray  # bool: the model's own item (True off explore slots)
    clicked: np.ndarray  # bool
    # Clicks whose impression is not in the log (outside the read window, or lost upstream).
    orphan_clicks: int

    def __len__(self) -> int:
        return len(self.request_id)

    def label(self, by: str) -> np.ndarray:
        """The group of each impression for a readout: "arm", "variant", "model_version" or
        "variant/arm"."""
        if by == "variant/arm":
            return np.array([f"{v}/{a}" for v, a in zip(self.variant, self.arm, strict=True)], dtype=object)
        if by not in ("arm", "variant", "model_version"):
            raise ValueError(f"by: must be arm, variant, model_version or variant/arm (got {by!r})")
        values: np.ndarray = getattr(self, by)
        return values

    def select(self, mask: np.ndarray) -> LoggedImpressions:
        fields = {name: getattr(self, name)[mask] for name in _ARRAYS}
        return LoggedImpressions(**fields, orphan_clicks=self.orphan_clicks)


_ARRAYS = (
    "request_id", "user_id", "article_id", "position", "ts", "propensity", "arm", "variant",
    "model_version", "explore_p", "model_item", "clicked",
)  # fmt: skip


# The event types a readout joins (impressions and their clicks).
JOINED = EXPOSURE_TYPES | POSITIVE_TYPES


def _epoch(ts: Any) -> float:
    return parse_timestamp(ts).timestamp()


class ImpressionJoin:
    """Impressions and clicks added one event at a time (a replay streams them), kept as
    compact tuples of the fields a readout needs, not as the events themselves."""

    def __init__(self) -> None:
        self._seen: set[bytes] = set()
        # (request_id, position) -> (user, article, ts, propensity, arm, variant, version,
        # explore_p, model_item)
        self._impressions: dict[tuple[str, int], tuple[Any, ...]] = {}
        self._clicks: set[tuple[str, int]] = set()

    def add(self, event: Mapping[str, Any]) -> None:
        kind = event["type"]
        if kind not in JOINED:
            return  # only exposures and positives are joined: no memory for views and dwells
        event_id = str(event["event_id"]).encode()
        if event_id in self._seen:
            return
        self._seen.add(event_id)
        if kind in EXPOSURE_TYPES:
            context = event.get("context") or {}
            self._impressions[(str(event["request_id"]), int(event["position"]))] = (
                event["user_id"],
                event["article_id"],
                _epoch(event["ts"]),
                float(event["propensity"]),
                context.get("arm") or UNASSIGNED,
                context.get("variant") or UNASSIGNED,
                str(event.get("model_version")),
                float(context.get("explore_p", np.nan)),
                bool(context.get("model_item", True)),
            )
        elif (
            kind in POSITIVE_TYPES
            and event.get("request_id") is not None
            and event.get("position") is not None
        ):
            self._clicks.add((str(event["request_id"]), int(event["position"])))

    def result(self) -> LoggedImpressions:
        rows = list(self._impressions.items())
        clicked = np.fromiter((key in self._clicks for key, _ in rows), dtype=bool, count=len(rows))

        def column(i: int, dtype: Any) -> np.ndarray:
            return np.array([r[i] for _, r in rows], dtype=dtype)

        return LoggedImpressions(
            request_id=np.array([k[0] for k, _ in rows], dtype=object),
            user_id=column(0, object),
            article_id=column(1, object),
            position=np.array([k[1] for k, _ in rows], dtype=np.int64),
            ts=column(2, float),
            propensity=column(3, float),
            arm=column(4, object),
            variant=column(5, object),
            model_version=column(6, object),
            explore_p=column(7, float),
            model_item=column(8, bool),
            clicked=clicked,
            orphan_clicks=len(self._clicks - self._impressions.keys()),
        )


def join_clicks(events: Iterable[Mapping[str, Any]]) -> LoggedImpressions:
    join = ImpressionJoin()
    for event in events:
        join.add(event)
    return join.result()


def exploring_policy_odds(logged: LoggedImpressions, explore_share: float) -> tuple[np.ndarray, np.ndarray]:
    """(target_p, logging_p) for estimating the exploring arm's CTR from both arms' logs.

    Users are split by hash: a share q explores, the rest get the model's list. Taken together,
    the traffic was logged by the mixture q * explorer + (1 - q) * model. Off the explore slots
    both show the model's item (probability 1). On them, the explorer showed the item with
    probability `explore_p` (logged by both arms), the model with probability 1 if it is its
    own item and 0 otherwise. Off-policy weights are then explorer / mixture."""
    if not 0.0 < explore_share <= 1.0:
        raise ValueError(f"explore_share: must be in (0, 1] (got {explore_share})")
    on_slot = ~np.isnan(logged.explore_p)
    target = np.where(on_slot, logged.explore_p, 1.0)
    model = np.where(on_slot, logged.model_item.astype(float), 1.0)
    return target, explore_share * target + (1.0 - explore_share) * model
