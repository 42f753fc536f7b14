"""Drift actions against real loopback services: the webhook gets the alert, an Argo-style
server gets one submit per cooldown, gauges land in a textfile."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from components.config import Settings, load_settings
from components.monitoring.actions import act_on, trigger_retrain
from components.monitoring.check import DriftCheck
from components.testing.services import RedisNamespace
from components.testing.webhook import WebhookReceiver


@pytest.fixture
def argo_server() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver(status=200).start()
    yield server
    server.stop()


def _settings(
    tmp_path: Path, redis_ns: RedisNamespace, webhook: WebhookReceiver, argo: WebhookReceiver
) -> Settings:
    return load_settings(
        home=str(tmp_path),
        redis={"url": redis_ns.url, "key_prefix": redis_ns.prefix},
        alerts={"webhook_url": webhook.url},
        monitoring={
            "argo_server_url": argo.url.removesuffix("/hook"),
            "argo_token": "s3cret",
            "retrain_cooldown_hours": 1.0,
            "metrics_textfile": str(tmp_path / "reco_drift.prom"),
        },
    )


def _drifted() -> DriftCheck:
    return DriftCheck(
        at="2026-11-27T03:00:00+00:00",
        window_start="2026-11-26T03:00:00+00:00",
        window_end="2026-11-27T03:00:00+00:00",
        model_version="4",
        feature_share=0.5,
        drifted=True,
        reasons=["50% of features drifted (> 30%): user_stats.top_category"],
        reports=["/lake/reports/drift/2026-11-27/030000-user_stats.html"],
    )


def test_drift_alerts_once_and_retrains_once_per_cooldown(
    tmp_path: Path, redis_ns: RedisNamespace, webhook: WebhookReceiver, argo_server: WebhookReceiver
) -> None:
    settings = _settings(tmp_path, redis_ns, webhook, argo_server)
    first = act_on(settings, _drifted())
    assert (
        first.alerted
        and first.retrain is not None
        and first.retrain.triggered
        and first.retrain.mode == "argo"
    )
    alert = webhook.received[0]
    assert alert["kind"] == "drift" and "user_stats.top_category" in alert["text"]
    assert "030000-user_stats.html" in alert["text"]  # the report link is in the message
    submit = argo_server.received[0]
    assert submit["resourceKind"] == "WorkflowTemplate" and submit["resourceName"] == "dailyflow"
    assert submit["submitOptions"]["labels"] == "reco/trigger=drift"
    assert submit["submitOptions"]["parameters"] == ["run-date=2026-11-27"]  # the drifted window's day

    second = act_on(settings, _drifted())
    assert second.alerted  # every drifted check alerts ...
    assert second.retrain is not None and not second.retrain.triggered and second.retrain.mode == "cooldown"
    assert len(argo_server.received) == 1  # ... but one retrain per cooldown
    gauges = (tmp_path / "reco_drift.prom").read_text()
    assert "reco_feature_drift_share 0.5" in gauges and "reco_drift_detected 1.0" in gauges


def test_a_failed_submit_releases_the_cooldown(
    tmp_path: Path, redis_ns: RedisNamespace, webhook: WebhookReceiver, argo_server: WebhookReceiver
) -> None:
    settings = _settings(tmp_path, redis_ns, webhook, argo_server)
    argo_server.status = 503
    with pytest.raises(RuntimeError, match="Argo submit answered 503"):
        trigger_retrain(settings, "drift")
    argo_server.status = 200
    assert trigger_retrain(settings, "drift").triggered


def test_no_drift_no_alert(
    tmp_path: Path, redis_ns: RedisNamespace, webhook: WebhookReceiver, argo_server: WebhookReceiver
) -> None:
    settings = _settings(tmp_path, redis_ns, webhook, argo_server)
    calm = DriftCheck(at="t", window_start="a", window_end="b", model_version="4")
    outcome = act_on(settings, calm)
    assert not outcome.alerted and outcome.retrain is None
    assert webhook.received == [] and argo_server.received == []
    assert "reco_drift_detected 0.0" in (tmp_path / "reco_drift.prom").read_text()


def test_argo_token_stored_with_its_bearer_prefix_is_sent_once_prefixed(
    tmp_path: Path, redis_ns: RedisNamespace, webhook: WebhookReceiver, argo_server: WebhookReceiver
) -> None:
    # Regression: the runbook stores `argo auth token`'s output ("Bearer ...") and the code
    # added another "Bearer ".
    settings = _settings(tmp_path, redis_ns, webhook, argo_server)
    prefixed = settings.model_copy(
        update={
            "monitoring": settings.monitoring.model_copy(update={"argo_token": SecretStr("Bearer s3cret")})
        }
    )
    assert trigger_retrain(prefixed, "drift").triggered
    assert argo_server.headers[-1]["Authorization"] == "Bearer s3cret"
    redis_ns.clear()  # release the cooldown
    assert trigger_retrain(settings, "drift").triggered
    assert argo_server.headers[-1]["Authorization"] == "Bearer s3cret"


def test_argo_submit_is_retried_through_a_flaky_server_under_one_name(
    tmp_path: Path, redis_ns: RedisNamespace, webhook: WebhookReceiver, argo_server: WebhookReceiver
) -> None:
    # Regression: the first network error or 5xx failed the retrain.
    settings = _settings(tmp_path, redis_ns, webhook, argo_server)
    argo_server.answers = [503, 503]
    outcome = trigger_retrain(settings, "drift", run_date="2026-11-27")
    assert outcome.triggered and argo_server.attempts == 3
    (submit,) = argo_server.received
    assert submit["submitOptions"]["name"].startswith("dailyflow-drift-2026-11-27-")


def test_a_retried_argo_submit_that_had_gone_through_starts_no_second_retrain(
    tmp_path: Path, redis_ns: RedisNamespace, webhook: WebhookReceiver, argo_server: WebhookReceiver
) -> None:
    # The first submit timed out at the client after Argo took it: the retry under the same
    # workflow name is refused as a duplicate (409), which means submitted.
    settings = _settings(tmp_path, redis_ns, webhook, argo_server)
    argo_server.answers = [503, 409]
    outcome = trigger_retrain(settings, "drift", run_date="2026-11-27")
    assert outcome.triggered and outcome.mode == "argo" and "already submitted" in outcome.detail
    assert argo_server.attempts == 2
