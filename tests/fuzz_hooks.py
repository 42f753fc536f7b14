"""schemathesis hooks of tests/fuzz_api_test.py (loaded by name through SCHEMATHESIS_HOOKS).

`date-time` values are drawn around the receiver's clock, within the contract's lateness
window and with any zone offset, so schema-valid events are the events a live page sends (a
random date in the year 9000 is schema-valid but no event, and is refused by design). An
article's times are put in their order (published, updated, expires), which `articles.v1`
requires and JSON Schema cannot say."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import schemathesis
from hypothesis import strategies as st

from components.events.schema import MAX_EVENT_AGE

NOW = datetime.now(UTC)


def _stamp(args: tuple[int, int]) -> str:
    seconds_ago, offset_minutes = args
    zone = timezone(timedelta(minutes=offset_minutes))
    return (NOW - timedelta(seconds=seconds_ago)).astimezone(zone).isoformat()


schemathesis.openapi.format(
    "date-time",
    st.tuples(
        st.integers(min_value=0, max_value=int(MAX_EVENT_AGE.total_seconds()) - 3_600),
        st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59),
    ).map(_stamp),
)


def _ordered(article: Any) -> Any:
    if not isinstance(article, dict):
        return article
    times = {}
    for name in ("published_at", "updated_at", "expires_at"):
        value = article.get(name)
        if isinstance(value, str):
            try:
                times[name] = datetime.fromisoformat(value)
            except ValueError:
                return article  # not a time: a negative case, left as drawn
    published = times.get("published_at")
    if published is None or published.tzinfo is None:
        return article
    out = dict(article)
    updated = times.get("updated_at")
    if updated is not None and updated.tzinfo is not None and updated < published:
        out["updated_at"] = article["published_at"]
    expires = times.get("expires_at")
    if expires is not None and expires.tzinfo is not None and expires <= published:
        out["expires_at"] = (published + timedelta(days=1)).isoformat()
    return out


@schemathesis.hook
def map_body(context: Any, body: Any) -> Any:
    operation = getattr(context, "operation", None)
    if operation is None or getattr(operation, "path", None) != "/articles":
        return body
    if isinstance(body, dict) and isinstance(body.get("articles"), list):
        return {**body, "articles": [_ordered(a) for a in body["articles"]]}
    if isinstance(body, list):
        return [_ordered(a) for a in body]
    return _ordered(body)
