"""A small HTTP/1.1 load generator for the serving benchmark (its own process, uvloop, raw
keep-alive sockets: an HTTP client library would cost more CPU than the servers under test).

- closed loop: `--concurrency` connections, each sends its next request as soon as the last
  answer arrived, for `--seconds`: the maximum rate.
- open loop: requests start on a fixed schedule (`--rate` per second) whatever the server
  does; latency counts from the scheduled start, so a stalled server is charged for the
  queue it causes (no coordinated omission).

Prints one JSON line: requests, errors, seconds, rps, p50_ms, p90_ms, p99_ms, max_ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections import Counter
from itertools import cycle
from pathlib import Path
from typing import Any

import numpy as np

IDLE_EXPIRY_S = 2.0


class Connection:
    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.opened = self.last_used = 0.0

    async def request(self, raw: bytes) -> int:
        """Send one request, read the whole answer; returns the HTTP status. A connection the
        server announced it closes (`Connection: close`, e.g. Hypercorn after
        keep_alive_max_requests) is not reused, as HTTP clients do."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            self.opened = time.monotonic()
        assert self.reader is not None
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        closing = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                closing = True
        if length:
            await self.reader.readexactly(length)
        if closing:
            self.close()
        self.last_used = time.monotonic()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def build_requests(host: str, port: int, path: str, bodies: list[bytes]) -> list[bytes]:
    return [
        (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body
        for body in bodies
    ]


def summary(latencies: list[float], errors: Counter[str], seconds: float) -> dict[str, Any]:
    lat = np.asarray(latencies) * 1000 if latencies else np.zeros(1)
    done = len(latencies)
    return {
        "requests": done,
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "seconds": round(seconds, 3),
        "rps": round(done / seconds, 1) if seconds else 0.0,
        "p50_ms": round(float(np.percentile(lat, 50)), 3),
        "p90_ms": round(float(np.percentile(lat, 90)), 3),
        "p99_ms": round(float(np.percentile(lat, 99)), 3),
        "max_ms": round(float(lat.max()), 3),
    }


async def timed(
    conn: Connection, raw: bytes, started: float, latencies: list[float], errors: Counter[str]
) -> bool:
    """One request: its latency from `started` if it succeeded, else its error kind; returns
    whether the connection can be reused."""
    try:
        status = await conn.request(raw)
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
        errors[type(exc).__name__] += 1
        conn.close()
        return False
    if status == 200:
        latencies.append(time.perf_counter() - started)
    else:
        errors[f"http_{status}"] += 1
    return conn.writer is not None


async def closed_loop(
    host: str, port: int, requests: list[bytes], concurrency: int, seconds: float
) -> dict[str, Any]:
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    stop_at = time.perf_counter() + seconds
    source = cycle(requests)

    async def worker() -> None:
        conn = Connection(host, port)
        while time.perf_counter() < stop_at:
            await timed(conn, next(source), time.perf_counter(), latencies, errors)
        conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return summary(latencies, errors, time.perf_counter() - started)


async def open_loop(
    host: str, port: int, requests: list[bytes], rate: float, seconds: float
) -> dict[str, Any]:
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    idle: list[Connection] = []
    source = cycle(requests)
    in_flight: set[asyncio.Task[None]] = set()

    def checkout() -> Connection:
        # Like a client pool's keep-alive expiry (httpx: 5 s): a connection idle longer may
        # have been closed by the server (uvicorn's keep-alive timeout is 5 s).
        while idle:
            conn = idle.pop()
            if time.monotonic() - conn.last_used < IDLE_EXPIRY_S:
                return conn
            conn.close()
        return Connection(host, port)

    async def one(raw: bytes, scheduled: float) -> None:
        conn = checkout()
        if await timed(conn, raw, scheduled, latencies, errors):
            idle.append(conn)

    total = int(rate * seconds)
    started = time.perf_counter()
    for i in range(total):
        scheduled = started + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(next(source), scheduled))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    if in_flight:
        await asyncio.wait(in_flight, timeout=30)
    elapsed = time.perf_counter() - started
    for conn in idle:
        conn.close()
    errors["unfinished"] += len(in_flight)
    return summary(latencies, +errors, elapsed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", required=True, help="http://host:port/path")
    parser.add_argument("--bodies", type=Path, required=True, help="JSON lines, one request body each")
    parser.add_argument("--mode", choices=["closed", "open"], required=True)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    rest = args.url.removeprefix("http://")
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.partition(":")
    bodies = [line.encode() for line in args.bodies.read_text().splitlines() if line.strip()]
    requests = build_requests(host, int(port), "/" + path, bodies)
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    if args.mode == "closed":
        result = asyncio.run(closed_loop(host, int(port), requests, args.concurrency, args.seconds))
    else:
        result = asyncio.run(open_loop(host, int(port), requests, args.rate, args.seconds))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
