"""The `events.v1` event: one JSON object per Kafka message, keyed by `user_id`.

Strict where it matters for a contract: unknown fields are rejected, ids are printable
ASCII, numbers must be numbers (no "3" for 3), timestamps must carry a zone and are kept in UTC,
and the fields that only make sense for one event type are refused elsewhere (and required
there, except what another system's impressions may not know: model version and propensity).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    BaseModel,
    BeforeValidator,
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
from components.events.time import TimestampError, parse_timestamp

# An event may be stamped a little ahead of the receiver's clock (client clock skew).
MAX_FUTURE_SKEW = timedelta(minutes=5)
# Anything older is a broken clock or a unit mistake (seconds read as milliseconds).
OLDEST_TS = datetime(2000, 1, 1, tzinfo=UTC)
# How late an event may arrive: older than this when received, it is refused. The collector
# checks it against its clock, silver against the time the broker received the record (so an
# event the collector accepted is never quarantined for its age, however late it is ingested).
# A backfill passes a longer limit as validation context (`max_age`).
MAX_EVENT_AGE = timedelta(days=30)
# A dwell above six hours is a tab left open, not reading: refused at the door, not in silver.
MAX_DWELL_MS = 6 * 3600 * 1000
MAX_POSITION = 1000
CONTEXT_MAX_KEYS = 16
CONTEXT_MAX_KEY_LEN = 64
CONTEXT_MAX_STR_LEN = 256
# Context integers are 64-bit: JSON encoders and Parquet refuse bigger ones.
CONTEXT_INT_MIN, CONTEXT_INT_MAX = -(2**63), 2**63 - 1

# Reader, article, request and session ids: 1-128 printable ASCII characters, no spaces.
IDENTIFIER_PATTERN = r"^[!-~]+$"
IDENTIFIER_MAX_LEN = 128
Identifier = Annotated[
    StrictStr, Field(min_length=1, max_length=IDENTIFIER_MAX_LEN, pattern=IDENTIFIER_PATTERN)
]


def _timestamp(value: Any) -> datetime:
    """The platform's one timestamp parser (an ISO 8601 string with a zone, or an aware
    datetime), its failure reported under the field with its own code."""
    try:
        return parse_timestamp(value)
    except TimestampError as exc:
        raise FieldRuleError([FieldError("ts", exc.reason, exc.code)]) from None


Timestamp = Annotated[datetime, BeforeValidator(_timestamp)]


def _integral(value: Any) -> Any:
    """JSON has one number type: 1782521.0 is the integer 1782521 (as JSON Schema says), but a
    fraction, a string or a boolean is not an integer."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# An integer field: strict (no "3", no true), but an integral JSON number like 3.0 is 3.
JsonInt = Annotated[StrictInt, BeforeValidator(_integral)]
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
        # JSON Schema reads a number with no fraction as an integer (1e40 too), and the JSON
        # parser hands an integer beyond 64 bits over as a float: both are out of range.
        integral = isinstance(item, int) or (isinstance(item, float) and item.is_integer())
        if integral and not isinstance(item, bool) and not CONTEXT_INT_MIN <= item <= CONTEXT_INT_MAX:
            raise ValueError(f"value of {key!r} is outside the 64-bit integer range")
    return value


class EventType(StrEnum):
    IMPRESSION = "impression"
    VIEW = "view"
    CLICK = "click"
    DWELL = "dwell"


# What each type means to the rest of the platform (counts, labels, exclusions, guards):
# an exposure is an item shown to the reader; a positive is the training label (a click on a
# recommendation or a link); a read marks the article read (never recommended again).
EXPOSURE_TYPES = frozenset({EventType.IMPRESSION})
POSITIVE_TYPES = frozenset({EventType.CLICK})
READ_TYPES = frozenset({EventType.CLICK, EventType.VIEW})
# The idempotency key: a retry sends the same id, the lake keeps the first.
EVENT_KEY = "event_id"

# Fields only impressions carry, and fields impressions require (the serving log's).
IMPRESSION_ONLY = ("propensity", "source")
IMPRESSION_REQUIRED = ("request_id", "position")
# Fields the recommend service always logs on its impressions but an impression logged by
# another system may lack: null (or absent) means unknown, and off-policy estimators skip
# an impression whose propensity is unknown (never read as 1).
IMPRESSION_UNKNOWABLE = ("model_version", "propensity", "source")


class Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: UUID = Field(
        description="UUID chosen by the sender: the idempotency key (a retry sends the same id; the lake keeps the first)."
    )
    type: EventType = Field(description="impression (logged by the recommend service), view, click or dwell.")
    user_id: Identifier = Field(description="The reader: printable ASCII, 1-128 characters. The Kafka key.")
    article_id: Identifier = Field(description="The article: printable ASCII, 1-128 characters.")
    ts: Timestamp = Field(
        description=(
            "When it happened: ISO 8601 with a zone, stored in UTC (a naive time is refused). At most "
            f"{int(MAX_FUTURE_SKEW.total_seconds() // 60)} minutes ahead of the receiver's clock and "
            f"at most {MAX_EVENT_AGE.days} days behind it (a backfill passes a longer limit); "
            f"not before {OLDEST_TS.year}."
        )
    )
    dwell_ms: JsonInt | None = Field(
        default=None,
        ge=0,
        le=MAX_DWELL_MS,
        description=f"Reading time in milliseconds, at most {MAX_DWELL_MS // 3_600_000} hours (a longer read is a tab left open). Dwell events only, required there.",
    )
    request_id: Identifier | None = Field(
        default=None,
        description="The recommend response the item came from: required for impressions; on a click it joins the click to what was shown.",
    )
    position: JsonInt | None = Field(
        default=None,
        ge=0,
        lt=MAX_POSITION,
        description=f"0-based position in that response, below {MAX_POSITION} (required for impressions).",
    )
    model_version: Annotated[StrictStr, Field(min_length=1, max_length=128)] | None = Field(
        default=None,
        description=(
            "The model version that served it, 1-128 characters (impressions; null or absent means "
            "unknown: logged by another system)."
        ),
    )
    propensity: StrictFloat | StrictInt | None = Field(
        default=None,
        gt=0,
        le=1,
        description=(
            "Probability in (0, 1] that the serving policy showed this item here (impressions only; "
            "null or absent means unknown: logged by another system, and off-policy estimators skip it)."
        ),
    )
    source: Annotated[StrictStr, Field(min_length=1, max_length=64, pattern=IDENTIFIER_PATTERN)] | None = (
        Field(
            default=None,
            description=(
                "What put the item in the list, 1-64 printable ASCII characters (impressions only; optional): "
                "the recommend service logs the candidate source of a learned ranker's item (content, "
                "sections, trending, popular), personalized for a collaborative model's, popular for the "
                "popular list's and explore for an exploration slot's; null or absent means unknown."
            ),
        )
    )
    session_id: Identifier | None = Field(
        default=None,
        description="The reader's visit, as the page names it (optional; printable ASCII, 1-128 characters).",
    )
    context: dict[str, ContextValue] = Field(
        default_factory=dict,
        description=(
            f"At most {CONTEXT_MAX_KEYS} keys of 1-{CONTEXT_MAX_KEY_LEN} characters; values are "
            f"strings of at most {CONTEXT_MAX_STR_LEN} characters, booleans, 64-bit integers, "
            "numbers or null."
        ),
    )

    @field_validator("ts")
    @classmethod
    def _ts_is_sane(cls, value: datetime, info: ValidationInfo) -> datetime:
        if value < OLDEST_TS:
            raise PydanticCustomError(
                "ancient_timestamp",
                "timestamp {ts} is before {oldest}",
                {"ts": value.isoformat(), "oldest": str(OLDEST_TS.date())},
            )
        context = info.context or {}
        now = context.get("now") or datetime.now(UTC)
        if value > now + MAX_FUTURE_SKEW:
            ahead = round((value - now).total_seconds())
            raise PydanticCustomError(
                "future_timestamp",
                "timestamp is in the future ({ahead} s ahead of the receiver)",
                {"ahead": ahead},
            )
        max_age: timedelta | None = context.get("max_age")
        if max_age is None:
            max_age = MAX_EVENT_AGE
        if now - value > max_age:
            raise PydanticCustomError(
                "stale_timestamp",
                "timestamp is {days} days before the receiver's clock (events older than {limit} "
                "days are refused; import history as a backfill)",
                {"days": round((now - value).total_seconds() / 86_400, 1), "limit": max_age.days},
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
            for name in IMPRESSION_REQUIRED:
                if getattr(self, name) is None:
                    errors.append(FieldError(name, "required for impression events"))
        else:
            for name in IMPRESSION_ONLY:
                if getattr(self, name) is not None:
                    errors.append(FieldError(name, f"only impression events carry it (type is {self.type})"))
        if errors:
            raise FieldRuleError(errors)
        return self
