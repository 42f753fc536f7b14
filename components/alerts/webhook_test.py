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
    webhook.status = 400
    with pytest.raises(AlertDeliveryError, match="answered 400"):
        send_alert(AlertsSettings(webhook_url=webhook.url), "drift", "x", {})
    assert webhook.attempts == 1  # a 4xx is final: not retried
    with pytest.raises(AlertDeliveryError, match="unreachable"):
        send_alert(
            AlertsSettings(webhook_url="http://127.0.0.1:9/none", timeout_s=1, attempts=2), "drift", "x", {}
        )


def test_a_flaky_webhook_gets_the_alert_after_retries(webhook: WebhookReceiver) -> None:
    # Regression: the first network error or 5xx lost the alert.
    webhook.answers = [503, 503]
    assert send_alert(AlertsSettings(webhook_url=webhook.url, attempts=4), "drift", "x", {"n": 1})
    assert webhook.attempts == 3 and webhook.received[0]["details"] == {"n": 1}


def test_a_webhook_down_for_longer_than_the_attempts_is_an_error(webhook: WebhookReceiver) -> None:
    webhook.answers = [503] * 10
    with pytest.raises(AlertDeliveryError, match="answered 503"):
        send_alert(AlertsSettings(webhook_url=webhook.url, attempts=3), "drift", "x", {})
    assert webhook.attempts == 3
