"""The HTTP edges as deployed: Hypercorn subprocesses with the cluster's port split, a slow
client that trickles its body, and JSON logs."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from components.config import Settings, settings_env
from components.runtime.processes import ServiceProcess, wait_ready
from components.runtime.tansu import free_port


def _event() -> dict[str, object]:
    return {
        "event_id": str(uuid.uuid4()),
        "type": "view",
        "user_id": "u1",
        "article_id": "a1",
        "ts": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
    }


def _trickle(port: int, seconds: float) -> tuple[bytes, float]:
    """Declare a 1000-byte body, send a byte every 0.2 s; returns (answer, seconds to it)."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=seconds + 10) as sock:
        sock.sendall(
            b"POST /events HTTP/1.1\r\nHost: reco\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n["
        )
        sock.settimeout(0.2)
        answer = b""
        while time.monotonic() - started < seconds + 10:
            try:
                chunk = sock.recv(65_536)
                if not chunk:
                    break
                answer += chunk
                if b"\r\n\r\n" in answer:
                    break
            except TimeoutError:
                sock.sendall(b" ")
        return answer, time.monotonic() - started


def test_collector_ports_slow_clients_and_json_logs(reco_settings: Settings, tmp_path: Path) -> None:
    port, ops_port = free_port(), free_port()
    env = {
        **settings_env(reco_settings),
        "RECO_COLLECTOR__PORT": str(port),
        "RECO_COLLECTOR__OPS_PORT": str(ops_port),
        "RECO_COLLECTOR__BODY_TIMEOUT_S": "1",
        "RECO_LOG__FORMAT": "json",
    }
    collector = ServiceProcess("services.collector.main", env, tmp_path / "collector.log").start()
    try:
        asyncio.run(wait_ready(f"http://127.0.0.1:{ops_port}/readyz", timeout_s=60))
        public, ops = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{ops_port}"
        assert httpx.post(f"{public}/events", json=_event()).status_code == 202
        assert httpx.get(f"{public}/openapi.json").json()["openapi"] == "3.1.0"
        # Operations only on the ops port, the API only on the public one.
        for path in ("/metrics", "/readyz", "/healthz"):
            assert httpx.get(f"{public}{path}").status_code == 404, path
            assert httpx.get(f"{ops}{path}").status_code == 200, path
        assert httpx.post(f"{ops}/events", json=_event()).status_code == 404

        # Regression: a body trickled byte by byte held its connection forever.
        answer, seconds = _trickle(port, seconds=1)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert seconds < 5
        assert httpx.post(f"{public}/events", json=_event()).status_code == 202  # others unaffected
    finally:
        collector.stop()
    lines = [line for line in (tmp_path / "collector.log").read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is JSON
    assert {"time", "level", "logger", "message", "component"} <= set(records[0])
    assert {r["component"] for r in records} == {"collector"}
