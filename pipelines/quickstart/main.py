"""reco's main job on embedded defaults: the README's one command.

Today it simulates a week of platform traffic (the `local` profile, under RECO_HOME) and
validates every event against the `events.v1` contract; later stages (collector, Kafka,
lake, features, training, serving) join here as they land.

    ./pants run pipelines/quickstart/main.py [-- --days 7 --users 5000 --seed 7]

The last line printed is a JSON summary; the exit code is 1 if any event broke the contract.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from components.config import load_settings
from components.events.batch import ValidationReport, validate_raw
from components.simulator import World, WorldConfig, simulate_to_files
from components.simulator.sinks import read_jsonl


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--days", type=int, default=7)
    p.add_argument("--users", type=int, default=5_000)
    p.add_argument("--seed", type=int, default=7)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = load_settings()
    console = Console(stderr=True)
    started = time.perf_counter()
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    config = WorldConfig(
        seed=args.seed, start=today - timedelta(days=args.days), days=args.days, users=args.users
    )
    out = Path(settings.home) / "simulated" / config.start.date().isoformat()
    console.print(f"[bold]reco main job[/bold] profile={settings.profile} home={settings.home}")

    with Progress(console=console) as progress:
        simulate = progress.add_task("simulate traffic", total=config.days)
        summary = simulate_to_files(World.build(config), out, lambda _: progress.advance(simulate))
        day_files = sorted(out.glob("events-*.jsonl"))
        check = progress.add_task("validate events.v1", total=len(day_files))
        report = ValidationReport()
        now = datetime.now(UTC)
        for path in day_files:
            part = validate_raw(read_jsonl(path), now=now)
            report.valid_count += part.valid_count
            report.rejected.extend(part.rejected)
            report.reasons.update(part.reasons)
            progress.advance(check)

    totals = summary.as_dict()
    table = Table(
        title=f"a simulated week: {config.start.date()} .. {(config.end - timedelta(days=1)).date()}"
    )
    table.add_column("measure")
    table.add_column("value", justify="right")
    for kind, count in totals["by_type"].items():
        table.add_row(f"{kind} events", f"{count:,}")
    table.add_row("sessions", f"{totals['sessions']:,}")
    table.add_row("first-visit share", f"{totals['first_visit_share']:.1%}")
    table.add_row("click-through rate", f"{totals['ctr']:.2%}")
    table.add_row("valid / rejected", f"{report.valid_count:,} / {len(report.rejected):,}")
    console.print(table)
    for reason, count in report.reasons.most_common(5):
        console.print(f"[red]rejected[/red] {count:,} x {reason}")
    console.print(f"events in [cyan]{out}[/cyan]")

    result = {
        "events": totals["events"],
        "valid": report.valid_count,
        "rejected": len(report.rejected),
        "days": totals["days"],
        "ctr": totals["ctr"],
        "out": str(out),
        "seconds": round(time.perf_counter() - started, 2),
    }
    print(json.dumps(result))
    return 0 if not report.rejected and report.valid_count == totals["events"] else 1


if __name__ == "__main__":
    sys.exit(main())
