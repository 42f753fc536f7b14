"""Feast on the real Redis: apply, materialize, point-in-time training sets that lose no row.
(Online values read by reco equal to Feast's: components/online/reader_golden_test.py.)"""

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from components.config import Settings
from components.features import FeatureTables, compute_features
from components.features.store import (
    apply,
    feature_store,
    feature_view_versions,
    materialize,
    training_set,
    write_sources,
)
from components.lake import LakeStore
from components.simulator import WorldConfig
from components.testing.feast_world import feast_settings, simulated_frames

START = datetime(2026, 10, 5, tzinfo=UTC)


@pytest.fixture(scope="module")
def simulated() -> tuple[pd.DataFrame, pd.DataFrame]:
    return simulated_frames(WorldConfig(seed=12, start=START, days=3, users=400, articles_per_day=25))


def _env(
    reco_settings: Settings, simulated: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path, online_store: str
) -> Iterator[tuple[Any, FeatureTables, datetime]]:
    settings = feast_settings(reco_settings, tmp_path, online_store)
    events, catalog = simulated
    tables = compute_features(events, catalog)
    lake = LakeStore.from_settings(settings.lake)
    write_sources(lake, tables)
    fs = feature_store(settings)
    apply(fs, lake)
    end = START + timedelta(days=2, hours=12)
    materialize(fs, tables, end)
    yield fs, tables, end
    fs.teardown()  # drops the project's online rows from Redis


@pytest.fixture
def feast_env(
    reco_settings: Settings, simulated: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> Iterator[tuple[Any, FeatureTables, datetime]]:
    yield from _env(reco_settings, simulated, tmp_path, "redis")


def _entity_rows(events: pd.DataFrame, kind: str, n: int, seed: int) -> pd.DataFrame:
    """`n` sampled events of one type as (user_id, article_id, event_timestamp) rows."""
    sample = events[events["type"] == kind].sample(n, random_state=seed)
    return pd.DataFrame(
        {
            "user_id": sample["user_id"].to_numpy(),
            "article_id": sample["article_id"].to_numpy(),
            "event_timestamp": sample["ts"].to_numpy(),
        }
    )


def test_training_set_keeps_every_row_including_cold_ones(
    feast_env: tuple[Any, FeatureTables, datetime], simulated: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    fs, tables, _ = feast_env
    events, _ = simulated
    rows = _entity_rows(events, "impression", 2_000, seed=0)
    rows["label"] = np.arange(len(rows)) % 2
    cold = pd.DataFrame(
        {
            "user_id": ["never-seen-user", rows["user_id"][0], "another-new-one"],
            "article_id": ["never-seen-article", rows["article_id"][0], rows["article_id"][1]],
            # before any feature row exists, and long after the TTL
            "event_timestamp": pd.to_datetime(
                [START - timedelta(days=400), START - timedelta(days=400), START + timedelta(days=300)],
                utc=True,
            ),
            "label": [1, 0, 1],
        }
    )
    entity_rows = pd.concat([rows, cold], ignore_index=True)
    out = training_set(fs, entity_rows)
    assert len(out) == len(entity_rows)  # rows in == rows out
    assert out["label"].tolist() == entity_rows["label"].tolist()
    assert out["user_id"].tolist() == entity_rows["user_id"].tolist()
    tail = out.tail(3)
    assert tail["clicks_7d"].tolist() == [0, 0, 0]
    assert tail["top_category"].isna().all()
    assert tail["read_ratio_7d"].isna().all()


def _latest_at(
    frame: pd.DataFrame, key: str, value: str, at: pd.Timestamp, ttl: timedelta
) -> pd.Series | None:
    rows = frame[
        (frame[key] == value) & (frame["event_timestamp"] <= at) & (frame["event_timestamp"] > at - ttl)
    ]
    return None if rows.empty else rows.sort_values("event_timestamp").iloc[-1]


def test_point_in_time_join_takes_the_latest_row_at_or_before_each_timestamp(
    feast_env: tuple[Any, FeatureTables, datetime], simulated: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    fs, tables, _ = feast_env
    events, _ = simulated
    rows = _entity_rows(events, "click", 150, seed=3)
    out = training_set(fs, rows)
    for i, row in out.iterrows():
        expected = _latest_at(
            tables.user_stats, "user_id", row["user_id"], rows["event_timestamp"][i], timedelta(days=8)
        )
        assert row["clicks_7d"] == (0 if expected is None else expected["clicks_7d"])
        if expected is not None:
            assert expected["event_timestamp"] <= rows["event_timestamp"][i]  # no look-ahead
        article = _latest_at(
            tables.article_stats,
            "article_id",
            row["article_id"],
            rows["event_timestamp"][i],
            timedelta(days=120),
        )
        assert row["views_24h"] == (0 if article is None else article["views_24h"])


def test_training_set_refuses_rows_without_keys(feast_env: tuple[Any, FeatureTables, datetime]) -> None:
    fs, _, _ = feast_env
    with pytest.raises(ValueError, match="article_id"):
        training_set(fs, pd.DataFrame({"user_id": ["u"], "event_timestamp": [pd.Timestamp(START)]}))


def test_sql_registry_on_postgres_for_the_cluster_profile(
    reco_settings: Settings, postgres_dsn: str, tmp_path: Path
) -> None:
    import psycopg

    info = psycopg.conninfo.conninfo_to_dict(postgres_dsn)
    url = f"postgresql+psycopg://{info.get('user', 'postgres')}@{info.get('host', '127.0.0.1')}:{info.get('port', 5432)}/{info['dbname']}"
    features = reco_settings.features.model_copy(
        update={"project": f"reco_test_{uuid.uuid4().hex[:8]}", "registry": url}
    )
    settings = reco_settings.model_copy(update={"features": features})
    lake = LakeStore.from_settings(settings.lake)
    assert apply(feature_store(settings), lake) == ["user_stats", "article_stats"]
    # a second process sees the same registry
    fresh = feature_store(settings)
    assert sorted(v.name for v in fresh.list_feature_views()) == ["article_stats", "user_stats"]
    assert sorted(s.name for s in fresh.list_feature_services()) == ["serving_v1", "training_v1"]
    with psycopg.connect(postgres_dsn) as conn:
        tables = {
            row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
    assert "feature_views" in tables


def test_feature_view_versions_are_the_same_in_every_process() -> None:
    """The version is logged with each model; it must not change with string hashing."""
    code = "from components.features.store import feature_view_versions as v; print(sorted(v().items()))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    seen = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**env, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert seen == {str(sorted(feature_view_versions().items()))}
