"""Alerts to a webhook (flow failures, drift), with the reason in the payload."""

from components.alerts.webhook import AlertDeliveryError, send_alert

__all__ = ["AlertDeliveryError", "send_alert"]
