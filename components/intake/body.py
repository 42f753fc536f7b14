"""Reading an HTTP request body under a size limit and a deadline, refused as early as the
client allows: by its declared Content-Length, else while streaming (never buffering past the
limit); a client that trickles its body is cut off at the deadline (408)."""

from __future__ import annotations

import asyncio

from starlette.requests import ClientDisconnect, Request

from components.events import FieldError
from components.intake.intake import BodyError


async def read_bounded_body(
    request: Request, limit: int, *, status: int = 413, timeout_s: float | None = None
) -> bytes:
    """The body, or BodyError(`status`, field `$`) once it exceeds `limit` bytes, or
    BodyError(408) when it has not fully arrived within `timeout_s`."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyError(
            status,
            FieldError("$", f"body of {declared} bytes exceeds the limit of {limit}", "body_too_large"),
        )
    chunks, size = [], 0
    receive = request.receive
    try:
        async with asyncio.timeout(timeout_s):
            # The ASGI messages themselves (Starlette's `stream()` is an async generator per
            # request: measurable on the recommend path, docs/benchmarks.md).
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientDisconnect()
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise BodyError(
                        status, FieldError("$", f"body exceeds the limit of {limit} bytes", "body_too_large")
                    )
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
    except TimeoutError:
        raise BodyError(
            408, FieldError("$", f"body not received within {timeout_s:g} s", "body_timeout")
        ) from None
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
