"""The recommend API's request, and the field errors a bad one is answered with (422).

Limits (k, exclude length) come from the settings, passed as validation context, so an
operator can tighten them without a code change."""

from __future__ import annotations

from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from components.events.articles import Label
from components.events.errors import FieldError, from_pydantic
from components.events.schema import ContextValue, Identifier, JsonInt, check_context
from components.events.time import TimestampError, parse_timestamp

# The impression events carry the request's context plus the service's own keys (variant, k,
# and with exploration arm, policy, explore_p, model_item): 10 + 6 is the events' limit of 16.
REQUEST_CONTEXT_MAX_KEYS = 10
DEFAULT_MAX_K = 100
DEFAULT_MAX_EXCLUDE = 500
MAX_FILTER_SECTIONS = 50


class Filters(BaseModel):
    """What a list may hold besides the service's own rules (a section page's rail)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sections: list[Label] | None = Field(
        default=None,
        max_length=MAX_FILTER_SECTIONS,
        description="Only articles filed under one of these sections (articles.v1 `section`); "
        "absent: every section. A list that no live article matches is answered with no items.",
    )


class ListRequest(BaseModel):
    """What every list request has: k and exclude, bounded by the settings (passed as
    validation context), and the page context."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    k: JsonInt = Field(default=10, description="How many articles (1 to the service's max_k).")
    exclude: list[Identifier] = Field(
        default_factory=list, description="Article ids never to return (at most the service's max_exclude)."
    )
    context: dict[str, ContextValue] = Field(
        default_factory=dict, description="Page context, logged with the impressions."
    )

    @field_validator("k")
    @classmethod
    def _k_in_range(cls, value: int, info: ValidationInfo) -> int:
        max_k = (info.context or {}).get("max_k", DEFAULT_MAX_K)
        if not 1 <= value <= max_k:
            raise ValueError(f"must be between 1 and {max_k} (got {value})")
        return value

    @field_validator("exclude")
    @classmethod
    def _exclude_bounded(cls, value: list[str], info: ValidationInfo) -> list[str]:
        max_exclude = (info.context or {}).get("max_exclude", DEFAULT_MAX_EXCLUDE)
        if len(value) > max_exclude:
            raise ValueError(f"at most {max_exclude} article ids (got {len(value)})")
        return value

    @field_validator("context")
    @classmethod
    def _context_small(cls, value: dict[str, Any]) -> dict[str, Any]:
        return check_context(value, REQUEST_CONTEXT_MAX_KEYS)


class RecommendRequest(ListRequest):
    user_id: Identifier | None = Field(
        default=None,
        description="The reader (printable ASCII, 1-128 characters); absent: the non-personal list (a "
        "reader who did not consent), and no impressions are logged.",
    )
    filters: Filters = Field(default_factory=Filters)


class RelatedRequest(ListRequest):
    """Articles to show under `article_id` (a story page's "related" rail)."""

    article_id: Identifier = Field(description="The article the page shows.")
    user_id: Identifier | None = Field(
        default=None,
        description="The reader, when known and consenting: their recent reads are left out and the "
        "impressions are logged under them; absent: a non-personal list, and no impressions are logged.",
    )
    filters: Filters = Field(default_factory=Filters)


# Pydantic reports a value that fits no member of a union once per member, the member's type
# appended to the path (context.page.str, context.page.int, ...): one error is enough.
_UNION_MEMBERS = {"str", "bool", "int", "float", "none"}


def field_errors(exc: ValidationError) -> list[FieldError]:
    """(field path, reason, code) per failure, worded as for events; malformed JSON is `$`."""
    errors: list[FieldError] = []
    for error in from_pydantic(exc).errors:
        head, _, last = error.field.rpartition(".")
        if head.startswith("context.") and last in _UNION_MEMBERS:
            if errors and errors[-1].field == head:
                continue
            error = FieldError(head, "must be a string, number, boolean or null", "wrong_type")
        errors.append(error)
    return errors


def parse_request(body: bytes, *, max_k: int, max_exclude: int) -> RecommendRequest:
    """Raises ValidationError (see `field_errors`)."""
    return RecommendRequest.model_validate_json(body, context={"max_k": max_k, "max_exclude": max_exclude})


def parse_related(body: bytes, *, max_k: int, max_exclude: int) -> RelatedRequest:
    """Raises ValidationError (see `field_errors`)."""
    return RelatedRequest.model_validate_json(body, context={"max_k": max_k, "max_exclude": max_exclude})


def served_at(request: ListRequest) -> float:
    """`context.now` (epoch seconds, or ISO 8601 with a zone) as epoch seconds: the time a
    request is served at under the request clock. Raises ValueError saying what is wrong."""
    value = request.context.get("now")
    if value is None:
        raise ValueError("required when the service runs on the request clock")
    if isinstance(value, bool):
        raise ValueError("must be epoch seconds or an ISO 8601 timestamp")
    if isinstance(value, int | float):
        return float(value)
    try:
        return parse_timestamp(value).timestamp()
    except TimestampError as exc:
        raise ValueError(exc.reason) from None
