"""Evidently on known shifts: a shifted column is flagged, an unchanged one is not."""

import numpy as np
import pandas as pd
import pytest

from components.monitoring.drift import compare


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


def test_a_feature_without_values_is_left_out_and_said_so() -> None:
    """A publisher whose export has no view events has no read ratio: the check compares the
    other columns instead of failing (the daily flow's monitor step ran into this)."""
    rng = np.random.default_rng(2)
    reference = _users(rng, 400, "2026-11-01", 3.0)
    current = _users(rng, 400, "2026-11-02", 9.0)
    reference["read_ratio_7d"] = np.nan
    summary, _ = compare(reference, current, ["clicks_7d", "read_ratio_7d"], ["top_category"])
    assert summary["unmonitored"] == {"read_ratio_7d": "no values in the reference"}
    assert set(summary["columns"]) == {"clicks_7d", "top_category"}
    assert summary["columns"]["clicks_7d"]["drifted"] is True
    current["clicks_7d"] = np.nan
    current["top_category"] = None
    nothing, html = compare(reference, current, ["clicks_7d", "read_ratio_7d"], ["top_category"])
    assert nothing["columns"] == {} and nothing["share"] == 0.0 and "No column to compare" in html
