"""reco's settings from the command line: `./pants run pipelines/config/main.py -- <command>`.

show              the effective settings: every RECO_* variable, its value (secrets masked) and
                  where it came from (env, the profile's defaults, or the field's default)

The README's configuration table and reco.env.example are generated from the settings'
descriptions with the other generated files: `./pants run pipelines/docs/main.py -- --write`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from pydantic import ValidationError

from components.config import load_settings
from components.config.reference import effective_values
from components.config.settings import UnknownSettingError


def show(as_json: bool) -> int:
    try:
        settings = load_settings()
    except (UnknownSettingError, ValidationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    values = effective_values(settings, os.environ)
    if as_json:
        print(json.dumps({"profile": settings.profile.value, "settings": [v.__dict__ for v in values]}))
        return 0
    print(f"profile: {settings.profile.value}")
    width = max(len(v.name) for v in values)
    value_width = min(60, max(len(v.value) for v in values))
    for v in values:
        print(f"{v.name:<{width}}  {v.value:<{value_width}}  {v.source}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = p.add_subparsers(dest="command", required=True)
    show_cmd = commands.add_parser("show", help="the effective settings and where each came from")
    show_cmd.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    args = p.parse_args(argv)
    return show(args.json)


if __name__ == "__main__":
    sys.exit(main())
