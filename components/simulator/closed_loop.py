"""Closed-loop traffic: simulated readers against a live ranker (the recommend service).

The day's sessions are planned as in `TrafficGenerator`; each list a reader sees comes from
`ranker` (which logs its own impressions), the user model decides what is clicked and read,
and the readers' own events (click, view, dwell) go to `sink`. A session's later lists are asked
with the articles the reader opened earlier in it as `exclude`, as a page does, and with
`settle` given, only once the events of those opens have been sent and `settle` returned (the
ranker's state shows them): production's seconds between page views deliver a click before the
next list, simulated time does not. Sessions run a few at a time,
started in time order, so the ranker sees the clock move forward as in production.

Per arm the loop tallies what it served and what was clicked: CTR, the articles ever served
(coverage), and when each article reached its `threshold`-th impression (exposure speed).

Reference arms (`references`, e.g. the simulator's oracle and popfresh policies) measure the
ranker against policies that know the truth, in the same run and world: a `reference_share`
of the readers, fixed by a hash of (world seed, reader), is split evenly between the
references (in name order) and served in process by them, with the same session logic. The
ranker is never asked for these readers and none of their events reach `sink`, so the
platform neither trains on nor counts them. A reference ranks the articles live at the time
of each list, less those the reader has read (as the service leaves out recent reads).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from components.simulator.traffic import RankingPolicy, TrafficGenerator
from components.simulator.world import stable_seed


@dataclass(frozen=True)
class ShownList:
    request_id: str
    article_ids: list[str]
    arm: str


# (user_id, epoch seconds, k, context, exclude) -> the list served; `exclude` holds the articles
# the reader opened earlier in the same session (the page knows them; the stream may not yet)
Ranker = Callable[[str, float, int, dict[str, Any], list[str]], Awaitable[ShownList]]
Sink = Callable[[list[dict[str, Any]]], Awaitable[None]]
# (user_id, article) -> returns once the ranker's state shows the reader opened `article`
Settle = Callable[[str, str], Awaitable[None]]


@dataclass
class ArmTally:
    impressions: int = 0
    clicks: int = 0
    lists: int = 0
    users: set[str] = field(default_factory=set)
    per_article: dict[str, int] = field(default_factory=dict)
    # article -> epoch second its impressions reached the threshold in this arm
    reached: dict[str, float] = field(default_factory=dict)
    # the part of impressions and clicks that went to first-time visitors (no history anywhere)
    first_visit_impressions: int = 0
    first_visit_clicks: int = 0
    # impressions of articles the reader had already read (a wasted slot: rereads are rare)
    reread_impressions: int = 0
    # lists after the first of a session, and their clicks
    later_impressions: int = 0
    later_clicks: int = 0

    @property
    def ctr(self) -> float:
        return self.clicks / self.impressions if self.impressions else 0.0

    @property
    def returning_ctr(self) -> float:
        """CTR on the lists of readers who had visited before (what personalisation can reach)."""
        impressions = self.impressions - self.first_visit_impressions
        return (self.clicks - self.first_visit_clicks) / impressions if impressions else 0.0

    @property
    def first_visit_ctr(self) -> float:
        n = self.first_visit_impressions
        return self.first_visit_clicks / n if n else 0.0


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
        references: Mapping[str, RankingPolicy] | None = None,
        reference_share: float = 0.0,
        settle: Settle | None = None,
    ):
        if not 0.0 <= reference_share <= 1.0:
            raise ValueError(f"reference_share must be in [0, 1], got {reference_share}")
        if reference_share > 0.0 and not references:
            raise ValueError("reference_share > 0 needs at least one reference policy")
        self.generator = generator
        self.settle = settle
        self.world = generator.world
        self.ranker, self.sink = ranker, sink
        self.concurrency, self.threshold, self.flush_events = concurrency, threshold, flush_events
        self.references: dict[str, RankingPolicy] = dict(sorted((references or {}).items()))
        self.reference_share = reference_share if self.references else 0.0
        self.arms: dict[str, ArmTally] = {}
        self.index = self.world.catalogue.index()
        self._pending: list[dict[str, Any]] = []
        self.events_sent = 0
        self.events_withheld = 0  # the reference readers' events: never sent

    def reference_arm(self, user_id: str) -> str | None:
        """The reference policy that serves `user_id`, or None (the ranker does). Fixed by
        (world seed, reader): a uniform number u in [0, 1); readers with u < reference_share go
        to the references, the range split evenly between them in name order."""
        if self.reference_share <= 0.0:
            return None
        u = stable_seed(self.world.config.seed, "closed-loop-reference", user_id) / 2**64
        if u >= self.reference_share:
            return None
        names = list(self.references)
        return names[min(int(u / self.reference_share * len(names)), len(names) - 1)]

    def _reference_list(
        self, policy: RankingPolicy, user: str, t: float, k: int, rng: np.random.Generator
    ) -> np.ndarray:
        """The policy's list over the articles live at `t` that the reader has not read."""
        model = self.generator.model
        live = self.world.catalogue.live(t)
        read = np.fromiter((model.has_read(user, i) for i in live.tolist()), dtype=bool, count=len(live))
        candidates = live[~read] if not read.all() else live
        if not len(candidates):
            return np.empty(0, dtype=np.int64)
        items, _, _ = policy.rank(user, candidates, t, k, rng)
        return np.asarray(items, dtype=np.int64)

    def _tally(
        self,
        arm: str,
        user: str,
        shown: list[str],
        clicked: np.ndarray,
        t: float,
        first_visit: bool = False,
        *,
        reread: int = 0,
        later: bool = False,
    ) -> None:
        tally = self.arms.setdefault(arm, ArmTally())
        tally.reread_impressions += reread
        if later:
            tally.later_impressions += len(shown)
            tally.later_clicks += int(clicked.sum())
        tally.lists += 1
        tally.users.add(user)
        tally.impressions += len(shown)
        tally.clicks += int(clicked.sum())
        if first_visit:
            tally.first_visit_impressions += len(shown)
            tally.first_visit_clicks += int(clicked.sum())
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

    async def _session(
        self, day: int, number: int, user: str, start: float, lists: int, first_visit: bool = False
    ) -> None:
        rng = np.random.default_rng([self.world.config.seed, 5, day, number])
        model = self.generator.model
        catalogue = self.world.catalogue
        device = "mobile" if rng.random() < 0.62 else "desktop"
        t = start
        k = self.world.config.list_size
        reference = self.reference_arm(user)
        emit = self._emit if reference is None else self._withhold
        opened: list[str] = []  # what the reader opened this session, sent as `exclude`
        settled = 0
        for shown_number in range(lists):
            if reference is None and self.settle is not None and len(opened) > settled:
                # The reader comes back to the page seconds later in production, when the
                # stream has long delivered their clicks: send them now, and wait until the
                # ranker's state has them (simulated time runs far faster than the stream).
                await self.flush()
                await self.settle(user, opened[-1])
                settled = len(opened)
            if reference is None:
                shown = await self.ranker(user, t, k, {"device": device, "surface": "home"}, list(opened))
                if shown.arm in self.references:
                    raise RuntimeError(f"the ranker served arm {shown.arm!r}, the name of a reference arm")
                try:
                    items = model.indices(shown.article_ids)
                except ValueError as exc:
                    raise RuntimeError(
                        f"the ranker served an article the world does not have: {exc}"
                    ) from None
            else:
                items = self._reference_list(self.references[reference], user, t, k, rng)
                request_id = f"{reference}-{day}-{number}-{shown_number}"  # never leaves the loop
                shown = ShownList(request_id, [catalogue.ids[i] for i in items.tolist()], reference)
            reread = sum(model.has_read(user, i) for i in items.tolist())
            clicked, dwell = model.respond_idx(user, items, t, rng)
            self._tally(
                shown.arm,
                user,
                shown.article_ids,
                clicked,
                t,
                first_visit,
                reread=reread,
                later=shown_number > 0,
            )
            t += rng.uniform(2.0, 12.0)  # scanning the list
            events: list[dict[str, Any]] = []
            for slot in np.flatnonzero(clicked).tolist():
                article = shown.article_ids[slot]
                opened.append(article)
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
                await emit(events)
        live = catalogue.live(t)
        direct = self.generator.direct_view(user, live, t, rng)
        if direct is not None:
            row, referrer, read_ms = direct
            common = {"user_id": user, "article_id": catalogue.ids[row]}
            await emit([
                {"event_id": str(uuid.uuid4()), "type": "view", **common, "ts": _iso(t),
                 "context": {"device": device, "referrer": referrer}},
                {"event_id": str(uuid.uuid4()), "type": "dwell", **common, "ts": _iso(t + read_ms / 1_000.0),
                 "dwell_ms": read_ms},
            ])  # fmt: skip

    async def _withhold(self, events: list[dict[str, Any]]) -> None:
        """A reference reader's events: counted, never sent (the platform must not learn from them)."""
        self.events_withheld += len(events)

    async def run_day(self, day: int, on_session: Callable[[], None] | None = None) -> int:
        """Serve day `day` (0-based from the world's start); returns its sessions."""
        sessions = self.generator.plan_sessions(day)
        slots = asyncio.Semaphore(self.concurrency)
        tasks: set[asyncio.Task[None]] = set()
        failure: list[BaseException] = []

        async def one(number: int) -> None:
            session = sessions[number]
            try:
                await self._session(
                    day, number, session.user_id, session.start, session.lists, session.first_visit
                )
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
