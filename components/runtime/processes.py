"""Run reco services as real subprocesses (this interpreter, this import path) for
end-to-end tests and benchmarks, and drive them like their clients do."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiokafka import TopicPartition

from components.config import KafkaSettings
from components.streaming import new_consumer


class ServiceProcess:
    def __init__(self, module: str, env: dict[str, str], log_path: Path, args: Sequence[str] = ()):
        self.module, self.log_path, self.args = module, log_path, list(args)
        # The parent environment plus the service settings; the child imports what we import.
        self.env = {**os.environ, **env, "PYTHONPATH": os.pathsep.join(sys.path)}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ServiceProcess:
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", self.module, *self.args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no clean-up, no flush, no commit."""
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout_s: float = 30) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


async def wait_ready(url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get(url, timeout=2)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise TimeoutError(f"{url} not ready within {timeout_s}s")


class EventSender:
    """POSTs events to a collector (at most `rate` per second), retrying what got a 503 or a
    429 after its Retry-After, as a client does. `acknowledged` grows as answers come;
    `pause()` waits until no request is in flight (a quiet moment to restart the broker),
    `resume()` goes on. A batch refused as a whole (400, 408, 413) counts as rejected."""

    def __init__(
        self, url: str, *, batch: int = 500, concurrency: int = 4, rate: float | None = None
    ) -> None:
        self.url, self.batch, self.concurrency, self.rate = url, batch, concurrency, rate
        self.acknowledged: set[str] = set()
        self.rejected = 0
        self.in_flight = 0
        self._open = asyncio.Event()
        self._open.set()
        self._paused_s = 0.0  # time spent paused, kept out of the pacing
        self._paused_at: float | None = None

    async def pause(self) -> None:
        self._open.clear()
        self._paused_at = time.perf_counter()
        while self.in_flight:
            await asyncio.sleep(0.01)

    def resume(self) -> None:
        if self._paused_at is not None:
            self._paused_s += time.perf_counter() - self._paused_at
            self._paused_at = None
        self._open.set()

    async def send(self, events: list[dict[str, Any]]) -> tuple[set[str], int]:
        sent = 0
        started = time.perf_counter()
        queue: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
        for start in range(0, len(events), self.batch):
            queue.put_nowait(events[start : start + self.batch])

        async def worker(client: httpx.AsyncClient) -> None:
            nonlocal sent
            while not queue.empty():
                chunk = queue.get_nowait()
                if self.rate:
                    ahead = sent / self.rate - (time.perf_counter() - started - self._paused_s)
                    if ahead > 0:
                        await asyncio.sleep(ahead)
                sent += len(chunk)
                body = orjson.dumps(chunk)
                while True:
                    await self._open.wait()
                    self.in_flight += 1
                    try:
                        response = await client.post(
                            self.url, content=body, headers={"content-type": "application/json"}
                        )
                    finally:
                        self.in_flight -= 1
                    if response.status_code in (429, 503):
                        await asyncio.sleep(float(response.headers.get("retry-after", "1")))
                        continue
                    results = response.json().get("results")
                    if results is None:  # refused as a whole
                        self.rejected += len(chunk)
                    for result in results or []:
                        if result["status"] == "accepted":
                            self.acknowledged.add(result["event_id"])
                        else:
                            self.rejected += 1
                    break

        async with httpx.AsyncClient(timeout=30) as client:
            await asyncio.gather(*(worker(client) for _ in range(self.concurrency)))
        return self.acknowledged, self.rejected


async def post_events(
    url: str,
    events: list[dict[str, Any]],
    *,
    batch: int = 500,
    concurrency: int = 4,
    rate: float | None = None,
) -> tuple[set[str], int]:
    """POST every event to a collector (at most `rate` per second), retrying what got a 503.

    Returns the ids the collector acknowledged and how many it rejected."""
    return await EventSender(url, batch=batch, concurrency=concurrency, rate=rate).send(events)


async def post_articles(
    url: str, articles: list[dict[str, Any]], token: str, *, batch: int = 200, timeout_s: float = 30.0
) -> int:
    """POST `articles` (articles.v1 objects) to a collector's `/articles` as the CMS does, with
    its bearer token, retrying what got a 503; returns how many were accepted. Raises on a
    rejected article (a simulated catalogue must satisfy the contract)."""
    accepted = 0
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    async with httpx.AsyncClient(timeout=timeout_s) as client:
        for start in range(0, len(articles), batch):
            body = orjson.dumps(articles[start : start + batch])
            for attempt in range(20):
                response = await client.post(url, content=body, headers=headers)
                if response.status_code != 503:
                    break
                await asyncio.sleep(min(0.25 * 2**attempt, 2.0))
            if response.status_code != 202:
                raise RuntimeError(f"POST {url} answered {response.status_code}: {response.text[:500]}")
            accepted += int(response.json()["accepted"])
    return accepted


async def committed_total(settings: KafkaSettings, group_id: str, topic: str, partitions: int) -> int:
    """Sum of a consumer group's committed offsets on `topic`: how many records it made durable."""
    consumer = new_consumer(settings, group_id)
    await consumer.start()
    try:
        total = 0
        for partition in range(partitions):
            total += await consumer.committed(TopicPartition(topic, partition)) or 0
        return total
    finally:
        await consumer.stop()
