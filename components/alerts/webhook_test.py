import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from components.alerts import AlertDeliveryError, send_alert
from components.config.settings import AlertsSettings


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict], list[int]]]:
    received: list[dict] = []
    status = [204]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(status[0])
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received, status
    server.shutdown()


def test_alert_is_posted_as_json(receiver: tuple[str, list[dict], list[int]]) -> None:
    url, received, _ = receiver
    assert send_alert(
        AlertsSettings(webhook_url=url), "flow_failed", "DailyFlow/3 failed", {"step": "validate"}
    )
    assert received[0]["kind"] == "flow_failed" and received[0]["details"] == {"step": "validate"}


def test_no_webhook_only_logs() -> None:
    assert send_alert(AlertsSettings(), "drift", "drift share 0.6", {}) is False


def test_a_refused_alert_is_an_error(receiver: tuple[str, list[dict], list[int]]) -> None:
    url, _, status = receiver
    status[0] = 500
    with pytest.raises(AlertDeliveryError, match="answered 500"):
        send_alert(AlertsSettings(webhook_url=url), "drift", "x", {})
    with pytest.raises(AlertDeliveryError, match="unreachable"):
        send_alert(AlertsSettings(webhook_url="http://127.0.0.1:9/none", timeout_s=1), "drift", "x", {})
