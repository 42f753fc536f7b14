"""Compile the daily flow to Argo objects without a cluster.

Metaflow's `argo-workflows create --only-json` needs an S3 datastore to upload the code
package to; an S3 API on loopback (moto) stands in for it. The rendered WorkflowTemplate
then names the real datastore root, image and namespace from settings; the S3 endpoint the
compiler used is replaced by the cluster's (or removed, for AWS S3). The CronWorkflow is the
object Metaflow's deployer creates next to the template, built from the schedule Metaflow
compiled into the template's `metaflow/cron` annotation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.config import Settings
from components.runtime.s3 import MotoS3

TEMPLATE_FILE = "dailyflow.workflow-template.json"
CRON_FILE = "dailyflow.cron-workflow.json"


@dataclass(frozen=True)
class Rendered:
    template: dict[str, Any]
    cron: dict[str, Any]


def _datastore_bucket(root: str) -> str:
    if not root.startswith("s3://"):
        raise ValueError(f"orchestration.datastore_root must be an s3:// URI, got {root!r}")
    return root.removeprefix("s3://").split("/", 1)[0]


def _set_s3_endpoint(template: dict[str, Any], endpoint: str | None) -> None:
    for step_template in template["spec"]["templates"]:
        container = step_template.get("container") or {}
        env = container.get("env") or []
        kept = []
        for var in env:
            if var.get("name") == "METAFLOW_S3_ENDPOINT_URL":
                if endpoint is None:
                    continue
                var = {**var, "value": endpoint}
            kept.append(var)
        if env:
            container["env"] = kept


def cron_workflow(template: dict[str, Any]) -> dict[str, Any]:
    annotations = template["metadata"].get("annotations") or {}
    if "metaflow/cron" not in annotations:
        raise ValueError("the compiled template has no schedule (is @schedule on the flow?)")
    cron = json.loads(annotations["metaflow/cron"])
    name = template["metadata"]["name"]
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "CronWorkflow",
        "metadata": {"name": name, "namespace": template["metadata"].get("namespace")},
        "spec": {
            "schedule": cron["schedule"],
            "timezone": cron["tz"] or "Etc/UTC",
            "suspend": False,
            # A run must not overlap the previous day's; a missed trigger may still start late.
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 3540,
            "failedJobsHistoryLimit": 30,
            "successfulJobsHistoryLimit": 30,
            "workflowSpec": {"workflowTemplateRef": {"name": name}},
        },
    }


def render_daily_flow(settings: Settings, flow_file: Path) -> Rendered:
    orchestration = settings.orchestration
    bucket = _datastore_bucket(orchestration.datastore_root)
    with tempfile.TemporaryDirectory() as tmp:
        s3 = MotoS3(Path(tmp)).start()
        try:
            s3.create_bucket(bucket)
            env = {
                **os.environ,
                "PYTHONPATH": os.pathsep.join(sys.path),
                "USER": os.environ.get("USER") or "reco",
                "METAFLOW_USER": os.environ.get("METAFLOW_USER") or "reco",
                "METAFLOW_DEFAULT_DATASTORE": "s3",
                "METAFLOW_DATASTORE_SYSROOT_S3": orchestration.datastore_root,
                "METAFLOW_S3_ENDPOINT_URL": s3.endpoint_url,
                "AWS_ACCESS_KEY_ID": "render",
                "AWS_SECRET_ACCESS_KEY": "render",
                "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
                "METAFLOW_KUBERNETES_CONTAINER_IMAGE": orchestration.image,
                "METAFLOW_KUBERNETES_NAMESPACE": orchestration.namespace,
                "METAFLOW_DEFAULT_METADATA": "local",
            }
            compiled = subprocess.run(
                [sys.executable, str(flow_file), "--no-pylint", "argo-workflows", "create", "--only-json"],
                env=env,
                cwd=tmp,
                capture_output=True,
                text=True,
                timeout=300,
            )
        finally:
            s3.stop()
    if compiled.returncode != 0:
        raise RuntimeError(f"argo-workflows create --only-json failed:\n{compiled.stderr[-4000:]}")
    template = json.loads(compiled.stdout[compiled.stdout.index("{") :])
    _set_s3_endpoint(template, settings.lake.s3_endpoint_url)
    return Rendered(template=template, cron=cron_workflow(template))


def write_rendered(rendered: Rendered, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, obj in ((TEMPLATE_FILE, rendered.template), (CRON_FILE, rendered.cron)):
        path = out_dir / name
        path.write_text(json.dumps(obj, indent=2) + "\n")
        paths.append(path)
    return paths
