"""reco's settings: one typed object, read from `RECO_*` environment variables.

Nested sections use a double underscore: `RECO_KAFKA__BOOTSTRAP_SERVERS=broker:9092`.
`RECO_PROFILE` picks the embedded defaults: `local` (a state folder on disk, SQLite MLflow,
a tansu broker and Redis on loopback) or `cluster` (in-cluster service names, Postgres, an
S3 lake, an MLflow server). Any single value can still be overridden on top of a profile.

Every field carries its description: the README's configuration table and `reco.env.example`
are generated from them (`components/config/reference.py`), so this file is the one place a
setting is documented. A `RECO_*` variable that is not a setting is an error
(`UnknownSettingError`, naming the closest setting) unless it is listed in `NOT_SETTINGS`:
a misspelt variable would otherwise be ignored and its default used without a word.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from components.events.topics import ARTICLES_TOPIC, DEAD_LETTER_TOPIC, EVENTS_TOPIC

ENV_PREFIX = "RECO_"
NESTED_DELIMITER = "__"

# RECO_* variables that are read directly by scripts, tests and images, not by Settings. A
# trailing `*` covers a prefix. Settings ignores these; any other unknown RECO_* variable is an
# error. components/config/variables_test.py checks that every RECO_ name in the repository is
# either a setting or listed here.
NOT_SETTINGS: dict[str, str] = {
    "RECO_TEST_*": "test fixtures' servers (RECO_TEST_PGHOST, RECO_TEST_REDIS_URL, "
    "RECO_TEST_POSTGRES_DSN), Pants' execution slot (RECO_TEST_SLOT), the browser tests' Chromium "
    "(RECO_TEST_CHROMIUM) and screenshots folder (RECO_TEST_ARTIFACTS)",
    "RECO_TANSU_BINARY": "components/runtime/tansu.py: a tansu binary to run instead of the fetched one",
    "RECO_GIT_COMMIT": "components/registry/lineage.py: the commit recorded in a model's lineage",
    "RECO_FLOW_RUN_ID": "pipelines/train/main.py: the flow run recorded in a model's lineage",
    "RECO_HEALTH_URL": "infra/images/Dockerfile: the URL the image's HEALTHCHECK probes",
    "RECO_IMAGE_REGISTRY": "infra/images/build.sh and CI: the registry the images are tagged for",
    "RECO_PANTS_BOOTSTRAP_DIR": "./pants: where the launcher keeps Pants",
    "RECO_TOOLS_DIR": "tests/deploy_manifests_test.py: where the manifest validators are installed",
}


class Profile(StrEnum):
    LOCAL = "local"
    CLUSTER = "cluster"


class _Section(BaseModel):
    # A misspelt nested field passed as a keyword must fail too, not be ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


class KafkaSettings(_Section):
    """The event broker: connection, topics, TLS and SASL."""

    bootstrap_servers: str = Field(
        min_length=1, description="Brokers to connect to: host:port, comma-separated."
    )
    events_topic: str = Field(
        default=EVENTS_TOPIC, description="Topic of the accepted events (views, clicks, impressions)."
    )
    dead_letter_topic: str = Field(
        default=DEAD_LETTER_TOPIC,
        description="Topic of the refused events, each with the reason it was refused.",
    )
    articles_topic: str = Field(
        default=ARTICLES_TOPIC,
        description="Topic of the catalogue changes (articles.v1, keyed by article id; a takedown is a null "
        "value): compacted, so it holds the latest state of every article.",
    )
    client_id: str = Field(
        default="reco", description="Client id reco's producers and consumers give the broker."
    )
    session_timeout_ms: int = Field(
        default=10_000,
        ge=1_000,
        le=300_000,
        description="Consumer-group session timeout, in milliseconds (real Kafka wants at least 6000; "
        "tests against tansu use 2000 for fast rebalances).",
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT",
        description="Transport security; managed Kafka (MSK, Confluent Cloud, Aiven, Strimzi with TLS) "
        "needs SSL and/or SASL.",
    )
    ssl_cafile: str | None = Field(
        default=None, description="Path of the CA bundle to trust for the brokers; unset: the system's CAs."
    )
    ssl_certfile: str | None = Field(
        default=None, description="Path of the client certificate for mutual TLS (needs ssl_keyfile)."
    )
    ssl_keyfile: str | None = Field(
        default=None, description="Path of the client certificate's private key for mutual TLS."
    )
    ssl_check_hostname: bool = Field(
        default=True, description="Whether a broker's certificate must name the host connected to."
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        default="SCRAM-SHA-512", description="SASL mechanism of the SASL_* protocols."
    )
    sasl_username: str | None = Field(
        default=None, description="SASL user name (required by the SASL_* protocols)."
    )
    sasl_password: SecretStr | None = Field(
        default=None, description="SASL password (secret; required by the SASL_* protocols)."
    )
    create_topics: bool = Field(
        default=True,
        description="Whether reco creates missing topics itself (cluster: no, topics are provisioned with "
        "their retention, replication and ACLs, and a missing one is an error).",
    )
    topic_partitions: int = Field(
        default=4, ge=1, le=10_000, description="Partitions of each topic reco creates."
    )
    replication_factor: int = Field(
        default=1, ge=1, le=10, description="Replicas of each topic reco creates."
    )

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
    """Redis: online features, recent reads, exposure counts, the rollout share."""

    url: str = Field(min_length=1, description="Redis URL: redis://host:port/db (rediss:// for TLS).")
    key_prefix: str = Field(
        default="reco:",
        description="Prefix of every key reco writes, so several deployments (or tests) share a server.",
    )


class PostgresSettings(_Section):
    """PostgreSQL (cluster profile)."""

    dsn: str | None = Field(
        default=None,
        description="PostgreSQL connection URL; unset in the local profile, whose embedded defaults need "
        "no PostgreSQL.",
    )


class LakeSettings(_Section):
    """The data lake (bronze, silver, quarantine, reference data)."""

    root: str = Field(
        min_length=1, description="Lake root: a local folder or an object-store URI (s3://bucket/prefix)."
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="Endpoint of an S3-compatible store (MinIO, moto); unset: AWS's."
    )


class MlflowSettings(_Section):
    """MLflow: experiment tracking and the model registry."""

    tracking_uri: str = Field(
        min_length=1, description="MLflow tracking URI: a server URL or a database (sqlite:///path)."
    )
    registry_uri: str | None = Field(
        default=None, description="MLflow model registry URI; unset: the tracking URI."
    )
    artifact_root: str | None = Field(
        default=None,
        description="Where new experiments keep artifacts; unset: the tracking server's default (cluster: "
        "the server proxies its artifact store).",
    )
    experiment: str = Field(default="reco", description="MLflow experiment the training runs are logged to.")
    model_name: str = Field(
        default="reco-articles",
        description="Registered model whose aliases (champion, challenger, canary) the services serve.",
    )


class GateSettings(_Section):
    """The quality gate: a challenger replaces the champion only if all of these hold."""

    min_ndcg_gain: float = Field(
        default=0.01,
        ge=0.0,
        description=(
            "Share by which a challenger's quality metric (news AUC by position on logged lists, "
            "else NDCG@10) must beat the champion's (0.01 = 1 %)."
        ),
    )
    max_coverage_drop: float = Field(
        default=0.10,
        ge=0.0,
        le=1.0,
        description="Guardrail: largest drop of catalogue coverage, as a share of the champion's.",
    )
    max_latency_increase: float = Field(
        default=0.50,
        ge=0.0,
        description="Guardrail: largest growth of the p95 recommend latency on a sample, as a share of the "
        "champion's (plus latency_slack_ms).",
    )
    latency_slack_ms: float = Field(
        default=2.0,
        ge=0.0,
        description="Absolute p95 latency growth, in milliseconds, allowed on top of max_latency_increase "
        "(noise).",
    )


def _ports_differ(port: int, ops_port: int) -> None:
    if ops_port and ops_port == port:
        raise ValueError(f"ops_port ({ops_port}) must differ from port, or be 0 (everything on port)")


_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$|^https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")


def _origins(value: list[str]) -> list[str]:
    """Web origins as a browser sends them (scheme://host[:port], no path, no trailing slash);
    `*` is refused: a public API that any page may read is a decision to write out origin by
    origin, not a wildcard."""
    for origin in value:
        if not _ORIGIN.match(origin):
            raise ValueError(
                f"{origin!r} is not a web origin: scheme://host[:port] with http or https, no path "
                "(e.g. https://news.example.com)"
            )
    return value


def cors_origins_field(service: str) -> Any:
    return Field(
        default_factory=list,
        description=f'Web origins (a JSON list, e.g. ["https://news.example.com"]) whose pages may call the '
        f"{service}'s public API from a browser (CORS); empty: none (the default), and same-origin "
        "pages and servers are unaffected.",
    )


class LogSettings(_Section):
    """Logging of every process."""

    format: Literal["text", "json"] = Field(
        default="text",
        description="json: one JSON object per line, with request_id, variant and model_version where a "
        "request is being served (for a log pipeline); text: for people at a terminal.",
    )
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Lowest level logged."
    )


class CollectorSettings(_Section):
    """The event collector (services/collector): POST /events into Kafka."""

    host: str = Field(default="127.0.0.1", description="Address the collector listens on.")
    port: int = Field(default=8081, ge=0, le=65_535, description="Port of the public API (POST /events).")
    ops_port: int = Field(
        default=0,
        ge=0,
        le=65_535,
        description="Port of health, readiness and metrics; 0: on port (the local default), otherwise the "
        "public port serves POST /events only.",
    )
    max_batch: int = Field(default=500, ge=1, le=10_000, description="Most events in one request.")
    max_body_bytes: int = Field(default=1_048_576, ge=1_024, description="Largest request body, in bytes.")
    body_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="Seconds a request body may take to arrive (a slow client holds a connection, not "
        "forever).",
    )
    produce_timeout_s: float = Field(
        default=5.0,
        gt=0,
        description="Seconds a request waits for the broker's acknowledgement before answering 503.",
    )
    retry_after_s: int = Field(
        default=2, ge=1, description="Retry-After of a 503 answer (broker unavailable), in seconds."
    )
    client_events_per_s: float = Field(
        default=50.0,
        gt=0,
        description="Events per second a client may send on average (above: 429); a client is its address, "
        "or behind a trusted proxy the first address of X-Forwarded-For.",
    )
    client_burst: int = Field(
        default=1_000,
        ge=1,
        description="Events a client may send at once above its rate; at least max_batch.",
    )
    trusted_proxies: list[str] = Field(
        default_factory=lambda: ["127.0.0.0/8", "::1/128"],
        description="Networks (CIDR, a JSON list) of the gateways and load balancers whose "
        "X-Forwarded-For is believed.",
    )
    unfiltered_clients: list[str] = Field(
        default_factory=lambda: ["127.0.0.0/8", "::1/128"],
        description="Clients (CIDR, a JSON list) exempt from the limits and bot filters: internal senders "
        "such as the main job's replay of a simulated week.",
    )
    user_events_per_min: int = Field(
        default=120,
        ge=1,
        description="Events per minute a reader can send; more are refused as a bot's, counted and "
        "dead-lettered (never silently dropped).",
    )
    duplicate_window_s: float = Field(
        default=2.0,
        ge=0,
        description="Seconds in which the same reader, article and type again is a duplicate burst "
        "(refused).",
    )
    bot_user_agents: str = Field(
        default=(
            r"bot\b|crawl|spider|slurp|headless|phantomjs|python-requests|curl/|wget/|go-http-client"
            r"|scrapy|httpclient|okhttp|java/|libwww|facebookexternalhit|preview"
        ),
        description="Regular expression (case-insensitive) of crawlers' user agents; their events are "
        "refused.",
    )
    admin_token: SecretStr | None = Field(
        default=None,
        description="Bearer token of the catalogue endpoints (POST /articles, DELETE /articles/{id}: the "
        "CMS); unset: they answer 403. Secret.",
    )
    max_articles: int = Field(
        default=500, ge=1, le=10_000, description="Most articles in one POST /articles."
    )
    max_articles_body_bytes: int = Field(
        default=16 * 1_048_576,
        ge=1_024,
        description="Largest POST /articles body, in bytes (articles carry their text).",
    )
    cors_origins: list[str] = cors_origins_field("collector")

    @field_validator("cors_origins")
    @classmethod
    def _cors(cls, value: list[str]) -> list[str]:
        return _origins(value)

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
    """The ingestor (services/ingestor): Kafka into bronze Parquet files in the lake."""

    group_id: str = Field(default="reco-ingestor", description="Kafka consumer group of the ingestor.")
    flush_records: int = Field(
        default=50_000,
        ge=1,
        description="Records after which a bronze file is flushed (or flush_interval_s, whichever comes "
        "first); offsets are committed after each flush.",
    )
    flush_interval_s: float = Field(
        default=5.0,
        gt=0,
        description="Seconds after which a bronze file is flushed (or flush_records, whichever comes first).",
    )
    max_poll_records: int = Field(default=5_000, ge=1, description="Most records one poll of Kafka returns.")
    catalogue_group_id: str = Field(
        default="reco-catalogue",
        description="Kafka consumer group of the catalogue consumer (articles.v1 into the lake's versioned "
        "catalogue).",
    )
    catalogue_flush_interval_s: float = Field(
        default=0.5,
        gt=0,
        description="Seconds the catalogue consumer gathers changes before it writes them and pushes "
        "takedowns to the recommend replicas (a takedown must leave /recommend within 5 s).",
    )
    metrics_port: int = Field(
        default=0, ge=0, le=65_535, description="Port of the Prometheus metrics; 0: off."
    )


class FeaturesSettings(_Section):
    """The feature store (Feast)."""

    project: str = Field(
        default="reco",
        pattern=r"^[A-Za-z0-9_]+$",
        description="Feast project: names the registry entries and prefixes the online store's keys.",
    )
    registry: str = Field(
        min_length=1,
        description="Feast registry: a file path, or a SQLAlchemy URL (postgresql+psycopg://...) for a SQL "
        "registry.",
    )
    online_store: Literal["redis", "sqlite"] = Field(
        default="redis",
        description="Online store: redis (at RECO_REDIS__URL), or sqlite, an explicit embedded fallback "
        "without Redis.",
    )


class AlertsSettings(_Section):
    """Alerts on failures and drift."""

    webhook_url: str | None = Field(
        default=None,
        description="Failures and drift alerts are POSTed as JSON here (Slack, Teams or Alertmanager "
        "webhook); unset: alerts are only logged.",
    )
    timeout_s: float = Field(default=5.0, gt=0, description="Seconds one webhook request may take.")
    attempts: int = Field(
        default=4,
        ge=1,
        le=20,
        description="Tries per alert (and per Argo submission): network errors and 5xx/429 answers are "
        "retried with backoff.",
    )


class RolloutSettings(_Section):
    """The canary rollout."""

    canary_share: float = Field(
        default=0.1,
        ge=0.0,
        le=1.0,
        description="Share of users (by a hash of user_id) sent to the canary model once a challenger passes "
        "the gate while a champion exists.",
    )


class ServingSettings(_Section):
    """The recommend service (services/recommender)."""

    host: str = Field(default="127.0.0.1", description="Address the recommend service listens on.")
    port: int = Field(default=8080, ge=0, le=65_535, description="Port of the public API (POST /recommend).")
    ops_port: int = Field(
        default=0,
        ge=0,
        le=65_535,
        description="Port of health, readiness, metrics and admin; 0: on port (the local default), "
        "otherwise the public port serves POST /recommend only.",
    )
    body_timeout_s: float = Field(default=5.0, gt=0, description="Seconds a request body may take to arrive.")
    registry_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="Seconds reading the model publication (Redis, then the lake) may take; then the cached "
        "publication and models serve and polling goes on (an unreachable source must not hold a replica past "
        "its startup probe).",
    )
    max_k: int = Field(
        default=100,
        ge=1,
        le=1_000,
        description="Largest k a request may ask for; larger asks are refused with 422, never truncated.",
    )
    max_exclude: int = Field(
        default=500,
        ge=0,
        le=10_000,
        description="Most article ids a request may exclude; more are refused with 422.",
    )
    max_body_bytes: int = Field(default=65_536, ge=1_024, description="Largest request body, in bytes.")
    admin_token: SecretStr | None = Field(
        default=None,
        description="Bearer token of the admin endpoints (reload, canary share, rollback); unset: they "
        "answer 403.",
    )
    model_cache_dir: str | None = Field(
        default=None,
        description="Folder of the last good models, so the service starts while the registry is down; "
        "unset: $RECO_HOME/serving/models.",
    )
    poll_interval_s: float = Field(
        default=30.0,
        gt=0,
        description="Seconds between polls of the registry aliases and the rollout share (hot reload).",
    )
    item_refresh_s: float = Field(
        default=30.0,
        gt=0,
        description="Seconds between background refreshes of the item features (views, CTR, publication); "
        "requests read them from memory.",
    )
    catalogue_refresh_s: float = Field(
        default=60.0, gt=0, description="Seconds between background refreshes of the catalogue (expiry)."
    )
    intraday_refresh_s: float = Field(
        default=5.0,
        gt=0,
        description="Seconds between reads of the articles' hourly impression and click counts (the "
        "feedback consumer's buckets in Redis) that a learned ranker champion scores with; read only "
        "while a ranker is loaded.",
    )
    redis_timeout_ms: float = Field(
        default=50.0,
        gt=0,
        description="Milliseconds a per-request Redis read (user features, recent reads) may take.",
    )
    redis_retry_s: float = Field(
        default=1.0,
        gt=0,
        description="Seconds Redis is skipped after a failed read; the service answers degraded meanwhile.",
    )
    recent_reads: int = Field(
        default=200,
        ge=0,
        le=10_000,
        description="How many of a user's most recent reads are excluded from the list.",
    )
    popular_prior_views: float = Field(
        default=10.0,
        ge=0.0,
        description="Cold start: views added to an article's last 24 h, in the score (views_24h + prior) * "
        "2^(-age_h / popular_half_life_h).",
    )
    popular_half_life_h: float = Field(
        default=24.0, gt=0.0, description="Cold start: hours in which an article's popularity halves."
    )
    impression_buffer: int = Field(
        default=100_000,
        ge=1,
        description="Impressions waiting for the background producer; beyond it they are dropped and "
        "counted (a response never waits for Kafka).",
    )
    impression_flush_ms: float = Field(
        default=100.0, gt=0, description="Milliseconds between flushes of the impression buffer to Kafka."
    )
    shadow_share: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Shadow mode: share of requests also scored by the challenger (never served).",
    )
    cors_origins: list[str] = cors_origins_field("recommend service")

    @field_validator("cors_origins")
    @classmethod
    def _cors(cls, value: list[str]) -> list[str]:
        return _origins(value)

    @model_validator(mode="after")
    def _ports(self) -> ServingSettings:
        _ports_differ(self.port, self.ops_port)
        return self


class ExplorationSettings(_Section):
    """Exploration in the recommend service: a share of users (by a hash of user_id) gets
    `slots` positions of each list filled by the policy from under-exposed live articles."""

    share: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Share of users (by a hash of user_id) in the exploring arm; 0 turns exploration off.",
    )
    policy: Literal["thompson", "epsilon_greedy"] = Field(
        default="thompson", description="How the exploring slots are filled."
    )
    slots: int = Field(
        default=2,
        ge=1,
        le=20,
        description="Positions per list the policy decides (spread over the list, never the first).",
    )
    epsilon: float = Field(
        default=0.2,
        gt=0.0,
        le=1.0,
        description="epsilon_greedy: chance that a slot shows a uniformly drawn candidate instead of the "
        "model's.",
    )
    pool_size: int = Field(
        default=30,
        ge=1,
        le=500,
        description="Candidates per slot: the model's item plus this many of the newest under-exposed live "
        "articles of its section that the reader has not read and the list does not hold.",
    )
    max_impressions: int = Field(
        default=100,
        ge=1,
        description="Articles with at least this many impressions in the window are exposed enough.",
    )
    window_h: int = Field(
        default=72,
        ge=1,
        le=24 * 30,
        description="Hours over which exposure and click counts are summed (a windowed posterior).",
    )
    prior_alpha: float = Field(
        default=1.0,
        gt=0.0,
        description="Beta prior of an article's CTR: alpha (mean alpha / (alpha + beta)).",
    )
    prior_beta: float = Field(default=20.0, gt=0.0, description="Beta prior of an article's CTR: beta.")
    draws: int = Field(
        default=256,
        ge=16,
        le=8_192,
        description="thompson: posterior samples per article in the bank redrawn at each refresh; a "
        "propensity is exactly the share of bank rows an article wins.",
    )
    refresh_s: float = Field(
        default=5.0,
        gt=0,
        description="Seconds between refreshes of the exposure counts, the candidate pool and the bank.",
    )
    salt: str = Field(
        default="explore",
        min_length=1,
        description="Salt of the arm split, so it is independent of the canary split.",
    )


class DemoSettings(_Section):
    """The demo news site and the operator console (services/demo): a small site on the
    catalogue that calls the recommend service and the collector from the browser (reco.js), so
    both must list its origin in their cors_origins. The console (/console) asks for the recommend
    service's admin token (RECO_SERVING__ADMIN_TOKEN)."""

    host: str = Field(default="127.0.0.1", description="Address the demo site listens on.")
    port: int = Field(default=8090, ge=0, le=65_535, description="Port of the demo site and the console.")
    recommend_url: str = Field(
        default="http://127.0.0.1:8080",
        description="The recommend service's public URL as the reader's browser reaches it.",
    )
    collector_url: str = Field(
        default="http://127.0.0.1:8081",
        description="The collector's public URL as the reader's browser reaches it.",
    )
    readers: int = Field(
        default=12, ge=0, le=200, description="How many readers with recent reads the reader picker offers."
    )
    recommend_ops_url: str | None = Field(
        default=None,
        description="The recommend service's ops URL (its /metrics and /admin/canary, for the console); "
        "unset: recommend_url (the local profile serves everything on one port).",
    )

    @field_validator("recommend_url", "collector_url", "recommend_ops_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.match(r"^https?://[^\s/?#]+(/[^\s?#]*)?$", value):
            raise ValueError(f"{value!r} is not an http(s) URL without query or fragment")
        return value.rstrip("/")


class FeedbackSettings(_Section):
    """The feedback consumer (services/feedback): events.v1 into exposure and click counts
    per article and hour, and recent reads per user, in Redis."""

    group_id: str = Field(
        default="reco-feedback", description="Kafka consumer group of the feedback consumer."
    )
    max_poll_records: int = Field(default=2_000, ge=1, description="Most records one poll of Kafka returns.")
    dedup_ttl_s: int = Field(
        default=3 * 24 * 3600,
        ge=60,
        description="Seconds an event id is remembered: a replay after a crash within it applies nothing "
        "twice.",
    )
    bucket_ttl_s: int = Field(
        default=31 * 24 * 3600,
        ge=3600,
        description="Seconds an hourly count bucket lives (longer than any exploration window).",
    )
    recent_max: int = Field(
        default=500,
        ge=1,
        le=10_000,
        description="Recent reads kept per user (the recommend service excludes them).",
    )
    metrics_port: int = Field(
        default=0, ge=0, le=65_535, description="Port of /healthz and the Prometheus metrics; 0: off."
    )


class MonitoringSettings(_Section):
    """Drift monitoring and drift-triggered retraining."""

    drift_share: float = Field(
        default=0.3,
        gt=0.0,
        le=1.0,
        description="Features have drifted when more than this share of the monitored columns drifted.",
    )
    drift_method: str | None = Field(
        default="psi",
        description="Per-column drift test (an Evidently stattest); psi (population stability index) "
        "measures the size of a shift, not its significance, so big samples do not flag noise; unset: "
        "Evidently's choice.",
    )
    drift_threshold: float | None = Field(
        default=0.1, gt=0.0, description="Threshold of the per-column test; unset: the test's own."
    )
    interest_threshold: float = Field(
        default=0.4,
        gt=0.0,
        description="PSI of the clicked articles' sections above which interests shifted (they move daily "
        "with the news cycle; simulated: 0.12-0.27 on stable days, 0.48-0.90 after a shift).",
    )
    current_hours: int = Field(
        default=24,
        ge=1,
        le=24 * 14,
        description="Hours of production data in the current window (the last ones).",
    )
    gini_increase: float = Field(
        default=0.25,
        ge=0.0,
        description="Served-traffic guardrail: largest growth of the Gini coefficient of the served "
        "articles, as a share of the champion's reference.",
    )
    coverage_drop: float = Field(
        default=0.30,
        ge=0.0,
        le=1.0,
        description="Served-traffic guardrail: largest drop of catalogue coverage, as a share of the "
        "reference.",
    )
    age_increase: float = Field(
        default=0.50,
        ge=0.0,
        description="Served-traffic guardrail: largest growth of the served articles' median age, as a "
        "share of the reference.",
    )
    cold_start_increase: float = Field(
        default=0.50,
        ge=0.0,
        description="Served-traffic guardrail: largest growth of the cold-start share, as a share of the "
        "reference.",
    )
    retrain_cooldown_hours: float = Field(
        default=12.0, gt=0.0, description="Hours between two drift-triggered retrains, at least."
    )
    argo_server_url: str | None = Field(
        default=None,
        description="Argo Server the daily flow is submitted to on drift; unset: a local flow run starts.",
    )
    argo_token: SecretStr | None = Field(
        default=None,
        description="The Argo Server's token, with or without its 'Bearer ' prefix (argo auth token prints "
        "it with).",
    )
    argo_template: str = Field(default="dailyflow", description="Argo WorkflowTemplate submitted on drift.")
    metrics_textfile: str | None = Field(
        default=None, description="Node-exporter textfile the drift gauges are written to; unset: none."
    )
    pushgateway_url: str | None = Field(
        default=None, description="Prometheus Pushgateway the drift gauges are pushed to; unset: none."
    )


class OrchestrationSettings(_Section):
    """The daily flow on the cluster (Argo Workflows, Metaflow)."""

    image: str = Field(
        default="ghcr.io/reco-mlops/reco-pipelines:latest",
        description="Image the daily flow's Argo template runs.",
    )
    namespace: str = Field(default="reco", description="Kubernetes namespace the Argo template runs in.")
    datastore_root: str = Field(
        default="s3://reco-metaflow/metaflow",
        description="Metaflow's datastore on the cluster (code packages, artifacts, cards).",
    )
    max_quarantine_share: float = Field(
        default=0.05,
        ge=0.0,
        le=1.0,
        description="A silver partition with a larger share of its bronze rows quarantined stops the run.",
    )


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


class UnknownSettingError(ValueError):
    """`RECO_*` variables that are neither settings nor in `NOT_SETTINGS`, each with the closest
    setting's name. A ValueError, like pydantic's ValidationError, so callers that report bad
    settings report this too."""

    def __init__(self, unknown: list[tuple[str, str | None]], source: str = "the environment") -> None:
        self.unknown = unknown
        self.source = source
        reasons = [
            f"{name} is not a reco setting" + (f" (did you mean {hint}?)" if hint else "")
            for name, hint in unknown
        ]
        super().__init__(
            f"unknown variable in {source}: {'; '.join(reasons)}. Every setting: "
            "`./pants run pipelines/config/main.py -- show`; a variable read by something else belongs "
            "in components.config.settings.NOT_SETTINGS"
        )


def setting_names() -> list[str]:
    """Every variable Settings reads: RECO_PROFILE, RECO_HOME and RECO_<SECTION>__<FIELD>."""
    names: list[str] = []
    for name, field in Settings.model_fields.items():
        section = _section_model(field)
        if section is None:
            names.append(f"{ENV_PREFIX}{name.upper()}")
            continue
        prefix = f"{ENV_PREFIX}{name.upper()}{NESTED_DELIMITER}"
        names.extend(f"{prefix}{key.upper()}" for key in section.model_fields)
    return names


def _section_model(field: FieldInfo) -> type[BaseModel] | None:
    annotation = field.annotation
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def is_not_setting(name: str) -> bool:
    """Whether `name` is a RECO_* variable listed in NOT_SETTINGS (exactly or by a `*` prefix)."""
    name = name.upper()
    return any(
        name.startswith(entry[:-1]) if entry.endswith("*") else name == entry for entry in NOT_SETTINGS
    )


def closest_setting(name: str) -> str | None:
    """The setting a misspelt `name` most likely meant: a single underscore where a section's
    double one belongs (RECO_SERVING_PORT), else the closest by spelling (difflib)."""
    name = name.upper()
    names = setting_names()
    squashed = {candidate.replace(NESTED_DELIMITER, "_"): candidate for candidate in names}
    if name.replace(NESTED_DELIMITER, "_") in squashed:
        return squashed[name.replace(NESTED_DELIMITER, "_")]
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    return close[0] if close else None


def unknown_settings(names: Iterable[str]) -> list[tuple[str, str | None]]:
    """The RECO_* names (any case: variables are read case-insensitively) that are neither a
    setting, a whole section given as JSON (RECO_KAFKA='{...}'), nor in NOT_SETTINGS; each with
    the closest setting."""
    known = set(setting_names())
    sections = {f"{ENV_PREFIX}{n.upper()}" for n, f in Settings.model_fields.items() if _section_model(f)}
    found = []
    for original in sorted(names):
        name = original.upper()
        if not name.startswith(ENV_PREFIX) or name in known or name in sections or is_not_setting(name):
            continue
        found.append((name, closest_setting(name)))
    return found


class _RejectUnknown(PydanticBaseSettingsSource):
    """Runs before the other sources and raises UnknownSettingError for an unknown RECO_*
    variable in the environment (or a dotenv file, where one is configured); contributes no
    values itself."""

    def __init__(self, settings_cls: type[BaseSettings], sources: Mapping[str, PydanticBaseSettingsSource]):
        super().__init__(settings_cls)
        self._sources = sources

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        for label, source in self._sources.items():
            env_vars: Mapping[str, str | None] = getattr(source, "env_vars", None) or {}
            unknown = unknown_settings(env_vars)
            if unknown:
                raise UnknownSettingError(unknown, label)
        return {}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=NESTED_DELIMITER,
        extra="forbid",
        frozen=True,
    )

    profile: Profile = Field(
        default=Profile.LOCAL,
        description="Embedded defaults: local (a state folder, SQLite MLflow, tansu and Redis on loopback) "
        "or cluster (in-cluster service names, PostgreSQL, an S3 lake, an MLflow server).",
    )
    home: str = Field(
        default=".reco",
        description="Folder of the local profile's state (lake, MLflow database, pid files); the local "
        "defaults below that start with $RECO_HOME lie in it.",
    )
    kafka: KafkaSettings = Field(description=KafkaSettings.__doc__)
    log: LogSettings = Field(default_factory=LogSettings, description=LogSettings.__doc__)
    redis: RedisSettings = Field(description=RedisSettings.__doc__)
    postgres: PostgresSettings = Field(description=PostgresSettings.__doc__)
    lake: LakeSettings = Field(description=LakeSettings.__doc__)
    mlflow: MlflowSettings = Field(description=MlflowSettings.__doc__)
    collector: CollectorSettings = Field(
        default_factory=CollectorSettings, description=CollectorSettings.__doc__
    )
    ingestor: IngestorSettings = Field(default_factory=IngestorSettings, description=IngestorSettings.__doc__)
    features: FeaturesSettings = Field(description=FeaturesSettings.__doc__)
    gate: GateSettings = Field(default_factory=GateSettings, description=GateSettings.__doc__)
    alerts: AlertsSettings = Field(default_factory=AlertsSettings, description=AlertsSettings.__doc__)
    rollout: RolloutSettings = Field(default_factory=RolloutSettings, description=RolloutSettings.__doc__)
    orchestration: OrchestrationSettings = Field(
        default_factory=OrchestrationSettings, description=OrchestrationSettings.__doc__
    )
    monitoring: MonitoringSettings = Field(
        default_factory=MonitoringSettings, description=MonitoringSettings.__doc__
    )
    serving: ServingSettings = Field(default_factory=ServingSettings, description=ServingSettings.__doc__)
    exploration: ExplorationSettings = Field(
        default_factory=ExplorationSettings, description=ExplorationSettings.__doc__
    )
    feedback: FeedbackSettings = Field(default_factory=FeedbackSettings, description=FeedbackSettings.__doc__)
    demo: DemoSettings = Field(default_factory=DemoSettings, description=DemoSettings.__doc__)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        checked = {"the environment": env_settings, "the .env file": dotenv_settings}
        check = _RejectUnknown(settings_cls, checked)
        return check, init_settings, env_settings, dotenv_settings, file_secret_settings

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
    """Settings from the environment, with explicit keyword overrides on top (tests, CLIs).
    Raises UnknownSettingError for a RECO_* variable that is not a setting, and pydantic's
    ValidationError for a bad value (both ValueErrors naming the variable or field)."""
    return Settings(**overrides)


class _CodeDefaults(Settings):
    """Settings from the code alone: the keyword arguments, no RECO_* variables or files."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def code_defaults(profile: Profile = Profile.LOCAL) -> Settings:
    """A profile's settings as the code defines them, whatever the environment says (what
    generated files such as feature_repo/feature_store.yaml are rendered from)."""
    return _CodeDefaults.model_validate({"profile": profile.value})


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
