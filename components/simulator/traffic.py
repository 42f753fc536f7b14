"""Simulated traffic: sessions of impressions, clicks, views and dwell, day by day.

Who comes when follows each reader's activity and the platform's daily rhythm; a share of
sessions comes from first-time visitors (some of whom return). In each session the platform
shows ranked lists chosen by a ranking policy, by default the platform's own "house" ranking
(popular and fresh, sampled Plackett-Luce style so every shown item has a known propensity),
and the closed-loop user model decides what is clicked and read. Readers also open articles
directly (search, social), which makes views without an impression.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Protocol

import numpy as np

from components.simulator.behaviour import FRESHNESS_HALF_LIFE_H, FRESHNESS_WEIGHT, UserModel
from components.simulator.world import World, draw_times_of_day

HOUSE_MODEL_VERSION = "house-popular-fresh-v1"
MAX_LISTS_PER_SESSION = 6
DIRECT_VIEW_PROBABILITY = 0.3
# Propensities are logged as floats > 0; the tail of a softmax can underflow.
MIN_PROPENSITY = 1e-9


class RankingPolicy(Protocol):
    """Ranks `k` of the live catalogue indices for a reader; returns (items, propensities, version)."""

    def rank(
        self, user_id: str, live: np.ndarray, at: float, k: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, str]: ...


class HousePolicy:
    """The platform's default front page: appeal plus freshness, sampled with Gumbel noise.

    Sampling k items without replacement from softmax(score / temperature) (Plackett-Luce)
    gives each slot an exact propensity: its item's share of the weight still unshown.
    """

    def __init__(self, world: World, temperature: float = 1.2):
        self.catalogue = world.catalogue
        self.temperature = temperature
        self._cache_key: tuple[int, int] | None = None
        self._scores = np.empty(0)

    def scores(self, live: np.ndarray, at: float) -> np.ndarray:
        # Scores move slowly: recompute once per live set and hour.
        key = (hash(live.tobytes()), int(at // 3_600))
        if key != self._cache_key:
            cat = self.catalogue
            age_h = np.maximum(at - cat.published_at[live], 0.0) / 3_600.0
            raw = cat.appeal[live] + 1.5 * np.exp2(-age_h / FRESHNESS_HALF_LIFE_H)
            self._scores = raw / self.temperature
            self._cache_key = key
        return self._scores

    def rank(
        self, user_id: str, live: np.ndarray, at: float, k: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, str]:
        scores = self.scores(live, at)
        k = min(k, len(live))
        noisy = scores + rng.gumbel(size=len(live))
        top = np.argpartition(-noisy, k - 1)[:k]
        order = top[np.argsort(-noisy[top])]
        weights = np.exp(scores - scores.max())
        chosen = weights[order]
        remaining = weights.sum() - np.concatenate(([0.0], np.cumsum(chosen)[:-1]))
        propensity = np.maximum(chosen / remaining, MIN_PROPENSITY)
        return live[order], propensity, HOUSE_MODEL_VERSION


ORACLE_MODEL_VERSION = "reference-oracle"
POPFRESH_MODEL_VERSION = "reference-popfresh"


class OraclePolicy:
    """A reference that knows the truth: each reader's own click probability of every live
    article (taste, topic, appeal, freshness, what they have read), best first. The ceiling a
    learned policy is measured against; deterministic (propensity 1)."""

    def __init__(self, model: UserModel):
        self.model = model

    def rank(
        self, user_id: str, live: np.ndarray, at: float, k: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, str]:
        relevance = self.model.relevance_idx(user_id, live, at)
        return _top(live, relevance, k), np.ones(min(k, len(live))), ORACLE_MODEL_VERSION


class PopFreshPolicy:
    """A reference with perfect non-personal knowledge: true appeal plus freshness, the same
    list for everyone (no noise, no tastes). What a perfect popularity model would serve."""

    def __init__(self, world: World):
        self.catalogue = world.catalogue

    def rank(
        self, user_id: str, live: np.ndarray, at: float, k: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, str]:
        cat = self.catalogue
        age_h = np.maximum(at - cat.published_at[live], 0.0) / 3_600.0
        score = cat.appeal[live] + FRESHNESS_WEIGHT * np.exp2(-age_h / FRESHNESS_HALF_LIFE_H)
        return _top(live, score, k), np.ones(min(k, len(live))), POPFRESH_MODEL_VERSION


def _top(live: np.ndarray, score: np.ndarray, k: int) -> np.ndarray:
    k = min(k, len(live))
    top = np.argpartition(-score, k - 1)[:k]
    chosen: np.ndarray = live[top[np.argsort(-score[top], kind="stable")]]
    return chosen


# The reference policies by name (the closed loop and the ranking benchmark serve them).
REFERENCE_POLICIES: dict[str, Callable[[World, UserModel], RankingPolicy]] = {
    "oracle": lambda world, model: OraclePolicy(model),
    "popfresh": lambda world, model: PopFreshPolicy(world),
}


def reference_policy(name: str, world: World, model: UserModel) -> RankingPolicy:
    factory = REFERENCE_POLICIES.get(name)
    if factory is None:
        raise ValueError(f"policy: unknown reference policy {name!r} (known: {sorted(REFERENCE_POLICIES)})")
    return factory(world, model)


@dataclass(frozen=True)
class Session:
    user_id: str
    start: float  # epoch seconds
    lists: int
    first_visit: bool


@dataclass
class DayTraffic:
    day: date
    events: list[dict[str, Any]]
    sessions: int
    first_visits: int
    counts: Counter[str] = field(default_factory=Counter)


class _Clock:
    """Fast ISO 8601 UTC timestamps with millisecond precision ("2026-11-20T08:15:02.123Z")."""

    def __init__(self) -> None:
        self._days: dict[int, str] = {}

    def iso(self, t: float) -> str:
        ms = int(round(t * 1000.0))
        day, ms_of_day = divmod(ms, 86_400_000)
        prefix = self._days.get(day)
        if prefix is None:
            prefix = datetime.fromtimestamp(day * 86_400, UTC).strftime("%Y-%m-%dT")
            self._days[day] = prefix
        s, ms_part = divmod(ms_of_day, 1000)
        h, rem = divmod(s, 3600)
        m, s = divmod(rem, 60)
        return f"{prefix}{h:02d}:{m:02d}:{s:02d}.{ms_part:03d}Z"


class _EventIds:
    """Random (version 4) UUID strings from the seeded generator, made in blocks for speed."""

    BLOCK = 8_192

    def __init__(self, rng: np.random.Generator):
        self._rng = rng
        self._ids: list[str] = []

    def _refill(self) -> None:
        raw = self._rng.integers(0, 256, size=(self.BLOCK, 16), dtype=np.uint8)
        raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
        raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
        hexes = raw.tobytes().hex()
        ids = []
        for i in range(0, len(hexes), 32):
            h = hexes[i : i + 32]
            ids.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
        ids.reverse()  # pop() from the end hands them out in generation order
        self._ids = ids

    def next(self) -> str:
        if not self._ids:
            self._refill()
        return self._ids.pop()


class TrafficGenerator:
    def __init__(self, world: World, model: UserModel | None = None, policy: RankingPolicy | None = None):
        self.world = world
        self.config = world.config
        self.model = model or UserModel(world)
        self.policy = policy or HousePolicy(world)
        self._clock = _Clock()

    def plan_sessions(self, day: int) -> list[Session]:
        """Who visits on `day` (0-based from the world's start), and when, in time order."""
        cfg = self.config
        rng = np.random.default_rng([cfg.seed, 2, day])
        population = self.world.population
        per_user = rng.poisson(population.activity)
        returning = np.repeat(np.arange(len(population)), per_user)
        n_new = int(rng.poisson(len(returning) * cfg.new_visitor_share / (1.0 - cfg.new_visitor_share)))
        starts = cfg.start.timestamp() + day * 86_400.0 + draw_times_of_day(rng, len(returning) + n_new)
        lists = np.minimum(rng.geometric(0.45, size=len(starts)), MAX_LISTS_PER_SESSION)
        ids = [population.ids[i] for i in returning] + [
            f"v{cfg.seed}-{day:04d}-{i:06d}" for i in range(n_new)
        ]
        first = [False] * len(returning) + [True] * n_new
        order = np.argsort(starts, kind="stable")
        return [Session(ids[i], float(starts[i]), int(lists[i]), first[i]) for i in order]

    def days(self) -> Iterator[DayTraffic]:
        for day in range(self.config.days):
            yield self.simulate_day(day)

    def direct_view(
        self, user: str, live: np.ndarray, t: float, rng: np.random.Generator
    ) -> tuple[int, str, int] | None:
        """At the end of a session a reader may open an article directly (search, social),
        by taste and appeal: (article, referrer, read ms), or None. Marks it read."""
        if not (rng.random() < DIRECT_VIEW_PROBABILITY and len(live)):
            return None
        model, catalogue = self.model, self.world.catalogue
        prefs = model.preferences(user, t)
        weights = np.exp(catalogue.appeal[live]) * prefs[catalogue.category[live]]
        article = int(live[rng.choice(len(live), p=weights / weights.sum())])
        if model.has_read(user, article):
            return None
        model.mark_read(user, article)
        referrer = "search" if rng.random() < 0.5 else "social"
        (read_ms,) = model.dwell_ms_idx(np.array([article]), rng)
        return article, referrer, int(read_ms)

    def simulate_day(self, day: int) -> DayTraffic:
        cfg = self.config
        rng = np.random.default_rng([cfg.seed, 3, day])
        model = self.model
        catalogue = self.world.catalogue
        ids = catalogue.ids
        events: list[tuple[float, dict[str, Any]]] = []
        iso = self._clock.iso
        next_id = _EventIds(np.random.default_rng([cfg.seed, 4, day])).next

        def emit(kind: str, user_id: str, article: int, t: float, extra: dict[str, Any]) -> None:
            payload = {
                "event_id": next_id(),
                "type": kind,
                "user_id": user_id,
                "article_id": ids[article],
                "ts": iso(t),
            }
            payload.update(extra)
            events.append((t, payload))

        sessions = self.plan_sessions(day)
        live_hour, live = -1, np.empty(0, dtype=np.int64)
        returning_visitors: list[str] = []
        for session in sessions:
            hour = int(session.start // 3_600)
            if hour != live_hour:
                live_hour, live = hour, catalogue.live(hour * 3_600.0)
            user, t = session.user_id, session.start
            device = "mobile" if rng.random() < 0.62 else "desktop"
            for _ in range(session.lists):
                items, propensity, version = self.policy.rank(user, live, t, cfg.list_size, rng)
                request_id = "r" + next_id()[:18].replace("-", "")
                shown_at = iso(t)
                logged = np.maximum(np.round(propensity, 9), MIN_PROPENSITY).tolist()
                context = {"device": device, "surface": "home"}
                for position, article in enumerate(items.tolist()):
                    events.append(
                        (t, {
                            "event_id": next_id(), "type": "impression", "user_id": user,
                            "article_id": ids[article], "ts": shown_at, "request_id": request_id,
                            "position": position, "model_version": version,
                            "propensity": logged[position], "context": context,
                        })
                    )  # fmt: skip
                clicked, dwell = model.respond_idx(user, items, t, rng)
                t += rng.uniform(2.0, 12.0)  # scanning the list
                for slot in np.flatnonzero(clicked).tolist():
                    article = int(items[slot])
                    emit("click", user, article, t, {"request_id": request_id, "position": slot})
                    emit("view", user, article, t + 0.4, {"context": {"device": device, "referrer": "home"}})
                    t += 0.4 + dwell[slot] / 1_000.0
                    emit("dwell", user, article, t, {"dwell_ms": int(dwell[slot])})
                    t += rng.uniform(1.0, 4.0)
            direct = self.direct_view(user, live, t, rng)
            if direct is not None:
                article, referrer, read_ms = direct
                emit("view", user, article, t, {"context": {"device": device, "referrer": referrer}})
                emit("dwell", user, article, t + read_ms / 1_000.0, {"dwell_ms": read_ms})
            if session.first_visit and rng.random() < cfg.visitor_retention:
                returning_visitors.append(user)
        model.register_many(returning_visitors)
        events.sort(key=lambda pair: pair[0])
        payloads = [payload for _, payload in events]
        counts = Counter(payload["type"] for payload in payloads)
        first_visits = sum(1 for s in sessions if s.first_visit)
        day_date = datetime.fromtimestamp(cfg.start.timestamp() + day * 86_400, UTC).date()
        return DayTraffic(day_date, payloads, len(sessions), first_visits, counts)
