"""The serving catalogue: only published articles are live, and a withdrawal takes an article
out of every order at once."""

from __future__ import annotations

import pyarrow as pa

from components.serving.catalogue import Catalogue

NOW = 1_000_000.0


def table(statuses: list[str]) -> pa.Table:
    n = len(statuses)
    return pa.table(
        {
            "article_id": [f"a{i}" for i in range(n)],
            "section": ["news"] * n,
            "status": statuses,
            "published_at": pa.array([int((NOW - 3600 * (i + 1)) * 1e6) for i in range(n)], pa.int64()).cast(
                pa.timestamp("us", tz="UTC")
            ),
            "expires_at": pa.nulls(n, pa.timestamp("us", tz="UTC")),
        }
    )


def test_only_published_articles_are_served() -> None:
    catalogue = Catalogue.from_table(table(["published", "unpublished", "published"]), now_s=NOW)
    assert list(catalogue.article_ids) == ["a0", "a2"]
    assert catalogue.popular(5, NOW, set())[0] == ["a0", "a2"]


def test_a_withdrawal_leaves_every_order_at_once() -> None:
    catalogue = Catalogue.from_table(table(["published"] * 4), now_s=NOW)
    assert catalogue.popular(4, NOW, set())[0] == ["a0", "a1", "a2", "a3"]
    withdrawn = catalogue.without(["a1", "unknown"], now_s=NOW)
    assert withdrawn.popular(4, NOW, set())[0] == ["a0", "a2", "a3"]
    assert not withdrawn.is_live(withdrawn.index["a1"], NOW)
    assert int(withdrawn.live(NOW).sum()) == 3
    assert catalogue.without([], now_s=NOW) is catalogue
    assert catalogue.popular(4, NOW, set())[0] == ["a0", "a1", "a2", "a3"]  # the original is untouched


def test_a_cache_written_before_articles_v1_still_loads() -> None:
    old = (
        table(["published"] * 2)
        .drop_columns(["status"])
        .rename_columns(["article_id", "category", "published_at", "expires_at"])
    )
    assert list(Catalogue.from_table(old, now_s=NOW).category) == ["news", "news"]
