"""Train, register and gate: `./pants run pipelines/train/main.py [-- --grid '{...}' --date D]`.

Evaluates every candidate of the grid on the silver snapshot (train before the last day, test
on it; one MLflow child run each under a parent run), refits the best on all days, registers
it as the `challenger` of `reco-articles` with its lineage, and runs the quality gate. The last
line printed is a JSON summary (model version, metrics, gate decision).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from rich.console import Console

from components.config import load_settings
from components.lake import LakeStore
from components.training.pipeline import train_and_register
from components.training.train import parse_grid
from pipelines.cli import iso_date

DEFAULT_GRID: dict[str, list[dict[str, Any]]] = {
    "popularity": [{"half_life_hours": 6.0}, {"half_life_hours": 24.0}],
    "ease": [{"l2": 100.0}, {"l2": 500.0}],
    "als": [{"factors": 32, "regularization": 5.0}, {"factors": 64, "regularization": 20.0}],
    "bpr": [{}],
    # The learned ranker: needs logged impressions and the catalogue in the lake (skipped with
    # the reason otherwise); on logged lists it is usually the only kind that beats the gate's
    # plain-popularity reference.
    "ranker": [{}],
}


def _grid(text: str) -> dict[str, list[dict[str, Any]]]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from exc
    if not isinstance(value, dict) or not all(isinstance(v, list) for v in value.values()):
        raise argparse.ArgumentTypeError('expected {"kind": [{params}, ...], ...}')
    return value


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--date", type=iso_date, action="append", dest="dates", help="silver date (repeatable; default: all)"
    )
    p.add_argument("--grid", type=_grid, default=DEFAULT_GRID, help="JSON: model kind -> list of params")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument(
        "--flow-run-id", default=os.environ.get("RECO_FLOW_RUN_ID", ""), help="recorded in the lineage"
    )
    p.add_argument("--no-gate", action="store_true", help="register the challenger without judging it")
    args = p.parse_args(argv)
    settings = load_settings()
    store = LakeStore.from_settings(settings.lake)
    console = Console(stderr=True)
    try:
        candidates = parse_grid(args.grid)
    except ValueError as exc:
        p.error(f"--grid: {exc}")
    with console.status(f"training {len(candidates)} candidate(s), registering the best, gating"):
        try:
            outcome = train_and_register(
                settings,
                store,
                candidates,
                dates=[str(d) for d in args.dates] if args.dates else None,
                seed=args.seed,
                flow_run_id=args.flow_run_id,
                run_gate=not args.no_gate,
            )
        except (FileNotFoundError, ValueError) as exc:
            console.print(f"[red]error:[/red] {exc}")
            return 1
    print(json.dumps(outcome.summary()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
