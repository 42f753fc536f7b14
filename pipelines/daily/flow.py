"""The daily pipeline as one Metaflow flow; the same file runs locally and on Argo Workflows.

    python pipelines/daily/flow.py run [--run-date 2026-11-26] [--start-date 2026-11-20] [--lateness-days 90]
    python pipelines/daily/flow.py argo-workflows create     # CronWorkflow, 03:00 UTC daily

start -> ingest (bronze to silver) -> validate (stops the run on a bad batch) -> features
(apply, materialize) -> train (foreach over the grid; a GPU on the cluster) -> choose ->
register (refit the best, register, quality gate) -> canary (alias + traffic share) ->
monitor (Evidently feature drift, alert) -> end (card). A failure anywhere POSTs to RECO_ALERTS__WEBHOOK_URL. The step logic lives in
components/; this file only wires it.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

from metaflow import (
    FlowSpec,
    Parameter,
    card,
    current,
    exit_hook,
    resources,
    retry,
    schedule,
    step,
    timeout,
)

DEFAULT_GRID = {
    "popularity": [{"half_life_hours": 6.0}, {"half_life_hours": 24.0}],
    "ease": [{"l2": 100.0}, {"l2": 500.0}],
    "als": [{"factors": 32, "regularization": 5.0}],
    # The learned two-stage ranker (components/models/ranker.py): trained on the logged
    # impressions; XGBoost uses the GPU when the step has one.
    "ranker": [{}],
}


def _settings(profile: str) -> Any:
    from components.config import load_settings

    return load_settings(profile=profile)


def _context(profile: str, *, mlflow: bool = False) -> tuple[Any, Any]:
    """The settings and the lake of a step (and MLflow pointed at the store, if asked)."""
    from components.lake import LakeStore

    settings = _settings(profile)
    if mlflow:
        from components.registry.tracking import configure

        configure(settings.mlflow)
    return settings, LakeStore.from_settings(settings.lake)


def _lateness(text: str) -> int | None:
    """The `lateness-days` parameter: None (each partition's recorded rule) or days >= 0."""
    if not str(text).strip():
        return None
    try:
        days = int(text)
    except ValueError:
        raise ValueError(f"lateness-days must be a whole number of days, got {text!r}") from None
    if days < 0:
        raise ValueError(f"lateness-days must be 0 or more, got {days}")
    return days


# A dotted path: Metaflow imports it in a fresh process (a bare name would be looked up in
# ./flow.py of the working directory).
@exit_hook(on_error=["pipelines.daily.hooks.notify_failure"])
@schedule(cron="0 3 * * *", timezone="Etc/UTC")
class DailyFlow(FlowSpec):
    run_date = Parameter(
        "run-date", default="", help="the day to ingest (YYYY-MM-DD); default: yesterday UTC"
    )
    start_date = Parameter(
        "start-date", default="", help="backfill: ingest every day from this one to run-date"
    )
    lateness_days = Parameter(
        "lateness-days",
        default="",
        help="oldest accepted arrival lag in days, for silver and validation (above 30: a backfill, "
        "which the partitions record); default: each partition's recorded rule, else 30",
    )
    profile = Parameter("profile", default="local", help="settings profile: local or cluster")
    grid = Parameter("grid", default=json.dumps(DEFAULT_GRID), help="JSON: model kind -> list of params")
    seed = Parameter("seed", default=42, type=int)

    @step
    def start(self) -> None:
        from components.training.train import parse_grid

        end = (
            date.fromisoformat(self.run_date)
            if self.run_date
            else datetime.now(UTC).date() - timedelta(days=1)
        )
        begin = date.fromisoformat(self.start_date) if self.start_date else end
        if begin > end:
            raise ValueError(f"start-date {begin} is after run-date {end}")
        self.dates = [(begin + timedelta(days=n)).isoformat() for n in range((end - begin).days + 1)]
        self.candidates = parse_grid(json.loads(self.grid))
        self.lateness = _lateness(self.lateness_days)
        self.flow_run_id = f"{current.flow_name}/{current.run_id}"
        self.next(self.ingest)

    @retry(times=2)
    @timeout(minutes=60)
    @step
    def ingest(self) -> None:
        from components.lake.silver import bronze_dates, build_silver

        _, store = _context(self.profile)
        landed = set(bronze_dates(store))
        missing = [dt for dt in self.dates if dt not in landed]
        if missing:
            raise FileNotFoundError(f"no bronze data for {missing} under {store.uri('bronze/events')}")
        # Erasures first: a reader erased since the last run leaves bronze, silver and the
        # feature sources before anything is built or trained from them.
        from components.erasure.propagate import apply_pending_erasures

        erasure = apply_pending_erasures(store)
        self.erasure = erasure.as_dict() if erasure is not None else None
        self.silver = {dt: build_silver(store, dt, lateness_days=self.lateness).manifest for dt in self.dates}
        self.events = sum(m["row_count"] for m in self.silver.values())
        self.next(self.validate)

    @card
    @step
    def validate(self) -> None:
        from metaflow.cards import Markdown

        from components.lake.layout import validation_report_path
        from components.lake.silver import silver_dates
        from components.lake.validate import validate_partitions

        settings, store = _context(self.profile)
        # Training reads every silver day up to the run date: all of them must be sound.
        self.training_dates = [dt for dt in silver_dates(store) if dt <= self.dates[-1]]
        report = validate_partitions(
            store,
            self.training_dates,
            max_quarantine_share=settings.orchestration.max_quarantine_share,
            lateness_days=self.lateness,
        )
        self.validation = report.as_dict()
        store.write_atomic(
            validation_report_path(self.dates[-1]), json.dumps(self.validation, indent=2).encode()
        )
        if not report.passed:
            current.card.append(
                Markdown("## Validation failed\n\n" + "\n".join(f"- {f}" for f in report.failures()))
            )
            raise RuntimeError(f"silver validation failed, nothing is trained: {report.failures()}")
        current.card.append(Markdown(f"Validated {len(self.training_dates)} silver partitions."))
        self.next(self.features)

    @retry(times=2)
    @timeout(minutes=60)
    @step
    def features(self) -> None:
        from components.features.build import build_features
        from components.training.pipeline import sweep_parent

        settings, store = _context(self.profile, mlflow=True)
        self.feature_build = build_features(settings, store, self.training_dates).as_dict()
        self.parent_run_id = sweep_parent(self.flow_run_id)
        self.next(self.train, foreach="candidates")

    @resources(cpu=2, memory=8192, gpu=1)
    @timeout(minutes=90)
    @step
    def train(self) -> None:
        from components.training.pipeline import lineage_for, log_sweep_member
        from components.training.train import SKIPPABLE, evaluate_candidate, load_snapshot

        _, store = _context(self.profile, mlflow=True)
        snapshot = load_snapshot(store, self.training_dates)
        candidate: Any = self.input
        self.result, self.skip_reason = None, None
        try:
            self.result = evaluate_candidate(snapshot, candidate, seed=self.seed)
        except SKIPPABLE as exc:  # too large, or too little data, for this kind: the others compete
            self.skip_reason = f"{candidate.name}: {exc}"
            print(f"skipped {self.skip_reason}")
        if self.result is not None:
            lineage = lineage_for(snapshot, store, self.result, flow_run_id=self.flow_run_id, seed=self.seed)
            log_sweep_member(self.parent_run_id, self.result, lineage)
        self.next(self.choose)

    @step
    def choose(self, inputs: Any) -> None:
        from components.training.train import best_of

        self.merge_artifacts(
            inputs, include=["profile", "training_dates", "parent_run_id", "flow_run_id", "seed"]
        )
        self.merge_artifacts(inputs, include=["events", "silver", "feature_build", "validation", "dates"])
        self.evaluated = [i.result for i in inputs if i.result is not None]
        self.skipped = [i.skip_reason for i in inputs if i.skip_reason is not None]
        if not self.evaluated:
            raise ValueError(f"no candidate could be fit: {self.skipped}")
        self.best = best_of(self.evaluated)
        self.next(self.register)

    @retry(times=1)
    @step
    def register(self) -> None:
        from components.names import CANARY
        from components.registry.gate import apply_gate
        from components.training.pipeline import champion_on_split, lineage_for, register_best
        from components.training.train import load_snapshot

        settings, store = _context(self.profile, mlflow=True)
        snapshot = load_snapshot(store, self.training_dates)
        lineage = lineage_for(snapshot, store, self.best, flow_run_id=self.flow_run_id, seed=self.seed)
        self.logged = register_best(
            settings, store, snapshot, self.best, lineage, parent_run_id=self.parent_run_id
        )
        self.decision = apply_gate(
            settings.mlflow.model_name,
            settings.gate,
            self.logged.version,
            promote_to=CANARY,
            # The champion judged on the same test day's lists as the challenger.
            champion_metrics=champion_on_split(settings, snapshot, seed=self.seed),
        ).as_dict()
        self.next(self.canary)

    @retry(times=2)
    @step
    def canary(self) -> None:
        from components.names import CANARY
        from components.registry.publish import publish
        from components.registry.rollout import write_rollout

        settings, store = _context(self.profile, mlflow=True)
        if self.decision["promoted"] and self.decision["alias"] == CANARY:
            self.rollout = write_rollout(
                settings.redis, self.logged.version, settings.rollout.canary_share
            ).__dict__
        else:
            self.rollout = {"canary_version": None, "canary_share": 0.0, "note": "no new canary"}
        # The register step moved the aliases: the recommend service reads them from the lake
        # and Redis, never from MLflow.
        self.publication = publish(settings, store).versions()
        self.next(self.monitor)

    @retry(times=2)
    @timeout(minutes=30)
    @step
    def monitor(self) -> None:
        from components.monitoring.actions import act_on
        from components.monitoring.check import run_drift_check
        from components.monitoring.reference import champion_reference

        settings, store = _context(self.profile, mlflow=True)
        version, reference = champion_reference(settings.mlflow.model_name)
        # The end of the run day: the last `current_hours` of it against the champion's reference.
        end_of_day = datetime.fromisoformat(self.dates[-1]).replace(tzinfo=UTC) + timedelta(days=1)
        check = run_drift_check(settings, store, reference, model_version=version, now=end_of_day)
        # Alert and export gauges; no retrain from here: this run has just trained.
        act_on(settings, check, retrain=False)
        self.drift = check.as_dict()
        self.next(self.end)

    @card
    @step
    def end(self) -> None:
        from metaflow.cards import Markdown, Table, VegaChart

        from components.lake.layout import daily_report_path

        names = [r.candidate.name for r in self.evaluated]
        rows = [
            [
                r.candidate.name,
                *(
                    f"{r.metrics[m]:.4f}"
                    for m in ("ndcg_at_10", "recall_at_10", "coverage", "recommend_p95_ms")
                ),
            ]
            for r in self.evaluated
        ]
        verdict = "promoted" if self.decision["promoted"] else "refused"
        current.card.append(
            Markdown(
                f"# Daily run {self.dates[-1]}\n\nModel version **{self.logged.version}**: gate {verdict} ({self.decision['reason']})"
            )
        )
        current.card.append(Table(rows, headers=["candidate", "NDCG@10", "Recall@10", "coverage", "p95 ms"]))
        current.card.append(
            VegaChart(
                {
                    "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
                    "data": {
                        "values": [
                            {"candidate": n, "ndcg": r.metrics["ndcg_at_10"]}
                            for n, r in zip(names, self.evaluated, strict=True)
                        ]
                    },
                    "mark": "bar",
                    "encoding": {
                        "x": {"field": "candidate", "type": "nominal"},
                        "y": {"field": "ndcg", "type": "quantitative", "title": "NDCG@10"},
                    },
                }
            )
        )
        self.summary = {
            "events": self.events,
            "silver_dates": self.training_dates,
            "model_version": self.logged.version,
            "ndcg_at_10": round(self.best.metrics["ndcg_at_10"], 4),
            "best": self.best.candidate.name,
            "gate": verdict,
            "gate_reason": self.decision["reason"],
            "alias": self.decision.get("alias"),
            "rollout": self.rollout,
            "drift": {"drifted": self.drift["drifted"], "reasons": self.drift["reasons"]},
            "flow_run": self.flow_run_id,
        }
        # The run's summary also goes to the lake, where the main job and operators read it.
        _, store = _context(self.profile)
        store.write_atomic(daily_report_path(self.dates[-1]), json.dumps(self.summary, indent=2).encode())
        print(json.dumps(self.summary))


if __name__ == "__main__":
    DailyFlow()
