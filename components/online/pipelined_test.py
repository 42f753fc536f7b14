"""The request path's pipelined Redis client against real redis-servers: many calls in flight
on one connection each get their own replies; AUTH and SELECT from the URL; a stalled server
times calls out and the connection is dropped; a restarted server is reconnected to."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import hiredis
import pytest
from redis import Redis

from components.online.pipelined import PipelinedRedis
from components.runtime.tansu import free_port
from components.testing.redis_servers import PrivateRedis


def packed(*commands: tuple[object, ...]) -> bytes:
    return b"".join(hiredis.pack_command(c) for c in commands)  # type: ignore[arg-type]


def test_calls_in_flight_get_their_own_replies_in_order(tmp_path: Path) -> None:
    server = PrivateRedis(free_port(), tmp_path, password="pw s3cret").start()
    try:
        with Redis.from_url(server.url.replace("/0", "/3")) as sync:
            for i in range(300):
                sync.set(f"k{i}", f"v{i}")
        client = PipelinedRedis(server.url.replace("/0", "/3").replace("pw s3cret", "pw%20s3cret"))

        async def run() -> list[list[object]]:
            try:
                return await asyncio.gather(
                    *(client.call(packed(("GET", f"k{i}"), ("STRLEN", f"k{i}")), 2, 5.0) for i in range(300))
                )
            finally:
                await client.aclose()

        replies = asyncio.run(run())
        assert replies == [[f"v{i}".encode(), len(f"v{i}")] for i in range(300)]
        wrong = PipelinedRedis(server.url.replace("pw s3cret", "nope"))
        with pytest.raises(Exception, match="WRONGPASS|invalid"):
            asyncio.run(wrong.call(packed(("PING",)), 1, 5.0))
        # an error reply is a value, not an exception of the call
        url = server.url.replace("/0", "/3").replace("pw s3cret", "pw%20s3cret")
        errors = asyncio.run(PipelinedRedis(url).call(packed(("LRANGE", "k1", 0, 1)), 1, 5.0))
        assert isinstance(errors[0], hiredis.ReplyError) and "WRONGTYPE" in str(errors[0])
    finally:
        server.stop()


def test_a_stalled_server_times_out_and_a_restarted_one_is_reconnected(tmp_path: Path) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts, never answers
    try:
        stalled = PipelinedRedis(f"redis://127.0.0.1:{silent.getsockname()[1]}/0")

        async def stall() -> None:
            with pytest.raises(TimeoutError):
                await stalled.call(packed(("PING",)), 1, 0.2)
            assert stalled._protocol is not None and stalled._protocol.closed  # dropped, not reused

        asyncio.run(stall())
    finally:
        silent.close()

    server = PrivateRedis(free_port(), tmp_path).start()
    client = PipelinedRedis(server.url)

    async def across_a_restart() -> None:
        assert await client.call(packed(("PING",)), 1, 2.0) == [b"PONG"]
        await asyncio.to_thread(server.stop)
        with pytest.raises((ConnectionError, TimeoutError)):
            await client.call(packed(("PING",)), 1, 2.0)
        await asyncio.to_thread(server.start)
        assert await client.call(packed(("PING",)), 1, 2.0) == [b"PONG"]
        await client.aclose()

    try:
        asyncio.run(across_a_restart())
    finally:
        server.stop()
