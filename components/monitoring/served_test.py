import numpy as np
import pandas as pd
import pytest

from components.monitoring.served import ServedStats, compare_served, gini, label_impressions, served_stats


def test_gini_hand_computed() -> None:
    assert gini(np.array([5, 5, 5, 5])) == pytest.approx(0.0)
    # One item takes everything among four: (n - 1) / n.
    assert gini(np.array([0, 0, 0, 8])) == pytest.approx(0.75)
    # [1, 3]: G = (2 * (1*1 + 2*3)) / (2 * 4) - 3 / 2 = 0.25
    assert gini(np.array([3, 1])) == pytest.approx(0.25)
    assert gini(np.array([])) == 0.0


def _events() -> pd.DataFrame:
    rows = [
        ("impression", "u1", "a", "2026-11-02T10:00:00Z", "r1"),
        ("impression", "u1", "b", "2026-11-02T10:00:00Z", "r1"),
        ("click", "u1", "b", "2026-11-02T10:00:05Z", "r1"),
        ("impression", "u2", "a", "2026-11-02T12:00:00Z", "r2"),
        ("impression", "new", "a", "2026-11-02T13:00:00Z", "r3"),
        ("click", "u2", "a", "2026-11-02T14:00:00Z", None),  # not from a recommendation
        ("view", "u2", "c", "2026-11-02T14:00:00Z", None),
    ]
    frame = pd.DataFrame(rows, columns=["type", "user_id", "article_id", "ts", "request_id"])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame


def test_served_stats_hand_computed() -> None:
    impressions = label_impressions(_events())
    assert impressions["clicked"].tolist() == [False, True, False, False]
    catalog = pd.DataFrame(
        {
            "article_id": ["a", "b", "c", "gone"],
            "published_at": pd.to_datetime(
                [
                    "2026-11-02T08:00:00Z",
                    "2026-11-01T10:00:00Z",
                    "2026-11-02T00:00:00Z",
                    "2026-10-01T00:00:00Z",
                ],
                utc=True,
            ),
            "expires_at": pd.to_datetime([None, None, None, "2026-10-20T00:00:00Z"], utc=True),
        }
    )
    stats = served_stats(impressions, catalog, known_users={"u1", "u2"})
    assert stats.impressions == 4 and stats.ctr == pytest.approx(0.25)
    assert stats.coverage == pytest.approx(2 / 3)  # a and b of the live a, b, c ("gone" expired)
    # ages (h): a 2, b 24, a 4, a 5 -> median 4.5
    assert stats.median_age_h == pytest.approx(4.5)
    assert stats.cold_start_share == pytest.approx(0.25)
    assert stats.gini == pytest.approx(gini(np.array([3, 1])))


def test_compare_served_flags_relative_changes_beyond_limits() -> None:
    reference = ServedStats(1000, 0.1, 0.40, 0.50, 10.0, 0.20)
    current = ServedStats(1000, 0.1, 0.50, 0.30, 11.0, 0.21)
    limits = {"gini_increase": 0.2, "coverage_drop": 0.3, "age_increase": 0.5, "cold_start_increase": 0.5}
    flags = {f.name: f.drifted for f in compare_served(reference, current, limits)}
    assert flags == {"gini": True, "coverage": True, "median_age_h": False, "cold_start_share": False}
