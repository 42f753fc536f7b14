"""Erasure (the right to be forgotten) from the command line; docs/operations.md, "Erasure".

    ./pants run pipelines/erasure/main.py -- apply [--date 2026-11-20 ...]
    ./pants run pipelines/erasure/main.py -- list
    ./pants run pipelines/erasure/main.py -- erase <user_id>

`apply` carries every tombstone through the lake: bronze files rewritten without the erased
readers' records, silver partitions that held them rebuilt, their rows removed from Feast's
offline sources. `list` prints the erased readers (sha256 of the ids) and when. `erase` does
what `DELETE /users/{id}` does, for when the recommend service is not running: the tombstone,
the reader's recent reads and online feature row. The last line is JSON; exit 1 when a
partition could not be rebuilt (the tombstones stay: rerun after fixing), 2 for a bad id.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from redis import Redis
from rich.console import Console

from components.config import load_settings
from components.erasure import InvalidReaderIdError, erase_reader
from components.erasure.propagate import apply_erasure, erased_readers
from components.lake import LakeStore
from pipelines.cli import iso_date


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = p.add_subparsers(dest="command", required=True)
    apply = commands.add_parser("apply", help="rewrite bronze and silver without the erased readers")
    apply.add_argument("--date", type=iso_date, action="append", dest="dates",
                       help="only this event date (repeatable; default: every date)")  # fmt: skip
    apply.add_argument("--lateness-days", type=int, default=None,
                       help="rebuild silver with this lateness limit (default: each partition's own rule)")  # fmt: skip
    commands.add_parser("list", help="the erased readers (sha256 of the ids) and when")
    erase = commands.add_parser("erase", help="erase one reader now (as DELETE /users/{id})")
    erase.add_argument("user_id")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = load_settings()
    store = LakeStore.from_settings(settings.lake)
    console = Console(stderr=True)
    if args.command == "list":
        readers = erased_readers(store)
        console.print(f"{len(readers)} erased reader(s) in {store.uri('erasure/tombstones')}")
        print(json.dumps({"erased": readers}))
        return 0
    if args.command == "erase":
        try:
            with Redis.from_url(settings.redis.url) as redis:
                result = erase_reader(settings, store, redis, args.user_id, datetime.now(UTC))
        except InvalidReaderIdError as exc:
            console.print(f"[red]error:[/red] {exc}")
            return 2
        print(json.dumps(result.as_dict()))
        return 0
    with console.status("applying erasure to the lake"):
        report = apply_erasure(store, dates=args.dates, lateness_days=args.lateness_days)
    for dt, why in sorted(report.failed.items()):
        console.print(f"[red]error:[/red] silver {dt} was not rebuilt: {why}")
    print(json.dumps(report.as_dict()))
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
