"""Train, register and gate; trace and reproduce a registered version.

`train_and_register` is the whole training part of the daily flow in one call: evaluate every
candidate of a sweep (one MLflow child run each, under a parent run), refit the best on all
days, register it as `challenger` with its lineage, then run the quality gate. The Metaflow
flow calls the same pieces from separate steps (`lineage_for`, `log_sweep_member`,
`register_best`), so both paths record the same things.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlflow import MlflowClient

from components.config import Settings
from components.features.store import feature_view_versions
from components.lake.silver import read_manifest
from components.lake.store import LakeStore
from components.lake.tombstones import erased_users, user_hash
from components.models.artifacts import load_model
from components.monitoring.reference import build_reference, save_reference
from components.names import CHAMPION
from components.registry.gate import GateDecision, apply_gate
from components.registry.lineage import Lineage, git_commit
from components.registry.publish import download_version, publish
from components.registry.tracking import (
    LoggedModel,
    configure,
    log_child_run,
    log_training_run,
    start_parent_run,
    version_by_alias,
)
from components.training.train import (
    SKIPPABLE,
    Candidate,
    Evaluated,
    Snapshot,
    best_of,
    evaluate_candidate,
    load_snapshot,
    refit,
)

# Metrics that must come out the same when a version is rebuilt (latency and wall time vary).
REPRODUCIBLE_METRICS = ("ndcg_at_10", "precision_at_10", "recall_at_10", "map", "map_at_10", "coverage")


@dataclass(frozen=True)
class TrainOutcome:
    parent_run_id: str
    best: Evaluated
    logged: LoggedModel
    decision: GateDecision | None
    silver_hashes: dict[str, str]
    evaluated: list[Evaluated]
    skipped: dict[str, str] = field(default_factory=dict)  # candidate -> why it could not be fit

    def summary(self) -> dict[str, Any]:
        return {
            "model_version": self.logged.version,
            "run_id": self.logged.run_id,
            "parent_run_id": self.parent_run_id,
            "kind": self.best.candidate.kind,
            "params": self.best.candidate.params,
            "ndcg_at_10": round(self.best.metrics["ndcg_at_10"], 4),
            "metrics": {k: round(v, 4) for k, v in self.best.metrics.items()},
            "candidates": {e.candidate.name: round(e.metrics["ndcg_at_10"], 4) for e in self.evaluated},
            # The gate's metric when the lake holds logged lists (components/registry/gate.py).
            **{
                metric: {
                    e.candidate.name: round(e.metrics[metric], 4)
                    for e in self.evaluated
                    if metric in e.metrics
                }
                for metric in ("news_auc", "news_auc_by_position")
            },
            "skipped": self.skipped,
            "gate": None if self.decision is None else ("promoted" if self.decision.promoted else "refused"),
            "gate_reason": None if self.decision is None else self.decision.reason,
            "silver_dates": sorted(self.silver_hashes),
        }


def lineage_for(
    snapshot: Snapshot,
    store: LakeStore,
    result: Evaluated,
    *,
    flow_run_id: str,
    seed: int,
    commit: str | None = None,
) -> Lineage:
    return Lineage(
        silver_hashes=snapshot.silver_hashes,
        lake_uri=store.uri(""),
        git_commit=commit if commit is not None else git_commit(),
        flow_run_id=flow_run_id,
        feature_views=dict(feature_view_versions()),
        train_cutoff=result.cutoff,
        kind=result.candidate.kind,
        params=result.candidate.params,
        seed=seed,
    )


def sweep_parent(flow_run_id: str, *, commit: str | None = None) -> str:
    commit = commit if commit is not None else git_commit()
    return start_parent_run("sweep", tags={"reco.flow_run_id": flow_run_id, "reco.git_commit": commit})


def log_sweep_member(parent_run_id: str, result: Evaluated, lineage: Lineage) -> str:
    return log_child_run(
        parent_run_id,
        result.candidate.name,
        {"kind": result.candidate.kind, "seed": lineage.seed, **result.candidate.params},
        result.metrics,
        {**lineage.tags(), "reco.role": "sweep"},
    )


def register_best(
    settings: Settings,
    store: LakeStore,
    snapshot: Snapshot,
    best: Evaluated,
    lineage: Lineage,
    *,
    parent_run_id: str,
) -> LoggedModel:
    """Refit the best candidate on every day and register it as the challenger, with the
    monitoring reference of its training window."""
    model = refit(snapshot, best.candidate, seed=lineage.seed)
    reference = build_reference(
        store,
        snapshot.dates,
        {str(u) for u in model.user_ids} or snapshot.users,  # the ranker knows no fixed readers
        hours=settings.monitoring.current_hours,
    )
    with tempfile.TemporaryDirectory() as tmp:
        return log_training_run(
            model,
            best.metrics,
            lineage,
            model_name=settings.mlflow.model_name,
            run_name=f"refit {best.candidate.name}",
            parent_run_id=parent_run_id,
            reference_dir=save_reference(reference, Path(tmp) / "reference"),
        )


def champion_on_split(settings: Settings, snapshot: Snapshot, *, seed: int) -> dict[str, float]:
    """The current champion judged on the snapshot's test day, as the candidates were (the news
    protocol on the same logged lists), for the gate to compare like with like; empty without a
    champion, when the champion was trained on the test day (in-sample: its recorded metrics
    judge it), or without logged lists to judge on."""
    champion = version_by_alias(settings.mlflow.model_name, CHAMPION)
    if champion is None:
        return {}
    try:
        trained_on = Lineage.from_tags(dict(champion.tags)).silver_hashes
    except LookupError:  # registered without lineage: its training days are unknown
        return {}
    if not trained_on or max(trained_on) >= snapshot.test_day:
        return {}  # the test day was in its training data: its recorded metrics judge it
    with tempfile.TemporaryDirectory(prefix="reco-champion-") as tmp:
        model = load_model(download_version(settings, str(champion.version), Path(tmp)))
    return snapshot.judge_registered(model, seed=seed)


def train_and_register(
    settings: Settings,
    store: LakeStore,
    candidates: Sequence[Candidate],
    *,
    dates: Sequence[str] | None = None,
    seed: int = 42,
    flow_run_id: str = "",
    run_gate: bool = True,
) -> TrainOutcome:
    configure(settings.mlflow)
    snapshot = load_snapshot(store, dates)
    commit = git_commit()
    parent_id = sweep_parent(flow_run_id, commit=commit)
    evaluated, skipped = [], {}
    for candidate in candidates:
        try:
            result = evaluate_candidate(snapshot, candidate, seed=seed)
        except SKIPPABLE as exc:  # too large or too little data for this kind: the others compete
            skipped[candidate.name] = str(exc)
            continue
        evaluated.append(result)
        log_sweep_member(
            parent_id,
            result,
            lineage_for(snapshot, store, result, flow_run_id=flow_run_id, seed=seed, commit=commit),
        )
    if not evaluated:
        raise ValueError(f"no candidate could be fit: {skipped}")
    best = best_of(evaluated)
    lineage = lineage_for(snapshot, store, best, flow_run_id=flow_run_id, seed=seed, commit=commit)
    logged = register_best(settings, store, snapshot, best, lineage, parent_run_id=parent_id)
    decision = None
    if run_gate:
        decision = apply_gate(
            settings.mlflow.model_name,
            settings.gate,
            logged.version,
            champion_metrics=champion_on_split(settings, snapshot, seed=seed),
        )
        publish(settings, store)  # what the recommend service serves follows the aliases
    return TrainOutcome(parent_id, best, logged, decision, snapshot.silver_hashes, evaluated, skipped)


def describe_lineage(settings: Settings, version: str) -> dict[str, Any]:
    """Data snapshot, code commit and run behind a registered version."""
    configure(settings.mlflow)
    client = MlflowClient()
    mv = client.get_model_version(settings.mlflow.model_name, str(version))
    lineage = Lineage.from_tags(dict(mv.tags))
    run = client.get_run(mv.run_id) if mv.run_id else None
    aliases = list(getattr(mv, "aliases", []) or [])
    return {
        "model": settings.mlflow.model_name,
        "version": str(mv.version),
        "aliases": aliases,
        "is_champion": CHAMPION in aliases,
        "run_id": mv.run_id,
        "run_name": run.info.run_name if run else None,
        "experiment_id": run.info.experiment_id if run else None,
        # When the version was registered: readers erased after it were in its training data.
        "registered_at": (
            datetime.fromtimestamp(mv.creation_timestamp / 1000, tz=UTC).isoformat()
            if mv.creation_timestamp
            else None
        ),
        "gate": mv.tags.get("reco.gate"),
        "gate_reason": mv.tags.get("reco.gate.reason"),
        "metrics": dict(run.data.metrics) if run else {},
        **asdict(lineage),
    }


@dataclass(frozen=True)
class Reproduction:
    version: str
    matched: bool
    snapshot_intact: bool
    recorded: dict[str, float]
    reproduced: dict[str, float]
    differences: dict[str, float]
    reason: str
    # Readers erased since the version was trained whose events its snapshot held: it can no
    # longer include them (erasure wins over reproducibility). sha256 of the ids, never the ids.
    erased_readers: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Erasure:
    readers: list[str]  # hashed readers erased after training, with events in the snapshot
    rebuilt: list[str]  # changed dates whose rebuild left erased readers out
    unexplained: dict[str, tuple[str, str | None]]  # changed dates erasure does not explain


def _erasure_since(
    store: LakeStore,
    snapshot: Snapshot,
    changed: dict[str, tuple[str, str | None]],
    trained_at: datetime | None,
) -> _Erasure:
    """Which readers erased since training the snapshot had (left out of partitions not rebuilt
    yet, or named by the manifests of partitions rebuilt without them)."""
    later = {user_hash(u) for u, at in erased_users(store).items() if trained_at is None or at > trained_at}
    present = set(snapshot.erased)
    rebuilt, unexplained = [], {}
    for dt, hashes in changed.items():
        named = set(read_manifest(store, dt).get("erased_readers") or []) if hashes[1] else set()
        if named:
            rebuilt.append(dt)
            present |= named
        else:
            unexplained[dt] = hashes
    return _Erasure(sorted(present & later), sorted(rebuilt), unexplained)


def reproduce(settings: Settings, store: LakeStore, version: str, *, tolerance: float = 1e-6) -> Reproduction:
    """Rebuild `version` from its recorded silver snapshot, kind, params and seed, and compare
    the evaluation metrics with the recorded ones.

    Erasure wins over reproducibility: the rebuild leaves erased readers out. When readers
    erased since the version was trained had events in its snapshot, the answer names them
    (hashed) and is not a match; partitions rebuilt only to drop erased readers are not
    reported as an unexplained change of the snapshot."""
    info = describe_lineage(settings, version)
    lineage = Lineage(**{k: info[k] for k in Lineage.__dataclass_fields__})
    recorded = {m: float(info["metrics"][m]) for m in REPRODUCIBLE_METRICS if m in info["metrics"]}
    trained_at = datetime.fromisoformat(info["registered_at"]) if info.get("registered_at") else None
    snapshot = load_snapshot(store, sorted(lineage.silver_hashes))
    changed = {
        dt: (want, snapshot.silver_hashes.get(dt))
        for dt, want in lineage.silver_hashes.items()
        if snapshot.silver_hashes.get(dt) != want
    }
    erasure = _erasure_since(store, snapshot, changed, trained_at)
    erased = erasure.readers
    lost = (
        f"{len(erased)} reader(s) erased since this version was trained can no longer be included "
        f"(erasure wins over reproducibility; sha256 ids: {', '.join(erased)})"
        if erased
        else ""
    )

    def answer(
        matched: bool, reproduced: dict[str, float], differences: dict[str, float], why: str
    ) -> Reproduction:
        reason = f"{lost}; {why}" if lost else why
        return Reproduction(
            str(version), matched, not changed, recorded, reproduced, differences, reason, erased
        )

    if erasure.unexplained:
        return answer(
            False, {}, {}, f"silver snapshot changed since training: {json.dumps(erasure.unexplained)}"
        )
    result = evaluate_candidate(snapshot, Candidate(lineage.kind, lineage.params), seed=lineage.seed)
    if result.cutoff != lineage.train_cutoff:
        return answer(False, {}, {}, f"cutoff {result.cutoff} != recorded {lineage.train_cutoff}")
    reproduced = {m: float(result.metrics[m]) for m in recorded}
    differences = {m: abs(reproduced[m] - recorded[m]) for m in recorded}
    worst = max(differences.values(), default=0.0)
    matched = bool(recorded) and worst <= tolerance and not erased
    if erased:
        why = f"rebuilt without them: largest metric difference {worst:.3g}"
    elif matched:
        why = f"all {len(recorded)} metrics match within {tolerance}"
    else:
        why = (
            f"largest difference {worst:.3g} exceeds {tolerance}" if recorded else "no metrics were recorded"
        )
    if erasure.rebuilt:
        why += f" (silver dates rebuilt since training to leave erased readers out: {', '.join(erasure.rebuilt)})"
    return answer(matched, reproduced, differences, why)
