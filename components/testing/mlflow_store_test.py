"""The MLflow fixture gives a working tracking store and model registry in a temporary folder."""

import mlflow
from mlflow import MlflowClient

from components.testing.services import MlflowStore


def test_runs_and_registry_live_in_the_test_folder(mlflow_tracking: MlflowStore) -> None:
    assert mlflow.get_tracking_uri() == mlflow_tracking.tracking_uri
    experiment_id = mlflow.create_experiment(
        "fixture-check", artifact_location=mlflow_tracking.artifact_root.as_uri()
    )
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_param("factors", 64)
        mlflow.log_metric("ndcg_at_10", 0.31)
    client = MlflowClient()
    stored = client.get_run(run.info.run_id)
    assert stored.data.metrics["ndcg_at_10"] == 0.31
    client.create_registered_model("reco-articles")
    version = client.create_model_version(
        "reco-articles", source=f"runs:/{run.info.run_id}/model", run_id=run.info.run_id
    )
    client.set_registered_model_alias("reco-articles", "champion", version.version)
    assert client.get_model_version_by_alias("reco-articles", "champion").version == version.version
    assert (mlflow_tracking.root / "mlflow.db").exists()
