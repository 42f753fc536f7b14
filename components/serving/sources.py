"""The recommend service's background refreshes as named sources under one health guard.

A source is a name (the health flag it owns), an interval and an async `refresh` that swaps
what it read into the service's snapshot and returns None, or a problem (what is degraded,
while the last good state keeps serving). Anything it raises is caught by the guard and
flagged under its name: a failing source never stops its loop or the service."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from components.serving.health import Health

log = logging.getLogger("reco.serving")


@dataclass(frozen=True)
class RefreshSource:
    name: str
    interval_s: float
    refresh: Callable[[], Awaitable[str | None]]


async def refresh_once(source: RefreshSource, health: Health) -> None:
    """One refresh of `source`, its outcome flagged under its name."""
    try:
        problem = await source.refresh()
    except Exception as exc:  # the guard: the next round retries
        log.exception("background refresh %s failed", source.name)
        problem = f"{source.name} refresh failed: {exc!r}"
    health.flag(source.name, problem)


async def run_source(source: RefreshSource, health: Health) -> None:
    """Refresh `source` every `interval_s`, for as long as the task lives."""
    while True:
        await asyncio.sleep(source.interval_s)
        await refresh_once(source, health)


__all__ = ["RefreshSource", "refresh_once", "run_source"]
