"""Off-policy estimators on simulated logs where the target policy's true CTR is known."""

from __future__ import annotations

import numpy as np
import pytest

from components.evaluation.off_policy import doubly_robust, ips, snips

CONTEXTS, ACTIONS = 20, 6


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def world(seed: int = 0, n: int = 200_000):  # type: ignore[no-untyped-def]
    """True CTR per (context, action); a noisy logging policy; a sharper target policy."""
    rng = np.random.default_rng(seed)
    ctr = rng.uniform(0.01, 0.2, size=(CONTEXTS, ACTIONS))
    logging = softmax(rng.normal(size=(CONTEXTS, ACTIONS)))  # unrelated to the CTR
    target = softmax(ctr * 25)  # prefers the better actions
    truth = float(np.mean(np.sum(target * ctr, axis=1)))  # contexts uniform
    x = rng.integers(CONTEXTS, size=n)
    u = rng.random(n)
    a = (u[:, None] > np.cumsum(logging[x], axis=1)).sum(axis=1)
    r = (rng.random(n) < ctr[x, a]).astype(float)
    return ctr, logging, target, truth, x, a, r


def test_ips_snips_and_dr_recover_the_true_ctr_of_another_policy() -> None:
    ctr, logging, target, truth, x, a, r = world()
    on_policy_ctr = float(r.mean())
    assert abs(on_policy_ctr - truth) / truth > 0.15  # the logging policy's CTR is far off
    mu, pi = logging[x, a], target[x, a]
    model = ctr * 0.8 + 0.01  # a reward model that is biased
    q_mu = model[x, a]
    q_pi = np.sum(target[x] * model[x], axis=1)
    for estimate in (ips(r, pi, mu), snips(r, pi, mu), doubly_robust(r, pi, mu, q_mu, q_pi)):
        low, high = estimate.interval(z=3.0)
        assert low <= truth <= high, (estimate, truth)
        assert abs(estimate.value - truth) / truth < 0.05
        assert 0 < estimate.effective_n < len(r)
    # A better reward model lowers DR's variance below IPS's.
    assert doubly_robust(r, pi, mu, q_mu, q_pi).std_error < ips(r, pi, mu).std_error


def test_on_policy_weights_give_the_plain_mean() -> None:
    _, logging, _, _, x, a, r = world(seed=1, n=5_000)
    mu = logging[x, a]
    estimate = snips(r, mu, mu)
    assert estimate.value == pytest.approx(r.mean())
    assert estimate.effective_n == pytest.approx(len(r))
    assert ips(r, mu, mu).value == pytest.approx(r.mean())


def test_snips_is_invariant_to_scaled_weights_and_ips_is_not() -> None:
    _, logging, target, _, x, a, r = world(seed=2, n=20_000)
    mu, pi = logging[x, a], target[x, a]
    assert snips(r, pi * 0.5, mu).value == pytest.approx(snips(r, pi, mu).value)
    assert ips(r, pi * 0.5, mu).value == pytest.approx(ips(r, pi, mu).value * 0.5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rewards": [1.0, 0.0], "target_p": [0.5], "logging_p": [0.5]}, "one length"),
        ({"rewards": [], "target_p": [], "logging_p": []}, "no logged impressions"),
        ({"rewards": [1.0], "target_p": [0.5], "logging_p": [0.0]}, "logging_p"),
        ({"rewards": [1.0], "target_p": [1.5], "logging_p": [0.5]}, "target_p"),
        ({"rewards": [float("nan")], "target_p": [0.5], "logging_p": [0.5]}, "rewards: must be finite"),
    ],
)
def test_bad_inputs_name_the_argument(kwargs: dict[str, list[float]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        snips(**kwargs)


def test_a_target_that_weighs_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="no logged impression any weight"):
        snips([1.0, 0.0], [0.0, 0.0], [0.5, 0.5])


def test_impressions_of_unknown_propensity_are_skipped_and_counted_never_read_as_one() -> None:
    _, logging, target, _, x, a, r = world(seed=3, n=10_000)
    mu, pi = logging[x, a], target[x, a]
    q = np.full(r.shape, 0.1)
    # 500 impressions from another system: clicked, no propensity. Read as 1 they would move
    # every estimate; skipped, the estimates are those of the known ones.
    r_all = np.concatenate([r, np.ones(500)])
    pi_all = np.concatenate([pi, np.full(500, 0.5)])
    mu_all = np.concatenate([mu, np.full(500, np.nan)])
    q_all = np.concatenate([q, np.full(500, 0.1)])
    for estimator in (ips, snips):
        estimate, alone = estimator(r_all, pi_all, mu_all), estimator(r, pi, mu)
        assert estimate.skipped == 500 and estimate.n == len(r)
        assert estimate.value == pytest.approx(alone.value) and alone.skipped == 0
        assert estimate.as_dict()["skipped_unknown_propensity"] == 500
    dr = doubly_robust(r_all, pi_all, mu_all, q_all, q_all)
    assert dr.skipped == 500 and dr.value == pytest.approx(doubly_robust(r, pi, mu, q, q).value)
    with pytest.raises(ValueError, match="logging_p: no logged impression has a known propensity"):
        snips([1.0, 0.0], [0.5, 0.5], [np.nan, np.nan])
