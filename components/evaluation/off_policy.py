"""Off-policy estimators: the expected reward (CTR) of a target policy, from impressions
logged under another policy with the probability each shown item had (its propensity).

Each logged impression i has a reward r_i (clicked or not), the logging policy's probability
mu_i of what was shown and the target policy's probability pi_i of the same. With importance
weights w_i = pi_i / mu_i:

- IPS: mean(w r). Unbiased when mu_i > 0 wherever pi_i > 0; its variance grows with the weights.
- SNIPS: sum(w r) / sum(w). Self-normalised: a little bias, much less variance, and the same
  answer for weights scaled by a constant.
- Doubly robust: mean(q_pi + w (r - q_mu)), with a reward model's prediction q_mu for what was
  shown and its expectation q_pi under the target policy. Unbiased if either the propensities
  or the reward model are right; lower variance than IPS when the model is good.

Standard errors are the usual plug-in ones (delta method for SNIPS).

An impression whose logging probability is unknown (NaN: logged by another system, which
recorded no propensity) cannot be weighted: every estimator skips it and counts it in
`Estimate.skipped`, rather than guess a probability (reading it as 1 would bias the estimate).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike


@dataclass(frozen=True)
class Estimate:
    value: float
    std_error: float
    n: int
    # (sum w)^2 / sum w^2: how many on-policy samples the weighted ones are worth.
    effective_n: float
    # Impressions left out because their logging probability is unknown (NaN).
    skipped: int = 0

    def interval(self, z: float = 1.96) -> tuple[float, float]:
        return self.value - z * self.std_error, self.value + z * self.std_error

    def as_dict(self) -> dict[str, float]:
        low, high = self.interval()
        return {
            "value": round(self.value, 6),
            "std_error": round(self.std_error, 6),
            "ci_low": round(low, 6),
            "ci_high": round(high, 6),
            "n": self.n,
            "effective_n": round(self.effective_n, 1),
            "skipped_unknown_propensity": self.skipped,
        }


@dataclass(frozen=True)
class _Logged:
    """The impressions an estimator can weigh: rewards, weights, which rows they are."""

    r: np.ndarray
    w: np.ndarray
    known: np.ndarray  # bool over the input rows: the logging probability is known
    skipped: int


def _arrays(rewards: ArrayLike, target_p: ArrayLike, logging_p: ArrayLike) -> _Logged:
    r = np.asarray(rewards, dtype=float)
    pi = np.asarray(target_p, dtype=float)
    mu = np.asarray(logging_p, dtype=float)
    if not (r.shape == pi.shape == mu.shape and r.ndim == 1):
        raise ValueError(
            f"rewards, target_p and logging_p must be 1-D of one length (got {r.shape}, {pi.shape}, {mu.shape})"
        )
    if r.size == 0:
        raise ValueError("rewards: no logged impressions to estimate from")
    known = ~np.isnan(mu)
    skipped = int(r.size - np.count_nonzero(known))
    if skipped == r.size:
        raise ValueError(
            f"logging_p: no logged impression has a known propensity ({skipped} skipped as unknown)"
        )
    r, pi, mu = r[known], pi[known], mu[known]
    if not np.isfinite(r).all():
        raise ValueError("rewards: must be finite")
    if not ((mu > 0) & (mu <= 1)).all():
        raise ValueError(f"logging_p: every propensity must be in (0, 1] (min {mu.min()}, max {mu.max()})")
    if not ((pi >= 0) & (pi <= 1)).all():
        raise ValueError(f"target_p: every probability must be in [0, 1] (min {pi.min()}, max {pi.max()})")
    return _Logged(r, pi / mu, known, skipped)


def _effective_n(w: np.ndarray) -> float:
    squares = float(np.sum(w * w))
    return float(np.sum(w)) ** 2 / squares if squares else 0.0


def _mean(terms: np.ndarray, logged: _Logged) -> Estimate:
    n = terms.size
    std_error = float(terms.std(ddof=1) / np.sqrt(n)) if n > 1 else 0.0
    return Estimate(float(terms.mean()), std_error, n, _effective_n(logged.w), logged.skipped)


def ips(rewards: ArrayLike, target_p: ArrayLike, logging_p: ArrayLike) -> Estimate:
    """`logging_p` NaN marks an impression of unknown propensity: skipped and counted."""
    logged = _arrays(rewards, target_p, logging_p)
    return _mean(logged.w * logged.r, logged)


def snips(rewards: ArrayLike, target_p: ArrayLike, logging_p: ArrayLike) -> Estimate:
    """`logging_p` NaN marks an impression of unknown propensity: skipped and counted."""
    logged = _arrays(rewards, target_p, logging_p)
    r, w = logged.r, logged.w
    total = float(w.sum())
    if total <= 0:
        raise ValueError("target_p: the target policy gives no logged impression any weight")
    value = float(np.dot(w, r)) / total
    std_error = float(np.sqrt(np.sum((w * (r - value)) ** 2))) / total
    return Estimate(value, std_error, r.size, _effective_n(w), logged.skipped)


def doubly_robust(
    rewards: ArrayLike,
    target_p: ArrayLike,
    logging_p: ArrayLike,
    predicted: ArrayLike,
    predicted_target: ArrayLike,
) -> Estimate:
    """`predicted`: the reward model's prediction for what was shown; `predicted_target`: its
    expected prediction under the target policy in the same context (sum over a of pi(a) q(a)).
    `logging_p` NaN marks an impression of unknown propensity: skipped and counted."""
    logged = _arrays(rewards, target_p, logging_p)
    q_mu = np.asarray(predicted, dtype=float)
    q_pi = np.asarray(predicted_target, dtype=float)
    if q_mu.shape != logged.known.shape or q_pi.shape != logged.known.shape:
        raise ValueError(
            f"predicted and predicted_target must match rewards {logged.known.shape} "
            f"(got {q_mu.shape}, {q_pi.shape})"
        )
    terms = q_pi[logged.known] + logged.w * (logged.r - q_mu[logged.known])
    return _mean(terms, logged)
