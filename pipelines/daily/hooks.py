"""Exit hooks of the daily flow, referenced by import path (Metaflow runs them in a fresh
process, locally and as an Argo exit handler)."""

from __future__ import annotations

from typing import Any

from components.alerts import send_alert
from components.config import load_settings


def notify_failure(run: Any = None) -> None:
    """Tell the webhook which run failed, and which tasks."""
    failed: list[str] = []
    profile = "local"
    if run is not None:
        for flow_step in run:
            for task in flow_step:
                if not task.successful:
                    failed.append(task.pathspec)
        try:
            profile = run["start"].task.data.profile
        except Exception:  # the run may have failed before `start` stored its parameters
            profile = "local"
    pathspec = run.pathspec if run is not None else "DailyFlow/unknown"
    send_alert(
        load_settings(profile=profile).alerts, "flow_failed", f"{pathspec} failed", {"failed_tasks": failed}
    )
