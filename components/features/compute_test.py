"""Feature rows against a brute-force recomputation: exact windows, and no look-ahead; and the
rows' columns and types against the definitions in feature_repo/definitions.py."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from feast.type_map import pa_to_feast_value_type

from components.features import compute
from components.features.compute import (
    READ_MIN_DWELL_MS,
    SESSION_GAP_S,
    compute_features,
)
from components.features.store import source_schema_errors, write_sources
from components.lake import LakeStore
from feature_repo.definitions import USER_STATS, VIEWS, FeatureSpec, Float64, String, columns, feast_type

START = datetime(2026, 11, 10, tzinfo=UTC)


@pytest.fixture(scope="module")
def world() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(3)
    catalog = pd.DataFrame(
        {
            "article_id": [f"a{i}" for i in range(30)],
            "section": [["news", "tech", "food"][i % 3] for i in range(30)],
            "published_at": [START - timedelta(days=3) + timedelta(hours=6 * i) for i in range(30)],
        }
    )
    n = 3_000
    ts = [START + timedelta(seconds=float(s)) for s in np.sort(rng.uniform(0, 10 * 86_400, n))]
    kinds = rng.choice(["impression", "click", "view", "dwell"], n, p=[0.6, 0.1, 0.15, 0.15])
    events = pd.DataFrame(
        {
            "type": kinds,
            "user_id": [f"u{i}" for i in rng.integers(0, 12, n)],
            "article_id": [f"a{i}" for i in rng.integers(0, 30, n)],
            "ts": pd.to_datetime(ts, utc=True),
            "dwell_ms": np.where(kinds == "dwell", rng.integers(1_000, 60_000, n), np.nan),
        }
    )
    return events, catalog


def window(events: pd.DataFrame, key: str, value: str, end: pd.Timestamp, hours: int) -> pd.DataFrame:
    chosen = events[
        (events[key] == value) & (events["ts"] <= end) & (events["ts"] > end - pd.Timedelta(hours=hours))
    ]
    return chosen


def test_user_rows_match_brute_force_and_never_look_ahead(world: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    events, catalog = world
    tables = compute_features(events, catalog)
    users = tables.user_stats
    assert len(users) > 100
    categories = catalog.set_index("article_id")["section"]
    for row in users.sample(80, random_state=1).itertuples():
        seen = window(events, "user_id", row.user_id, row.event_timestamp, 7 * 24)
        assert row.clicks_7d == (seen["type"] == "click").sum()
        views = (seen["type"] == "view").sum()
        reads = ((seen["type"] == "dwell") & (seen["dwell_ms"] >= READ_MIN_DWELL_MS)).sum()
        if views:
            assert row.read_ratio_7d == pytest.approx(min(reads / views, 1.0))
        else:
            assert np.isnan(row.read_ratio_7d)
        viewed = seen[seen["type"] == "view"]["article_id"].map(categories).value_counts()
        if len(viewed):
            assert row.top_category in set(viewed[viewed == viewed.max()].index)
        # nothing after the row's timestamp was used: recomputing without the future agrees
        past_only = events[events["ts"] <= row.event_timestamp]
        again = compute_features(past_only, catalog).user_stats
        same = again[(again["user_id"] == row.user_id) & (again["event_timestamp"] == row.event_timestamp)]
        assert same["clicks_7d"].tolist() == [row.clicks_7d]


def test_sessions_split_on_thirty_minute_gaps() -> None:
    t0 = pd.Timestamp(START)
    stamps = [
        t0,
        t0 + pd.Timedelta(minutes=10),
        t0 + pd.Timedelta(seconds=10 * 60 + SESSION_GAP_S + 1),
        t0 + pd.Timedelta(hours=1),
    ]
    events = pd.DataFrame(
        {
            "type": ["view"] * 4,
            "user_id": ["u"] * 4,
            "article_id": ["a0"] * 4,
            "ts": pd.to_datetime(stamps, utc=True),
            "dwell_ms": [np.nan] * 4,
        }
    )
    catalog = pd.DataFrame(
        {"article_id": ["a0"], "section": ["news"], "published_at": [START - timedelta(days=1)]}
    )
    users = compute_features(events, catalog).user_stats.sort_values("event_timestamp")
    last = users.iloc[-1]
    # sessions: [t0, t0+10m] = 600 s and [t0+40m01s, t0+60m] = 1199 s -> average 899.5 s
    assert last["avg_session_len_s"] == pytest.approx((600 + (3600 - (600 + SESSION_GAP_S + 1))) / 2)


def test_article_rows_match_brute_force_and_start_at_publication(
    world: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    events, catalog = world
    articles = compute_features(events, catalog).article_stats
    for row in articles.sample(80, random_state=2).itertuples():
        day = window(events, "article_id", row.article_id, row.event_timestamp, 24)
        assert row.views_24h == (day["type"] == "view").sum()
        impressions = (day["type"] == "impression").sum()
        if impressions:
            assert row.ctr_24h == pytest.approx(min((day["type"] == "click").sum() / impressions, 1.0))
        week = window(events, "article_id", row.article_id, row.event_timestamp, 7 * 24)
        dwell = week[week["type"] == "dwell"]["dwell_ms"]
        if len(dwell):
            assert row.avg_read_time_s == pytest.approx(dwell.mean() / 1000)
        assert row.event_timestamp >= row.published_at.floor("h")
    first = articles.sort_values("event_timestamp").groupby("article_id").first()
    published = catalog.set_index("article_id")["published_at"]
    assert (
        first["event_timestamp"] <= pd.to_datetime(published, utc=True).reindex(first.index).dt.ceil("h")
    ).all()


def test_counts_drop_to_zero_once_events_leave_the_window() -> None:
    t0 = pd.Timestamp(START)
    events = pd.DataFrame(
        {
            "type": ["click", "view"],
            "user_id": ["u", "u"],
            "article_id": ["a0", "a0"],
            "ts": pd.to_datetime([t0, t0 + pd.Timedelta(days=9)], utc=True),
            "dwell_ms": [np.nan, np.nan],
        }
    )
    catalog = pd.DataFrame(
        {"article_id": ["a0"], "section": ["news"], "published_at": [START - timedelta(days=1)]}
    )
    users = compute_features(events, catalog).user_stats.set_index("event_timestamp")
    assert users.loc[t0, "clicks_7d"] == 1
    assert users.loc[t0 + pd.Timedelta(days=7), "clicks_7d"] == 0  # the exit row


def test_empty_input_is_refused() -> None:
    empty = pd.DataFrame(columns=["type", "user_id", "article_id", "ts", "dwell_ms"])
    with pytest.raises(ValueError, match="events"):
        compute_features(empty, pd.DataFrame(columns=["article_id", "section", "published_at"]))


def test_rows_have_the_defined_columns_and_types(world: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    events, catalog = world
    tables = compute_features(events, catalog)
    for view in VIEWS:
        frame = tables.frame(view)
        assert list(frame.columns) == columns(view), view.name
        schema = pa.Table.from_pandas(frame, preserve_index=False).schema
        assert source_schema_errors(view, schema) == [], view.name
        for spec in view.fields:  # as Feast reads the source file
            read_as = pa_to_feast_value_type(str(schema.field(spec.name).type))
            assert read_as == feast_type(spec).to_value_type(), (view.name, spec.name, read_as)


def test_rows_unlike_their_definition_are_not_written(
    world: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    events, catalog = world
    tables = compute_features(events, catalog)
    lake = LakeStore(str(tmp_path))
    assert write_sources(lake, tables) == {
        "user_stats": len(tables.user_stats),
        "article_stats": len(tables.article_stats),
    }
    tables.article_stats["views_24h"] = tables.article_stats["views_24h"].astype(str)
    with pytest.raises(
        ValueError, match="article_stats: .*views_24h: Arrow type string reads as STRING, defined Int64"
    ):
        write_sources(lake, tables)


def test_a_feature_on_one_side_only_is_refused(
    world: tuple[pd.DataFrame, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    events, catalog = world
    tables = compute_features(events, catalog)
    schema = pa.Table.from_pandas(tables.user_stats, preserve_index=False).schema
    # Defined, not computed: compute refuses to emit the rows, the source check names it.
    more = replace(USER_STATS, fields=(*USER_STATS.fields, FeatureSpec("shares_7d", Float64, "shares")))
    assert "missing ['shares_7d']" in source_schema_errors(more, schema)[0]
    monkeypatch.setattr(compute, "USER_STATS", more)
    with pytest.raises(ValueError, match=r"user_stats: .*not computed: \['shares_7d'\]"):
        compute_features(events, catalog)
    # Computed, not defined.
    fewer = replace(USER_STATS, fields=USER_STATS.fields[:-1])
    assert "not defined ['top_category']" in source_schema_errors(fewer, schema)[0]
    monkeypatch.setattr(compute, "USER_STATS", fewer)
    with pytest.raises(ValueError, match=r"not defined: \['top_category'\]"):
        compute_features(events, catalog)
    # Defined with another type than computed.
    retyped = replace(
        USER_STATS, fields=(replace(USER_STATS.fields[0], dtype=String), *USER_STATS.fields[1:])
    )
    assert source_schema_errors(retyped, schema) == [
        "clicks_7d: Arrow type int64 reads as INT64, defined String"
    ]


def test_a_catalogue_change_after_the_cutoff_is_not_in_the_training_features(tmp_path: Path) -> None:
    """The features of a training window read the catalogue as it was at the window's end: an
    article moved to another section (and a new article) after it change nothing."""
    from components.events.articles import validate_article
    from components.features.build import catalog_as_of
    from components.lake.catalog import upsert_articles

    store = LakeStore(str(tmp_path / "lake"))
    cutoff = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=3)

    def article(article_id: str, section: str, published: datetime, updated: datetime) -> dict[str, str]:
        return {"article_id": article_id, "title": article_id, "abstract": "", "url": "https://x.example/",
                "section": section, "language": "en", "published_at": published.isoformat(),
                "updated_at": updated.isoformat(), "status": "published"}  # fmt: skip

    published = cutoff - timedelta(days=2)
    upsert_articles(store, [validate_article(article("a0", "tech", published, published))])
    later = cutoff + timedelta(days=1)
    upsert_articles(
        store,
        [
            validate_article(article("a0", "sports", published, later)),
            validate_article(article("a9", "food", later, later)),
        ],
    )
    events = pd.DataFrame(
        {
            "type": ["view", "click"],
            "user_id": ["u1", "u1"],
            "article_id": ["a0", "a0"],
            "ts": pd.to_datetime([cutoff - timedelta(hours=5), cutoff - timedelta(hours=1)], utc=True),
            "dwell_ms": [np.nan, np.nan],
        }
    )
    catalog = catalog_as_of(store, cutoff)
    assert catalog["article_id"].tolist() == ["a0"] and catalog["section"].tolist() == ["tech"]
    tables = compute_features(events, catalog)
    assert set(tables.article_stats["category"]) == {"tech"}
    assert set(tables.user_stats["top_category"].dropna()) == {"tech"}
    # Read now, the catalogue has moved on: what serving sees.
    assert set(catalog_as_of(store, datetime.now(UTC))["section"]) == {"sports", "food"}
