"""The quality gate: promote the challenger to champion only when it is clearly better.

The quality metric, the first that every compared run measured:
- `news_auc_by_position`: on the test day's logged lists (components.evaluation.news), clicked
  against non-clicked items shown at the same position. Readers click the top of a list more
  whatever it holds, so on the lists the champion ordered itself, within-list AUC rewards the
  champion for its own order (on a simulated day a noisy incumbent scored 0.815 within lists,
  above a better model's 0.753 and the true click probability's 0.805; by position 0.746 <
  0.791 < 0.820, the true order; docs/benchmarks.md): a retrain trained on newer days could not
  pass;
- `news_auc`: the same lists, within each list (MIND's protocol), for runs measured before the
  position-wise AUC existed;
- NDCG@10 over the catalogue: only when a run has no logged impressions to re-rank (a
  clicks-only import); it favours whatever policy served the day (clicks can only land on
  shown articles).
Its references: plain popularity and random, on the same lists (`news_popularity_<metric>`,
`news_random_<metric>`) or the same split (`baseline_*_ndcg_at_10`).

Rules (thresholds from `GateSettings`):
- the metric must beat both references: a model that does not is never promoted, the first one
  included;
- the metric must beat the champion's by at least `min_ndcg_gain` (relative);
- guardrails: coverage may not drop by more than `max_coverage_drop` (relative), and the p95
  recommend latency on a sample may not exceed the champion's by more than
  `max_latency_increase` (relative) plus `latency_slack_ms`.
With no champion yet, a challenger that beats the references is promoted. Every decision, with its numbers, is logged
on the challenger's run (tags, a metric and `gate_decision.json`) and tagged on its version.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from mlflow import MlflowClient

from components.config.settings import GateSettings
from components.names import CANARY, CHALLENGER, CHAMPION
from components.registry.tracking import version_by_alias, version_metrics

NDCG = "ndcg_at_10"
NEWS_AUC = "news_auc"
NEWS_AUC_BY_POSITION = "news_auc_by_position"
COVERAGE = "coverage"
LATENCY = "recommend_p95_ms"
# The references a challenger must beat on its own split (components.training.train.baseline_ndcg).
BASELINES = ("baseline_popularity_ndcg_at_10", "baseline_random_ndcg_at_10")
# ... and on the same logged lists (components.training.news), for each news metric.
NEWS_BASELINES = ("news_popularity_auc", "news_random_auc")
NEWS_BY_POSITION_BASELINES = ("news_popularity_auc_by_position", "news_random_auc_by_position")
_REFERENCES = frozenset((*BASELINES, *NEWS_BASELINES, *NEWS_BY_POSITION_BASELINES))


def quality_metric(*runs: dict[str, float] | None) -> tuple[str, tuple[str, ...]]:
    """The metric the runs are compared on and its references: the first of
    `news_auc_by_position`, `news_auc` that every run has, else NDCG@10."""
    for metric, references in (
        (NEWS_AUC_BY_POSITION, NEWS_BY_POSITION_BASELINES),
        (NEWS_AUC, NEWS_BASELINES),
    ):
        if all(run is None or metric in run for run in runs):
            return metric, references
    return NDCG, BASELINES


@dataclass(frozen=True)
class Check:
    name: str
    challenger: float
    champion: float
    limit: float  # the value the challenger had to reach (ndcg) or stay within (guardrails)
    passed: bool


@dataclass(frozen=True)
class GateDecision:
    promoted: bool
    reason: str
    challenger_version: str
    champion_version: str | None
    checks: list[Check] = field(default_factory=list)
    alias: str | None = None  # the alias the challenger got when it passed

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _metric(metrics: dict[str, float], name: str, who: str) -> float:
    if name not in metrics:
        raise LookupError(f"{who} run has no metric {name!r} (has: {sorted(metrics)})")
    return float(metrics[name])


def decide(
    challenger: dict[str, float],
    champion: dict[str, float] | None,
    policy: GateSettings,
    *,
    challenger_version: str,
    champion_version: str | None,
) -> GateDecision:
    """The decision from the two runs' metrics (pure; `apply_gate` records and acts on it).
    A run from before the references were measured has no `baseline_*` metrics: only the
    champion comparison applies to it."""
    metric, baselines = quality_metric(challenger, champion)
    ndcg_c = _metric(challenger, metric, "challenger")
    references = [
        Check(name, ndcg_c, challenger[name], challenger[name], ndcg_c > challenger[name])
        for name in baselines
        if name in challenger
    ]
    if champion is None:
        beaten = [c for c in references if not c.passed]
        if beaten:
            return GateDecision(
                False, "refused: " + _reasons(beaten, policy, metric), challenger_version, None, references
            )
        return GateDecision(
            True,
            f"no champion yet: the first model that beats the references ({metric}) is promoted",
            challenger_version,
            None,
            references,
        )
    checks = list(references)
    ndcg_p = _metric(champion, metric, "champion")
    need = ndcg_p * (1.0 + policy.min_ndcg_gain)
    checks.append(Check(metric, ndcg_c, ndcg_p, need, ndcg_c >= need and ndcg_c > ndcg_p))
    cov_c, cov_p = _metric(challenger, COVERAGE, "challenger"), _metric(champion, COVERAGE, "champion")
    floor = cov_p * (1.0 - policy.max_coverage_drop)
    checks.append(Check(COVERAGE, cov_c, cov_p, floor, cov_c >= floor))
    lat_c, lat_p = _metric(challenger, LATENCY, "challenger"), _metric(champion, LATENCY, "champion")
    ceiling = lat_p * (1.0 + policy.max_latency_increase) + policy.latency_slack_ms
    checks.append(Check(LATENCY, lat_c, lat_p, ceiling, lat_c <= ceiling))
    failed = [c for c in checks if not c.passed]
    if not failed:
        reason = (
            f"{metric} {ndcg_c:.4f} beats champion {ndcg_p:.4f} by >= {policy.min_ndcg_gain:.1%}; "
            "guardrails hold"
        )
        return GateDecision(True, reason, challenger_version, champion_version, checks)
    return GateDecision(
        False, "refused: " + _reasons(failed, policy, metric), challenger_version, champion_version, checks
    )


def _reasons(failed: list[Check], policy: GateSettings, metric: str = NDCG) -> str:
    parts = []
    for c in failed:
        if c.name in _REFERENCES:
            parts.append(f"{metric} {c.challenger:.4f} does not beat {c.name} {c.limit:.4f}")
        elif c.name == metric:
            parts.append(
                f"{metric} {c.challenger:.4f} < {c.limit:.4f} (champion {c.champion:.4f} + {policy.min_ndcg_gain:.1%})"
            )
        elif c.name == COVERAGE:
            parts.append(f"{COVERAGE} {c.challenger:.4f} < {c.limit:.4f} (champion {c.champion:.4f})")
        else:
            parts.append(f"{LATENCY} {c.challenger:.2f} > {c.limit:.2f} (champion {c.champion:.2f})")
    return "; ".join(parts)


def apply_gate(
    model_name: str,
    policy: GateSettings,
    challenger_version: str | None = None,
    *,
    promote_to: str = CHAMPION,
    champion_metrics: dict[str, float] | None = None,
) -> GateDecision:
    """Judge the challenger (default: the `challenger` alias) against the champion and record
    the decision either way. A winner gets `promote_to`: `champion` directly, or `canary` (a
    share of live traffic first; `promote_canary` finishes the rollout). With no champion yet
    the winner always becomes champion. `champion_metrics` (the champion measured on the
    challenger's test data) replace the champion's recorded metrics of the same names."""
    if promote_to not in (CHAMPION, CANARY):
        raise ValueError(f"promote_to must be {CHAMPION!r} or {CANARY!r}, got {promote_to!r}")
    client = MlflowClient()
    if challenger_version is None:
        aliased = version_by_alias(model_name, CHALLENGER)
        if aliased is None:
            raise LookupError(f"{model_name} has no {CHALLENGER!r} alias: register a model first")
        challenger_version = str(aliased.version)
    challenger = client.get_model_version(model_name, challenger_version)
    champion = version_by_alias(model_name, CHAMPION)
    if champion is not None and str(champion.version) == str(challenger_version):
        raise ValueError(f"version {challenger_version} is already the champion")
    recorded = version_metrics(champion) if champion is not None else None
    if recorded is not None and champion_metrics:
        # The champion re-judged on the challenger's own test data (components/training): its
        # recorded metrics come from another day, often lists another policy served.
        recorded = {**recorded, **champion_metrics}
    decision = decide(
        version_metrics(challenger),
        recorded,
        policy,
        challenger_version=str(challenger_version),
        champion_version=str(champion.version) if champion is not None else None,
    )
    if decision.promoted:
        alias = promote_to if champion is not None else CHAMPION
        if alias == CHAMPION:
            set_champion(model_name, str(challenger_version))
        else:
            client.set_registered_model_alias(model_name, CANARY, str(challenger_version))
        decision = replace(decision, alias=alias, reason=f"{decision.reason} -> {alias}")
    verdict = "promoted" if decision.promoted else "refused"
    client.set_model_version_tag(model_name, str(challenger_version), "reco.gate", verdict)
    client.set_model_version_tag(model_name, str(challenger_version), "reco.gate.reason", decision.reason)
    if challenger.run_id:
        client.set_tag(challenger.run_id, "reco.gate", verdict)
        client.set_tag(challenger.run_id, "reco.gate.reason", decision.reason[:5000])
        client.log_metric(challenger.run_id, "gate_promoted", 1.0 if decision.promoted else 0.0)
        client.log_dict(challenger.run_id, decision.as_dict(), "gate_decision.json")
    return decision


def set_champion(model_name: str, version: str) -> None:
    """Move `champion` to `version`, remembering the one it replaces (for `rollback`)."""
    client = MlflowClient()
    previous = version_by_alias(model_name, CHAMPION)
    if previous is not None and str(previous.version) != version:
        client.set_model_version_tag(model_name, version, "reco.replaced", str(previous.version))
    client.set_registered_model_alias(model_name, CHAMPION, version)


def promote_canary(model_name: str) -> str:
    """The canary has proven itself: it becomes champion and the canary alias is cleared."""
    canary = version_by_alias(model_name, CANARY)
    if canary is None:
        raise LookupError(f"{model_name} has no {CANARY!r} alias: nothing to promote")
    set_champion(model_name, str(canary.version))
    MlflowClient().delete_registered_model_alias(model_name, CANARY)
    return str(canary.version)


def rollback(model_name: str) -> tuple[str, str]:
    """Put back the champion the current one replaced and drop any canary; returns
    (from_version, to_version)."""
    client = MlflowClient()
    champion = version_by_alias(model_name, CHAMPION)
    if champion is None:
        raise LookupError(f"{model_name} has no {CHAMPION!r} alias: nothing to roll back")
    previous = champion.tags.get("reco.replaced")
    if not previous:
        raise LookupError(f"champion version {champion.version} replaced no earlier champion")
    client.set_registered_model_alias(model_name, CHAMPION, previous)
    if version_by_alias(model_name, CANARY) is not None:
        client.delete_registered_model_alias(model_name, CANARY)
    client.set_model_version_tag(model_name, str(champion.version), "reco.rolled_back", "true")
    return str(champion.version), previous
