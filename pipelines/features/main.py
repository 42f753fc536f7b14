"""Silver to Feast: `./pants run pipelines/features/main.py [-- --date 2026-11-20 ...]`.

Computes the feature rows from the silver partitions (all by default) and the article
catalogue, writes the Feast sources in the lake, applies the definitions and materializes into
the online store. The last line printed is a JSON summary (it is also the lake's
features/_manifest.json, with the silver content hashes the features came from).
"""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console

from components.config import load_settings
from components.features.build import build_features
from components.lake import LakeStore
from pipelines.cli import iso_date


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--date", type=iso_date, action="append", dest="dates", help="silver date (repeatable; default: all)"
    )
    args = p.parse_args(argv)
    settings = load_settings()
    console = Console(stderr=True)
    store = LakeStore.from_settings(settings.lake)
    with console.status("features: silver -> Feast sources -> apply -> materialize"):
        try:
            build = build_features(settings, store, args.dates)
        except FileNotFoundError as exc:
            console.print(f"[red]error:[/red] {exc}")
            return 1
    print(json.dumps(build.as_dict()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
