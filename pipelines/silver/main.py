"""Build silver partitions from bronze: `./pants run pipelines/silver/main.py -- --date 2026-11-20`.

`--all` builds every date present in bronze. One JSON line per partition, then a summary line
(last). Exit code 1 when a date has no bronze files. `--lateness-days 90` builds a backfill: the
partitions record the limit and later builds without one keep it.
"""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console
from rich.progress import Progress

from components.config import load_settings
from components.lake import LakeStore
from components.lake.layout import SILVER
from components.lake.silver import SilverRegressionError, bronze_dates, build_silver
from pipelines.cli import days, iso_date


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--date", type=iso_date, action="append", dest="dates", help="event date (repeatable)")
    which.add_argument("--all", action="store_true", help="every date present in bronze")
    p.add_argument(
        "--lateness-days",
        type=days,
        default=None,
        help="oldest accepted arrival lag in days; above 30 the partition is a backfill and keeps "
        "the limit (default: the partition's recorded rule, else 30)",
    )
    p.add_argument(
        "--replace-worse",
        action="store_true",
        help="replace a partition even when the rebuild leaves it empty or mostly quarantined",
    )
    args = p.parse_args(argv)
    settings = load_settings()
    store = LakeStore.from_settings(settings.lake)
    console = Console(stderr=True)
    dates = bronze_dates(store) if args.all else args.dates
    totals = {"dates": 0, "rows": 0, "quarantined": 0, "duplicates_dropped": 0}
    with Progress(console=console) as progress:
        task = progress.add_task("silver", total=len(dates))
        for dt in dates:
            try:
                result = build_silver(
                    store, dt, lateness_days=args.lateness_days, replace_worse=args.replace_worse
                )
            except (FileNotFoundError, SilverRegressionError) as exc:
                console.print(f"[red]error:[/red] {exc}")
                return 1
            print(
                json.dumps(
                    {k: v for k, v in result.manifest.items() if k not in ("expectations", "bronze_files")}
                )
            )
            totals["dates"] += 1
            totals["rows"] += result.rows
            totals["quarantined"] += result.quarantined
            totals["duplicates_dropped"] += result.duplicates_dropped
            progress.advance(task)
    print(json.dumps({"lake": store.uri(SILVER), **totals}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
