"""Online experiment readout: CTR per group with a Wilson interval, and each group against
the control with a two-proportion z-test (statsmodels).

Impressions of one reader are not independent (one reader sees many): the intervals and
p-values treat them as if they were, so they are optimistic for groups of few readers. With
users split by hash the comparison itself stays unbiased.

Impressions of unknown propensity (logged by another system) count in the CTR readout, under
their context's group, but the off-policy estimate skips them and says how many it skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import statsmodels.stats.proportion as proportion

from components.evaluation.logged import LoggedImpressions, exploring_policy_odds
from components.evaluation.off_policy import ips, snips


@dataclass(frozen=True)
class GroupReadout:
    group: str
    users: int
    impressions: int
    clicks: int
    ctr: float
    ci_low: float
    ci_high: float
    # Against the control group (None for the control itself).
    lift: float | None = None  # relative: ctr / control ctr - 1
    z: float | None = None
    p_value: float | None = None
    significant: bool | None = None

    def as_dict(self) -> dict[str, object]:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def readout(
    counts: Mapping[str, tuple[int, int, int]], control: str, *, alpha: float = 0.05
) -> list[GroupReadout]:
    """`counts`: group -> (users, impressions, clicks). The control first, then the others
    by name."""
    if control not in counts:
        raise ValueError(f"control: group {control!r} has no impressions (groups: {sorted(counts)})")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha: must be in (0, 1) (got {alpha})")
    for group, (_, impressions, clicks) in counts.items():
        if impressions <= 0 or not 0 <= clicks <= impressions:
            raise ValueError(f"counts[{group!r}]: need impressions > 0 and 0 <= clicks <= impressions")
    _, control_n, control_clicks = counts[control]
    control_ctr = control_clicks / control_n
    results = []
    for group in [control, *sorted(g for g in counts if g != control)]:
        users, n, clicks = counts[group]
        low, high = proportion.proportion_confint(clicks, n, alpha=alpha, method="wilson")
        result = GroupReadout(group, users, n, clicks, clicks / n, float(low), float(high))
        if group != control:
            if clicks + control_clicks in (0, n + control_n):  # no variance: the test is undefined
                z, p = 0.0, 1.0
            else:
                z, p = (
                    float(v) for v in proportion.proportions_ztest([clicks, control_clicks], [n, control_n])
                )
            lift = (clicks / n) / control_ctr - 1.0 if control_ctr > 0 else float("inf")
            result = GroupReadout(
                **{**asdict(result), "lift": lift, "z": z, "p_value": p, "significant": p < alpha}
            )
        results.append(result)
    return results


def group_counts(logged: LoggedImpressions, by: str) -> dict[str, tuple[int, int, int]]:
    labels = logged.label(by)
    counts: dict[str, tuple[int, int, int]] = {}
    for group in sorted(set(labels.tolist())):
        mask = labels == group
        counts[group] = (
            len(set(logged.user_id[mask].tolist())),
            int(mask.sum()),
            int(np.count_nonzero(logged.clicked[mask])),
        )
    return counts


def off_policy_explore_ctr(logged: LoggedImpressions, explore_share: float) -> dict[str, Any]:
    """The exploring arm's CTR estimated off-policy from both arms' logs (SNIPS and IPS), with
    how many impressions were skipped for an unknown propensity."""
    target, logging = exploring_policy_odds(logged, explore_share)
    return {
        "snips": snips(logged.clicked, target, logging).as_dict(),
        "ips": ips(logged.clicked, target, logging).as_dict(),
        "skipped_unknown_propensity": logged.unknown_propensity,
    }
