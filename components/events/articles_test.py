"""`articles.v1`: what a CMS may send, and a refusal naming the field and the reason for
everything else."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from components.events import EventValidationError
from components.events.articles import (
    MAX_BODY_CHARS,
    Article,
    ArticleStatus,
    decode_article,
    encode_article,
    validate_article,
)
from components.events.columns import model_columns

# The receiver's clock, injected and relative to the run (no date in these tests ages).
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def at(hours: float, zone: str = "Z") -> str:
    """NOW shifted by `hours`, as ISO 8601 text (in UTC, or written with a +02:00 offset)."""
    t = NOW + timedelta(hours=hours)
    if zone == "Z":
        return t.isoformat().replace("+00:00", "Z")
    return t.astimezone(timezone(timedelta(hours=2))).isoformat()


def article(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "article_id": "a-1001",
        "title": "Rates held as inflation cools",
        "abstract": "The central bank kept its rate at 3 %.",
        "url": "https://news.example/economy/a-1001",
        "section": "economy",
        "tags": ["rates", "inflation"],
        "authors": ["A. Writer"],
        "language": "en",
        "published_at": at(-6, "+02:00"),
        "updated_at": at(-4.5),
        "status": "published",
    }
    payload.update(overrides)
    return payload


def reasons(payload: Any) -> dict[str, str]:
    with pytest.raises(EventValidationError) as caught:
        validate_article(payload, now=NOW)
    return {e.field: e.reason for e in caught.value.errors}


def test_a_valid_article_round_trips_in_utc() -> None:
    parsed = validate_article(article(body="Text.", read_time_s=180, subsection="central-banks"), now=NOW)
    assert parsed.published_at == NOW - timedelta(hours=6) and parsed.published_at.tzinfo is UTC
    assert parsed.status is ArticleStatus.PUBLISHED
    assert decode_article(encode_article(parsed), now=NOW) == parsed
    assert b'"expires_at"' not in encode_article(parsed)  # absent stays absent


@pytest.mark.parametrize(
    ("overrides", "field", "fragment"),
    [
        ({"title": ""}, "title", "at least 1 character"),
        ({"body": "x" * (MAX_BODY_CHARS + 1)}, "body", f"at most {MAX_BODY_CHARS} characters"),
        ({"url": "javascript:alert(1)"}, "url", "absolute http(s) URL"),
        ({"url": "https://news.example/a b"}, "url", "without spaces"),
        ({"article_id": "has space"}, "article_id", "pattern"),
        ({"language": "english"}, "language", "pattern"),
        ({"tags": ["rates", "rates"]}, "tags", "listed twice"),
        ({"tags": ["x" * 65]}, "tags.0", "at most 64 characters"),
        ({"authors": ["A"] * 33}, "authors", "at most 32 items"),
        ({"status": "draft"}, "status", "unknown value 'draft'"),
        ({"read_time_s": 0}, "read_time_s", "greater than or equal to 1"),
        ({"read_time_s": "180"}, "read_time_s", "wrong type"),
        ({"published_at": at(-6)[:-1]}, "published_at", "timezone-aware"),
        ({"updated_at": 1_780_000_000}, "updated_at", "wrong type (int)"),
        ({"published_at": at(1)}, "published_at", "ahead of the receiver's clock"),
        ({"updated_at": at(-7)}, "updated_at", "before published_at"),
        ({"expires_at": at(-6)}, "expires_at", "not after published_at"),
        ({"sponsor": "x"}, "sponsor", "unknown field"),
    ],
)
def test_refusals_name_the_field_and_the_reason(overrides: dict[str, Any], field: str, fragment: str) -> None:
    found = reasons(article(**overrides))
    assert field in found, found
    assert fragment in found[field]


def test_missing_fields_and_wrong_shapes_are_named() -> None:
    payload = article()
    del payload["url"], payload["section"]
    assert reasons(payload) == {"url": "missing field", "section": "missing field"}
    assert list(reasons([article()])) == ["$"]
    with pytest.raises(EventValidationError, match="malformed JSON"):
        decode_article(b"{not json", now=NOW)


def test_columns_and_committed_schema_follow_the_model() -> None:
    columns = {c.name: c for c in model_columns(Article)}
    assert list(columns) == list(Article.model_fields)
    assert columns["tags"].arrow == pa.list_(pa.string())
    assert columns["published_at"].arrow == pa.timestamp("us", tz="UTC")
    assert columns["status"].values == ("published", "unpublished", "deleted")
    schema = json.loads(Path("docs/contracts/articles.v1.schema.json").read_text())
    assert sorted(schema["required"]) == sorted(n for n, f in Article.model_fields.items() if f.is_required())
    assert schema["additionalProperties"] is False


def test_the_receivers_clock_is_injected() -> None:
    ahead = at(1)  # an hour ahead of NOW: refused above, accepted by a receiver two hours later
    later = validate_article(article(published_at=ahead, updated_at=ahead), now=NOW + timedelta(hours=2))
    assert later.published_at == NOW + timedelta(hours=1)


@pytest.mark.parametrize(
    "url",
    ["https://x.example/a", "http://x", "https://x.example/a?b=c#d", "ftp://x.example/", "https:///path",
     "https://x.example/a b", "x.example/a", "https://", "HTTPS://X.EXAMPLE/", "https://x.example/\n",
     "https://x.example/\x1e"],
)  # fmt: skip
def test_the_published_url_pattern_says_what_the_validator_checks(url: str) -> None:
    """The JSON Schema's pattern (for other tools) and the model's check agree."""
    import re

    from components.events.articles import URL_PATTERN

    try:
        validate_article(article(url=url), now=NOW)
        accepted = True
    except EventValidationError as exc:
        accepted = "url" not in exc.fields
    assert (
        bool(re.fullmatch(URL_PATTERN, url)) == accepted
    )  # JSON Schema patterns do not match before a final newline
