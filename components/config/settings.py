"""reco's settings: one typed object, read from `RECO_*` environment variables.

Nested sections use a double underscore: `RECO_KAFKA__BOOTSTRAP_SERVERS=broker:9092`.
`RECO_PROFILE` picks the embedded defaults: `local` (a state folder on disk, SQLite MLflow,
a tansu broker and Redis on loopback) or `cluster` (in-cluster service names, Postgres, an
S3 lake, an MLflow server). Any single value can still be overridden on top of a profile.
"""

from __future__ import annotations

import ipaddress
import json
import re
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from components.events.topics import DEAD_LETTER_TOPIC, EVENTS_TOPIC


class Profile(StrEnum):
    LOCAL = "local"
    CLUSTER = "cluster"


class _Section(BaseModel):
    # A misspelt nested variable (RECO_KAFKA__BOOTSTRAP_SERVER) must fail, not be ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


class KafkaSettings(_Section):
    bootstrap_servers: str = Field(min_length=1)
    events_topic: str = EVENTS_TOPIC
    dead_letter_topic: str = DEAD_LETTER_TOPIC
    client_id: str = "reco"
    # Real Kafka wants >= 6000 ms; tests against tansu use 2000 ms for fast rebalances.
    session_timeout_ms: int = Field(default=10_000, ge=1_000, le=300_000)
    # Managed Kafka (MSK, Confluent Cloud, Aiven, Strimzi with TLS) needs TLS and/or SASL.
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    # CA bundle to trust (None: the system's), and a client certificate for mutual TLS.
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_check_hostname: bool = True
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    # Whether reco creates missing topics itself (local: yes; cluster: no, topics are
    # provisioned with their retention, replication and ACLs, and a missing one is an error).
    create_topics: bool = True
    topic_partitions: int = Field(default=4, ge=1, le=10_000)
    replication_factor: int = Field(default=1, ge=1, le=10)

    @model_validator(mode="after")
    def _sasl_needs_credentials(self) -> KafkaSettings:
        if self.security_protocol.startswith("SASL") and not (self.sasl_username and self.sasl_password):
            raise ValueError(
                f"security_protocol {self.security_protocol} needs sasl_username and sasl_password"
            )
        if bool(self.ssl_certfile) != bool(self.ssl_keyfile):
            raise ValueError("ssl_certfile and ssl_keyfile go together (mutual TLS)")
        return self


class RedisSettings(_Section):
    url: str = Field(min_length=1)
    # Every key reco writes starts with this, so several deployments (or tests) share a server.
    key_prefix: str = "reco:"


class PostgresSettings(_Section):
    # None in the local profile: the embedded defaults need no PostgreSQL.
    dsn: str | None = None


class LakeSettings(_Section):
    # A local folder or an object-store URI (s3://bucket/prefix).
    root: str = Field(min_length=1)
    s3_endpoint_url: str | None = None


class MlflowSettings(_Section):
    tracking_uri: str = Field(min_length=1)
    registry_uri: str | None = None
    # Where new experiments keep artifacts; None: the tracking server's default (cluster: the
    # server proxies its artifact store).
    artifact_root: str | None = None
    experiment: str = "reco"
    model_name: str = "reco-articles"


class GateSettings(_Section):
    """The quality gate: a challenger replaces the champion only if all of these hold."""

    # NDCG@10 must beat the champion's by at least this share (0.01 = 1 %).
    min_ndcg_gain: float = Field(default=0.01, ge=0.0)
    # Guardrails: catalogue coverage may drop by at most this share of the champion's, and the
    # p95 recommend latency on a sample may grow by this share plus an absolute slack (noise).
    max_coverage_drop: float = Field(default=0.10, ge=0.0, le=1.0)
    max_latency_increase: float = Field(default=0.50, ge=0.0)
    latency_slack_ms: float = Field(default=2.0, ge=0.0)


def _ports_differ(port: int, ops_port: int) -> None:
    if ops_port and ops_port == port:
        raise ValueError(f"ops_port ({ops_port}) must differ from port, or be 0 (everything on port)")


class LogSettings(_Section):
    # "json": one JSON object per line with request_id, variant and model_version where a
    # request is being served (for a log pipeline); "text": for people at a terminal.
    format: Literal["text", "json"] = "text"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class CollectorSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8081, ge=0, le=65_535)
    # Health, readiness and metrics on a port of their own (0: on `port`, the local default);
    # the public port then serves `POST /events` only.
    ops_port: int = Field(default=0, ge=0, le=65_535)
    max_batch: int = Field(default=500, ge=1, le=10_000)
    max_body_bytes: int = Field(default=1_048_576, ge=1_024)
    # A request body must arrive within this (a slow client holds a connection, not forever).
    body_timeout_s: float = Field(default=10.0, gt=0)
    # How long a request waits for the broker's acknowledgement before answering 503.
    produce_timeout_s: float = Field(default=5.0, gt=0)
    retry_after_s: int = Field(default=2, ge=1)
    # Per-client limits (a client is its address; behind a gateway, the first address of
    # X-Forwarded-For when the direct peer is one of `trusted_proxies`). Above them: 429.
    client_events_per_s: float = Field(default=50.0, gt=0)
    client_burst: int = Field(default=1_000, ge=1)
    # Networks (CIDR) of the gateways/load balancers whose X-Forwarded-For is believed.
    trusted_proxies: list[str] = Field(default_factory=lambda: ["127.0.0.0/8", "::1/128"])
    # Clients (CIDR) exempt from the limits and bot filters: internal senders such as the
    # main job's replay of a simulated week (local default: loopback; cluster: none).
    unfiltered_clients: list[str] = Field(default_factory=lambda: ["127.0.0.0/8", "::1/128"])
    # Bot filtering: refused with a reason, counted, dead-lettered (never silently dropped).
    # A reader cannot click or view more often than this per minute.
    user_events_per_min: int = Field(default=120, ge=1)
    # The same reader, article and type again within this window is a duplicate burst.
    duplicate_window_s: float = Field(default=2.0, ge=0)
    # User agents matching this (case-insensitive) are crawlers, not readers.
    bot_user_agents: str = (
        r"bot\b|crawl|spider|slurp|headless|phantomjs|python-requests|curl/|wget/|go-http-client"
        r"|scrapy|httpclient|okhttp|java/|libwww|facebookexternalhit|preview"
    )

    @field_validator("trusted_proxies", "unfiltered_clients")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for network in value:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError as exc:
                raise ValueError(f"{network!r} is not an address or CIDR network: {exc}") from None
        return value

    @field_validator("bot_user_agents")
    @classmethod
    def _pattern(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _burst_holds_a_batch(self) -> CollectorSettings:
        if self.client_burst < self.max_batch:
            raise ValueError(
                f"client_burst ({self.client_burst}) must hold a full batch (max_batch {self.max_batch})"
            )
        _ports_differ(self.port, self.ops_port)
        return self


class IngestorSettings(_Section):
    group_id: str = "reco-ingestor"
    # A bronze flush happens at whichever comes first; offsets are committed after each flush.
    flush_records: int = Field(default=50_000, ge=1)
    flush_interval_s: float = Field(default=5.0, gt=0)
    max_poll_records: int = Field(default=5_000, ge=1)
    # Prometheus metrics on this port (0: off, the local default; 9102 in the cluster profile).
    metrics_port: int = Field(default=0, ge=0, le=65_535)


class FeaturesSettings(_Section):
    # Feast project: names the registry entries and prefixes the online store's keys.
    project: str = Field(default="reco", pattern=r"^[A-Za-z0-9_]+$")
    # File path (local) or a SQLAlchemy URL (postgresql+psycopg://...) for a SQL registry.
    registry: str = Field(min_length=1)
    # "redis" (RECO_REDIS__URL) or "sqlite": an explicit embedded fallback without Redis.
    online_store: Literal["redis", "sqlite"] = "redis"


class AlertsSettings(_Section):
    # Failures and drift alerts are POSTed as JSON here (Slack/Teams/Alertmanager webhook);
    # unset: alerts are only logged.
    webhook_url: str | None = None
    timeout_s: float = Field(default=5.0, gt=0)
    # Network errors and 5xx/429 answers are retried this many times, with backoff.
    attempts: int = Field(default=4, ge=1, le=20)


class RolloutSettings(_Section):
    # Share of users (by a hash of user_id) that the recommend service sends to the `canary`
    # model once a challenger passes the gate while a champion exists.
    canary_share: float = Field(default=0.1, ge=0.0, le=1.0)


class ServingSettings(_Section):
    """The recommend service (services/recommender)."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65_535)
    # Health, readiness, metrics and admin on a port of their own (0: on `port`, the local
    # default); the public port then serves `POST /recommend` only.
    ops_port: int = Field(default=0, ge=0, le=65_535)
    # A request body must arrive within this.
    body_timeout_s: float = Field(default=5.0, gt=0)
    # At start-up the registry gets this long; then the service serves its cached models and
    # keeps polling (an unreachable registry must not hold a replica past its startup probe).
    registry_timeout_s: float = Field(default=10.0, gt=0)
    # Request bounds: larger asks are refused with 422, never truncated silently.
    max_k: int = Field(default=100, ge=1, le=1_000)
    max_exclude: int = Field(default=500, ge=0, le=10_000)
    max_body_bytes: int = Field(default=65_536, ge=1_024)
    # Bearer token of the admin endpoints (reload, canary share, rollback); unset: they answer 403.
    admin_token: SecretStr | None = None
    # The last good models are kept here so the service starts while the registry is down;
    # None: <home>/serving/models.
    model_cache_dir: str | None = None
    # How often the registry aliases and the rollout share are polled (hot reload).
    poll_interval_s: float = Field(default=30.0, gt=0)
    # Item-side features (views, CTR, publication) and the catalogue (expiry) are refreshed
    # in the background this often; requests read them from memory.
    item_refresh_s: float = Field(default=30.0, gt=0)
    catalogue_refresh_s: float = Field(default=60.0, gt=0)
    # Per-request Redis reads (user features, recent reads) give up after this; after a
    # failure Redis is skipped for `redis_retry_s` (the service answers degraded meanwhile).
    redis_timeout_ms: float = Field(default=50.0, gt=0)
    redis_retry_s: float = Field(default=1.0, gt=0)
    # How many of a user's most recent reads are excluded.
    recent_reads: int = Field(default=200, ge=0, le=10_000)
    # Cold start: (views_24h + prior) * 0.5 ** (age_h / half_life_h).
    popular_prior_views: float = Field(default=10.0, ge=0.0)
    popular_half_life_h: float = Field(default=24.0, gt=0.0)
    # Impressions wait in a bounded buffer for the background producer; beyond it they are
    # dropped and counted (the response never waits for Kafka).
    impression_buffer: int = Field(default=100_000, ge=1)
    impression_flush_ms: float = Field(default=100.0, gt=0)
    # Shadow mode: the share of requests also scored by the `challenger` (never served).
    shadow_share: float = Field(default=0.0, ge=0.0, le=1.0)
    # "wall": the service's clock. "request": a request's `context.now` (epoch seconds or ISO
    # 8601) is the time it is served at, so a simulator can replay days in minutes
    # (benchmarks/closed_loop.py). Never for production traffic: clients would pick the time.
    clock: Literal["wall", "request"] = "wall"

    @model_validator(mode="after")
    def _ports(self) -> ServingSettings:
        _ports_differ(self.port, self.ops_port)
        return self


class ExplorationSettings(_Section):
    """Exploration in the recommend service: a share of users (by a hash of user_id) gets
    `slots` positions of each list filled by the policy from under-exposed live articles."""

    # Share of users in the exploring arm; 0 turns exploration off.
    share: float = Field(default=0.0, ge=0.0, le=1.0)
    policy: Literal["thompson", "epsilon_greedy"] = "thompson"
    # Positions per list the policy decides (spread over the list, never the first).
    slots: int = Field(default=2, ge=1, le=20)
    # epsilon-greedy: the chance a slot shows a uniformly drawn candidate instead of the model's.
    epsilon: float = Field(default=0.2, gt=0.0, le=1.0)
    # Candidates per slot: the model's item plus this many of the newest under-exposed live
    # articles of its section that the reader has not read and the list does not hold.
    pool_size: int = Field(default=30, ge=1, le=500)
    # Articles with at least this many impressions in the window are exposed enough.
    max_impressions: int = Field(default=100, ge=1)
    # Exposure and click counts are summed over this many hours (a windowed posterior).
    window_h: int = Field(default=72, ge=1, le=24 * 30)
    # Beta prior of an article's CTR (mean alpha / (alpha + beta)).
    prior_alpha: float = Field(default=1.0, gt=0.0)
    prior_beta: float = Field(default=20.0, gt=0.0)
    # Thompson sampling draws from a bank of this many posterior samples per article (redrawn
    # at each refresh), which makes every propensity exact: the share of bank rows it wins.
    draws: int = Field(default=256, ge=16, le=8_192)
    refresh_s: float = Field(default=5.0, gt=0)
    # Salt of the arm split: independent of the canary split.
    salt: str = Field(default="explore", min_length=1)


class FeedbackSettings(_Section):
    """The feedback consumer (services/feedback): events.v1 into exposure and click counts
    per article and hour, and recent reads per user, in Redis."""

    group_id: str = "reco-feedback"
    max_poll_records: int = Field(default=2_000, ge=1)
    # An event id is remembered this long: a replay after a crash within it applies nothing twice.
    dedup_ttl_s: int = Field(default=3 * 24 * 3600, ge=60)
    # Hourly count buckets live this long (longer than any exploration window).
    bucket_ttl_s: int = Field(default=31 * 24 * 3600, ge=3600)
    # Recent reads kept per user (the recommend service excludes them).
    recent_max: int = Field(default=500, ge=1, le=10_000)
    metrics_port: int = Field(default=0, ge=0, le=65_535)


class MonitoringSettings(_Section):
    # Features have drifted when more than this share of the monitored columns drifted.
    drift_share: float = Field(default=0.3, gt=0.0, le=1.0)
    # The per-column test: Evidently's choice when unset; "psi" (population stability index)
    # measures the size of a shift, not its significance, so big samples do not flag noise.
    drift_method: str | None = "psi"
    drift_threshold: float | None = Field(default=0.1, gt=0.0)
    # The sections of clicked articles move every day with the news cycle: a PSI above this
    # is an interest shift (simulated: 0.12-0.27 on stable days, 0.48-0.90 after a shift).
    interest_threshold: float = Field(default=0.4, gt=0.0)
    # The current window: the last this many hours of production data.
    current_hours: int = Field(default=24, ge=1, le=24 * 14)
    # Served-traffic guardrails, as relative changes against the champion's reference.
    gini_increase: float = Field(default=0.25, ge=0.0)
    coverage_drop: float = Field(default=0.30, ge=0.0, le=1.0)
    age_increase: float = Field(default=0.50, ge=0.0)
    cold_start_increase: float = Field(default=0.50, ge=0.0)
    # At most one drift-triggered retrain per this many hours.
    retrain_cooldown_hours: float = Field(default=12.0, gt=0.0)
    # Argo Server to submit the daily flow to on drift; unset: start a local flow run.
    argo_server_url: str | None = None
    # The Argo Server's token, with or without its "Bearer " prefix (`argo auth token` prints it with).
    argo_token: SecretStr | None = None
    argo_template: str = "dailyflow"
    # Drift gauges for Prometheus: a node-exporter textfile and/or a Pushgateway.
    metrics_textfile: str | None = None
    pushgateway_url: str | None = None


class OrchestrationSettings(_Section):
    # The image and namespace the daily flow's Argo template runs in.
    image: str = "ghcr.io/reco-mlops/reco-pipelines:latest"
    namespace: str = "reco"
    # Metaflow's datastore on the cluster (code packages, artifacts, cards).
    datastore_root: str = "s3://reco-metaflow/metaflow"
    # A silver partition with more of its bronze rows quarantined than this stops the run.
    max_quarantine_share: float = Field(default=0.05, ge=0.0, le=1.0)


def _profile_defaults(profile: Profile, home: str) -> dict[str, dict[str, Any]]:
    if profile is Profile.CLUSTER:
        return {
            "kafka": {"bootstrap_servers": "kafka:9092", "create_topics": False, "replication_factor": 3},
            "log": {"format": "json"},
            "redis": {"url": "redis://redis:6379/0"},
            "postgres": {"dsn": "postgresql://reco@postgres:5432/reco"},
            "lake": {"root": "s3://reco-lake"},
            "mlflow": {"tracking_uri": "http://mlflow:5000"},
            "collector": {
                "host": "0.0.0.0",
                "ops_port": 9181,
                "unfiltered_clients": [],
                # The gateway and the cluster's own hops (X-Forwarded-For is read from the right).
                "trusted_proxies": [
                    "10.0.0.0/8",
                    "172.16.0.0/12",
                    "192.168.0.0/16",
                    "fc00::/7",
                    "127.0.0.0/8",
                    "::1/128",
                ],
            },
            "serving": {"host": "0.0.0.0", "ops_port": 9180},
            "ingestor": {"metrics_port": 9102},
            "feedback": {"metrics_port": 9103},
            "features": {"registry": "postgresql+psycopg://reco@postgres:5432/reco"},
        }
    return {
        "kafka": {"bootstrap_servers": "127.0.0.1:9092"},
        "redis": {"url": "redis://127.0.0.1:6379/0"},
        "postgres": {"dsn": None},
        "lake": {"root": f"{home}/lake"},
        "mlflow": {
            "tracking_uri": f"sqlite:///{home}/mlflow.db",
            "artifact_root": f"{home}/mlflow-artifacts",
        },
        "features": {"registry": f"{home}/feast/registry.db"},
    }


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RECO_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    profile: Profile = Profile.LOCAL
    # Where the local profile keeps its state (lake, MLflow database, pid files).
    home: str = ".reco"
    kafka: KafkaSettings
    log: LogSettings = Field(default_factory=LogSettings)
    redis: RedisSettings
    postgres: PostgresSettings
    lake: LakeSettings
    mlflow: MlflowSettings
    collector: CollectorSettings = Field(default_factory=CollectorSettings)
    ingestor: IngestorSettings = Field(default_factory=IngestorSettings)
    features: FeaturesSettings
    gate: GateSettings = Field(default_factory=GateSettings)
    alerts: AlertsSettings = Field(default_factory=AlertsSettings)
    rollout: RolloutSettings = Field(default_factory=RolloutSettings)
    orchestration: OrchestrationSettings = Field(default_factory=OrchestrationSettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    serving: ServingSettings = Field(default_factory=ServingSettings)
    exploration: ExplorationSettings = Field(default_factory=ExplorationSettings)
    feedback: FeedbackSettings = Field(default_factory=FeedbackSettings)

    @model_validator(mode="before")
    @classmethod
    def _apply_profile_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        try:
            profile = Profile(data.get("profile", Profile.LOCAL))
        except ValueError:
            return data  # the field validator reports the bad profile with its name
        home = str(data.get("home", ".reco"))
        merged = dict(data)
        for section, defaults in _profile_defaults(profile, home).items():
            given = merged.get(section)
            if given is None:
                merged[section] = dict(defaults)
            elif isinstance(given, dict):
                merged[section] = {**defaults, **given}
        return merged


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with explicit keyword overrides on top (tests, CLIs)."""
    return Settings(**overrides)


def settings_env(settings: Settings) -> dict[str, str]:
    """The RECO_* variables that reproduce `settings` in a child process."""
    env: dict[str, str] = {"RECO_PROFILE": settings.profile.value, "RECO_HOME": settings.home}
    for section, values in settings.model_dump().items():
        if not isinstance(values, dict):
            continue
        for key, value in values.items():
            if value is None:
                continue
            if hasattr(value, "get_secret_value"):
                value = value.get_secret_value()
            if isinstance(value, list | dict):
                value = json.dumps(value)  # how pydantic-settings reads complex values
            env[f"RECO_{section.upper()}__{key.upper()}"] = str(value)
    return env
