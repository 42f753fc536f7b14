"""Trace and rebuild registered models: `./pants run pipelines/registry/main.py -- <command>`.

lineage <version>     the silver snapshot hashes, feature views, code commit, flow run and
                      MLflow run that produced the version (JSON)
reproduce <version>   rebuild it from the recorded snapshot, kind, params and seed, and
                      report whether the metrics match (exit 0 if they do, 1 if not)
gate [<version>]      judge a version (default: the `challenger` alias) against the champion
promote-canary        make the canary the champion (canary share back to 0)
rollback              restore the previous champion, drop the canary (share back to 0)
publish               publish the aliased versions to the lake and Redis again, where the
                      recommend service reads them (every command above that moves an alias
                      publishes by itself)
"""

from __future__ import annotations

import argparse
import json
import sys

from mlflow.exceptions import MlflowException
from rich.console import Console

from components.config import load_settings
from components.lake import LakeStore
from components.registry.gate import apply_gate, promote_canary, rollback
from components.registry.publish import publish
from components.registry.rollout import write_rollout
from components.registry.tracking import configure
from components.training.pipeline import describe_lineage, reproduce


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = p.add_subparsers(dest="command", required=True)
    lineage = commands.add_parser("lineage", help="what produced a model version")
    lineage.add_argument("version")
    again = commands.add_parser("reproduce", help="rebuild a version and compare its metrics")
    again.add_argument("version")
    again.add_argument("--tolerance", type=float, default=1e-6)
    gate = commands.add_parser("gate", help="run the quality gate on a version")
    gate.add_argument("version", nargs="?")
    commands.add_parser("promote-canary", help="make the canary the champion")
    commands.add_parser("rollback", help="restore the previous champion")
    commands.add_parser("publish", help="publish the aliased versions for serving again")
    args = p.parse_args(argv)
    settings = load_settings()
    console = Console(stderr=True)
    try:
        if args.command == "lineage":
            print(json.dumps(describe_lineage(settings, args.version), indent=2, sort_keys=True))
            return 0
        if args.command == "reproduce":
            store = LakeStore.from_settings(settings.lake)
            with console.status(f"rebuilding version {args.version} from its recorded snapshot"):
                report = reproduce(settings, store, args.version, tolerance=args.tolerance)
            console.print(("[green]" if report.matched else "[red]") + report.reason)
            print(json.dumps(report.as_dict()))
            return 0 if report.matched else 1
        configure(settings.mlflow)
        name = settings.mlflow.model_name
        if args.command == "publish":
            print(json.dumps({"published": publish(settings).versions()}))
            return 0
        if args.command == "promote-canary":
            version = promote_canary(name)
            write_rollout(settings.redis, None, 0.0)
            published = publish(settings).versions()
            print(json.dumps({"champion": version, "canary": None, "published": published}))
            return 0
        if args.command == "rollback":
            was, now = rollback(name)
            write_rollout(settings.redis, None, 0.0)
            published = publish(settings).versions()
            print(json.dumps({"rolled_back": was, "champion": now, "canary": None, "published": published}))
            return 0
        decision = apply_gate(name, settings.gate, args.version)
        published = publish(settings).versions()
        print(json.dumps({**decision.as_dict(), "published": published}))
        return 0
    except (LookupError, ValueError, FileNotFoundError, MlflowException) as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
