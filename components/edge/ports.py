"""Public API and operations on separate ports, in one process.

In the cluster profile the gateway reaches only the public port (`/events`, `/recommend`),
while health, readiness, metrics and admin answer on the ops port, which the NetworkPolicy
opens to the kubelet, Prometheus and operators only. Hypercorn binds both; this middleware
answers 404 for a route asked on the wrong port (the listening port is in the ASGI scope).
With `ops_port` 0 (the local profile) every route answers on the one port.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, MutableMapping
from typing import Any

import orjson

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


async def send_field_error(send: Any, status: int, field: str, reason: str, code: str) -> None:
    """Answer with reco's field error (`{"error": {field, reason, code}}`) from ASGI middleware."""
    body = orjson.dumps({"error": {"field": field, "reason": reason, "code": code}})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def binds(host: str, port: int, ops_port: int) -> list[str]:
    """Hypercorn's `bind` list: the public port, and the ops port when it has its own."""
    addresses = [f"{host}:{port}"]
    if ops_port and ops_port != port:
        addresses.append(f"{host}:{ops_port}")
    return addresses


class PortSplit:
    def __init__(self, app: ASGIApp, *, public_paths: Collection[str], ops_port: int):
        self.app = app
        self.public_paths = frozenset(public_paths)
        self.ops_port = ops_port

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if self.ops_port and scope["type"] == "http":
            server = scope.get("server") or (None, None)
            on_ops_port = server[1] == self.ops_port
            if on_ops_port == (scope["path"] in self.public_paths):
                where = "the public port" if on_ops_port else "the ops port"
                await send_field_error(send, 404, "$", f"not found here (served on {where})", "not_found")
                return
        await self.app(scope, receive, send)
