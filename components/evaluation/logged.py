"""Logged impressions joined with their clicks: what experiment readouts and off-policy
estimators read. Pure Python and numpy, over events.v1 documents from the stream or the lake.

An impression is identified by (request_id, position); a click carries both. Events are
deduplicated by event_id first (the impression log may resend a few after a broker outage).

An impression logged by another system may carry no propensity or model version (the contract
marks them unknown): its propensity is NaN here, its model version "-", and the off-policy
odds give it no logging probability (NaN), so the estimators skip and count it.
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
    propensity: np.ndarray  # under the policy that served it; NaN when unknown (another system)
    arm: np.ndarray  # context.arm ("greedy", "explore") or "-"
    variant: np.ndarray  # context.variant ("champion", "canary", ...) or "-"
    model_version: np.ndarray  # or "-" when unknown
    explore_p: np.ndarray  # the exploring policy's probability of the item; nan off explore slots
    model_item: np.ndarray  # bool: the model's own item (True off explore slots)
    source: np.ndarray  # what put the item in the list (a candidate source, "explore") or "-"
    clicked: np.ndarray  # bool
    # Clicks whose impression is not in the log (outside the read window, or lost upstream).
    orphan_clicks: int

    def __len__(self) -> int:
        return len(self.request_id)

    @property
    def known_propensity(self) -> np.ndarray:
        """bool: the impression's propensity is known (False: logged by another system)."""
        known: np.ndarray = ~np.isnan(self.propensity)
        return known

    @property
    def unknown_propensity(self) -> int:
        """How many impressions have no known propensity (off-policy estimators skip them)."""
        return int(len(self) - np.count_nonzero(self.known_propensity))

    def label(self, by: str) -> np.ndarray:
        """The group of each impression for a readout: one of GROUPINGS."""
        if by == "variant/arm":
            return np.array([f"{v}/{a}" for v, a in zip(self.variant, self.arm, strict=True)], dtype=object)
        if by not in GROUPINGS:
            raise ValueError(f"by: must be one of {', '.join(GROUPINGS)} (got {by!r})")
        values: np.ndarray = getattr(self, by)
        return values

    def select(self, mask: np.ndarray) -> LoggedImpressions:
        fields = {name: getattr(self, name)[mask] for name in _ARRAYS}
        return LoggedImpressions(**fields, orphan_clicks=self.orphan_clicks)


_ARRAYS = (
    "request_id", "user_id", "article_id", "position", "ts", "propensity", "arm", "variant",
    "model_version", "explore_p", "model_item", "source", "clicked",
)  # fmt: skip
# How a readout may group impressions (`LoggedImpressions.label`).
GROUPINGS = ("arm", "variant", "variant/arm", "model_version", "source")


# The event types a readout joins (impressions and their clicks).
JOINED = EXPOSURE_TYPES | POSITIVE_TYPES


def _epoch(ts: Any) -> float:
    return parse_timestamp(ts).timestamp()


def _propensity(value: Any) -> float:
    """The logged propensity, NaN when unknown (null or absent: logged by another system)."""
    return np.nan if value is None else float(value)


class ImpressionJoin:
    """Impressions and clicks added one event at a time (a replay streams them), kept as
    compact tuples of the fields a readout needs, not as the events themselves."""

    def __init__(self) -> None:
        self._seen: set[bytes] = set()
        # (request_id, position) -> (user, article, ts, propensity, arm, variant, version,
        # explore_p, model_item, source)
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
                _propensity(event.get("propensity")),
                context.get("arm") or UNASSIGNED,
                context.get("variant") or UNASSIGNED,
                str(event.get("model_version") or UNASSIGNED),
                float(context.get("explore_p", np.nan)),
                bool(context.get("model_item", True)),
                str(event.get("source") or UNASSIGNED),
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
            source=column(9, object),
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
    own item and 0 otherwise. Off-policy weights are then explorer / mixture.

    An impression of unknown propensity (logged by another system) was not logged by this
    mixture: its logging probability is NaN, which the estimators skip and count, never 1."""
    if not 0.0 < explore_share <= 1.0:
        raise ValueError(f"explore_share: must be in (0, 1] (got {explore_share})")
    on_slot = ~np.isnan(logged.explore_p)
    target = np.where(on_slot, logged.explore_p, 1.0)
    model = np.where(on_slot, logged.model_item.astype(float), 1.0)
    mixture = explore_share * target + (1.0 - explore_share) * model
    return target, np.where(logged.known_propensity, mixture, np.nan)
