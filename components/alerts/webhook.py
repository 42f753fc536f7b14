"""POST an alert as JSON to the configured webhook; log it either way."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import httpx

from components.config.settings import AlertsSettings

log = logging.getLogger("reco.alerts")


class AlertDeliveryError(RuntimeError):
    """The webhook did not accept the alert (unreachable or a non-2xx answer)."""


def send_alert(settings: AlertsSettings, kind: str, summary: str, details: dict[str, Any]) -> bool:
    """Send one alert; returns False when no webhook is configured (the alert is only logged).

    Raises AlertDeliveryError when the webhook is configured but does not take it, so callers
    can retry or fail loudly instead of losing the alert.
    """
    # `text` makes the body a valid Slack (and Mattermost, Teams workflow) incoming-webhook message.
    payload = {
        "text": f"[reco] {kind}: {summary}",
        "kind": kind,
        "summary": summary,
        "at": datetime.now(UTC).isoformat(),
        "details": details,
    }
    log.warning("alert %s: %s", kind, summary)
    if not settings.webhook_url:
        return False
    try:
        response = httpx.post(settings.webhook_url, json=payload, timeout=settings.timeout_s)
    except httpx.HTTPError as exc:
        raise AlertDeliveryError(f"webhook {settings.webhook_url} unreachable: {exc}") from exc
    if response.status_code >= 300:
        raise AlertDeliveryError(f"webhook {settings.webhook_url} answered {response.status_code}")
    return True
