"""Evidently on known shifts: a shifted column is flagged, an unchanged one is not."""

import io
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from components.lake import LakeStore
from components.monitoring.drift import compare, feature_drift
from feature_repo.definitions import ARTICLE_STATS_PATH, USER_STATS_PATH


def _users(rng: np.random.Generator, n: int, day: str, clicks_mean: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": [f"u{i}" for i in range(n)],
            "event_timestamp": pd.Timestamp(day, tz="UTC")
            + pd.to_timedelta(rng.integers(0, 86_000, n), unit="s"),
            "clicks_7d": rng.poisson(clicks_mean, n),
            "read_ratio_7d": rng.uniform(0, 1, n),
            "avg_session_len_s": rng.exponential(60, n),
            "top_category": rng.choice(["news", "sport", "tech"], n),
        }
    )


def test_compare_flags_the_shifted_column_only() -> None:
    rng = np.random.default_rng(1)
    reference = _users(rng, 400, "2026-11-01", 3.0)
    current = _users(rng, 400, "2026-11-02", 9.0)
    summary, html = compare(
        reference,
        current,
        ["clicks_7d", "read_ratio_7d", "avg_session_len_s"],
        ["top_category"],
        drift_share=0.5,
    )
    assert summary["columns"]["clicks_7d"]["drifted"] is True
    assert summary["columns"]["read_ratio_7d"]["drifted"] is False
    assert summary["share"] == pytest.approx(0.25)
    assert "<html" in html.lower()


def test_feature_drift_writes_reports_and_skips_thin_tables(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(2)
    store = LakeStore(str(tmp_path))
    users = pd.concat(
        [_users(rng, 300, f"2026-11-0{d}", 3.0) for d in (1, 2, 3)] + [_users(rng, 300, "2026-11-04", 12.0)]
    )
    users["top_category"] = np.where(
        users["event_timestamp"] >= pd.Timestamp("2026-11-04", tz="UTC"), "tech", users["top_category"]
    )
    for path, frame in (
        (USER_STATS_PATH, users),
        (ARTICLE_STATS_PATH, users.head(0).rename(columns={"user_id": "article_id"})),
    ):
        buffer = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer)
        store.write_atomic(path, buffer.getvalue())
    results = {r.table: r for r in feature_drift(store, "2026-11-04", reference_days=3)}
    assert results["user_stats"].drifted and "clicks_7d" in results["user_stats"].drifted_columns
    assert results["user_stats"].reference_rows == 900 and results["user_stats"].current_rows == 300
    assert results["article_stats"].skipped and not results["article_stats"].drifted
    saved = json.loads(store.read_bytes("reports/drift/2026-11-04/user_stats.json"))
    assert saved["drifted"] is True
    assert store.exists("reports/drift/2026-11-04/user_stats.html")
