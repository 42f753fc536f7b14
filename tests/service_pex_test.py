"""Each service's PEX (what `./pants package ::` builds and the images carry) starts on its
own and answers /healthz: the packaging carries every module and resource the service needs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from components.config import Settings, settings_env
from components.runtime.tansu import free_port

# PEX path in the sandbox (Pants puts runtime packages there), port setting, health path
SERVICES = {
    "collector": ("services.collector/bin.pex", "RECO_COLLECTOR__PORT", "/healthz"),
    "ingestor": ("services.ingestor/bin.pex", "RECO_INGESTOR__METRICS_PORT", "/healthz"),
    "feedback": ("services.feedback/bin.pex", "RECO_FEEDBACK__METRICS_PORT", "/healthz"),
    "recommender": ("services.recommender/bin.pex", "RECO_SERVING__PORT", "/healthz"),
}


@pytest.fixture
def started(
    request: pytest.FixtureRequest, reco_settings: Settings, tmp_path: Path
) -> Iterator[tuple[int, str, subprocess.Popen[bytes]]]:
    name, port_setting, path = SERVICES[request.param]
    pex = Path(name).resolve()
    assert pex.exists(), f"{name} was not packaged into the test sandbox"
    port = free_port()
    env = {
        **os.environ,
        **settings_env(reco_settings),
        port_setting: str(port),
        "RECO_FEATURES__REGISTRY": str(tmp_path / "registry.db"),
        "RECO_MLFLOW__TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "PEX_ROOT": str(Path.home() / ".cache" / "reco" / "pex-root"),  # venvs reused between runs
    }
    env.pop("PYTHONPATH", None)  # only what the PEX carries
    with open(tmp_path / f"{request.param}.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, str(pex)], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path
        )
        try:
            yield port, path, proc
        finally:
            _terminate(proc)


@pytest.mark.parametrize("started", list(SERVICES), indirect=True)
def test_service_pex_starts_and_answers_healthz(
    started: tuple[int, str, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    port, path, proc = started
    deadline = time.monotonic() + 240  # the first run of a PEX builds its venv
    last: object = None
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            response = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2)
            if response.status_code == 200:
                return
            last = response.status_code
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.5)
    logs = "\n".join(p.read_text(errors="replace")[-2000:] for p in tmp_path.glob("*.log"))
    pytest.fail(f"no 200 from {path} on port {port} (exit code {proc.poll()}, last: {last!r})\n{logs}")


def pex_distributions(pex: Path) -> set[str]:
    """The distributions a PEX carries (its PEX-INFO), by canonical project name."""
    with zipfile.ZipFile(pex) as archive:
        info = json.loads(archive.read("PEX-INFO"))
    # keys are wheel file names: <name>-<version>-<tags>.whl
    return {re.sub(r"[-_.]+", "-", whl.split("-")[0]).lower() for whl in info["distributions"]}


def test_recommender_pex_carries_no_feast_mlflow_or_pandas() -> None:
    """The recommend service reads Feast's rows with reco's codec and its models from the
    publication: the lean resolve's PEX, with none of the heavy stack."""
    carried = pex_distributions(Path(SERVICES["recommender"][0]).resolve())
    assert {"starlette", "hypercorn", "uvloop", "numpy", "redis", "hiredis", "aiokafka", "pyarrow"} <= carried
    heavy = {"feast", "mlflow", "mlflow-skinny", "pandas", "scikit-learn", "scipy", "protobuf", "sqlalchemy"}
    assert carried & heavy == set(), sorted(carried & heavy)


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
