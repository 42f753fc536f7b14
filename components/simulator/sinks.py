"""Where simulated traffic goes: JSON-lines files (one per day) or a Kafka topic."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from components.simulator.traffic import DayTraffic
from components.simulator.world import Catalogue


def _atomic_write(path: Path, chunks: Iterable[bytes]) -> None:
    # Write beside the target, fsync, then rename: readers never see half a file.
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as handle:
        for chunk in chunks:
            handle.write(chunk)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def write_day_jsonl(out_dir: Path, traffic: DayTraffic) -> Path:
    """`<out_dir>/events-YYYY-MM-DD.jsonl`, one event per line, in time order."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"events-{traffic.day.isoformat()}.jsonl"
    dumps = orjson.dumps
    _atomic_write(path, (dumps(event) + b"\n" for event in traffic.events))
    return path


def write_catalogue_jsonl(out_dir: Path, catalogue: Catalogue) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "articles.jsonl"
    _atomic_write(path, (orjson.dumps(record) + b"\n" for record in catalogue.records()))
    return path


def read_jsonl(path: Path) -> list[bytes]:
    """Raw lines of a JSON-lines file (the bytes a consumer would receive)."""
    with open(path, "rb") as handle:
        return [line.rstrip(b"\n") for line in handle if line.strip()]


async def produce_to_kafka(
    producer: Any, topic: str, events: Iterable[dict[str, Any]], *, batch: int = 5_000
) -> int:
    """Send events keyed by user_id and wait until the broker acknowledged every one.

    `producer` is a started aiokafka.AIOKafkaProducer (acks="all" recommended).
    """
    dumps = orjson.dumps
    sent = 0
    pending = []
    for event in events:
        pending.append(await producer.send(topic, dumps(event), key=event["user_id"].encode()))
        if len(pending) >= batch:
            for future in pending:
                await future
            sent += len(pending)
            pending.clear()
    for future in pending:
        await future
    return sent + len(pending)
