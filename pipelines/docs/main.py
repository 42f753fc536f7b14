"""Regenerate or check every generated file: `--write` rewrites what drifted, `--check` (the
default) exits 1 naming each file that differs from the code (see pipelines/docs/generated.py).

    ./pants run pipelines/docs/main.py -- --write
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipelines.docs.generated import GENERATED, drifted, write


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="docs", description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="rewrite the files that drifted")
    mode.add_argument("--check", action="store_true", help="exit 1 when a file drifted (default)")
    parser.add_argument("--root", type=Path, default=Path("."), help="repository root (default: .)")
    args = parser.parse_args(argv)
    if args.write:
        written = write(args.root)
        print(
            f"wrote {len(written)} of {len(GENERATED)} generated files" + "".join(f"\n  {p}" for p in written)
        )
        return 0
    stale = drifted(args.root)
    for line in stale:
        print(line, file=sys.stderr)
    print(f"{len(GENERATED) - len(stale)} of {len(GENERATED)} generated files up to date")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
