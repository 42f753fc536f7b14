import pytest

from components.alerts import AlertDeliveryError, send_alert
from components.config.settings import AlertsSettings
from components.testing.webhook import WebhookReceiver


def test_alert_is_posted_as_json(webhook: WebhookReceiver) -> None:
    assert send_alert(
        AlertsSettings(webhook_url=webhook.url), "flow_failed", "DailyFlow/3 failed", {"step": "validate"}
    )
    assert webhook.received[0]["kind"] == "flow_failed" and webhook.received[0]["details"] == {
        "step": "validate"
    }


def test_no_webhook_only_logs() -> None:
    assert send_alert(AlertsSettings(), "drift", "drift share 0.6", {}) is False


def test_a_refused_alert_is_an_error(webhook: WebhookReceiver) -> None:
    webhook.status = 500
    with pytest.raises(AlertDeliveryError, match="answered 500"):
        send_alert(AlertsSettings(webhook_url=webhook.url), "drift", "x", {})
    with pytest.raises(AlertDeliveryError, match="unreachable"):
        send_alert(AlertsSettings(webhook_url="http://127.0.0.1:9/none", timeout_s=1), "drift", "x", {})
