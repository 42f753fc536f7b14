"""OpenAPI-driven fuzzing of the HTTP services as deployed (Hypercorn subprocesses, real broker,
Redis, MLflow): schemathesis generates valid and invalid requests from each service's own
/openapi.json, with every check on, a fixed seed and a bounded number of examples.

Required: no server error, and no other failure but the ones listed in EXPECTED with the
reason the API behaves so by design.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.config import Settings, load_settings, settings_env
from components.runtime.processes import ServiceProcess, wait_ready
from components.runtime.tansu import TansuBroker, free_port
from components.simulator import WorldConfig
from components.streaming import ensure_topics
from components.testing.serving_world import build_served_world

MAX_EXAMPLES = 60
SEED = 20_261_201
TOKEN = "fuzz-admin-token"
# (check, operation, response status) -> why the API answers so on purpose.
EXPECTED = {
    ("negative_data_rejection", "POST /events", 207): (
        "a batch is answered event by event (207 Multi-Status): a batch that mixes valid and "
        "invalid events is partly accepted, by design"
    ),
    ("negative_data_rejection", "POST /events", 413): (
        "a batch over the limit is refused as too large (413), which schemathesis does not "
        "count among the rejections it expects"
    ),
    ("negative_data_rejection", "POST /articles", 207): (
        "a batch of articles is answered article by article, as events are"
    ),
    ("negative_data_rejection", "POST /articles", 413): (
        "a batch of articles over the limit is refused as too large (413), as for events"
    ),
}
HOOKS = Path(__file__).with_name("fuzz_hooks.py")


def fuzz(openapi_url: str, workdir: Path, *extra: str) -> tuple[Counter[tuple[str, str, int | None]], int]:
    """Run schemathesis with every check; returns failures by (check, operation, response
    status) and the number of test cases generated."""
    report = workdir / f"report-{uuid.uuid4().hex[:6]}.ndjson"
    result = subprocess.run(
        [
            sys.executable, "-m", "schemathesis.cli", "run", openapi_url,
            "--checks", "all",
            "--max-examples", str(MAX_EXAMPLES),
            "--seed", str(SEED),
            "--generation-deterministic",
            "--suppress-health-check", "all",
            "--report", "ndjson", "--report-ndjson-path", str(report),
            "--no-color",
            *extra,
        ],
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(HOOKS.parent), *sys.path]),
            "SCHEMATHESIS_HOOKS": HOOKS.stem,
        },
        capture_output=True,
        text=True,
        timeout=600,
        cwd=workdir,  # its crash cache (.schemathesis/) stays in the test's folder
    )  # fmt: skip
    assert report.exists(), result.stdout[-3000:] + result.stderr[-3000:]
    failures: Counter[tuple[str, str, int | None]] = Counter()
    cases = 0
    for line in report.read_text().splitlines():
        event = json.loads(line)
        finished = event.get("ScenarioFinished")
        if not finished:
            continue
        recorder = finished["recorder"]
        cases += len(recorder.get("cases", {}))
        interactions = recorder.get("interactions", {})
        for case_id, checks in recorder.get("checks", {}).items():
            response = (interactions.get(case_id) or {}).get("response") or {}
            for check in checks:
                if check.get("status") != "success":
                    failures[(check["name"], recorder["label"], response.get("status_code"))] += 1
    (workdir / "schemathesis.out").write_text(result.stdout + result.stderr)
    return failures, cases


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory, kafka_broker: TansuBroker) -> Iterator[Settings]:
    root = tmp_path_factory.mktemp("fuzz")
    prefix = f"reco-fuzz-{uuid.uuid4().hex[:8]}:"
    topic = f"events.v1.{uuid.uuid4().hex[:8]}"
    settings = load_settings(
        home=str(root / "home"),
        kafka={
            "bootstrap_servers": kafka_broker.bootstrap_servers,
            "events_topic": topic,
            "dead_letter_topic": f"{topic}.dlq",
            "articles_topic": f"articles.v1.{uuid.uuid4().hex[:8]}",
            "session_timeout_ms": 2_000,
        },
        redis={
            "url": os.environ.get("RECO_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
            "key_prefix": prefix,
        },
        lake={"root": str(root / "lake")},
        mlflow={"tracking_uri": f"sqlite:///{root / 'mlflow.db'}", "artifact_root": str(root / "artifacts")},
        features={"registry": str(root / "registry.db"), "project": f"fuzz_{uuid.uuid4().hex[:8]}"},
        serving={"admin_token": TOKEN},
        collector={"admin_token": TOKEN},
    )
    names = [topic, settings.kafka.dead_letter_topic, settings.kafka.articles_topic]
    asyncio.run(ensure_topics(settings.kafka, names, partitions=3))
    yield settings
    from components.testing.serving_world import drop_served_state

    drop_served_state(settings)


def _serve(module: str, settings: Settings, port_setting: str, log: Path) -> tuple[ServiceProcess, int]:
    port = free_port()
    service = ServiceProcess(module, {**settings_env(settings), port_setting: str(port)}, log).start()
    try:
        asyncio.run(wait_ready(f"http://127.0.0.1:{port}/readyz", timeout_s=120))
    except TimeoutError as exc:
        service.stop()
        raise AssertionError(f"{module} did not get ready:\n{service.log_tail()}") from exc
    return service, port


def _judge(failures: Counter[tuple[str, str, int | None]], cases: int, workdir: Path) -> None:
    assert cases >= 100, f"only {cases} cases ran: {(workdir / 'schemathesis.out').read_text()[-3000:]}"
    server_errors = {k: n for k, n in failures.items() if k[0] == "not_a_server_error"}
    assert server_errors == {}, (workdir / "schemathesis.out").read_text()[-6000:]
    unexpected = {k: n for k, n in failures.items() if k not in EXPECTED}
    assert unexpected == {}, (workdir / "schemathesis.out").read_text()[-6000:]


def test_collector_fuzzed_from_its_openapi(platform: Settings, tmp_path: Path) -> None:
    collector, port = _serve("services.collector.main", platform, "RECO_COLLECTOR__PORT", tmp_path / "c.log")
    try:
        # With the CMS's token: the catalogue endpoints are fuzzed past their token check.
        failures, cases = fuzz(
            f"http://127.0.0.1:{port}/openapi.json", tmp_path, "-H", f"Authorization: Bearer {TOKEN}"
        )
    finally:
        collector.stop()
    _judge(failures, cases, tmp_path)


def test_recommender_fuzzed_from_its_openapi(platform: Settings, tmp_path: Path) -> None:
    build_served_world(platform, WorldConfig(seed=3, days=2, users=300, articles_per_day=30, backlog_days=5))
    service, port = _serve("services.recommender.main", platform, "RECO_SERVING__PORT", tmp_path / "r.log")
    try:
        failures, cases = fuzz(
            f"http://127.0.0.1:{port}/openapi.json", tmp_path, "-H", f"Authorization: Bearer {TOKEN}"
        )
    finally:
        service.stop()
    _judge(failures, cases, tmp_path)
