"""Exploration policies over a ranked list: pure, seeded, and with exact propensities.

The model ranks a list (the greedy slate). At a few fixed positions (`explore_positions`, in
the lower half of the list) the
policy chooses between the model's item and a pool of under-exposed live articles. Each
choice is a draw from a distribution over the candidates that the policy states explicitly
(`probabilities`), so the probability of the served item at its slot, given the slots before
it, is known exactly and logged: off-policy estimators divide by it.

- `ThompsonSampling` keeps a bank of posterior samples, Beta(alpha + clicks, beta + impressions
  - clicks) per article, redrawn when the counts are refreshed. A slot draws one bank row and
  shows the candidate with the highest sample in it, so the propensity of a candidate is the
  share of rows it wins: exact for the policy that runs, not a Monte Carlo estimate of it.
- `EpsilonGreedy` keeps the model's item with probability 1 - epsilon and otherwise shows a
  uniformly drawn candidate (the model's item included).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


@dataclass(frozen=True)
class ExposureStats:
    """Windowed counts per article: impressions and clicks (aligned arrays)."""

    article_ids: np.ndarray  # str objects
    impressions: np.ndarray
    clicks: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.article_ids)
        if len(self.impressions) != n or len(self.clicks) != n:
            raise ValueError(
                f"impressions ({len(self.impressions)}) and clicks ({len(self.clicks)}) must "
                f"align with article_ids ({n})"
            )
        if (self.impressions < 0).any() or (self.clicks < 0).any():
            raise ValueError("impressions and clicks must not be negative")

    @classmethod
    def empty(cls) -> ExposureStats:
        return cls(np.array([], dtype=object), np.zeros(0), np.zeros(0))

    @classmethod
    def from_counts(cls, counts: dict[str, tuple[float, float]]) -> ExposureStats:
        ids = np.array(list(counts), dtype=object)
        values = np.array(list(counts.values()), dtype=float).reshape(-1, 2)
        return cls(ids, values[:, 0], values[:, 1])


class ExplorationPolicy(Protocol):
    name: str

    def probabilities(self, candidates: Sequence[str]) -> np.ndarray:
        """P(candidate i is shown) for `candidates` (the model's item first); sums to 1."""
        ...


class ThompsonSampling:
    name = "thompson"

    def __init__(
        self,
        stats: ExposureStats,
        *,
        prior_alpha: float = 1.0,
        prior_beta: float = 20.0,
        draws: int = 256,
        seed: int | np.random.SeedSequence | None = None,
    ):
        rng = np.random.default_rng(seed)
        # Clicks can exceed impressions inside a window (a click counted in the hour after
        # its impression left the window): cap, so the Beta stays proper.
        clicks = np.minimum(stats.clicks, stats.impressions)
        alpha = np.append(prior_alpha + clicks, prior_alpha)  # last column: an article without counts
        beta = np.append(prior_beta + stats.impressions - clicks, prior_beta)
        self.samples = rng.beta(alpha, beta, size=(draws, len(alpha))).astype(np.float32)
        self.draws = draws
        self._column = {str(a): i for i, a in enumerate(stats.article_ids)}
        self._unknown = len(alpha) - 1
        # One sample column per article that has no counts would share the prior column and
        # always tie with another such article: give each its own column, drawn on demand.
        self._prior = (prior_alpha, prior_beta)
        self._rng = rng
        self._extra: dict[str, np.ndarray] = {}

    def _columns(self, candidates: Sequence[str]) -> np.ndarray:
        columns = []
        for article in candidates:
            column = self._column.get(article)
            if column is None:
                extra = self._extra.get(article)
                if extra is None:
                    extra = self._rng.beta(*self._prior, size=self.draws).astype(np.float32)
                    self._extra[article] = extra
                columns.append(extra)
            else:
                columns.append(self.samples[:, column])
        return np.column_stack(columns) if columns else np.empty((self.draws, 0), dtype=np.float32)

    def probabilities(self, candidates: Sequence[str]) -> np.ndarray:
        if not candidates:
            return np.zeros(0)
        winners = self._columns(candidates).argmax(axis=1)
        return np.bincount(winners, minlength=len(candidates)) / self.draws


class EpsilonGreedy:
    name = "epsilon_greedy"

    def __init__(self, epsilon: float):
        if not 0.0 < epsilon <= 1.0:
            raise ValueError(f"epsilon must be in (0, 1] (got {epsilon})")
        self.epsilon = epsilon

    def probabilities(self, candidates: Sequence[str]) -> np.ndarray:
        n = len(candidates)
        if n == 0:
            return np.zeros(0)
        p = np.full(n, self.epsilon / n)
        p[0] += 1.0 - self.epsilon
        return p


def _thompson(stats: ExposureStats, cfg: Any, seed: int) -> ExplorationPolicy:
    return ThompsonSampling(
        stats, prior_alpha=cfg.prior_alpha, prior_beta=cfg.prior_beta, draws=cfg.draws, seed=seed
    )


def _epsilon_greedy(stats: ExposureStats, cfg: Any, seed: int) -> ExplorationPolicy:
    return EpsilonGreedy(cfg.epsilon)


# Exploration policies by name (RECO_EXPLORATION__POLICY): name -> factory(stats, the
# exploration settings, seed). One line to add one.
POLICIES: dict[str, Callable[[ExposureStats, Any, int], ExplorationPolicy]] = {
    ThompsonSampling.name: _thompson,
    EpsilonGreedy.name: _epsilon_greedy,
}


def make_policy(name: str, stats: ExposureStats, cfg: Any, seed: int) -> ExplorationPolicy:
    """The policy called `name`, fitted to `stats`; ValueError naming the known ones."""
    factory = POLICIES.get(name)
    if factory is None:
        raise ValueError(f"exploration policy {name!r}: not one of {sorted(POLICIES)}")
    return factory(stats, cfg, seed)


def explore_positions(k: int, slots: int) -> list[int]:
    """Up to `slots` positions spread over the lower half of a list of `k`, ending at the last:
    k=10, slots=2 -> [7, 9]. Exploring costs clicks where readers look, and the exposure it
    buys is counted in impressions, which the bottom of a list gives as well as its top."""
    if k < 2:
        return []
    start = k // 2
    span = k - 1 - start
    return sorted({max(1, round(start + (i + 1) * span / slots)) for i in range(slots)})


def under_exposed(
    stats: ExposureStats, live_ids: Sequence[str], published_at: Sequence[float], max_impressions: int
) -> list[str]:
    """Live articles with fewer than `max_impressions` impressions in the window, newest
    first: the order pools are cut from. Fresh articles are the ones the model cannot know
    yet (it was trained before they were published), and readers like them best."""
    counts = dict(zip(stats.article_ids.tolist(), stats.impressions.tolist(), strict=True))
    exposure = np.array([counts.get(a, 0.0) for a in live_ids], dtype=float)
    published = np.asarray(published_at, dtype=float)
    keep = np.flatnonzero(exposure < max_impressions)
    order = keep[np.argsort(-published[keep], kind="stable")]
    return [live_ids[i] for i in order.tolist()]


@dataclass(frozen=True)
class Slate:
    """The served list with each item's propensity under the policy that served it.

    `explored` maps each explore position to (p, is_models_item): p is the exploring policy's
    probability of the item shown there. Computed for greedy lists too (the probability the
    exploring policy would have kept the model's item), so off-policy estimators can weigh
    both arms' impressions."""

    article_ids: list[str]
    propensities: list[float]
    explored: dict[int, tuple[float, bool]]


def explore_slate(
    greedy: Sequence[str],
    pool_for: Callable[[str], Sequence[str]],
    policy: ExplorationPolicy,
    positions: Sequence[int],
    *,
    pool_size: int,
    banned: Collection[str] = (),
    rng: np.random.Generator | None,
) -> Slate:
    """Fill `positions` of the greedy slate by `policy`; `rng=None` keeps the greedy slate
    and only computes the exploring policy's probability of it (the greedy arm's log).

    At each position the candidates are the model's item there, then the first `pool_size`
    articles of `pool_for(model's item)` (the service passes the newest under-exposed articles
    of the item's section: the model's choice says what the reader reads) that are neither
    `banned` (read, excluded) nor anywhere in the list: a slot never repeats an item, and the
    model's item it replaces is not shown elsewhere."""
    shown = list(greedy)
    propensities = [1.0] * len(shown)
    explored: dict[int, tuple[float, bool]] = {}
    taken = set(greedy)
    for position in positions:
        if position >= len(shown):
            break
        model_item = greedy[position]
        candidates = [model_item]
        for article in pool_for(model_item):
            if len(candidates) > pool_size:
                break
            if article not in taken and article not in banned:
                candidates.append(article)
        p = policy.probabilities(candidates)
        chosen = 0 if rng is None else int(rng.choice(len(candidates), p=p))
        article = candidates[chosen]
        shown[position] = article
        taken.add(article)
        explored[position] = (float(p[chosen]), chosen == 0)
        if rng is not None:
            propensities[position] = float(p[chosen])
    return Slate(shown, propensities, explored)


@dataclass(frozen=True)
class ExploredList:
    """A ranked list after exploration: what is served, with scores, reasons, the propensity
    of each served item, and the impression context of each explored position."""

    article_ids: list[str]
    scores: list[float]
    reasons: list[str]
    propensities: list[float]
    item_context: dict[int, dict[str, Any]]


def explore_list(
    article_ids: Sequence[str],
    scores: Sequence[float],
    reasons: Sequence[str],
    *,
    policy: ExplorationPolicy,
    pool_for: Callable[[str], Sequence[str]],
    k: int,
    slots: int,
    pool_size: int,
    banned: Collection[str],
    rng: np.random.Generator | None,
    reason: str,
) -> ExploredList:
    """Explore a ranked list: `explore_slate` at `explore_positions(k, slots)`; an explored
    position that shows a pool article gets its propensity as score and `reason`. `rng=None`
    (the greedy arm) serves the list unchanged and logs the explorer's odds of it."""
    slate = explore_slate(
        article_ids,
        pool_for,
        policy,
        explore_positions(k, slots),
        pool_size=pool_size,
        banned=banned,
        rng=rng,
    )
    served_scores, served_reasons = list(scores), list(reasons)
    item_context: dict[int, dict[str, Any]] = {}
    for position, (p, model_item) in slate.explored.items():
        item_context[position] = {"explore_p": round(p, 9), "model_item": model_item}
        if not model_item:
            served_scores[position], served_reasons[position] = p, reason
    return ExploredList(slate.article_ids, served_scores, served_reasons, slate.propensities, item_context)
