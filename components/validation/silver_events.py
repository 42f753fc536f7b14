"""The Great Expectations suite every silver event partition must pass.

Row-level expectations name the rows that fail them; the silver build moves those rows to
quarantine with the expectation's name as the reason. Timestamp sanity is checked on two
derived columns: the offset of `ts` within the partition's day (events belong to the day they
are filed under) and the lag from `ts` to when the platform received the event (not from the
future, not later than the lateness horizon). The bounds are the `events.v1` contract's: what
the collector accepts, silver keeps.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any

import pandas as pd

from components.events.columns import event_columns, silver_schema
from components.events.schema import EVENT_KEY, MAX_EVENT_AGE, MAX_FUTURE_SKEW

SILVER_EVENT_COLUMNS = silver_schema().names
CHECK_COLUMNS = ["ts_day_offset_s", "ingest_lag_s"]
MAX_FUTURE_SKEW_S = int(MAX_FUTURE_SKEW.total_seconds())


@dataclass
class SuiteOutcome:
    success: bool
    # expectation name -> positional row numbers of the rows that failed it
    failed_rows: dict[str, list[int]] = field(default_factory=dict)
    # expectation name -> {"success": bool, "unexpected": int}
    summary: dict[str, dict[str, Any]] = field(default_factory=dict)

    def reasons_by_row(self) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for name, rows in self.failed_rows.items():
            for row in rows:
                out.setdefault(row, []).append(name)
        return out


def _expectations(lateness_days: int) -> list[Any]:
    import great_expectations as gx

    e = gx.expectations
    horizon_s = lateness_days * 86_400 + MAX_FUTURE_SKEW_S  # as the contract check in silver
    # The contract's bounds, read off the model: what the collector accepts, silver keeps.
    contract: list[Any] = []
    for column in event_columns():
        if column.values is not None:
            contract.append(e.ExpectColumnValuesToBeInSet(column=column.name, value_set=list(column.values)))
        if column.min_length is not None or column.max_length is not None:
            contract.append(
                e.ExpectColumnValueLengthsToBeBetween(
                    column=column.name, min_value=column.min_length, max_value=column.max_length
                )
            )
        if column.minimum is not None or column.maximum is not None:
            contract.append(
                e.ExpectColumnValuesToBeBetween(
                    column=column.name,
                    min_value=column.minimum,
                    max_value=column.maximum,
                    strict_min=column.strict_min,
                    strict_max=column.strict_max,
                )
            )
    return [
        e.ExpectTableColumnsToMatchOrderedList(column_list=SILVER_EVENT_COLUMNS + CHECK_COLUMNS),
        *[e.ExpectColumnValuesToNotBeNull(column=f.name) for f in silver_schema() if not f.nullable],
        e.ExpectColumnValuesToBeUnique(column=EVENT_KEY),
        *contract,
        e.ExpectColumnValuesToBeBetween(
            column="ts_day_offset_s", min_value=0, max_value=86_400, strict_max=True
        ),
        e.ExpectColumnValuesToBeBetween(
            column="ingest_lag_s", min_value=-MAX_FUTURE_SKEW_S, max_value=horizon_s
        ),
    ]


def _name(config: Any) -> str:
    column = config.kwargs.get("column")
    return f"{config.type}({column})" if column else str(config.type)


@cache
def _suite(lateness_days: int) -> tuple[Any, Any]:
    """The batch definition and the suite of one lateness horizon, built once per process:
    an ephemeral context and 20-odd expectations cost about a quarter of a second to set up,
    which a flow validating weeks of partitions (or an import building them) paid per date."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)  # no bars in pipeline logs
    asset = context.data_sources.add_pandas("silver").add_dataframe_asset("events")
    batch_definition = asset.add_batch_definition_whole_dataframe("partition")
    suite = context.suites.add(gx.ExpectationSuite(name="silver_events"))
    for expectation in _expectations(lateness_days):
        suite.add_expectation(expectation)
    return batch_definition, suite


def validate_silver_events(
    frame: pd.DataFrame, dt: date, *, lateness_days: int = MAX_EVENT_AGE.days
) -> SuiteOutcome:
    """Run the suite on `frame` (silver columns); returns which rows failed what."""
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    day_start = datetime.combine(dt, time(0), tzinfo=UTC)
    checked = frame.reset_index(drop=True).copy()
    checked["ts_day_offset_s"] = (checked["ts"] - day_start) / timedelta(seconds=1)
    # The lag to when the platform received it (the collector's clock), not to when the
    # ingestor got round to it: an ingestion backlog never makes accepted events "late".
    checked["ingest_lag_s"] = (checked["received_at"] - checked["ts"]) / timedelta(seconds=1)

    batch_definition, suite = _suite(lateness_days)
    batch = batch_definition.get_batch(batch_parameters={"dataframe": checked})
    result = batch.validate(suite, result_format={"result_format": "COMPLETE"})

    outcome = SuiteOutcome(success=bool(result.success))
    for item in result.results:
        name = _name(item.expectation_config)
        unexpected = item.result.get("unexpected_index_list") or []
        rows = sorted({int(i) for i in unexpected if not isinstance(i, dict)})
        outcome.summary[name] = {
            "success": bool(item.success),
            "unexpected": int(item.result.get("unexpected_count") or 0),
        }
        if rows:
            outcome.failed_rows[name] = rows
        elif not item.success and name.startswith("expect_table"):
            outcome.failed_rows[name] = list(range(len(checked)))
    return outcome
