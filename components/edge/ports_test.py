import asyncio
from typing import Any

from components.edge.ports import PortSplit, binds


async def _call(app: Any, path: str, port: int) -> int:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "path": path, "method": "GET", "server": ("127.0.0.1", port), "headers": []}
    await app(scope, receive, send)
    return int(sent[0]["status"])


async def _ok(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def test_routes_answer_only_on_their_port() -> None:
    split = PortSplit(_ok, public_paths={"/recommend"}, ops_port=9180)

    async def calls() -> list[int]:
        return [
            await _call(split, "/recommend", 8080),
            await _call(split, "/metrics", 8080),
            await _call(split, "/metrics", 9180),
            await _call(split, "/recommend", 9180),
        ]

    assert asyncio.run(calls()) == [200, 404, 200, 404]


def test_without_an_ops_port_everything_answers_on_the_one_port() -> None:
    split = PortSplit(_ok, public_paths={"/recommend"}, ops_port=0)
    assert asyncio.run(_call(split, "/metrics", 8080)) == 200
    assert binds("0.0.0.0", 8080, 0) == ["0.0.0.0:8080"]
    assert binds("0.0.0.0", 8080, 9180) == ["0.0.0.0:8080", "0.0.0.0:9180"]
