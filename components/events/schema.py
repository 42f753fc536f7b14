"""The `events.v1` event: one JSON object per Kafka message, keyed by `user_id`.

Strict where it matters for a contract: unknown fields are rejected, ids are printable
ASCII, numbers must be numbers (no "3" for 3), timestamps must carry a zone and are kept in UTC,
and the fields that only make sense for one event type are required there and refused elsewhere.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError  # pants: no-infer-dep (ships with pydantic)

from components.events.errors import FieldError, FieldRuleError

# An event may be stamped a little ahead of the receiver's clock (client clock skew).
MAX_FUTURE_SKEW = timedelta(minutes=5)
# Anything older is a broken clock or a unit mistake (seconds read as milliseconds).
OLDEST_TS = datetime(2000, 1, 1, tzinfo=UTC)
MAX_DWELL_MS = 24 * 3600 * 1000
MAX_POSITION = 1000
CONTEXT_MAX_KEYS = 16
CONTEXT_MAX_KEY_LEN = 64
CONTEXT_MAX_STR_LEN = 256

Identifier = Annotated[StrictStr, Field(pattern=r"^[!-~]{1,128}$")]
ContextValue = StrictStr | StrictBool | StrictInt | StrictFloat | None


def check_context(value: dict[str, Any], max_keys: int) -> dict[str, Any]:
    """A small context dict: at most `max_keys` keys of 1-64 characters, strings of at most
    256; raises ValueError saying which rule failed (pydantic reports it under the field)."""
    if len(value) > max_keys:
        raise ValueError(f"at most {max_keys} keys (got {len(value)})")
    for key, item in value.items():
        if not 1 <= len(key) <= CONTEXT_MAX_KEY_LEN:
            raise ValueError(f"key {key[:80]!r} must be 1-{CONTEXT_MAX_KEY_LEN} characters")
        if isinstance(item, str) and len(item) > CONTEXT_MAX_STR_LEN:
            raise ValueError(f"value of {key!r} is longer than {CONTEXT_MAX_STR_LEN} characters")
    return value


class EventType(StrEnum):
    IMPRESSION = "impression"
    VIEW = "view"
    CLICK = "click"
    DWELL = "dwell"


_IMPRESSION_ONLY = ("propensity",)
_IMPRESSION_REQUIRED = ("request_id", "position", "model_version", "propensity")


class Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: UUID
    type: EventType
    user_id: Identifier
    article_id: Identifier
    ts: datetime
    dwell_ms: StrictInt | None = Field(default=None, ge=0, le=MAX_DWELL_MS)
    request_id: Identifier | None = None
    position: StrictInt | None = Field(default=None, ge=0, lt=MAX_POSITION)
    model_version: Annotated[StrictStr, Field(min_length=1, max_length=128)] | None = None
    propensity: StrictFloat | StrictInt | None = Field(default=None, gt=0, le=1)
    context: dict[str, ContextValue] = Field(default_factory=dict)

    @field_validator("ts")
    @classmethod
    def _ts_is_aware_utc_and_sane(cls, value: datetime, info: ValidationInfo) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise PydanticCustomError(
                "naive_timestamp", "timestamp must be timezone-aware (a naive timestamp has no zone)"
            )
        value = value.astimezone(UTC)
        if value < OLDEST_TS:
            raise PydanticCustomError(
                "ancient_timestamp",
                "timestamp {ts} is before {oldest}",
                {"ts": value.isoformat(), "oldest": str(OLDEST_TS.date())},
            )
        now = (info.context or {}).get("now") or datetime.now(UTC)
        if value > now + MAX_FUTURE_SKEW:
            ahead = round((value - now).total_seconds())
            raise PydanticCustomError(
                "future_timestamp",
                "timestamp is in the future ({ahead} s ahead of the receiver)",
                {"ahead": ahead},
            )
        return value

    @field_validator("context")
    @classmethod
    def _context_is_small(cls, value: dict[str, Any]) -> dict[str, Any]:
        return check_context(value, CONTEXT_MAX_KEYS)

    @model_validator(mode="after")
    def _type_specific_fields(self) -> Event:
        errors: list[FieldError] = []
        if self.type is EventType.DWELL and self.dwell_ms is None:
            errors.append(FieldError("dwell_ms", "required for dwell events"))
        if self.type is not EventType.DWELL and self.dwell_ms is not None:
            errors.append(FieldError("dwell_ms", f"only dwell events carry it (type is {self.type})"))
        if self.type is EventType.IMPRESSION:
            for name in _IMPRESSION_REQUIRED:
                if getattr(self, name) is None:
                    errors.append(FieldError(name, "required for impression events"))
        else:
            for name in _IMPRESSION_ONLY:
                if getattr(self, name) is not None:
                    errors.append(FieldError(name, f"only impression events carry it (type is {self.type})"))
        if errors:
            raise FieldRuleError(errors)
        return self
