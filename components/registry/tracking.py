"""Training runs in MLflow: params, metrics, lineage tags, the pyfunc model, its registration.

Aliases, not the deprecated stages: `challenger` (newest registered candidate), `canary` (gets
a share of live traffic), `champion` (serves everyone else).
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.models.model import ModelInfo

from components.config.settings import MlflowSettings
from components.models.artifacts import save_model
from components.models.base import Recommender
from components.names import CHALLENGER
from components.registry.lineage import Lineage

PARENT_TAG = "mlflow.parentRunId"
_ENTRY = Path(__file__).resolve().parent.parent / "models" / "pyfunc_entry.py"


def configure(settings: MlflowSettings) -> str:
    """Point MLflow at the settings' store and make sure the experiment exists; returns its id."""
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.registry_uri or settings.tracking_uri)
    experiment = mlflow.get_experiment_by_name(settings.experiment)
    if experiment is not None:
        mlflow.set_experiment(experiment_id=experiment.experiment_id)
        return str(experiment.experiment_id)
    location = settings.artifact_root
    if location and "://" not in location:
        Path(location).mkdir(parents=True, exist_ok=True)
        location = Path(location).resolve().as_uri()
    experiment_id = mlflow.create_experiment(settings.experiment, artifact_location=location)
    mlflow.set_experiment(experiment_id=experiment_id)
    return str(experiment_id)


def log_model_artifact(
    model: Recommender, workdir: Path, *, extra: dict[str, Any] | None = None
) -> ModelInfo:
    """Log `model` as the active run's pyfunc model (source + numpy arrays, no pickle)."""
    folder = save_model(model, Path(workdir) / "model", extra=extra)
    return mlflow.pyfunc.log_model(
        name="model",
        python_model=str(_ENTRY),
        artifacts={"model": str(folder)},
        # Explicit, so MLflow does not spawn an interpreter to infer them.
        pip_requirements=[f"mlflow=={mlflow.__version__}", "numpy", "pandas"],
    )


@dataclass(frozen=True)
class LoggedModel:
    run_id: str
    version: str | None
    model_uri: str
    metrics: dict[str, float]


def start_parent_run(name: str, *, tags: Mapping[str, str] | None = None) -> str:
    """Create (and close) a parent run for a sweep; children attach to it by id, from this or
    any other process."""
    with mlflow.start_run(run_name=name, tags=dict(tags or {})) as run:
        return str(run.info.run_id)


def log_child_run(
    parent_run_id: str,
    name: str,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    tags: Mapping[str, str],
) -> str:
    """A sweep member: params, metrics and tags, no model."""
    with mlflow.start_run(run_name=name, tags={PARENT_TAG: parent_run_id, **tags}) as run:
        mlflow.log_params(dict(params))
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v == v})
        return str(run.info.run_id)


def log_training_run(
    model: Recommender,
    metrics: Mapping[str, float],
    lineage: Lineage,
    *,
    model_name: str | None,
    run_name: str | None = None,
    parent_run_id: str | None = None,
    extra_params: Mapping[str, Any] | None = None,
    reference_dir: Path | None = None,
) -> LoggedModel:
    """One run: params, metrics, lineage tags and the model; registered (and aliased
    `challenger`) when `model_name` is given. With `parent_run_id` it is that run's child
    (which works across processes, e.g. from a Metaflow step)."""
    clean = {k: float(v) for k, v in metrics.items() if v == v}  # NaN metrics are not logged
    tags = {PARENT_TAG: parent_run_id} if parent_run_id else {}
    with (
        mlflow.start_run(run_name=run_name or model.kind, tags=tags) as run,
        tempfile.TemporaryDirectory() as tmp,
    ):
        mlflow.log_params({"kind": model.kind, "seed": lineage.seed, **model.params, **(extra_params or {})})
        mlflow.log_metrics(clean)
        mlflow.set_tags(lineage.tags())
        info = log_model_artifact(model, Path(tmp), extra={"lineage": lineage.tags()})
        if reference_dir is not None:
            # What drift monitoring compares production against (components/monitoring).
            mlflow.log_artifacts(str(reference_dir), "reference")
        version = None
        if model_name:
            version = str(register(info.model_uri, model_name, lineage, run.info.run_id).version)
        return LoggedModel(run_id=run.info.run_id, version=version, model_uri=info.model_uri, metrics=clean)


def register(model_uri: str, model_name: str, lineage: Lineage, run_id: str) -> ModelVersion:
    """Register a logged model, copy the lineage onto the version, make it the challenger."""
    client = MlflowClient()
    version = mlflow.register_model(model_uri, model_name, tags={**lineage.tags(), "reco.run_id": run_id})
    client.set_registered_model_alias(model_name, CHALLENGER, version.version)
    return version


def version_by_alias(model_name: str, alias: str) -> ModelVersion | None:
    client = MlflowClient()
    try:
        return client.get_model_version_by_alias(model_name, alias)
    except mlflow.exceptions.MlflowException:
        return None


def version_metrics(version: ModelVersion) -> dict[str, float]:
    """The metrics of the run that produced `version`."""
    if not version.run_id:
        raise LookupError(f"model version {version.version} has no run")
    return dict(MlflowClient().get_run(version.run_id).data.metrics)
