"""Running the daily flow locally, as Metaflow runs it (one process per step): the command
and environment shared by the main job and the drift-triggered retrain."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from components.config import Settings

DAILY_FLOW = Path(__file__).resolve().parent.parent.parent / "pipelines" / "daily" / "flow.py"


def daily_flow_command(run_date: str, *, start_date: str | None = None) -> list[str]:
    command = [sys.executable, str(DAILY_FLOW), "--no-pylint", "run", "--run-date", run_date]
    return command + (["--start-date", start_date] if start_date else [])


def daily_flow_env(settings: Settings) -> dict[str, str]:
    """This process's environment plus what the step processes need: our import path, the
    state folder (absolute: steps may run elsewhere) as RECO_HOME and Metaflow's local
    datastore, and a user name (Metaflow refuses to run without one)."""
    home = str(Path(settings.home).absolute())
    user = os.environ.get("USER") or "reco"
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "RECO_HOME": home,
        "METAFLOW_DATASTORE_SYSROOT_LOCAL": home,
        "METAFLOW_USER": os.environ.get("METAFLOW_USER") or user,
        "USER": user,
        "OPENBLAS_NUM_THREADS": "1",
    }
