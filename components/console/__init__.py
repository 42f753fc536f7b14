"""What the operator console shows (services/demo, `/console`), each part read from its system
of record and each failing alone (the part says why; the others still show):

- `versions`: the champion, canary and challenger in the MLflow registry, with their training
  run (lineage) and the gate's decision and reason;
- `runs`: the latest training runs of the experiment (status, the gate's metric);
- `ctr`: CTR per variant and arm from the event stream (impressions joined to their clicks),
  with Wilson intervals, against the champion's greedy arm; and each consumer group's lag on the
  events topic (the ingestor's, the feedback consumer's): records not yet made durable;
- `service`: the recommend service's canary share, impressions dropped and sent (its /metrics);
- `drift`: the latest drift check's summary and its Evidently reports in the lake.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from aiokafka import TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from components.config import Settings
from components.evaluation.experiment import group_counts, readout
from components.evaluation.logged import ImpressionJoin
from components.lake import LakeStore
from components.lake.layout import REPORTS
from components.names import CANARY, CHALLENGER, CHAMPION, GREEDY
from components.streaming.kafka import new_consumer
from components.streaming.replay import replay_topic

ALIASES = (CHAMPION, CANARY, CHALLENGER)
GATE_METRICS = ("news_auc_by_position", "news_auc", "ndcg_at_10")


def _part(read: Callable[[], Any]) -> dict[str, Any]:
    """{"ok": value} or {"error": why}: one part's failure never hides the others."""
    try:
        return {"ok": read()}
    except Exception as exc:  # a console shows what it can
        return {"error": f"{type(exc).__name__}: {exc}"[:500]}


def versions(settings: Settings) -> list[dict[str, Any]]:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(settings.mlflow.tracking_uri, settings.mlflow.registry_uri)
    out = []
    for alias in ALIASES:
        try:
            mv = client.get_model_version_by_alias(settings.mlflow.model_name, alias)
        except MlflowException:
            continue
        run = client.get_run(mv.run_id) if mv.run_id else None
        tags = dict(mv.tags or {})
        out.append(
            {
                "alias": alias,
                "version": str(mv.version),
                "run_id": mv.run_id,
                "run_name": run.info.run_name if run else None,
                "kind": (run.data.params.get("kind") or run.data.tags.get("reco.kind")) if run else None,
                "gate": tags.get("reco.gate"),
                "gate_reason": tags.get("reco.gate.reason"),
                "lineage": {k: v for k, v in (run.data.tags.items() if run else []) if k.startswith("reco.")},
                "created": mv.creation_timestamp,
            }
        )
    return out


def runs(settings: Settings, n: int = 8) -> list[dict[str, Any]]:
    from mlflow import MlflowClient

    client = MlflowClient(settings.mlflow.tracking_uri, settings.mlflow.registry_uri)
    experiment = client.get_experiment_by_name(settings.mlflow.experiment)
    if experiment is None:
        return []
    found = client.search_runs(
        [experiment.experiment_id], order_by=["attributes.start_time DESC"], max_results=n
    )
    return [
        {
            "run_id": r.info.run_id,
            "name": r.info.run_name,
            "status": r.info.status,
            "start": r.info.start_time,
            "gate": r.data.tags.get("reco.gate"),
            "metric": next(({m: r.data.metrics[m]} for m in GATE_METRICS if m in r.data.metrics), {}),
        }
        for r in found
    ]


def ctr(settings: Settings) -> dict[str, Any]:
    join = ImpressionJoin()
    stats = asyncio.run(replay_topic(settings.kafka, settings.kafka.events_topic, join.add))
    logged = join.result()
    lag = asyncio.run(consumer_lag(settings, stats.ends))
    if not len(logged):
        return {"groups": [], "impressions": 0, "replay": stats.stopped_by, "lag": lag}
    counts = group_counts(logged, "variant/arm")
    control = f"{CHAMPION}/{GREEDY}" if f"{CHAMPION}/{GREEDY}" in counts else sorted(counts)[0]
    groups = [g.as_dict() for g in readout(counts, control)]
    return {
        "groups": groups,
        "impressions": len(logged),
        "control": control,
        "replay": stats.stopped_by,
        "lag": lag,
    }


async def consumer_lag(settings: Settings, ends: Mapping[int, int]) -> dict[str, int]:
    """Records of the events topic each of reco's consumer groups has not committed yet, against
    the partitions' ends as the replay found them (tansu's `end_offsets` is unreliable)."""
    topic = settings.kafka.events_topic
    lag = {}
    for group in (settings.ingestor.group_id, settings.feedback.group_id):
        consumer = new_consumer(settings.kafka, group)
        await consumer.start()
        try:
            committed = 0
            for partition in ends:
                committed += await consumer.committed(TopicPartition(topic, partition)) or 0
        finally:
            await consumer.stop()
        lag[group] = max(sum(ends.values()) - committed, 0)
    return lag


def service(ops_url: str) -> dict[str, Any]:
    text = httpx.get(f"{ops_url}/metrics", timeout=5).text
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "reco_canary_share":
                values["canary_share"] = sample.value
            elif sample.name == "reco_impressions_total":
                values[f"impressions_{sample.labels.get('outcome', '')}"] = sample.value
            elif sample.name == "reco_impressions_pending":
                values["impressions_pending"] = sample.value
    return values


def drift(settings: Settings) -> dict[str, Any] | None:
    store = LakeStore.from_settings(settings.lake)
    summaries = store.list_files(f"{REPORTS}/drift", "-summary.json")
    if not summaries:
        return None
    latest = summaries[-1]
    stem = latest[: -len("-summary.json")]
    reports = [p for p in store.list_files(f"{REPORTS}/drift", ".html") if p.startswith(stem)]
    return {"summary": json.loads(store.read_bytes(latest)), "path": latest, "reports": reports}


def status(settings: Settings, ops_url: str) -> dict[str, Any]:
    """Every part, each with its own error; `seconds` it took."""
    started = time.perf_counter()
    result: dict[str, Any] = {
        "versions": _part(lambda: versions(settings)),
        "runs": _part(lambda: runs(settings)),
        "ctr": _part(lambda: ctr(settings)),
        "service": _part(lambda: service(ops_url)),
        "drift": _part(lambda: drift(settings)),
    }
    result["seconds"] = round(time.perf_counter() - started, 3)
    return result


__all__ = ["ALIASES", "consumer_lag", "ctr", "drift", "runs", "service", "status", "versions"]
