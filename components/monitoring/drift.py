"""Feature drift with Evidently: the run day's feature rows against the days before it.

Per column Evidently picks the test (K-S or chi-squared/Z p-values for small samples,
Wasserstein or Jensen-Shannon distances for large ones); a table has drifted when the share of
drifted columns reaches `drift_share`. Each table gets an HTML report and a JSON summary in the
lake under `reports/drift/`.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from components.lake.store import LakeStore
from feature_repo.definitions import ARTICLE_STATS_PATH, USER_STATS_PATH

# Which feature columns are compared, per feature table.
TABLES: dict[str, tuple[str, list[str], list[str]]] = {
    "user_stats": (USER_STATS_PATH, ["clicks_7d", "read_ratio_7d", "avg_session_len_s"], ["top_category"]),
    "article_stats": (ARTICLE_STATS_PATH, ["views_24h", "ctr_24h", "avg_read_time_s"], ["category"]),
}
MIN_ROWS = 30


@dataclass
class DriftResult:
    table: str
    run_date: str
    reference_rows: int
    current_rows: int
    share: float = 0.0
    drifted: bool = False
    drifted_columns: list[str] = field(default_factory=list)
    columns: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: str | None = None  # why no comparison was made (too few rows)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numerical: list[str],
    categorical: list[str],
    *,
    drift_share: float,
) -> tuple[dict[str, Any], str]:
    """Evidently's DataDriftPreset on the columns; returns (summary, html)."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
    columns = numerical + categorical
    snapshot = Report([DataDriftPreset(drift_share=drift_share)]).run(
        current_data=Dataset.from_pandas(current[columns], data_definition=definition),
        reference_data=Dataset.from_pandas(reference[columns], data_definition=definition),
    )
    per_column: dict[str, dict[str, Any]] = {}
    share = 0.0
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config["type"].endswith("DriftedColumnsCount"):
            share = float(metric["value"]["share"])
        elif config["type"].endswith("ValueDrift"):
            method, threshold, score = config["method"], float(config["threshold"]), float(metric["value"])
            # p-value tests drift below the threshold, distances above it.
            drifted = score < threshold if "p_value" in method else score >= threshold
            per_column[config["column"]] = {
                "method": method,
                "score": score,
                "threshold": threshold,
                "drifted": drifted,
            }
    return {"share": share, "columns": per_column}, snapshot.get_html_str(as_iframe=False)


def feature_drift(
    store: LakeStore, run_date: str, *, reference_days: int = 7, drift_share: float = 0.5
) -> list[DriftResult]:
    """Compare each feature table's rows of `run_date` with the `reference_days` before it;
    writes reports/drift/<date>/<table>.{html,json}."""
    day = date.fromisoformat(run_date)
    start, end = pd.Timestamp(day, tz="UTC"), pd.Timestamp(day + timedelta(days=1), tz="UTC")
    ref_start = start - pd.Timedelta(days=reference_days)
    results = []
    for table, (path, numerical, categorical) in TABLES.items():
        frame = pq.read_table(io.BytesIO(store.read_bytes(path))).to_pandas()
        ts = pd.to_datetime(frame["event_timestamp"], utc=True)
        current = frame[(ts >= start) & (ts < end)]
        reference = frame[(ts >= ref_start) & (ts < start)]
        result = DriftResult(table, run_date, len(reference), len(current))
        if len(current) < MIN_ROWS or len(reference) < MIN_ROWS:
            result.skipped = f"too few rows to compare (reference {len(reference)}, current {len(current)}, need {MIN_ROWS})"
        else:
            summary, html = compare(reference, current, numerical, categorical, drift_share=drift_share)
            result.share = summary["share"]
            result.columns = summary["columns"]
            result.drifted_columns = sorted(c for c, v in summary["columns"].items() if v["drifted"])
            result.drifted = result.share >= drift_share
            store.write_atomic(f"reports/drift/{run_date}/{table}.html", html.encode())
        store.write_atomic(
            f"reports/drift/{run_date}/{table}.json", json.dumps(result.as_dict(), indent=2).encode()
        )
        results.append(result)
    return results
