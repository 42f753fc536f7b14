"""The time a recommend request is served at. Production serves on the wall clock; there is
no setting to change it. A simulation that replays days in minutes (benchmarks/closed_loop.py)
builds the app with a `RequestClock` through a test-only entry point
(benchmarks/clocked_recommender.py): each request names its time in `context.now`.
A backtest of a publisher's history does not serve at all: it evaluates logged impressions
offline, each as of its own time (docs/architecture.md, "Request clock, injected")."""

from __future__ import annotations

import time
from typing import Protocol

from components.serving.schema import ListRequest, served_at


class Clock(Protocol):
    def now(self) -> float:
        """Now, in epoch seconds (background refreshes: liveness, item features)."""
        ...

    def at(self, request: ListRequest) -> float | None:
        """The time `request` is served at (None: now); ValueError names what is wrong."""
        ...


class WallClock:
    def now(self) -> float:
        return time.time()

    def at(self, request: ListRequest) -> float | None:
        return None


class RequestClock:
    """A request's `context.now` (epoch seconds or ISO 8601 with a zone) is the time it is
    served at; the background refreshes follow the latest one seen."""

    def __init__(self) -> None:
        self.latest = 0.0

    def now(self) -> float:
        return self.latest or time.time()

    def at(self, request: ListRequest) -> float | None:
        served = served_at(request)
        self.latest = max(self.latest, served)
        return served


__all__ = ["Clock", "RequestClock", "WallClock"]
