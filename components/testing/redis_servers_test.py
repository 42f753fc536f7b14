"""The private redis-servers the tests start: a password-protected one, and a three-node
Redis Cluster on loopback whose slots spread keys over its nodes (keys of one hash tag stay
on one node; a node asked for another node's key answers MOVED)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import hiredis
import pytest
from redis import Redis
from redis.cluster import RedisCluster

from components.online.pipelined import PipelinedRedis
from components.runtime.tansu import free_port
from components.testing.redis_servers import LocalCluster, PrivateRedis


def test_a_password_protected_server_refuses_without_it(tmp_path: Path) -> None:
    server = PrivateRedis(free_port(), tmp_path, password="s3cret").start()
    try:
        with Redis.from_url(server.url) as client:
            assert client.ping()
        with pytest.raises(Exception, match="(?i)auth"), Redis(port=server.port) as anonymous:
            anonymous.get("k")
    finally:
        server.stop()


def test_a_local_cluster_spreads_keys_and_redirects(tmp_path: Path) -> None:
    cluster = LocalCluster(tmp_path).start()
    try:
        with RedisCluster(host="127.0.0.1", port=cluster.nodes[0].port) as client:
            for i in range(60):
                client.set(f"k{i}", str(i))
                client.set(f"{{reader-7}}:k{i}", str(i))
            owners = {client.get_node_from_key(f"k{i}").port for i in range(60)}
            tagged = {client.get_node_from_key(f"{{reader-7}}:k{i}").port for i in range(60)}
            assert owners == {node.port for node in cluster.nodes}
            assert len(tagged) == 1
            foreign = next(
                f"k{i}" for i in range(60) if client.get_node_from_key(f"k{i}").port != cluster.nodes[0].port
            )
        # The request path's one connection reaches one node: another node's key is a MOVED reply.
        direct = PipelinedRedis(f"redis://127.0.0.1:{cluster.nodes[0].port}/0")

        async def ask() -> list[object]:
            try:
                return await direct.call(hiredis.pack_command(("GET", foreign)), 1, 5.0)  # type: ignore[arg-type]
            finally:
                await direct.aclose()

        (reply,) = asyncio.run(ask())
        assert isinstance(reply, hiredis.ReplyError) and str(reply).startswith("MOVED")
    finally:
        cluster.stop()
