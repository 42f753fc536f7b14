"""An S3 API on loopback: moto's server in a subprocess (the `pipelines` resolve has moto).

Production code uses it too: the Argo renderer (components.orchestration.render) compiles the
daily flow against it, as Metaflow's compiler needs an S3 datastore to upload to; the test
fixtures (components.testing.fixtures) give it to lake tests. It holds nothing but what a run
puts there and dies with its process. Whoever imports this declares moto as a dependency."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from components.runtime.tansu import free_port

# moto accepts any credentials; the server and its clients only need some to sign with.
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "reco-test",
    "AWS_SECRET_ACCESS_KEY": "reco-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class MotoS3:
    """moto's S3 server on a free loopback port, logging to `log_dir`."""

    def __init__(self, log_dir: Path):
        self.port = free_port()
        self.log_path = log_dir / f"moto-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 30.0) -> MotoS3:
        env = {**os.environ, **DUMMY_CREDENTIALS, "PYTHONPATH": os.pathsep.join(sys.path)}
        code = f"from moto.server import main; main(['-H', '127.0.0.1', '-p', '{self.port}'])"
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", code],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto server exited: {self.log_path.read_text(errors='replace')[-2000:]}")
            try:
                urllib.request.urlopen(f"{self.endpoint_url}/moto-api/", timeout=0.5)  # - loopback
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"moto server did not answer on {self.port}")

    def create_bucket(self, name: str) -> None:
        request = urllib.request.Request(f"{self.endpoint_url}/{name}", method="PUT")
        urllib.request.urlopen(request, timeout=5)  # - loopback

    def stop(self) -> None:
        process, self.process = self.process, None
        if process and process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            process.wait(timeout=10)
