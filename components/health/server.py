"""/healthz and /metrics for the background workers (ingestor, feedback consumer), which have
no HTTP edge of their own: a daemon thread with the standard library's server, so probes and
scrapes answer even while the worker's event loop is busy."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

# A worker's loop polls Kafka every 200 ms: this long without a poll means it is stuck.
STALL_S = 60.0


def polling(last_poll: Callable[[], float], stall_s: float = STALL_S) -> Callable[[], str | None]:
    """A health check for `serve_health`: the problem once `last_poll()` (a monotonic time)
    is more than `stall_s` ago."""

    def check() -> str | None:
        stalled = time.monotonic() - last_poll()
        return None if stalled < stall_s else f"no poll for {stalled:.0f}s"

    return check


def serve_health(
    port: int, registry: CollectorRegistry, healthy: Callable[[], str | None], host: str = "0.0.0.0"
) -> ThreadingHTTPServer:
    """Serve on `port`: /healthz answers 200, or 503 with the problem `healthy()` returns;
    /metrics the registry. Returns the server (`shutdown()` stops it)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
            if self.path == "/metrics":
                self._answer(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif self.path == "/healthz":
                problem = healthy()
                body = b"ok\n" if problem is None else problem.encode() + b"\n"
                self._answer(200 if problem is None else 503, body, "text/plain; charset=utf-8")
            else:
                self._answer(404, b"not found: try /healthz or /metrics\n", "text/plain; charset=utf-8")

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # probes every few seconds would flood the log

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name=f"health-{port}", daemon=True).start()
    return server
