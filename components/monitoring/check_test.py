"""A drift check on a simulated lake: quiet when production looks like the reference, loud
(with saved reports) when the features move."""

import io
from datetime import UTC, datetime

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from components.config import Settings, load_settings
from components.lake import LakeStore
from components.monitoring.check import run_drift_check
from components.monitoring.reference import TABLES, build_reference, load_reference, save_reference
from components.simulator import WorldConfig
from components.testing.silver_lake import build_simulated_lake, write_feature_sources

END = datetime(2026, 11, 24, tzinfo=UTC)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[LakeStore, list[str]]:
    store = LakeStore(str(tmp_path_factory.mktemp("lake")))
    dates = build_simulated_lake(
        store,
        WorldConfig(
            seed=4, start=datetime(2026, 11, 21, tzinfo=UTC), days=3, users=1500, articles_per_day=30
        ),
    )
    write_feature_sources(store, dates)
    return store, dates


def _settings(tmp_path) -> Settings:  # type: ignore[no-untyped-def]
    return load_settings(home=str(tmp_path))


def test_reference_round_trips(lake: tuple[LakeStore, list[str]], tmp_path) -> None:  # type: ignore[no-untyped-def]
    store, dates = lake
    reference = build_reference(store, dates[-1:], {"u1"})
    again = load_reference(save_reference(reference, tmp_path / "ref"))
    assert set(again.features) == set(TABLES)
    assert len(again.features["user_stats"]) == len(reference.features["user_stats"])
    assert again.served == reference.served and again.known_users == {"u1"}
    assert again.impressions is not None and again.impressions["clicked"].dtype == bool


def test_same_traffic_is_quiet_moved_features_are_drift(lake: tuple[LakeStore, list[str]], tmp_path) -> None:  # type: ignore[no-untyped-def]
    store, dates = lake
    settings = _settings(tmp_path)
    # The reference is the last day itself: nothing can have drifted.
    reference = build_reference(store, dates[-1:], set())
    calm = run_drift_check(settings, store, reference, model_version="1", now=END)
    assert not calm.drifted, calm.reasons
    assert calm.feature_share == 0.0 and calm.ctr_current == pytest.approx(
        calm.ctr_reference, abs=0.005
    )  # the reference is a sample
    assert calm.interest_score is not None and not calm.interest_drifted
    assert calm.drift_share == 0.0
    assert calm.reports and all(store.exists(r.removeprefix(store.base + "/")) for r in calm.reports)

    # Production features move: everyone reads three times more and only one section.
    path = TABLES["user_stats"]
    frame = pq.read_table(io.BytesIO(store.read_bytes(path))).to_pandas()
    ts = pd.to_datetime(frame["event_timestamp"], utc=True)
    today = ts >= pd.Timestamp(dates[-1], tz="UTC")
    frame.loc[today, "clicks_7d"] = frame.loc[today, "clicks_7d"] * 3 + 5
    frame.loc[today, "avg_session_len_s"] = frame.loc[today, "avg_session_len_s"] * 4
    frame.loc[today, "top_category"] = "sport"
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), sink)
    original = store.read_bytes(path)
    store.write_atomic(path, sink.getvalue())
    try:
        loud = run_drift_check(settings, store, reference, model_version="1", now=END)
    finally:
        store.write_atomic(path, original)
    assert loud.drifted and loud.feature_share > 0.3
    assert {"user_stats.clicks_7d", "user_stats.top_category"} <= {
        c for c, v in loud.feature_columns.items() if v["drifted"]
    }
    assert "features drifted" in loud.reasons[0]
