"""The environment a test runs the daily flow (or another reco CLI) in as a subprocess: this
interpreter's import path, a home of its own, the test's MLflow store and Redis namespace."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from components.testing.services import MlflowStore, RedisNamespace


def flow_process_env(home: Path, mlflow: MlflowStore, redis: RedisNamespace, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "RECO_HOME": str(home),
        "RECO_MLFLOW__TRACKING_URI": mlflow.tracking_uri,
        "RECO_MLFLOW__ARTIFACT_ROOT": str(mlflow.artifact_root),
        "RECO_REDIS__URL": redis.url,
        "RECO_REDIS__KEY_PREFIX": redis.prefix,
        "METAFLOW_USER": "reco",
        "USER": "reco",
        **extra,
    }
