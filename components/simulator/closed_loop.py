"""Closed-loop traffic: simulated readers against a live ranker (the recommend service).

The day's sessions are planned as in `TrafficGenerator`; each list a reader sees comes from
`ranker` (which logs its own impressions), the user model decides what is clicked and read,
and the readers' own events (click, view, dwell) go to `sink`. Sessions run a few at a time,
started in time order, so the ranker sees the clock move forward as in production.

Per arm the loop tallies what it served and what was clicked: CTR, the articles ever served
(coverage), and when each article reached its `threshold`-th impression (exposure speed).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from components.simulator.traffic import TrafficGenerator


@dataclass(frozen=True)
class ShownList:
    request_id: str
    article_ids: list[str]
    arm: str


# (user_id, epoch seconds, k, context) -> the list served
Ranker = Callable[[str, float, int, dict[str, Any]], Awaitable[ShownList]]
Sink = Callable[[list[dict[str, Any]]], Awaitable[None]]


@dataclass
class ArmTally:
    impressions: int = 0
    clicks: int = 0
    lists: int = 0
    users: set[str] = field(default_factory=set)
    per_article: dict[str, int] = field(default_factory=dict)
    # article -> epoch second its impressions reached the threshold in this arm
    reached: dict[str, float] = field(default_factory=dict)

    @property
    def ctr(self) -> float:
        return self.clicks / self.impressions if self.impressions else 0.0


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")


class ClosedLoop:
    def __init__(
        self,
        generator: TrafficGenerator,
        ranker: Ranker,
        sink: Sink,
        *,
        concurrency: int = 8,
        threshold: int = 100,
        flush_events: int = 2_000,
    ):
        self.generator = generator
        self.world = generator.world
        self.ranker, self.sink = ranker, sink
        self.concurrency, self.threshold, self.flush_events = concurrency, threshold, flush_events
        self.arms: dict[str, ArmTally] = {}
        self.index = self.world.catalogue.index()
        self._pending: list[dict[str, Any]] = []
        self.events_sent = 0

    def _tally(self, arm: str, user: str, shown: list[str], clicked: np.ndarray, t: float) -> None:
        tally = self.arms.setdefault(arm, ArmTally())
        tally.lists += 1
        tally.users.add(user)
        tally.impressions += len(shown)
        tally.clicks += int(clicked.sum())
        for article in shown:
            count = tally.per_article.get(article, 0) + 1
            tally.per_article[article] = count
            if count == self.threshold:
                tally.reached[article] = t

    async def _emit(self, events: list[dict[str, Any]]) -> None:
        self._pending.extend(events)
        if len(self._pending) >= self.flush_events:
            await self.flush()

    async def flush(self) -> None:
        batch, self._pending = self._pending, []
        if batch:
            await self.sink(batch)
            self.events_sent += len(batch)

    async def _session(self, day: int, number: int, user: str, start: float, lists: int) -> None:
        rng = np.random.default_rng([self.world.config.seed, 5, day, number])
        model = self.generator.model
        catalogue = self.world.catalogue
        device = "mobile" if rng.random() < 0.62 else "desktop"
        t = start
        k = self.world.config.list_size
        for _ in range(lists):
            shown = await self.ranker(user, t, k, {"device": device, "surface": "home"})
            try:
                items = model.indices(shown.article_ids)
            except ValueError as exc:
                raise RuntimeError(f"the ranker served an article the world does not have: {exc}") from None
            clicked, dwell = model.respond_idx(user, items, t, rng)
            self._tally(shown.arm, user, shown.article_ids, clicked, t)
            t += rng.uniform(2.0, 12.0)  # scanning the list
            events: list[dict[str, Any]] = []
            for slot in np.flatnonzero(clicked).tolist():
                article = shown.article_ids[slot]
                common = {"user_id": user, "article_id": article}
                events.append({"event_id": str(uuid.uuid4()), "type": "click", **common, "ts": _iso(t),
                               "request_id": shown.request_id, "position": slot})  # fmt: skip
                events.append({"event_id": str(uuid.uuid4()), "type": "view", **common, "ts": _iso(t + 0.4),
                               "context": {"device": device, "referrer": "home"}})  # fmt: skip
                t += 0.4 + dwell[slot] / 1_000.0
                events.append({"event_id": str(uuid.uuid4()), "type": "dwell", **common, "ts": _iso(t),
                               "dwell_ms": int(dwell[slot])})  # fmt: skip
                t += rng.uniform(1.0, 4.0)
            if events:
                await self._emit(events)
        live = catalogue.live(t)
        direct = self.generator.direct_view(user, live, t, rng)
        if direct is not None:
            row, referrer, read_ms = direct
            common = {"user_id": user, "article_id": catalogue.ids[row]}
            await self._emit([
                {"event_id": str(uuid.uuid4()), "type": "view", **common, "ts": _iso(t),
                 "context": {"device": device, "referrer": referrer}},
                {"event_id": str(uuid.uuid4()), "type": "dwell", **common, "ts": _iso(t + read_ms / 1_000.0),
                 "dwell_ms": read_ms},
            ])  # fmt: skip

    async def run_day(self, day: int, on_session: Callable[[], None] | None = None) -> int:
        """Serve day `day` (0-based from the world's start); returns its sessions."""
        sessions = self.generator.plan_sessions(day)
        slots = asyncio.Semaphore(self.concurrency)
        tasks: set[asyncio.Task[None]] = set()
        failure: list[BaseException] = []

        async def one(number: int) -> None:
            session = sessions[number]
            try:
                await self._session(day, number, session.user_id, session.start, session.lists)
            except BaseException as exc:
                failure.append(exc)
            finally:
                slots.release()
                if on_session:
                    on_session()

        for number in range(len(sessions)):
            await slots.acquire()
            if failure:
                break
            task = asyncio.create_task(one(number))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)
        if failure:
            raise failure[0]
        await self.flush()
        returning = [s.user_id for s in sessions if s.first_visit and _returns(self.world.config, s.user_id)]
        self.generator.model.register_many(returning)
        return len(sessions)


def _returns(config: Any, user_id: str) -> bool:
    """Whether a first-time visitor comes back: a fixed coin per visitor and seed."""
    digest = uuid.uuid5(uuid.NAMESPACE_URL, f"{config.seed}/{user_id}").int
    return (digest % 10_000) / 10_000 < config.visitor_retention
