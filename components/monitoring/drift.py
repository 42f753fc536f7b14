"""Feature and target drift with Evidently.

`compare` runs Evidently's DataDriftPreset on given columns; Evidently picks each column's test
(K-S or chi-squared/Z p-values for small samples, Wasserstein or Jensen-Shannon distances for
large ones). Monitored feature columns per table are in `MONITORED`, derived from
feature_repo/definitions.py (a feature's `monitored` and `categorical` flags).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from feature_repo.definitions import VIEWS, monitored

# Per feature table: (numerical, categorical) columns, from the definitions' roles.
MONITORED: dict[str, tuple[list[str], list[str]]] = {view.name: monitored(view) for view in VIEWS}
MIN_ROWS = 30


def compare(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numerical: list[str],
    categorical: list[str],
    *,
    drift_share: float = 0.5,
    method: str | None = None,
    threshold: float | None = None,
) -> tuple[dict[str, Any], str]:
    """Evidently's DataDriftPreset on the columns (its per-column test unless `method` names
    one, e.g. "psi"); returns ({share, columns, unmonitored}, html). A column with no value in
    the reference or in the current window (a publisher's data without the events a feature
    counts: no views, no dwell) cannot be compared: it is left out and listed under
    `unmonitored` with the reason, instead of failing the whole check."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    unmonitored: dict[str, str] = {}
    for name, frame in (("reference", reference), ("current window", current)):
        for column in numerical + categorical:
            if column not in unmonitored and frame[column].notna().sum() == 0:
                unmonitored[column] = f"no values in the {name}"
    numerical = [c for c in numerical if c not in unmonitored]
    categorical = [c for c in categorical if c not in unmonitored]
    if not numerical and not categorical:
        return {"share": 0.0, "columns": {}, "unmonitored": unmonitored}, (
            "<p>No column to compare: " + "; ".join(f"{c}: {why}" for c, why in unmonitored.items()) + "</p>"
        )
    definition = DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
    columns = numerical + categorical
    snapshot = Report([DataDriftPreset(drift_share=drift_share, method=method, threshold=threshold)]).run(
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
    return {"share": share, "columns": per_column, "unmonitored": unmonitored}, snapshot.get_html_str(
        as_iframe=False
    )
