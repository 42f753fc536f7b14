"""What a drift check does about drift: a Slack-compatible alert with the report links, a
retrain (Argo Workflows REST submit when configured, a local flow run otherwise) at most once
per cooldown window, and Prometheus gauges of the figures."""

from __future__ import annotations

import contextlib
import subprocess
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway, write_to_textfile
from redis import Redis

from components.alerts import send_alert
from components.alerts.webhook import AlertDeliveryError, post_with_retries
from components.config import Settings
from components.monitoring.check import DriftCheck, yesterday
from components.names import retrain_cooldown_key
from components.orchestration.local import daily_flow_command, daily_flow_env


@dataclass(frozen=True)
class RetrainOutcome:
    triggered: bool
    mode: str  # "argo", "local" or "cooldown"
    detail: str
    pid: int | None = None  # the local flow run's process

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def alert_summary(check: DriftCheck) -> str:
    """One message with the report links (it becomes the Slack `text`)."""
    links = "\n".join(check.reports)
    return f"model {check.model_version}: {check.summary()}\nreports:\n{links}"


def trigger_retrain(settings: Settings, reason: str, *, run_date: str | None = None) -> RetrainOutcome:
    """Start a retrain unless one started within the cooldown (a Redis key with a TTL, so
    every monitor replica shares it). A failed start releases the cooldown."""
    monitoring = settings.monitoring
    key = retrain_cooldown_key(settings.redis.key_prefix)
    cooldown_s = int(monitoring.retrain_cooldown_hours * 3600)
    with Redis.from_url(settings.redis.url, socket_connect_timeout=5) as redis:
        if not redis.set(key, reason[:500], nx=True, ex=cooldown_s):
            ttl = redis.ttl(key)
            return RetrainOutcome(
                False, "cooldown", f"a retrain started recently; next one allowed in {ttl} s"
            )
        try:
            if monitoring.argo_server_url:
                return _submit_to_argo(settings, run_date or yesterday())
            return _start_local_run(settings, run_date or yesterday())
        except Exception:
            redis.delete(key)
            raise


def bearer(token: str) -> str:
    """The Authorization header value: `argo auth token` prints "Bearer ..." and the runbook
    stores it so; a bare token gets the prefix."""
    token = token.strip()
    return token if token.lower().startswith("bearer ") else f"Bearer {token}"


def _submit_to_argo(settings: Settings, run_date: str) -> RetrainOutcome:
    """Submit the daily flow's WorkflowTemplate. Retried with backoff through network errors
    and 5xx; the workflow's name is fixed before the first attempt, so a retry of a submit that
    did go through finds it (409) instead of starting a second retrain."""
    monitoring, namespace = settings.monitoring, settings.orchestration.namespace
    headers = {}
    if monitoring.argo_token is not None:
        headers["Authorization"] = bearer(monitoring.argo_token.get_secret_value())
    name = f"{monitoring.argo_template}-drift-{run_date}-{uuid.uuid4().hex[:6]}"
    try:
        response = post_with_retries(
            f"{monitoring.argo_server_url}/api/v1/workflows/{namespace}/submit",
            {
                "namespace": namespace,
                "resourceKind": "WorkflowTemplate",
                "resourceName": monitoring.argo_template,
                "submitOptions": {
                    "name": name,
                    "labels": "reco/trigger=drift",
                    "parameters": [f"run-date={run_date}"],
                },
            },
            attempts=settings.alerts.attempts,
            timeout_s=30,
            headers=headers,
            what="Argo submit",
        )
    except AlertDeliveryError as exc:
        if exc.status != 409:
            raise RuntimeError(str(exc)) from exc
        return RetrainOutcome(True, "argo", f"workflow {name} was already submitted (a retried submit)")
    with contextlib.suppress(ValueError):  # a proxy in front of Argo may answer without a body
        name = response.json().get("metadata", {}).get("name", name)
    return RetrainOutcome(True, "argo", f"submitted workflow {name} from template {monitoring.argo_template}")


def _start_local_run(settings: Settings, run_date: str) -> RetrainOutcome:
    logs = Path(settings.home).absolute() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = open(logs / f"retrain-{run_date}.log", "ab")  # noqa: SIM115 (handed to the child process)
    proc = subprocess.Popen(
        daily_flow_command(run_date),
        env=daily_flow_env(settings),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return RetrainOutcome(
        True, "local", f"started the daily flow for {run_date} (pid {proc.pid}, log {log.name})", proc.pid
    )


def export_gauges(settings: Settings, check: DriftCheck) -> CollectorRegistry:
    registry = CollectorRegistry()

    def gauge(name: str, doc: str, value: float | None) -> None:
        if value is not None:
            Gauge(name, doc, registry=registry).set(value)

    served = check.served_current or {}
    gauge("reco_feature_drift_share", "share of monitored feature columns that drifted", check.feature_share)
    gauge("reco_drift_detected", "1 if the last check found drift", 1.0 if check.drifted else 0.0)
    gauge("reco_ctr_current", "click-through rate of the current window", check.ctr_current)
    gauge("reco_ctr_reference", "click-through rate of the champion's reference", check.ctr_reference)
    gauge("reco_served_gini", "Gini of impressions per article", served.get("gini"))
    gauge("reco_served_coverage", "share of live articles served", served.get("coverage"))
    gauge("reco_served_median_age_hours", "median age of served articles", served.get("median_age_h"))
    gauge("reco_cold_start_share", "share of impressions to unknown readers", served.get("cold_start_share"))
    if settings.monitoring.metrics_textfile:
        write_to_textfile(settings.monitoring.metrics_textfile, registry)
    if settings.monitoring.pushgateway_url:
        push_to_gateway(settings.monitoring.pushgateway_url, job="reco-drift", registry=registry)
    return registry


@dataclass(frozen=True)
class ActionOutcome:
    alerted: bool
    retrain: RetrainOutcome | None

    def as_dict(self) -> dict[str, Any]:
        return {"alerted": self.alerted, "retrain": None if self.retrain is None else self.retrain.as_dict()}


def act_on(settings: Settings, check: DriftCheck, *, retrain: bool = True) -> ActionOutcome:
    """Gauges always; on drift an alert, and a retrain unless `retrain` is off (the daily flow
    has just trained) or the cooldown holds."""
    export_gauges(settings, check)
    if not check.drifted:
        return ActionOutcome(False, None)
    alerted = send_alert(settings.alerts, "drift", alert_summary(check), {"check": check.as_dict()})
    # Retrain for the day the drifted window ends in (the data that moved).
    run_date = (datetime.fromisoformat(check.window_end) - timedelta(microseconds=1)).date().isoformat()
    outcome = trigger_retrain(settings, check.summary(), run_date=run_date) if retrain else None
    return ActionOutcome(alerted, outcome)
