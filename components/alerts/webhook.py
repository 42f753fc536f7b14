"""POST an alert as JSON to the configured webhook; log it either way. Network errors and
5xx/429 answers are retried with exponential backoff (`attempts`); a 4xx is final."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import httpx
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from components.config.settings import AlertsSettings

log = logging.getLogger("reco.alerts")


class AlertDeliveryError(RuntimeError):
    """The webhook did not accept the alert (unreachable or a non-2xx answer)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status  # the HTTP status it answered with; None when unreachable


class _RetryableError(AlertDeliveryError):
    """A failure worth another attempt: the network, a 5xx, a 429."""


def post_with_retries(
    url: str,
    payload: dict[str, Any],
    *,
    attempts: int,
    timeout_s: float,
    headers: dict[str, str] | None = None,
    what: str = "webhook",
    wait_max_s: float = 10.0,
) -> httpx.Response:
    """POST JSON; retried with backoff on network errors, 5xx and 429; raises
    AlertDeliveryError when it did not go through (a 4xx at once, the rest after `attempts`)."""

    def once() -> httpx.Response:
        try:
            response = httpx.post(url, json=payload, headers=headers, timeout=timeout_s)
        except httpx.HTTPError as exc:
            raise _RetryableError(f"{what} unreachable: {exc!r}") from exc
        status = response.status_code
        if status >= 500 or status == 429:
            raise _RetryableError(f"{what} answered {status}", status)
        if status >= 300:
            raise AlertDeliveryError(f"{what} answered {status}: {response.text[:300]}", status)
        return response

    retrying = Retrying(
        retry=retry_if_exception_type(_RetryableError),
        wait=wait_exponential(multiplier=0.5, max=wait_max_s),
        stop=stop_after_attempt(attempts),
        reraise=True,
    )
    response: httpx.Response = retrying(once)
    return response


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
    # The webhook URL of Slack and friends is itself the secret: never in a message.
    post_with_retries(
        settings.webhook_url,
        payload,
        attempts=settings.attempts,
        timeout_s=settings.timeout_s,
        what="the alert webhook",
    )
    return True
