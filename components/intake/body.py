"""Reading an HTTP request body under a size limit, refused as early as the client allows:
by its declared Content-Length, else while streaming (never buffering past the limit)."""

from __future__ import annotations

from starlette.requests import Request

from components.events import FieldError
from components.intake.intake import BodyError


async def read_bounded_body(request: Request, limit: int, *, status: int = 413) -> bytes:
    """The body, or BodyError(`status`, field `$`) once it exceeds `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyError(
            status,
            FieldError("$", f"body of {declared} bytes exceeds the limit of {limit}", "body_too_large"),
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyError(
                status, FieldError("$", f"body exceeds the limit of {limit} bytes", "body_too_large")
            )
        chunks.append(chunk)
    return b"".join(chunks)
