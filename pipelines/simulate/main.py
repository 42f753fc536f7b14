"""Simulate platform traffic and write it to JSON-lines files or to Kafka.

    ./pants run pipelines/simulate/main.py -- --days 7 --users 20000 --out .reco/simulated
    ./pants run pipelines/simulate/main.py -- --days 1 --kafka      # RECO_KAFKA__* settings

The last line printed is a JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from components.config import load_settings
from components.simulator import (
    DayTraffic,
    PreferenceShift,
    SimulationSummary,
    World,
    WorldConfig,
    simulate_to_files,
    simulate_to_kafka,
)
from pipelines.cli import utc_time


def _utc_date(text: str) -> datetime:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text!r}") from None
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--days", type=int, default=7)
    p.add_argument("--users", type=int, default=20_000, help="returning readers at the start")
    p.add_argument("--articles-per-day", type=int, default=150)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--start", type=_utc_date, help="first simulated day (default: DAYS before today, UTC)")
    p.add_argument("--new-visitor-share", type=float, default=0.25)
    p.add_argument("--shift-at", type=utc_time, help="readers' tastes shift from this time on")
    p.add_argument("--shift-strength", type=float, default=0.6)
    sink = p.add_mutually_exclusive_group()
    sink.add_argument("--out", type=Path, help="folder for JSON-lines files (default: RECO_HOME/simulated)")
    sink.add_argument("--kafka", action="store_true", help="produce to Kafka instead of files")
    p.add_argument("--topic", help="Kafka topic (default: settings' events topic)")
    return p


def world_config(args: argparse.Namespace) -> WorldConfig:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = args.start or today - timedelta(days=args.days)
    shift = PreferenceShift(at=args.shift_at, strength=args.shift_strength) if args.shift_at else None
    return WorldConfig(
        seed=args.seed,
        start=start,
        days=args.days,
        users=args.users,
        articles_per_day=args.articles_per_day,
        new_visitor_share=args.new_visitor_share,
        preference_shift=shift,
    )


def run(args: argparse.Namespace, console: Console) -> SimulationSummary:
    settings = load_settings()
    config = world_config(args)
    world = World.build(config)
    with Progress(
        TextColumn("[bold]simulating"), BarColumn(), MofNCompleteColumn(), TextColumn("days"),
        TextColumn("{task.fields[events]:,} events"), TimeElapsedColumn(), console=console,
    ) as progress:  # fmt: skip
        task = progress.add_task("days", total=config.days, events=0)

        def advance(traffic: DayTraffic) -> None:
            progress.update(
                task, advance=1, events=progress.tasks[task].fields["events"] + len(traffic.events)
            )

        if args.kafka:
            topic = args.topic or settings.kafka.events_topic
            return asyncio.run(simulate_to_kafka(world, settings.kafka, topic, advance))
        out = args.out or Path(settings.home) / "simulated"
        return simulate_to_files(world, out, advance)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    console = Console(stderr=True)
    started = time.perf_counter()
    try:
        summary = run(args, console)
    except ValueError as exc:  # bad world settings name their field
        console.print(f"[red]error:[/red] {exc}")
        return 2
    result = summary.as_dict() | {"seconds": round(time.perf_counter() - started, 2)}
    if summary.files:
        result["out"] = str(Path(summary.files[0]).parent)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
