"""How simulated readers react to a list of articles: the closed-loop user model.

Click probability of article a at position p for reader u at time t:

    P(click) = examine(p) * sigmoid(bias + taste * log(n_cat * pref_u[cat_a])
                                     + topic_taste * (log(n_topics * share_u[topic_a]) - E)
                                     + appeal_a + freshness(t - published_a))

with examine(p) = 1 / (1 + p) ** 0.8 (readers look less far down a list), articles already
read by u rarely clicked again, and expired or unpublished articles never clicked. A click is
followed by a read whose length grows with the article's quality and length.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from components.simulator.world import (
    CATEGORIES,
    SECTION_TOPICS,
    TOPIC_CONCENTRATION,
    TOPIC_SECTION,
    World,
    draw_preferences,
    draw_shifted_preferences,
    draw_topic_shares,
    stable_seed,
)

CLICK_BIAS = -3.3
TASTE_WEIGHT = 0.9
TOPIC_TASTE_WEIGHT = 0.5
FRESHNESS_HALF_LIFE_H = 18.0
FRESHNESS_WEIGHT = 1.2
POSITION_DECAY = 0.8
REREAD_FACTOR = 0.05
# Readers who open an article they turn out not to like leave within seconds.
BOUNCE_DWELL_MS = (1_500, 9_000)


def _digamma(x: float) -> float:
    """psi(x) for x > 0: the recurrence up to x >= 6, then the asymptotic series (|error| < 1e-9)."""
    shift = 0.0
    while x < 6.0:
        shift -= 1.0 / x
        x += 1.0
    inv2 = 1.0 / (x * x)
    return shift + np.log(x) - 0.5 / x - inv2 * (1 / 12 - inv2 * (1 / 120 - inv2 / 252))


def _topic_log_mean(n_topics: int) -> float:
    """E[log(n * s)] for one share s of a symmetric Dirichlet over n topics."""
    a = TOPIC_CONCENTRATION
    return float(np.log(n_topics) + _digamma(a) - _digamma(n_topics * a))


# Per topic: log(topics in its section), less the mean of the log term (see the module doc).
_TOPIC_LOG_SCALE = np.array([np.log(len(SECTION_TOPICS[int(c)])) for c in TOPIC_SECTION])
_TOPIC_LOG_MEAN = np.array([_topic_log_mean(len(SECTION_TOPICS[int(c)])) for c in TOPIC_SECTION])


def examination(positions: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + positions) ** POSITION_DECAY


@dataclass(frozen=True)
class Response:
    article_id: str
    position: int
    clicked: bool
    dwell_ms: int | None  # set when clicked: how long the article was read


class UserModel:
    """Answers, for a reader and a ranked list at time t, what gets clicked and read.

    Deterministic by seed: a reader not in the world (a visitor the caller made up) gets tastes
    derived from the world seed and the reader's id, so answers never depend on call order
    except through the reader's own reading history.
    """

    def __init__(self, world: World):
        self.world = world
        self.catalogue = world.catalogue
        self._article_index = world.catalogue.index()
        self._user_index = {user_id: i for i, user_id in enumerate(world.population.ids)}
        self._visitors: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._read: dict[str, set[int]] = {}
        self._rng = np.random.default_rng([world.config.seed, 1])
        shift = world.config.preference_shift
        self._shift_at = shift.at.timestamp() if shift else float("inf")
        self._shift_strength = shift.strength if shift else 0.0

    # -- tastes -------------------------------------------------------------------------
    def register_many(self, user_ids: Sequence[str]) -> None:
        """Make visitors returning readers (they keep the tastes already derived for them)."""
        new = [u for u in dict.fromkeys(user_ids) if u not in self._user_index]
        if not new:
            return
        tastes = [self._visitor_tastes(u) for u in new]
        activity = [
            min(float(np.exp(-1.3 + np.random.default_rng(stable_seed("act", u)).standard_normal())), 6.0)
            for u in new
        ]
        population = self.world.population
        first_row = len(population)
        population.add(
            new,
            np.array([t[0] for t in tastes]),
            np.array([t[1] for t in tastes]),
            np.array(activity),
            np.array([t[2] for t in tastes]),
        )
        for offset, user_id in enumerate(new):
            self._user_index[user_id] = first_row + offset

    def _visitor_tastes(self, user_id: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        tastes = self._visitors.get(user_id)
        if tastes is None:
            rng = np.random.default_rng(stable_seed(self.world.config.seed, "visitor", user_id))
            sections = (draw_preferences(rng, 1)[0], draw_shifted_preferences(rng, 1)[0])
            topics = draw_topic_shares(
                np.random.default_rng(stable_seed(self.world.config.seed, "visitor-topics", user_id)), 1
            )[0]
            tastes = (*sections, topics)
            self._visitors[user_id] = tastes
        return tastes

    def topic_shares(self, user_id: str) -> np.ndarray:
        """The reader's taste over the topics within each section (a section's shares sum to 1)."""
        row = self._user_index.get(user_id)
        if row is None:
            return self._visitor_tastes(user_id)[2]
        shares: np.ndarray = self.world.population.topic_shares[row]
        return shares

    def preferences(self, user_id: str, at: float) -> np.ndarray:
        """The reader's category preferences at epoch second `at` (sums to 1)."""
        row = self._user_index.get(user_id)
        if row is None:
            base, shifted, _ = self._visitor_tastes(user_id)
        else:
            base = self.world.population.preferences[row]
            shifted = self.world.population.shifted_preferences[row]
        if at < self._shift_at:
            return base
        s = self._shift_strength
        return (1.0 - s) * base + s * shifted

    # -- reading history ----------------------------------------------------------------
    def mark_read(self, user_id: str, article: int) -> None:
        self._read.setdefault(user_id, set()).add(article)

    def has_read(self, user_id: str, article: int) -> bool:
        return article in self._read.get(user_id, ())

    # -- responses ----------------------------------------------------------------------
    def indices(self, article_ids: Sequence[str]) -> np.ndarray:
        try:
            return np.fromiter(
                (self._article_index[a] for a in article_ids), dtype=np.int64, count=len(article_ids)
            )
        except KeyError as exc:
            raise ValueError(f"article_id {exc.args[0]!r} is not in the catalogue") from None

    def relevance_idx(self, user_id: str, items: np.ndarray, at: float) -> np.ndarray:
        """The true click probability of each item if it were shown first: what an oracle
        ranks by (examination only scales it down the list)."""
        cat = self.catalogue
        prefs = self.preferences(user_id, at)
        taste = np.log(len(CATEGORIES) * prefs[cat.category[items]])
        topics = cat.topic[items]
        topic_taste = (
            np.log(self.topic_shares(user_id)[topics]) + _TOPIC_LOG_SCALE[topics] - _TOPIC_LOG_MEAN[topics]
        )
        age_h = (at - cat.published_at[items]) / 3_600.0
        freshness = FRESHNESS_WEIGHT * np.exp2(-np.maximum(age_h, 0.0) / FRESHNESS_HALF_LIFE_H)
        logit = (
            CLICK_BIAS
            + TASTE_WEIGHT * taste
            + TOPIC_TASTE_WEIGHT * topic_taste
            + cat.appeal[items]
            + freshness
        )
        p = 1.0 / (1.0 + np.exp(-logit))
        live = (cat.published_at[items] <= at) & (cat.expires_at[items] > at)
        p = np.where(live, p, 0.0)
        read = self._read.get(user_id)
        if read:
            p = np.where(
                np.fromiter((i in read for i in items), dtype=bool, count=len(items)), p * REREAD_FACTOR, p
            )
        return p

    def click_probabilities_idx(self, user_id: str, items: np.ndarray, at: float) -> np.ndarray:
        """The true click probability of each item at its position in `items` (a ranked list)."""
        p: np.ndarray = examination(np.arange(len(items), dtype=float)) * self.relevance_idx(
            user_id, items, at
        )
        return p

    def click_probabilities(self, user_id: str, article_ids: Sequence[str], at: float) -> np.ndarray:
        """The true click probability of each item at its position: for offline evaluation."""
        return self.click_probabilities_idx(user_id, self.indices(article_ids), at)

    def dwell_ms_idx(self, items: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        cat = self.catalogue
        quality = cat.quality[items]
        engaged = rng.random(len(items)) < 0.25 + 0.7 * quality
        share_read = np.clip(rng.beta(1.5 + 4 * quality, 2.0, size=len(items)), 0.05, 1.0)
        read_ms = cat.read_time_s[items] * 1_000.0 * share_read * rng.lognormal(0.0, 0.25, len(items))
        bounce_ms = rng.uniform(*BOUNCE_DWELL_MS, size=len(items))
        return np.where(engaged, read_ms, bounce_ms).astype(np.int64)

    def respond_idx(
        self, user_id: str, items: np.ndarray, at: float, rng: np.random.Generator | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Clicked mask and dwell (ms, 0 where not clicked) for catalogue indices `items`."""
        rng = rng or self._rng
        clicked = rng.random(len(items)) < self.click_probabilities_idx(user_id, items, at)
        dwell = np.zeros(len(items), dtype=np.int64)
        if clicked.any():
            dwell[clicked] = self.dwell_ms_idx(items[clicked], rng)
            for article in items[clicked]:
                self.mark_read(user_id, int(article))
        return clicked, dwell

    def respond(self, user_id: str, article_ids: Sequence[str], at: float) -> list[Response]:
        """Show `article_ids` (ranked, position 0 first) to `user_id` at epoch second `at`."""
        items = self.indices(article_ids)
        clicked, dwell = self.respond_idx(user_id, items, at)
        return [
            Response(
                article_id,
                position,
                bool(clicked[position]),
                int(dwell[position]) if clicked[position] else None,
            )
            for position, article_id in enumerate(article_ids)
        ]
