"""Logged impressions joined with their clicks: what experiment readouts and off-policy
estimators read. Pure Python and numpy, over events.v1 documents from the stream or the lake.

An impression is identified by (request_id, position); a click carries both. Events are
deduplicated by event_id first (the impression log may resend a few after a broker outage).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

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


def _epoch(ts: Any) -> float:
    if isinstance(ts, datetime):
        return ts.timestamp()
    return datetime.fromisoformat(str(ts)).timestamp()


def join_clicks(events: Iterable[Mapping[str, Any]]) -> LoggedImpressions:
    seen: set[str] = set()
    impressions: dict[tuple[str, int], Mapping[str, Any]] = {}
    clicks: set[tuple[str, int]] = set()
    for event in events:
        event_id = str(event["event_id"])
        if event_id in seen:
            continue
        seen.add(event_id)
        kind = event["type"]
        if kind == "impression":
            impressions[(str(event["request_id"]), int(event["position"]))] = event
        elif kind == "click" and event.get("request_id") is not None and event.get("position") is not None:
            clicks.add((str(event["request_id"]), int(event["position"])))
    rows = list(impressions.items())
    contexts = [e.get("context") or {} for _, e in rows]
    clicked = np.fromiter((key in clicks for key, _ in rows), dtype=bool, count=len(rows))
    return LoggedImpressions(
        request_id=np.array([k[0] for k, _ in rows], dtype=object),
        user_id=np.array([e["user_id"] for _, e in rows], dtype=object),
        article_id=np.array([e["article_id"] for _, e in rows], dtype=object),
        position=np.array([k[1] for k, _ in rows], dtype=np.int64),
        ts=np.array([_epoch(e["ts"]) for _, e in rows], dtype=float),
        propensity=np.array([float(e["propensity"]) for _, e in rows], dtype=float),
        arm=np.array([c.get("arm") or UNASSIGNED for c in contexts], dtype=object),
        variant=np.array([c.get("variant") or UNASSIGNED for c in contexts], dtype=object),
        model_version=np.array([str(e.get("model_version")) for _, e in rows], dtype=object),
        explore_p=np.array([float(c.get("explore_p", np.nan)) for c in contexts], dtype=float),
        model_item=np.array([bool(c.get("model_item", True)) for c in contexts], dtype=bool),
        clicked=clicked,
        orphan_clicks=len(clicks - impressions.keys()),
    )


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
