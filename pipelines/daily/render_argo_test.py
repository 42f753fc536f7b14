"""The daily flow compiles to Argo objects that pass a strict schema: 03:00 UTC daily,
retries on the I/O steps, a GPU on the training step, the configured image and namespace."""

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from components.config import load_settings
from components.orchestration.argo_schema import validate_manifest
from components.orchestration.render import CRON_FILE, TEMPLATE_FILE, render_daily_flow
from pipelines.daily.render_argo import main as render_main

FLOW = Path(__file__).with_name("flow.py")
COMMITTED = Path("infra/argo")
IO_STEPS = ("ingest", "features", "register", "canary")


def _templates(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in template["spec"]["templates"]}


def _check(template: dict[str, Any], cron: dict[str, Any], image: str, namespace: str) -> None:
    assert validate_manifest(template) == []
    assert validate_manifest(cron) == []
    assert cron["spec"]["schedule"] == "0 3 * * *" and cron["spec"]["timezone"] == "Etc/UTC"
    assert cron["spec"]["workflowSpec"]["workflowTemplateRef"]["name"] == template["metadata"]["name"]
    steps = _templates(template)
    for name in IO_STEPS:
        assert steps[name]["retryStrategy"]["limit"] >= 1, name
    assert steps["train"]["container"]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert "nvidia.com/gpu" not in (steps["ingest"]["container"]["resources"].get("limits") or {})
    assert all(
        t["container"]["image"] == image
        for t in steps.values()
        if t.get("container") and t["name"] in IO_STEPS
    )
    assert template["metadata"]["namespace"] == namespace
    assert "127.0.0.1" not in json.dumps(template)  # the render-time S3 stand-in does not leak


def test_renders_a_valid_daily_cron_workflow(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings = load_settings(
        home=str(tmp_path),
        orchestration={"image": "registry.example/reco/pipelines:1.2.3", "namespace": "reco-prod"},
        lake={"root": "s3://reco-lake", "s3_endpoint_url": "http://minio.storage:9000"},
    )
    rendered = render_daily_flow(settings, FLOW)
    _check(rendered.template, rendered.cron, "registry.example/reco/pipelines:1.2.3", "reco-prod")
    endpoints = {
        var["value"]
        for t in rendered.template["spec"]["templates"]
        for var in (t.get("container") or {}).get("env") or []
        if var.get("name") == "METAFLOW_S3_ENDPOINT_URL"
    }
    assert endpoints == {"http://minio.storage:9000"}


def test_the_committed_render_is_valid() -> None:
    template = json.loads((COMMITTED / TEMPLATE_FILE).read_text())
    cron = json.loads((COMMITTED / CRON_FILE).read_text())
    _check(template, cron, "ghcr.io/reco-mlops/reco-pipelines:latest", "reco")


def test_the_schema_catches_typos_and_wrong_types() -> None:
    cron = json.loads((COMMITTED / CRON_FILE).read_text())
    typo = copy.deepcopy(cron)
    typo["spec"]["schedulee"] = typo["spec"].pop("schedule")
    assert any("'schedulee' was unexpected" in p for p in validate_manifest(typo))
    wrong = copy.deepcopy(cron)
    wrong["spec"]["suspend"] = "no"
    assert any(p.startswith("spec/suspend:") for p in validate_manifest(wrong))
    template = json.loads((COMMITTED / TEMPLATE_FILE).read_text())
    template["spec"]["templates"][0]["retryStrategyy"] = {"limit": 2}
    assert any("retryStrategyy" in p for p in validate_manifest(template))


def test_render_command_writes_both_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert render_main(["--out", str(tmp_path)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["schedule"] == "0 3 * * *"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([TEMPLATE_FILE, CRON_FILE])
