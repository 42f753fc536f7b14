"""The request path's Redis client: one connection, commands pipelined as they come, replies
matched to callers in order (Redis answers a connection's commands in the order it got them).

Per call: one packed write (hiredis' C packer, by the caller), one future, one timer. The
general client (redis-py's asyncio pool) spent more than that per request on checking a
connection out and in, on a timer per reply read and a `wait_for` per write
(docs/benchmarks.md, the serving profile); the background work keeps using redis-py.

`redis://[[user]:password@]host[:port][/db]` and `rediss://` (TLS, the system's trust store)
are understood: AUTH and SELECT are sent when the connection opens. A lost connection, or
one that answers nothing for a whole timeout, fails every call waiting on it at once (the
service turns that into its Redis fallback); the next call opens a new one.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from typing import Any
from urllib.parse import unquote, urlparse

import hiredis


class _Replies(asyncio.Protocol):
    def __init__(self) -> None:
        self.reader = hiredis.Reader()
        # [future, replies expected, replies so far], in the order the commands were written.
        self.waiting: deque[tuple[asyncio.Future[list[Any]], int, list[Any]]] = deque()
        self.transport: asyncio.Transport | None = None
        self.closed = False
        # Commands written in one turn of the event loop go out in one send (one syscall for
        # the many requests a loaded server interleaves, not one each).
        self.outgoing: list[bytes] = []
        self.last_reply = time.monotonic()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        self.last_reply = time.monotonic()
        try:
            while (reply := self.reader.gets()) is not False:
                if not self.waiting:
                    raise ConnectionError("a Redis reply nobody asked for")
                future, expected, replies = self.waiting[0]
                replies.append(reply)
                if len(replies) == expected:
                    self.waiting.popleft()
                    if not future.done():  # a caller that timed out left its place in the queue
                        future.set_result(replies)
        except (hiredis.ProtocolError, ConnectionError) as exc:
            self.fail(ConnectionError(f"Redis protocol error: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(ConnectionError(f"Redis connection lost: {exc!r}" if exc else "Redis connection closed"))

    def write(self, packed: bytes) -> None:
        if not self.outgoing:
            asyncio.get_running_loop().call_soon(self.flush)
        self.outgoing.append(packed)

    def flush(self) -> None:
        data, self.outgoing = b"".join(self.outgoing), []
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    def fail(self, exc: Exception) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()
        while self.waiting:
            future, _, _ = self.waiting.popleft()
            if not future.done():
                future.set_exception(exc)


class PipelinedRedis:
    def __init__(self, url: str, *, connect_timeout_s: float = 5.0):
        parsed = urlparse(url)
        if parsed.scheme not in ("redis", "rediss"):
            raise ValueError(f"redis url: scheme {parsed.scheme!r} is not redis:// or rediss://")
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or 6379
        self.db = int((parsed.path or "/0").lstrip("/") or 0)
        self.username = unquote(parsed.username) if parsed.username else None
        self.password = unquote(parsed.password) if parsed.password else None
        self.tls = parsed.scheme == "rediss"
        self.connect_timeout_s = connect_timeout_s
        self._protocol: _Replies | None = None
        self._connecting: asyncio.Future[_Replies] | None = None

    async def _connection(self) -> _Replies:
        protocol = self._protocol
        if protocol is not None and not protocol.closed:
            return protocol
        if self._connecting is None or self._connecting.done():
            self._connecting = asyncio.ensure_future(self._connect())
        return await asyncio.shield(self._connecting)

    async def _connect(self) -> _Replies:
        loop = asyncio.get_running_loop()
        context = ssl.create_default_context() if self.tls else None
        async with asyncio.timeout(self.connect_timeout_s):
            _, protocol = await loop.create_connection(_Replies, self.host, self.port, ssl=context)
            hello: list[tuple[Any, ...]] = []
            if self.password is not None:
                hello.append(
                    ("AUTH", self.username, self.password) if self.username else ("AUTH", self.password)
                )
            if self.db:
                hello.append(("SELECT", self.db))
            if hello:
                replies = await self._send(
                    protocol, b"".join(hiredis.pack_command(c) for c in hello), len(hello)
                )
                for reply in replies:
                    if isinstance(reply, Exception):
                        protocol.fail(ConnectionError(f"Redis refused the connection: {reply}"))
                        raise reply
        self._protocol = protocol
        return protocol

    @staticmethod
    def _send(protocol: _Replies, packed: bytes, replies: int) -> asyncio.Future[list[Any]]:
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        protocol.waiting.append((future, replies, []))
        protocol.write(packed)
        return future

    async def call(self, packed: bytes, replies: int, timeout_s: float) -> list[Any]:
        """Write `packed` (one or more commands, packed) and return its `replies` replies, in
        order (an error reply is a `hiredis.ReplyError` in the list). Raises TimeoutError or
        ConnectionError. A call that times out keeps its place in the queue (its replies are
        dropped when they come); a connection that answered nothing for a whole timeout is
        closed."""
        try:
            async with asyncio.timeout(timeout_s):
                protocol = await self._connection()
                return await self._send(protocol, packed, replies)
        except TimeoutError:
            stalled = self._protocol
            if stalled is not None and stalled.waiting and time.monotonic() - stalled.last_reply > timeout_s:
                stalled.fail(ConnectionError(f"Redis answered nothing for {timeout_s:g} s"))
            raise

    async def aclose(self) -> None:
        if self._protocol is not None:
            self._protocol.fail(ConnectionError("Redis client closed"))
            self._protocol = None


__all__ = ["PipelinedRedis"]
