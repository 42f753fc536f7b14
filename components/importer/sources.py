"""Source files of a bulk import: CSV, Parquet or JSON lines, by their extension.

- CSV (`.csv`, `.csv.gz`...): a header line names the columns; every cell is read as text (an
  empty cell is an absent field); quoted cells may hold commas and line breaks.
- Parquet (`.parquet`, `.pq`): typed columns, read as they are.
- JSON lines (`.jsonl`, `.ndjson`, `.json`): one JSON object per line, typed; blank lines are
  skipped (they still count for line numbers).

Rows are numbered from 1 in file order (a CSV's header is not a row; a JSON-lines row is its
line number): the report and the quarantine name a row by its file and that number.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}


class SourceError(ValueError):
    """A source file that cannot be read as a whole (the rows of a readable file are judged
    one by one instead)."""


def source_format(path: str | Path) -> str:
    suffixes = [s.lower() for s in Path(path).suffixes if s.lower() not in (".gz", ".bz2", ".zst")]
    kind = FORMATS.get(suffixes[-1]) if suffixes else None
    if kind is None:
        raise SourceError(f"{path}: unknown format (use one of {', '.join(sorted(FORMATS))})")
    return kind


@dataclass(frozen=True)
class Malformed:
    """A JSON line that is not JSON: why, and the line as read."""

    reason: str
    text: str


@dataclass
class Source:
    """One file's rows: as a table of columns (CSV, Parquet), or as parsed JSON lines."""

    path: Path
    format: str
    table: pa.Table | None  # CSV and Parquet
    lines: list[tuple[int, Any]] | None  # JSON lines: (line number, parsed value or Malformed)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def columns(self) -> list[str]:
        if self.table is not None:
            return list(self.table.column_names)
        names: dict[str, None] = {}
        for _, value in self.lines or []:
            if isinstance(value, dict):
                names.update(dict.fromkeys(value))
        return list(names)

    @property
    def rows(self) -> int:
        return self.table.num_rows if self.table is not None else len(self.lines or [])

    def record(self, index: int) -> dict[str, Any] | str:
        """Row `index` (0-based) as read, for the quarantine."""
        if self.table is not None:
            return {k: _plain(v) for k, v in self.table.slice(index, 1).to_pylist()[0].items()}
        value = (self.lines or [])[index][1]
        if isinstance(value, Malformed):
            return value.text
        return value if isinstance(value, dict) else {"$": value}

    def row_number(self, index: int) -> int:
        if self.lines is not None:
            return self.lines[index][0]
        return index + 1


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix.lower() == ".gz":
        return io.TextIOWrapper(gzip.open(path), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")  # noqa: SIM115 (closed by the caller)


def read_source(path: str | Path) -> Source:
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"{path}: no such file")
    kind = source_format(path)
    try:
        if kind == "parquet":
            return Source(path, kind, pq.read_table(path), None)
        if kind == "csv":
            return Source(path, kind, _read_csv(path), None)
        return Source(path, kind, None, _read_lines(path))
    except (OSError, pa.ArrowException, UnicodeDecodeError, csv.Error) as exc:
        raise SourceError(f"{path}: cannot be read as {kind}: {exc}") from exc


def _read_csv(path: Path) -> pa.Table:
    delimiter = "\t" if ".tsv" in [s.lower() for s in path.suffixes] else ","
    with _open_text(path) as handle:
        header = next(csv.reader(handle, delimiter=delimiter), None)
    if not header:
        raise SourceError(f"{path}: empty file (a CSV needs a header line)")
    if len(set(header)) != len(header):
        raise SourceError(f"{path}: the header names a column twice: {header}")
    return pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=1 << 24),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
        # Every cell as text: a CSV has no types (the contract's rules say what a text may fill).
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(header, pa.string()),
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )


def _read_lines(path: Path) -> list[tuple[int, Any]]:
    rows: list[tuple[int, Any]] = []
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                rows.append((number, orjson.loads(line)))
            except orjson.JSONDecodeError as exc:
                try:  # orjson refuses integers past 64 bits: the contract says why, not "malformed"
                    rows.append((number, json.loads(line)))
                except ValueError:
                    rows.append(
                        (number, Malformed(f"malformed JSON: {exc}", line.decode("utf-8", "replace")))
                    )
    return rows
