"""Hourly drift check: `./pants run pipelines/monitor/main.py [-- --now 2026-11-26T12:00:00Z]`
(a Kubernetes CronJob runs it on the cluster).

Compares the last RECO_MONITORING__CURRENT_HOURS of production with the champion's reference:
features (Evidently), CTR, and what was served. Exports gauges; on drift, alerts the webhook
and triggers a retrain (Argo Workflows or a local flow run), at most once per cooldown. The
last line is the check as JSON; exit code 0 either way (1 on errors).
"""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console

from components.config import load_settings
from components.lake import LakeStore
from components.monitoring.actions import act_on
from components.monitoring.check import run_drift_check
from components.monitoring.reference import champion_reference
from components.registry.tracking import configure
from pipelines.cli import utc_time


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--now", type=utc_time, default=None, help="end of the window (default: now)")
    p.add_argument("--no-retrain", action="store_true", help="alert only")
    args = p.parse_args(argv)
    settings = load_settings()
    console = Console(stderr=True)
    configure(settings.mlflow)
    version, reference = champion_reference(settings.mlflow.model_name)
    if version is None:
        console.print(f"[red]error:[/red] {settings.mlflow.model_name} has no champion to monitor")
        return 1
    store = LakeStore.from_settings(settings.lake)
    with console.status(f"drift check of champion version {version}"):
        check = run_drift_check(settings, store, reference, model_version=version, now=args.now)
        outcome = act_on(settings, check, retrain=not args.no_retrain)
    console.print(check.summary())
    print(json.dumps({**check.as_dict(), "actions": outcome.as_dict()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
