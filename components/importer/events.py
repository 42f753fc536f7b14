"""Bulk import of event history into bronze, then silver for the dates it touched.

Not through the collector's HTTP path or Kafka: the rows become `events.v1` documents (column
mapping, fixed values, a derived id where a source has none: components/importer/tokens.py), the
contract judges them (column-wise, components/events/vectorised.py, the model for the rest), and
the valid ones go to the same bronze the ingestor writes, marked as imported (topic `import`,
partition -1, `origin` = `import:<file>#<row>`, received at the run's time): one file per event
date per run, named by its content, so an import run twice rewrites the same files. The import
files of a date are then compacted into one (a date imported in several runs keeps one file).
Refused rows go to the run's report and quarantine (components/importer/report.py).

History is older than the live lateness limit: the run is a backfill. It validates with its own
limit (`lateness_days`, default ten years) and builds silver for every date it touched with that
limit, which the partitions record (`backfill: true`): later rebuilds keep the rule.

Idempotent by `event_id`: silver keeps one row per id (an identical event again is a redelivery),
so importing the same rows again, or rows that overlap an earlier import or the live stream,
leaves silver as it was. Nothing is written before every file was read and judged; the result
says `durable` once every imported row, the report and the quarantine are on disk (fsync'd).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from components.events.errors import FieldError
from components.events.vectorised import max_age_for, validate_tokens
from components.importer.mapping import ColumnMapping
from components.importer.report import Rejection, write_rejections
from components.importer.sources import Malformed, Source, read_source
from components.importer.tokens import (
    canonical_times,
    column_tokens,
    derive_event_ids,
    field_kinds,
    fixed_tokens,
    python_token,
    time_tokens,
)
from components.lake.bronze import compact_imports, import_table, write_import_file
from components.lake.layout import import_summary_path
from components.lake.silver import SilverRegressionError, SilverResult, build_silver
from components.lake.store import LakeStore

# History up to ten years old passes; an older export needs a longer limit, explicitly.
DEFAULT_IMPORT_LATENESS_DAYS = 3650
# Below this many rows a file is judged on one thread.
_PARALLEL_ROWS = 100_000


@dataclass
class EventImport:
    """What one import run did."""

    run_id: str
    received_at: str  # the run's clock: when the platform received these events
    lateness_days: int
    rows: int = 0  # rows read from the sources
    imported: int = 0  # rows that are valid events (written to bronze)
    rejected: int = 0  # rows refused (report, quarantine)
    dates: list[str] = field(default_factory=list)
    bronze_files: list[str] = field(default_factory=list)
    compacted: list[str] = field(default_factory=list)  # import files merged into others
    report: str | None = None
    quarantine: str | None = None
    durable: bool = False
    silver: dict[str, dict[str, Any]] = field(default_factory=dict)  # date -> rows, hash, quarantined
    silver_errors: dict[str, str] = field(default_factory=dict)
    ignored_columns: dict[str, list[str]] = field(default_factory=dict)  # file -> columns no field reads
    derived_ids: bool = False
    fast_rows: int = 0  # rows the column-wise contract decided
    seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Accepted:
    keys: list[pa.Array] = field(default_factory=list)
    values: list[pa.Array] = field(default_factory=list)
    offsets: list[pa.Array] = field(default_factory=list)
    origins: list[pa.Array] = field(default_factory=list)
    dates: list[pa.Array] = field(default_factory=list)


def new_run_id(now: datetime) -> str:
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def _source_tokens(
    source: Source, mapping: ColumnMapping, kinds: dict[str, str], start: int, stop: int
) -> tuple[dict[str, pa.Array], list[Rejection], np.ndarray]:
    """Each field's tokens for rows [start, stop) of `source`, the rows refused before the
    contract (JSON lines that are no object), and which rows were not."""
    fields = mapping.resolve(source.columns, source.name)
    n = stop - start
    tokens: dict[str, pa.Array] = {}
    usable = np.ones(n, dtype=bool)
    rejections: list[Rejection] = []
    if source.table is not None:
        table = source.table.slice(start, n)
        for name, column in fields.items():
            csv = source.format == "csv"
            if name == "ts":
                tokens[name] = time_tokens(table.column(column), empty_is_absent=csv)
            else:
                tokens[name] = column_tokens(table.column(column), kinds[name], empty_is_absent=csv)
    else:
        lists: dict[str, list[str]] = {name: [] for name in fields}
        for i, (number, value) in enumerate((source.lines or [])[start:stop]):
            if not isinstance(value, dict):
                usable[i] = False
                if isinstance(value, Malformed):
                    error = FieldError("$", value.reason, "malformed_json")
                else:
                    error = FieldError(
                        "$", f"wrong type ({type(value).__name__}): a row is a JSON object", "wrong_type"
                    )
                rejections.append(Rejection(source.name, number, (error,), source.record(start + i)))
                for name in fields:
                    lists[name].append("")
                continue
            for name, column in fields.items():
                lists[name].append(python_token(value.get(column), kinds[name]))
        tokens = {name: pa.array([v or None for v in values], pa.string()) for name, values in lists.items()}
        if "ts" in tokens:
            tokens["ts"] = canonical_times(tokens["ts"])
    for name, text in mapping.fixed.items():
        tokens[name] = fixed_tokens(text, kinds[name], n)
    return tokens, rejections, usable


@dataclass
class _Judged:
    """Rows [start, stop) of a source, judged."""

    keys: pa.Array
    values: pa.Array
    rows: np.ndarray  # row index within the source
    dates: pa.Array
    rejections: list[Rejection]
    fast: int
    derived_ids: bool


def _judge(
    source: Source,
    mapping: ColumnMapping,
    kinds: dict[str, str],
    span: tuple[int, int],
    received_at: datetime,
    lateness_days: int,
    threads: bool,
) -> _Judged:
    start, stop = span
    tokens, rejections, usable = _source_tokens(source, mapping, kinds, start, stop)
    derived = "event_id" not in tokens
    if derived:
        tokens["event_id"] = derive_event_ids(tokens, stop - start)
    documents, verdict = validate_tokens(
        tokens, now=received_at, max_age=max_age_for(lateness_days), threads=threads
    )
    for row, exc in sorted(verdict.errors.items()):
        if usable[row]:
            rejections.append(
                Rejection(
                    source.name,
                    source.row_number(start + row),
                    tuple(exc.errors),
                    source.record(start + row),
                    documents[row].as_py(),
                )
            )
    return _Judged(
        keys=verdict.events.column("user_id").combine_chunks().cast(pa.binary()),
        values=verdict.canonical,
        rows=start + verdict.rows,
        dates=verdict.events.column("ts").combine_chunks().cast(pa.date32()),
        rejections=rejections,
        fast=verdict.fast,
        derived_ids=derived,
    )


def _spans(rows: int, columnar: bool) -> list[tuple[int, int]]:
    """Row ranges judged side by side (pyarrow's kernels release the GIL)."""
    workers = os.cpu_count() or 1
    if not columnar or rows < _PARALLEL_ROWS or workers == 1:
        return [(0, rows)]
    bounds = np.linspace(0, rows, workers + 1, dtype=int).tolist()
    return list(pairwise(bounds))


def _origins(name: str, numbers: np.ndarray) -> pa.Array:
    rows = pa.array(numbers, pa.int64()).cast(pa.string())
    return pc.binary_join_element_wise(f"import:{name}#", rows, "")


def import_events(
    store: LakeStore,
    paths: Sequence[str | Path],
    mapping: ColumnMapping,
    *,
    lateness_days: int = DEFAULT_IMPORT_LATENESS_DAYS,
    now: datetime | None = None,
    build: bool = True,
    great_expectations: bool = False,
    on_file: Callable[[str, int], None] | None = None,
    on_durable: Callable[[EventImport], None] | None = None,
) -> EventImport:
    """Import `paths` (see the module docstring). `now` is the run's clock (when the platform
    receives the events; default: the wall clock); `on_durable` is called once every row sent
    to bronze, the report and the quarantine are durable; `build=False` leaves silver alone. The
    Great Expectations suite is left to validation, which runs it on every partition before
    every training (`great_expectations=True` runs it in the builds: it triples their cost)."""
    if lateness_days < 0:
        raise ValueError(f"lateness_days must be 0 or more (got {lateness_days})")
    received_at = (now or datetime.now(UTC)).astimezone(UTC)
    result = EventImport(new_run_id(received_at), received_at.isoformat(), lateness_days)
    kinds = field_kinds()
    accepted = _Accepted()
    rejections: list[Rejection] = []
    sequence = 0
    clock = time.perf_counter()
    for path in paths:
        source = read_source(path)
        result.ignored_columns[source.name] = mapping.ignored(source.columns, source.name)
        spans = _spans(source.rows, source.table is not None)

        def judge(span: tuple[int, int], source: Source = source, single: bool = len(spans) == 1) -> _Judged:
            return _judge(source, mapping, kinds, span, received_at, lateness_days, threads=single)

        if len(spans) == 1:
            parts = [judge(spans[0])]
        else:
            with ThreadPoolExecutor(len(spans)) as pool:
                parts = list(pool.map(judge, spans))
        for part in parts:
            rejections += part.rejections
            numbers = (
                np.array([source.row_number(int(i)) for i in part.rows], dtype=np.int64)
                if source.lines
                else part.rows + 1
            )
            accepted.keys.append(part.keys)
            accepted.values.append(part.values)
            accepted.offsets.append(pa.array(sequence + part.rows, pa.int64()))
            accepted.origins.append(_origins(source.name, numbers))
            accepted.dates.append(part.dates)
            result.imported += len(part.rows)
            result.fast_rows += part.fast
            result.derived_ids = result.derived_ids or part.derived_ids
        sequence += source.rows
        result.rows += source.rows
        if on_file is not None:
            on_file(source.name, source.rows)
    result.rejected = len(rejections)
    result.seconds["read_and_validate"] = time.perf_counter() - clock

    # Durable: the run's bronze files (one per date), then what it refused.
    clock = time.perf_counter()
    workers = ThreadPoolExecutor(os.cpu_count() or 1)
    try:
        if result.imported:
            dates = pa.concat_arrays(accepted.dates)
            columns = {
                "keys": pa.concat_arrays(accepted.keys),
                "values": pa.concat_arrays(accepted.values),
                "offsets": pa.concat_arrays(accepted.offsets),
                "origins": pa.concat_arrays(accepted.origins),
            }
            days = sorted(pc.unique(dates).to_pylist())

            def write(day: Any) -> str:
                take = pc.indices_nonzero(pc.equal(dates, pa.scalar(day, pa.date32())))
                part = {k: v.take(take) for k, v in columns.items()}
                table = import_table(
                    part["keys"], part["values"], part["offsets"], part["origins"], received_at
                )
                return write_import_file(store, day.isoformat(), table)

            result.bronze_files = list(workers.map(write, days))
            result.dates = [day.isoformat() for day in days]
        result.report, result.quarantine = write_rejections(store, result.run_id, rejections)
        result.durable = True
        result.seconds["bronze"] = time.perf_counter() - clock
        if on_durable is not None:  # every imported row, the report and the quarantine: on disk
            on_durable(result)

        clock = time.perf_counter()
        for dt in result.dates:
            _, replaced = compact_imports(store, dt)
            result.compacted += replaced
        result.seconds["compaction"] = time.perf_counter() - clock

        clock = time.perf_counter()
        if build:

            def silver(dt: str) -> tuple[str, SilverResult | str]:
                try:
                    return dt, build_silver(
                        store, dt, lateness_days=lateness_days, great_expectations=great_expectations
                    )
                except SilverRegressionError as exc:
                    return dt, str(exc)

            # The suite runs one partition at a time (Great Expectations is not thread-safe).
            builds = (
                workers.map(silver, result.dates) if not great_expectations else map(silver, result.dates)
            )
            for dt, built in builds:
                if isinstance(built, str):
                    result.silver_errors[dt] = built
                    continue
                result.silver[dt] = {
                    "rows": built.rows,
                    "quarantined": built.quarantined,
                    "duplicates_dropped": built.duplicates_dropped,
                    "content_hash": built.content_hash,
                    "timings": built.timings,
                }
        result.seconds["silver"] = time.perf_counter() - clock
    finally:
        workers.shutdown()
    result.seconds = {k: round(v, 3) for k, v in result.seconds.items()}
    store.write_atomic(import_summary_path(result.run_id), json.dumps(result.as_dict(), indent=2).encode())
    return result
