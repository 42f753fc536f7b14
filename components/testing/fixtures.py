"""pytest fixtures over real services on loopback; loaded for every test by the root conftest.py.

- `kafka_broker`: one tansu broker per test process; `fresh_kafka_broker`: one per test
  (for tests that stop or restart it); `kafka_topics`: uniquely named, explicitly created topics.
- `postgres_dsn`: an empty database of the test's own, dropped afterwards.
- `redis_ns`: a key prefix of the test's own on the shared Redis, cleared afterwards.
- `s3_server` / `s3_bucket`: an S3 API on loopback (moto) and a fresh bucket in it.
- `mlflow_tracking`: an MLflow tracking store in a temporary folder, set as the current one.
- `reco_settings`: the typed settings pointed at all of the above.
"""

from __future__ import annotations

import asyncio
import importlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from components.config import KafkaSettings, Settings, load_settings
from components.runtime.s3 import DUMMY_CREDENTIALS, MotoS3
from components.runtime.tansu import TansuBroker
from components.streaming import ensure_topics
from components.testing.services import (
    MlflowStore,
    RedisNamespace,
    create_database,
    drop_database,
    mlflow_store,
    redis_namespace,
)
from components.testing.webhook import WebhookReceiver

# Shared CI machines are noisy: timing-based Hypothesis checks would fail tests at random.
settings.register_profile("reco", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("reco")


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TansuBroker]:
    broker = TansuBroker(log_dir=tmp_path_factory.mktemp("tansu")).start()
    yield broker
    broker.stop()


@pytest.fixture
def fresh_kafka_broker(tmp_path: Path) -> Iterator[TansuBroker]:
    broker = TansuBroker(log_dir=tmp_path).start()
    yield broker
    broker.stop()


@dataclass(frozen=True)
class Topics:
    events: str
    dead_letter: str
    partitions: int
    articles: str = "articles.v1"


@pytest.fixture
def kafka_topics(kafka_broker: TansuBroker) -> Topics:
    suffix = uuid.uuid4().hex[:10]
    topics = Topics(
        events=f"events.v1.{suffix}",
        dead_letter=f"events.dlq.v1.{suffix}",
        partitions=3,
        articles=f"articles.v1.{suffix}",
    )
    # Created as reco creates them (the articles topic compacted).
    kafka = KafkaSettings(bootstrap_servers=kafka_broker.bootstrap_servers, articles_topic=topics.articles)
    names = [topics.events, topics.dead_letter, topics.articles]
    asyncio.run(ensure_topics(kafka, names, partitions=topics.partitions))
    return topics


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoS3]:
    """An S3 API on loopback (moto); needs the `pipelines` resolve."""
    server = MotoS3(tmp_path_factory.mktemp("moto")).start()
    yield server
    server.stop()


@pytest.fixture
def s3_bucket(s3_server: MotoS3, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket, with dummy credentials in the environment; returns its s3:// URI."""
    for name, value in DUMMY_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    bucket = f"reco-test-{uuid.uuid4().hex[:10]}"
    s3_server.create_bucket(bucket)
    return f"s3://{bucket}"


@pytest.fixture
def postgres_dsn() -> Iterator[str]:
    name, dsn = create_database()
    yield dsn
    drop_database(name)


@pytest.fixture
def redis_ns() -> Iterator[RedisNamespace]:
    namespace = redis_namespace()
    yield namespace
    namespace.clear()


@pytest.fixture
def mlflow_tracking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MlflowStore]:
    store = mlflow_store(tmp_path / "mlflow")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.tracking_uri)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", store.tracking_uri)
    try:
        # Imported by name: the lean resolve has no MLflow (the URI is still set for subprocesses).
        mlflow = importlib.import_module("mlflow")
    except ImportError:
        yield store
        return
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(store.tracking_uri)
    mlflow.set_registry_uri(store.tracking_uri)
    # Runs started without an experiment land here, with artifacts in the test folder (the
    # default experiment would write them under ./mlruns of the working directory).
    mlflow.set_experiment(experiment_id=mlflow.create_experiment("tests", store.artifact_root.as_uri()))
    yield store
    mlflow.set_tracking_uri(previous)


@pytest.fixture
def reco_settings(
    kafka_broker: TansuBroker,
    kafka_topics: Topics,
    redis_ns: RedisNamespace,
    tmp_path: Path,
) -> Settings:
    return load_settings(
        home=str(tmp_path / "reco"),
        kafka={
            "bootstrap_servers": kafka_broker.bootstrap_servers,
            "events_topic": kafka_topics.events,
            "dead_letter_topic": kafka_topics.dead_letter,
            "articles_topic": kafka_topics.articles,
            "session_timeout_ms": 2_000,
        },
        redis={"url": redis_ns.url, "key_prefix": redis_ns.prefix},
        lake={"root": str(tmp_path / "lake")},
        mlflow={"tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}"},
    )


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    """A webhook on loopback recording the JSON bodies POSTed to it."""
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()
