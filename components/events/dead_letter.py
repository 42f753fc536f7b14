"""The dead-letter envelope of `events.dlq.v1`: the rejected bytes, unchanged, and why.

Nothing is dropped silently: whichever stage rejects a message (collector, ingestor, silver
build) publishes one of these, so the original can be inspected, fixed and replayed.

A letter is bounded (a few hundred KB at most, well under any broker's message limit): an
original above `MAX_PAYLOAD_BYTES` travels as its first bytes plus its size and sha256, and
the stage that had to keep it (the ingestor: the broker already acknowledged it) stores the
whole original elsewhere and names it in `original_ref`.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from components.events.errors import EventValidationError, FieldError


class RejectedField(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    field: str
    reason: str
    code: str = "invalid"


MAX_PAYLOAD_BYTES = 64 * 1024


class DeadLetter(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # The original message: as text when it was valid UTF-8, else base64 of the raw bytes.
    payload: str
    payload_encoding: Literal["utf-8", "base64"]
    # Set when `payload` holds only the first MAX_PAYLOAD_BYTES of a larger original.
    truncated: bool = False
    original_bytes_count: int | None = None
    original_sha256: str | None = None
    # Where the whole original is kept when it was too large to travel here (a lake path).
    original_ref: str | None = None
    errors: list[RejectedField] = Field(min_length=1)
    source: str = Field(min_length=1, description="the stage that rejected it")
    rejected_at: datetime
    # Where the message was read from, when it came from Kafka.
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None

    @classmethod
    def from_rejection(
        cls,
        raw: bytes,
        error: EventValidationError,
        *,
        source: str,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
        now: datetime | None = None,
        original_ref: str | None = None,
    ) -> DeadLetter:
        truncated = len(raw) > MAX_PAYLOAD_BYTES
        kept = raw[:MAX_PAYLOAD_BYTES]
        try:
            payload, encoding = kept.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            payload, encoding = base64.b64encode(kept).decode("ascii"), "base64"
        return cls(
            payload=payload,
            payload_encoding=encoding,  # type: ignore[arg-type]
            truncated=truncated,
            original_bytes_count=len(raw) if truncated else None,
            original_sha256=hashlib.sha256(raw).hexdigest() if truncated else None,
            original_ref=original_ref if truncated else None,
            errors=[RejectedField(field=e.field, reason=e.reason, code=e.code) for e in error.errors],
            source=source,
            rejected_at=now or datetime.now(UTC),
            topic=topic,
            partition=partition,
            offset=offset,
        )

    def original_bytes(self) -> bytes:
        """The original message; only its first MAX_PAYLOAD_BYTES when `truncated` (the whole
        one is at `original_ref`)."""
        if self.payload_encoding == "base64":
            return base64.b64decode(self.payload)
        return self.payload.encode("utf-8")

    def field_errors(self) -> list[FieldError]:
        return [FieldError(e.field, e.reason, e.code) for e in self.errors]


def encode_dead_letter(letter: DeadLetter) -> bytes:
    return letter.model_dump_json(exclude_none=True).encode()


def decode_dead_letter(raw: bytes | str) -> DeadLetter:
    return DeadLetter.model_validate_json(raw)
