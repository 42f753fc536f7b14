"""The `articles.v1` contract: one article of a publisher's catalogue, as its CMS sends it.

Defined like `events.v1` (the pydantic model is the one source of the fields, their types and
bounds; the JSON Schema, the columns and the docs derive from it) and as strict: unknown fields
are refused, ids are printable ASCII, times carry a zone and are kept in UTC, text is bounded so
a catalogue row never carries a whole book, and every refusal names the field and the reason.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from components.events.errors import EventValidationError, FieldError, FieldRuleError, from_pydantic
from components.events.schema import IDENTIFIER_MAX_LEN, IDENTIFIER_PATTERN, Identifier, JsonInt
from components.events.time import TimestampError, parse_timestamp

MAX_TITLE_CHARS = 512
MAX_ABSTRACT_CHARS = 4_096
# The text a content model reads; a longer body is cut by the sender, not stored whole here.
MAX_BODY_CHARS = 100_000
MAX_URL_CHARS = 2_048
MAX_LABEL_CHARS = 64
MAX_TAGS = 64
MAX_AUTHORS = 32
MAX_AUTHOR_CHARS = 128
MAX_READ_TIME_S = 24 * 3600
# An article may be stamped a little ahead of the receiver's clock, like an event; an embargoed
# article is sent when it is published (or unpublished until then), not dated in the future.
MAX_FUTURE_SKEW = timedelta(minutes=5)
# An absolute http(s) URL with a host and no space or control character, written so that it
# means the same in Python's and in JSON Schema's (ECMA 262) regular expressions: the model
# checks it, the published schema states it.
_NOT_IN_URL = "\\x00-\\x20\\x7f-\\x9f\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff"
URL_PATTERN = f"^[hH][tT][tT][pP][sS]?://[^/?#{_NOT_IN_URL}]+[^{_NOT_IN_URL}]*$"
_URL = re.compile(URL_PATTERN)
# BCP 47, as pages declare it (`en`, `de-CH`, `zh-Hant-TW`).
LANGUAGE_PATTERN = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$"


class ArticleStatus(StrEnum):
    PUBLISHED = "published"  # recommendable while not expired
    UNPUBLISHED = "unpublished"  # withdrawn for now (an embargo, a correction): never recommended
    DELETED = "deleted"  # taken down for good: never recommended, dropped from the snapshot


def _article_time(value: Any, info: ValidationInfo) -> datetime:
    """The platform's one timestamp parser, its failure reported under the field's own name."""
    try:
        return parse_timestamp(value)
    except TimestampError as exc:
        raise FieldRuleError([FieldError(info.field_name or "$", exc.reason, exc.code)]) from None


ArticleTime = Annotated[datetime, BeforeValidator(_article_time)]
Text = Annotated[StrictStr, Field(min_length=1)]
Label = Annotated[StrictStr, Field(min_length=1, max_length=MAX_LABEL_CHARS)]


class Article(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    article_id: Identifier = Field(
        description="The article's id, as events name it: printable ASCII, 1-128 characters. The Kafka key."
    )
    title: Annotated[Text, Field(max_length=MAX_TITLE_CHARS)] = Field(
        description=f"The headline, 1-{MAX_TITLE_CHARS} characters."
    )
    abstract: Annotated[StrictStr, Field(max_length=MAX_ABSTRACT_CHARS)] = Field(
        description=f"The standfirst or summary shown with the headline, at most {MAX_ABSTRACT_CHARS} characters "
        "(may be empty)."
    )
    body: Annotated[StrictStr, Field(max_length=MAX_BODY_CHARS)] | None = Field(
        default=None, description=f"The article's text, at most {MAX_BODY_CHARS} characters (optional)."
    )
    url: Annotated[StrictStr, Field(min_length=1, max_length=MAX_URL_CHARS)] = Field(
        # The pattern for the schema's readers; the validator below checks the same, and says why.
        json_schema_extra={"pattern": URL_PATTERN},
        description=f"The canonical http(s) URL of the page, at most {MAX_URL_CHARS} characters.",
    )
    section: Label = Field(
        description=f"The section it is filed under (`politics`), 1-{MAX_LABEL_CHARS} characters."
    )
    subsection: Label | None = Field(
        default=None, description=f"The subsection (`europe`), 1-{MAX_LABEL_CHARS} characters (optional)."
    )
    tags: Annotated[list[Label], Field(max_length=MAX_TAGS)] = Field(
        default_factory=list,
        json_schema_extra={"uniqueItems": True},
        description=f"Topic tags, at most {MAX_TAGS} of 1-{MAX_LABEL_CHARS} characters each, no repeats.",
    )
    authors: Annotated[
        list[Annotated[Text, Field(max_length=MAX_AUTHOR_CHARS)]], Field(max_length=MAX_AUTHORS)
    ] = Field(
        default_factory=list,
        description=f"Bylines, at most {MAX_AUTHORS} of 1-{MAX_AUTHOR_CHARS} characters each.",
    )
    language: Annotated[StrictStr, Field(max_length=35, pattern=LANGUAGE_PATTERN)] = Field(
        description="The language of the text, a BCP 47 tag (`en`, `de-CH`)."
    )
    published_at: ArticleTime = Field(
        description="First publication: ISO 8601 with a zone, stored in UTC; at most 5 minutes ahead of the "
        "receiver's clock."
    )
    updated_at: ArticleTime = Field(
        description="Last change of the article itself, not before `published_at`: ISO 8601 with a zone."
    )
    expires_at: ArticleTime | None = Field(
        default=None,
        description="When it stops being recommendable (a live blog, an offer), after `published_at` "
        "(optional).",
    )
    status: ArticleStatus = Field(
        description="published (recommendable), unpublished (withdrawn for now) or deleted (taken down)."
    )
    read_time_s: JsonInt | None = Field(
        default=None,
        ge=1,
        le=MAX_READ_TIME_S,
        description="Estimated reading time in seconds, 1 s to 24 h (optional).",
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not _URL.fullmatch(value):
            raise ValueError("must be an absolute http(s) URL without spaces or control characters")
        return value

    @field_validator("tags")
    @classmethod
    def _distinct_tags(cls, value: list[str]) -> list[str]:
        seen: set[str] = set()
        for tag in value:
            if tag in seen:
                raise ValueError(f"tag {tag[:MAX_LABEL_CHARS]!r} is listed twice")
            seen.add(tag)
        return value

    @field_validator("published_at")
    @classmethod
    def _not_ahead(cls, value: datetime, info: ValidationInfo) -> datetime:
        now = (info.context or {}).get("now") or datetime.now(value.tzinfo)
        if value > now + MAX_FUTURE_SKEW:
            raise ValueError(
                f"is {round((value - now).total_seconds())} s ahead of the receiver's clock "
                "(send an embargoed article when it is published, or as unpublished)"
            )
        return value

    @model_validator(mode="after")
    def _ordered_times(self) -> Article:
        errors = []
        if self.updated_at < self.published_at:
            errors.append(FieldError("updated_at", "is before published_at"))
        if self.expires_at is not None and self.expires_at <= self.published_at:
            errors.append(FieldError("expires_at", "is not after published_at"))
        if errors:
            raise FieldRuleError(errors)
        return self


_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)


def check_article_id(article_id: str) -> FieldError | None:
    """Why an article id given on its own (a URL path, a Kafka key) breaks the contract's
    identifier rule, or None."""
    if not 1 <= len(article_id) <= IDENTIFIER_MAX_LEN or not _IDENTIFIER.fullmatch(article_id):
        return FieldError(
            "article_id",
            f"must be 1-{IDENTIFIER_MAX_LEN} printable ASCII characters without spaces",
            "invalid_identifier",
        )
    return None


def validate_article(data: Any, *, now: datetime | None = None) -> Article:
    """Validate one parsed JSON object; raises EventValidationError naming each bad field."""
    if not isinstance(data, dict):
        raise EventValidationError(
            [
                FieldError(
                    "$", f"wrong type ({type(data).__name__}): an article is a JSON object", "wrong_type"
                )
            ]
        )
    try:
        return Article.model_validate(data, context={"now": now})
    except ValidationError as exc:
        raise from_pydantic(exc) from None


def decode_article(raw: bytes | str, *, now: datetime | None = None) -> Article:
    """Parse and validate one JSON article (a Kafka record of `articles.v1`)."""
    try:
        return Article.model_validate_json(raw, context={"now": now})
    except ValidationError as exc:
        raise from_pydantic(exc) from None


def encode_article(article: Article) -> bytes:
    """Compact UTF-8 JSON, absent optional fields omitted (as events are encoded)."""
    return Article.__pydantic_serializer__.to_json(article, exclude_none=True)
