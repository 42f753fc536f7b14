"""Render the daily flow's Argo objects into infra/argo/ (no cluster needed):
`./pants run pipelines/daily/render_argo.py [-- --out infra/argo]`.

Writes the WorkflowTemplate Metaflow compiles and the CronWorkflow that runs it at 03:00 UTC,
checks both against the strict schema derived from the Argo models, and prints a JSON summary.
Image, namespace and datastore come from RECO_ORCHESTRATION__* settings.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console

from components.config import load_settings
from components.orchestration.argo_schema import validate_manifest
from components.orchestration.render import render_daily_flow, write_rendered

FLOW = Path(__file__).with_name("flow.py")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("infra/argo"), help="folder to write into")
    args = p.parse_args(argv)
    settings = load_settings()
    console = Console(stderr=True)
    with console.status("compiling the daily flow for Argo Workflows"):
        rendered = render_daily_flow(settings, FLOW)
    problems = validate_manifest(rendered.template) + validate_manifest(rendered.cron)
    if problems:
        for problem in problems[:50]:
            console.print(f"[red]schema:[/red] {problem}")
        return 1
    paths = write_rendered(rendered, args.out)
    print(
        json.dumps(
            {
                "files": [str(path) for path in paths],
                "schedule": rendered.cron["spec"]["schedule"],
                "timezone": rendered.cron["spec"]["timezone"],
                "image": settings.orchestration.image,
                "namespace": settings.orchestration.namespace,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
