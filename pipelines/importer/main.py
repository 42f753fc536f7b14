"""Bulk import of history: `./pants run pipelines/importer/main.py -- events FILE... [options]`
or `-- articles FILE... [options]`.

Files are CSV (a header line, every cell text), Parquet or JSON lines, by extension. Columns fill
the contract's fields of the same name; `--map FIELD=COLUMN` reads a field from another column,
`--set FIELD=VALUE` gives a field one value for every row (a field the source lacks).

    events  export.csv --map user_id=visitor_id --map ts=timestamp --set model_version=legacy
    articles cms.parquet --map article_id=id --list-separator ';'

events: the rows are judged by the `events.v1` contract; valid ones go to bronze (marked as
imported, not through the collector or Kafka), refused ones to the run's report
(reports/import/<run>.jsonl: source, row, field, code, reason) and quarantine. A row without an
event id gets one derived from what it says (uuid5 of type, user, article, time, request and
position: see components/importer/tokens.py), so importing the same rows again adds nothing.
The run is a backfill: `--lateness-days` (default 3650) is the oldest event it accepts, and
silver is built for every date it touched with that limit, which the partitions keep. The Great
Expectations suite runs at validation (before every training) unless `--expectations`.

articles: each row is validated by `articles.v1` and becomes a catalogue change received at the
article's `updated_at`; list fields split text on `--list-separator` (default `|`).

Progress on stderr; the last line is one JSON summary (events, rejected, dates, durable: true
once every row is on disk, seconds). Exit code 2 for a mapping or file that cannot be used
(nothing is written), 1 when a silver build was refused.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from components.config import load_settings
from components.events.columns import event_columns
from components.importer import (
    DEFAULT_IMPORT_LATENESS_DAYS,
    ColumnMapping,
    MappingError,
    SourceError,
    import_events,
)
from components.importer.articles import LIST_SEPARATOR, article_fields, import_articles
from components.lake import LakeStore
from pipelines.cli import days


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = p.add_subparsers(dest="command", required=True)
    for name, what in (
        ("events", "event history (events.v1)"),
        ("articles", "an article catalogue (articles.v1)"),
    ):
        c = commands.add_parser(name, help=f"import {what}")
        c.add_argument("files", nargs="+", help="CSV, Parquet or JSON-lines files")
        c.add_argument(
            "--map", action="append", default=[], metavar="FIELD=COLUMN", help="read FIELD from COLUMN"
        )
        c.add_argument(
            "--set", action="append", default=[], metavar="FIELD=VALUE", help="FIELD is VALUE in every row"
        )
    events = commands.choices["events"]
    events.add_argument(
        "--lateness-days",
        type=days,
        default=DEFAULT_IMPORT_LATENESS_DAYS,
        help="the oldest event accepted, in days before the run (the silver partitions keep the rule)",
    )
    events.add_argument("--no-silver", action="store_true", help="write bronze only; build silver later")
    events.add_argument(
        "--expectations", action="store_true", help="run the Great Expectations suite in the silver builds"
    )
    articles = commands.choices["articles"]
    articles.add_argument("--list-separator", default=LIST_SEPARATOR, help="splits list fields given as text")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    console = Console(stderr=True)
    settings = load_settings()
    store = LakeStore.from_settings(settings.lake)
    started = time.perf_counter()
    try:
        if args.command == "events":
            mapping = ColumnMapping.parse([c.name for c in event_columns()], args.map, args.set)
        else:
            mapping = ColumnMapping.parse(article_fields(), args.map, args.set)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} files"),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task(f"importing {args.command}", total=len(args.files))

            def on_file(name: str, rows: int) -> None:
                progress.console.print(f"{name}: {rows:,} rows read and judged")
                progress.advance(task)

            if args.command == "events":
                result = import_events(
                    store,
                    args.files,
                    mapping,
                    lateness_days=args.lateness_days,
                    build=not args.no_silver,
                    great_expectations=args.expectations,
                    on_file=on_file,
                    on_durable=lambda done: progress.console.print(
                        f"durable: {done.imported:,} events in {len(done.bronze_files)} bronze files, "
                        f"{done.rejected:,} refused; building silver for {len(done.dates)} dates"
                    ),
                )
            else:
                articles = import_articles(
                    store, args.files, mapping, list_separator=args.list_separator, on_file=on_file
                )
    except (MappingError, SourceError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    seconds = round(time.perf_counter() - started, 2)
    if args.command == "articles":
        done = articles.as_dict()
        for name in ("report", "quarantine"):
            done[name] = store.uri(done[name]) if done[name] else None
        if articles.rejected:
            console.print(f"[yellow]{articles.rejected:,} rows refused[/yellow]: see {done['report']}")
        print(json.dumps({**done, "durable": True, "seconds": seconds}))
        return 0
    summary: dict[str, Any] = {
        "run_id": result.run_id,
        "events": result.rows,
        "imported": result.imported,
        "rejected": result.rejected,
        "dates": result.dates,
        "durable": result.durable,
        "derived_ids": result.derived_ids,
        "lateness_days": result.lateness_days,
        "silver": {dt: built["rows"] for dt, built in result.silver.items()},
        "silver_errors": result.silver_errors,
        "report": store.uri(result.report) if result.report else None,
        "quarantine": store.uri(result.quarantine) if result.quarantine else None,
        "ignored_columns": result.ignored_columns,
        "seconds": seconds,
    }
    if result.rejected:
        console.print(f"[yellow]{result.rejected:,} rows refused[/yellow]: see {summary['report']}")
    for dt, why in result.silver_errors.items():
        console.print(f"[red]silver {dt} not built:[/red] {why}")
    print(json.dumps(summary))
    return 1 if result.silver_errors else 0


if __name__ == "__main__":
    sys.exit(main())
