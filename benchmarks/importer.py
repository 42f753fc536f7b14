"""Bulk import throughput: `./pants run benchmarks/importer.py -- --events 1000000`.

Writes a CSV export of event history as another system would (its own column names, no event
ids, impressions without propensity or model version, an extra column nothing reads, times with
milliseconds), dated `--age-days` before the run and older (past the 30-day lateness limit: a
backfill), then imports it through a column mapping into a fresh lake: read, contract, bronze
(durable), compaction, silver for every date. `seconds` runs from the start of the import until
every row is durable in bronze and silver is built; the libraries are imported and the CSV
written before the clock starts (`startup_s`, `csv_s`). Every row of the export is valid: `lost`
counts rows that are neither in silver nor refused (must be 0). As the importer's command line
does, silver leaves the Great Expectations suite to validation (run before every training);
`--expectations` runs it in the builds (about 2.6 µs a row and 0.2 s a partition).

Last line, one JSON object: events, seconds, events_per_s (target >= 100,000), rejected, lost,
and the steps' seconds.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

started = time.perf_counter()

import numpy as np  # noqa: E402  (the clock above measures the imports)
import pyarrow as pa  # noqa: E402
import pyarrow.csv as pacsv  # noqa: E402
from rich.console import Console  # noqa: E402

from components.events.columns import event_columns  # noqa: E402
from components.importer import ColumnMapping, import_events  # noqa: E402
from components.lake import LakeStore  # noqa: E402
from components.lake.silver import read_manifest  # noqa: E402

# The export's names for the contract's fields.
MAPPING = [
    "user_id=visitor_id",
    "article_id=content_id",
    "type=action",
    "ts=occurred_at",
    "request_id=page_view",
    "position=slot",
    "dwell_ms=read_ms",
    "session_id=visit",
]


def write_export(path: Path, events: int, days: int, end: datetime, seed: int) -> None:
    """A CSV with `events` rows over `days` days ending at `end` (exclusive)."""
    rng = np.random.default_rng(seed)
    start = end - timedelta(days=days)
    offsets_ms = np.sort(rng.integers(0, days * 86_400_000, events))
    stamps = np.datetime64(start.replace(tzinfo=None), "ms") + offsets_ms.astype("timedelta64[ms]")
    text = np.datetime_as_string(stamps, unit="ms")
    kinds = rng.choice(np.array(["impression", "view", "click", "dwell"]), events, p=[0.6, 0.2, 0.15, 0.05])
    impression = kinds == "impression"
    dwell = kinds == "dwell"
    slot = np.where(impression, rng.integers(0, 20, events), -1)
    read_ms = np.where(dwell, rng.integers(500, 600_000, events), -1)
    users = rng.integers(0, 50_000, events)
    table = pa.table(
        {
            "visitor_id": pa.array(np.char.add("v", users.astype(str))),
            "content_id": pa.array(np.char.add("art-", rng.integers(0, 5_000, events).astype(str))),
            "action": pa.array(kinds),
            "occurred_at": pa.array(np.char.add(text, "Z")),
            "page_view": pa.array(
                np.where(impression, np.char.add("pv", (offsets_ms // 1000).astype(str)), "")
            ),
            "slot": pa.array(np.where(slot >= 0, slot.astype(str), "")),
            "read_ms": pa.array(np.where(read_ms >= 0, read_ms.astype(str), "")),
            "visit": pa.array(np.char.add("s", (users * 31 + offsets_ms // 1_800_000).astype(str))),
            "country": pa.array(rng.choice(np.array(["DE", "FR", "CH", "AT"]), events)),
        }
    )
    pacsv.write_csv(table, path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--days", type=int, default=14, help="days of history in the export")
    p.add_argument("--age-days", type=int, default=45, help="how old the newest event is")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument(
        "--expectations",
        action="store_true",
        help="run the Great Expectations suite in the silver builds (the importer's default leaves "
        "it to validation, before training)",
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary lake and export")
    args = p.parse_args(argv)
    console = Console(stderr=True)
    startup_s = time.perf_counter() - started
    if args.expectations:
        import great_expectations  # noqa: F401  (a one-time cost of the process, not of the import)
    startup_s = time.perf_counter() - started
    home = Path(tempfile.mkdtemp(prefix="reco-import-bench-"))
    try:
        now = datetime.now(UTC)
        end = (now - timedelta(days=args.age_days)).replace(hour=0, minute=0, second=0, microsecond=0)
        export = home / "export.csv"
        clock = time.perf_counter()
        write_export(export, args.events, args.days, end, args.seed)
        csv_s = time.perf_counter() - clock
        console.print(f"export: {args.events:,} rows, {export.stat().st_size / 1e6:.0f} MB in {csv_s:.1f} s")
        store = LakeStore(str(home / "lake"))
        mapping = ColumnMapping.parse([c.name for c in event_columns()], MAPPING)
        clock, cpu = time.perf_counter(), time.process_time()
        result = import_events(store, [export], mapping, now=now, great_expectations=args.expectations)
        seconds, cpu_s = time.perf_counter() - clock, time.process_time() - cpu
        in_silver = sum(read_manifest(store, dt)["row_count"] for dt in result.dates)
        quarantined = sum(read_manifest(store, dt)["quarantined"] for dt in result.dates)
        lost = args.events - in_silver - result.rejected - quarantined
        console.print(f"{result.imported:,} events in {len(result.dates)} dates, silver {in_silver:,}")
        print(
            json.dumps(
                {
                    "events": args.events,
                    "seconds": round(seconds, 2),
                    "cpu_s": round(cpu_s, 2),  # both cores' time: the machine is shared
                    "events_per_s": round(args.events / seconds),
                    "rejected": result.rejected,
                    "lost": lost,
                    "in_silver": in_silver,
                    "silver_quarantined": quarantined,
                    "dates": len(result.dates),
                    "fast_rows": result.fast_rows,
                    "derived_ids": result.derived_ids,
                    "great_expectations": args.expectations,
                    "steps_s": result.seconds,
                    "silver_steps_s": _sum_timings(result.silver),
                    "startup_s": round(startup_s, 2),
                    "csv_s": round(csv_s, 2),
                }
            )
        )
        return 0 if lost == 0 else 1
    finally:
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)


def _sum_timings(silver: dict[str, dict[str, object]]) -> dict[str, float]:
    total: dict[str, float] = {}
    for built in silver.values():
        for step, value in dict(built.get("timings") or {}).items():  # type: ignore[call-overload]
            total[step] = round(total.get(step, 0.0) + float(value), 3)
    return total


if __name__ == "__main__":
    sys.exit(main())
