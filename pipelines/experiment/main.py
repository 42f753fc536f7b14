"""Online experiment readout from the event stream:
`./pants run pipelines/experiment/main.py [-- --by arm --control greedy --since 2026-11-20T00:00:00Z]`
(`--by source`: the CTR of each candidate source's items, against the popular list's)

Replays events.v1 from the start of the topic up to where it stood when the readout began
(producers may keep writing), joins each click to its impression (request id, position), and prints the CTR per group with a Wilson interval and each group against the
control with a two-proportion z-test. With `--explore-share`, also the off-policy (SNIPS and
IPS) estimate of the exploring arm's CTR from both arms' logs; impressions of unknown
propensity (logged by another system) are skipped by it and counted (`unknown_propensity`).
The last line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from components.config import load_settings
from components.evaluation.experiment import group_counts, off_policy_explore_ctr, readout
from components.evaluation.logged import GROUPINGS, JOINED, ImpressionJoin, LoggedImpressions
from components.events.schema import POSITIVE_TYPES
from components.events.time import TimestampError, parse_timestamp
from components.names import CHAMPION, GREEDY
from components.streaming.replay import replay_topic
from pipelines.cli import utc_time

# The source control: the popular list (the service's reason for a popular item).
CONTROLS = {"arm": GREEDY, "variant": CHAMPION, "variant/arm": f"{CHAMPION}/{GREEDY}", "source": "popular"}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--by", choices=GROUPINGS, default="arm",
                   help="group impressions by arm, variant, variant/arm, model version, or source "
                   "(what put the item in the list: a candidate source, explore, popular)")  # fmt: skip
    p.add_argument("--control", default=None, help="control group (default: greedy / champion)")
    p.add_argument("--since", type=utc_time, default=None, help="only impressions at or after this time")
    p.add_argument("--until", type=utc_time, default=None, help="only impressions before this time")
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--explore-share", type=float, default=None,
                   help="the exploring arm's share of users: adds its off-policy CTR estimate")  # fmt: skip
    return p


def report(logged: LoggedImpressions, by: str, control: str, alpha: float,
           explore_share: float | None) -> dict[str, Any]:  # fmt: skip
    groups = readout(group_counts(logged, by), control, alpha=alpha)
    result: dict[str, Any] = {
        "by": by,
        "control": control,
        "impressions": len(logged),
        "orphan_clicks": logged.orphan_clicks,
        "unknown_propensity": logged.unknown_propensity,
        "groups": [g.as_dict() for g in groups],
    }
    if explore_share is not None:
        result["off_policy_explore_ctr"] = off_policy_explore_ctr(logged, explore_share)
    return result


def _window(since: datetime | None, until: datetime | None) -> Any:
    low = since.timestamp() if since else float("-inf")
    high = until.timestamp() if until else float("inf")

    def keep(event: dict[str, Any]) -> bool:
        if event.get("type") not in JOINED:
            return False
        try:
            ts = parse_timestamp(event["ts"]).timestamp()
        except (KeyError, TimestampError):
            return False
        # Clicks come a little after their impression: keep them past the window's end.
        return low <= ts and (ts < high or event["type"] in POSITIVE_TYPES)

    return keep


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = load_settings()
    console = Console(stderr=True)
    control = args.control or CONTROLS.get(args.by)
    if control is None:
        console.print("[red]error:[/red] --control: name the control group for --by model_version")
        return 2
    topic = settings.kafka.events_topic
    keep, join = _window(args.since, args.until), ImpressionJoin()

    def add(event: dict[str, Any]) -> None:
        if keep(event):
            join.add(event)

    with console.status(f"replaying {topic}"):
        stats = asyncio.run(replay_topic(settings.kafka, topic, add))
    malformed = stats.malformed
    if stats.stopped_by != "end":
        console.print(
            f"[yellow]warning:[/yellow] the replay of {topic} stopped on {stats.stopped_by}, not at the "
            "topic's end: the readout may miss events"
        )
    logged = join.result()
    if not len(logged):
        console.print(f"[red]error:[/red] no impressions in {topic} for that window")
        return 1
    try:
        result = report(logged, args.by, control, args.alpha, args.explore_share)
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    result["malformed_records"] = malformed
    result["replay_stopped_by"] = stats.stopped_by
    table = Table(title=f"CTR by {args.by} ({len(logged):,} impressions)")
    for column in ("group", "users", "impressions", "clicks", "CTR", "95% CI", "lift", "p-value"):
        table.add_column(column, justify="left" if column == "group" else "right")
    for g in result["groups"]:
        table.add_row(
            g["group"], f"{g['users']:,}", f"{g['impressions']:,}", f"{g['clicks']:,}", f"{g['ctr']:.4f}",
            f"{g['ci_low']:.4f}-{g['ci_high']:.4f}",
            "control" if g["lift"] is None else f"{g['lift']:+.1%}",
            "" if g["p_value"] is None else f"{g['p_value']:.3g}{' *' if g['significant'] else ''}",
        )  # fmt: skip
    console.print(table)
    if "off_policy_explore_ctr" in result:
        s = result["off_policy_explore_ctr"]["snips"]
        console.print(
            f"exploring arm, SNIPS from both arms' logs: {s['value']:.4f} ({s['ci_low']:.4f}-{s['ci_high']:.4f})"
        )
        skipped = result["off_policy_explore_ctr"]["skipped_unknown_propensity"]
        if skipped:
            console.print(
                f"[yellow]note:[/yellow] {skipped:,} impressions of unknown propensity (logged by another "
                "system) were skipped by the off-policy estimate"
            )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
