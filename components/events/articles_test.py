"""`articles.v1`: what a CMS may send, and a refusal naming the field and the reason for
everything else."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
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

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)  # injected: nothing here reads the wall clock


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
        "published_at": "2026-06-01T08:00:00+02:00",
        "updated_at": "2026-06-01T07:30:00Z",
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
    assert parsed.published_at == datetime(2026, 6, 1, 6, 0, tzinfo=UTC)
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
        ({"published_at": "2026-06-01T08:00:00"}, "published_at", "timezone-aware"),
        ({"updated_at": 1_780_000_000}, "updated_at", "wrong type (int)"),
        ({"published_at": "2026-06-01T13:00:00Z"}, "published_at", "ahead of the receiver's clock"),
        ({"updated_at": "2026-06-01T05:00:00Z"}, "updated_at", "before published_at"),
        ({"expires_at": "2026-06-01T06:00:00Z"}, "expires_at", "not after published_at"),
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
    later = validate_article(
        article(published_at="2026-06-01T13:00:00Z", updated_at="2026-06-01T13:00:00Z"),
        now=NOW + timedelta(hours=2),
    )
    assert later.published_at.hour == 13
