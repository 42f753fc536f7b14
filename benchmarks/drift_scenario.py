"""Drift that acts, on two simulated fortnights: `./pants run benchmarks/drift_scenario.py`.

For each scenario a champion is trained and registered on week 1 (with its monitoring
reference). Week 2 then lands day by day; after each day the drift check runs on the last
24 hours and acts: alert to a webhook on loopback, retrain through a local daily-flow run (at
most one per cooldown). `stable`: week 2 continues week 1. `shift`: from the first day of week
2, every reader's tastes move 80 % of the way to another mix of sections (an editorial shift).

Last line, one JSON object: stable_drift_share, shift_drift_share (the largest share of
drifted signals over week 2: feature columns, the CTR label, clicked sections), stable_alerts
(must be 0), shift_alerts (at least 1), retrain_triggered, and ndcg_before / ndcg_after_retrain
on the shifted traffic: NDCG@10 on the clicks of the day after the retrain (readers each
model knows), of the week-1 champion and of the retrained flow's model (same kind and params,
fit on every day up to the retrain).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console

from components.config import load_settings
from components.lake import LakeStore
from components.lake.catalog import upsert_articles
from components.lake.layout import daily_report_path
from components.models.fit import build_interactions
from components.monitoring.actions import act_on
from components.monitoring.check import run_drift_check
from components.monitoring.reference import champion_reference
from components.simulator import PreferenceShift, TrafficGenerator, World, WorldConfig
from components.testing.services import mlflow_store
from components.testing.silver_lake import land_day, write_feature_sources
from components.testing.webhook import WebhookReceiver
from components.training.pipeline import describe_lineage, train_and_register
from components.training.train import Candidate, evaluate, load_snapshot, refit

CHAMPION_GRID = [
    Candidate("popularity", {"half_life_hours": 6.0}),
    Candidate("ease", {"l2": 100.0}),
    # On logged lists the gate promotes only what beats plain popularity: the ranker here.
    Candidate("ranker", {}),
]


def scenario(name: str, args: argparse.Namespace, console: Console) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix=f"reco-drift-{name}-"))
    webhook = WebhookReceiver().start()
    mlflow_home = mlflow_store(home / "mlflow")
    os.environ.update(
        {
            "RECO_HOME": str(home),
            "RECO_LAKE__ROOT": str(home / "lake"),
            "RECO_MLFLOW__TRACKING_URI": mlflow_home.tracking_uri,
            "RECO_MLFLOW__ARTIFACT_ROOT": str(mlflow_home.artifact_root),
            "RECO_REDIS__KEY_PREFIX": f"reco-drift-{uuid.uuid4().hex[:8]}:",
            "RECO_FEATURES__PROJECT": f"drift_{uuid.uuid4().hex[:8]}",
            "RECO_ALERTS__WEBHOOK_URL": webhook.url,
        }
    )
    settings = load_settings()
    store = LakeStore.from_settings(settings.lake)
    # Relative to the run: the simulated fortnight ends yesterday, inside the lateness window
    # (a fixed start aged past it and the retrain flow stopped at validation).
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(
        days=2 * args.days
    )
    shift = PreferenceShift(at=start + timedelta(days=args.days), strength=0.8) if name == "shift" else None
    config = WorldConfig(
        seed=args.seed,
        start=start,
        days=2 * args.days,
        users=args.users,
        articles_per_day=args.articles,
        preference_shift=shift,
    )
    world = World.build(config)
    upsert_articles(store, world.catalogue.articles(now=config.end))
    offset, dates = 0, []
    shares: list[float] = []
    retrain: dict[str, Any] | None = None
    ndcg_before = ndcg_after = None
    champion_kind: Candidate | None = None
    retrained_candidate: Candidate | None = None
    retrain_day = 0
    try:
        for day in TrafficGenerator(world).days():
            offset = land_day(store, day, offset)
            dt = day.day.isoformat()
            dates.append(dt)
            write_feature_sources(store, dates)
            if len(dates) == args.days:
                outcome = train_and_register(settings, store, CHAMPION_GRID)
                champion_kind = outcome.best.candidate
                console.print(f"{name}: champion version {outcome.logged.version} ({champion_kind.name})")
                continue
            if len(dates) < args.days:
                continue
            version, reference = champion_reference(settings.mlflow.model_name)
            end = datetime.fromisoformat(dt).replace(tzinfo=UTC) + timedelta(days=1)
            check = run_drift_check(settings, store, reference, model_version=version, now=end)
            shares.append(check.drift_share)
            acted = act_on(settings, check, retrain=True)
            console.print(f"{name} {dt}: drift share {check.drift_share:.2f}; {check.summary()[:160]}")
            if acted.retrain is not None and acted.retrain.triggered and retrain is None:
                retrain = acted.retrain.as_dict()
                console.print(f"{name}: retrain started ({acted.retrain.detail}); waiting for the flow")
                assert acted.retrain.pid is not None
                _, status = os.waitpid(acted.retrain.pid, 0)
                retrain["exit_status"] = status
                summary = json.loads(store.read_bytes(daily_report_path(dt)))
                retrain.update(
                    model_version=summary["model_version"], gate=summary["gate"], best=summary["best"]
                )
                retrained = describe_lineage(settings, summary["model_version"])
                retrained_candidate = Candidate(retrained["kind"], retrained["params"])
                retrain_day = len(dates)
        if retrain is not None and retrain_day < len(dates):
            # The day after the retrain: both models are judged on traffic neither trained on.
            ndcg_before = _ndcg_on(store, dates[: args.days], dates[retrain_day], champion_kind)
            ndcg_after = _ndcg_on(store, dates[:retrain_day], dates[retrain_day], retrained_candidate)
    finally:
        webhook.stop()
    alerts = [a for a in webhook.received if a["kind"] == "drift"]
    return {
        "drift_share": round(max(shares), 3) if shares else 0.0,
        "alerts": len(alerts),
        "retrain": retrain,
        "ndcg_before": ndcg_before,
        "ndcg_after_retrain": ndcg_after,
    }


def _ndcg_on(store: LakeStore, train_dates: list[str], test_date: str, candidate: Candidate | None) -> float:
    """NDCG@10 on `test_date`'s clicks of a `candidate` model fit on `train_dates`."""
    assert candidate is not None
    train = load_snapshot(store, train_dates)
    test = load_snapshot(store, [test_date])
    model = refit(train, candidate)
    data = build_interactions(train.interactions, user_col="user_id", item_col="article_id", ts_col="ts")
    metrics = evaluate(model, data, test.interactions, catalogue_size=test.catalogue_size)
    return round(metrics["ndcg_at_10"], 4)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--users", type=int, default=3_000)
    p.add_argument("--articles", type=int, default=40, help="articles published per day")
    p.add_argument("--days", type=int, default=7, help="days per week")
    p.add_argument("--seed", type=int, default=11)
    args = p.parse_args(argv)
    console = Console(stderr=True)
    started = time.perf_counter()
    stable = scenario("stable", args, console)
    shift = scenario("shift", args, console)
    print(
        json.dumps(
            {
                "stable_drift_share": stable["drift_share"],
                "shift_drift_share": shift["drift_share"],
                "stable_alerts": stable["alerts"],
                "shift_alerts": shift["alerts"],
                "retrain_triggered": shift["retrain"] is not None,
                "stable_retrain_triggered": stable["retrain"] is not None,
                "ndcg_before": shift["ndcg_before"],
                "ndcg_after_retrain": shift["ndcg_after_retrain"],
                "retrain": shift["retrain"],
                "seconds": round(time.perf_counter() - started, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
