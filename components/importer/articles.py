"""Bulk import of an article catalogue's history into the lake's versioned catalogue.

Each row becomes an `articles.v1` article (column mapping and fixed values as for events), is
validated by the contract (`validate_article`) and becomes a change of the catalogue received at
the article's own `updated_at`: training "as of" a cutoff then sees an article only from when it
existed in that version (an import made today does not make history look as if everything was
known all along). Refused rows go to the run's report and quarantine. Applying the same rows
again changes nothing (the catalogue drops exact repeats).

Values, by the field they fill: list fields (`tags`, `authors`) take a list column as it is, or
text split on the list separator (default `|`, each item trimmed, empty items dropped: `a | b`
is `["a", "b"]`); integer fields take numbers, or text that is one; text fields take text (a
number becomes its decimal text); times take text (ISO 8601 with a zone) or a timestamp column.
An empty CSV cell, a null and an absent key are an absent field, except for a required text that
may be empty (the `abstract`): there an empty cell is the empty text.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from components.events.articles import Article, validate_article
from components.events.columns import model_columns
from components.events.errors import EventValidationError, FieldError
from components.importer.events import new_run_id
from components.importer.mapping import ColumnMapping
from components.importer.report import Rejection, write_rejections
from components.importer.sources import Malformed, Source, read_source
from components.lake.catalog import ArticleChange, apply_changes
from components.lake.layout import import_summary_path
from components.lake.store import LakeStore

LIST_SEPARATOR = "|"
_INTEGER = re.compile(r"-?[0-9]+(?:\.0+)?")


@dataclass
class ArticleImport:
    run_id: str
    rows: int = 0
    imported: int = 0
    rejected: int = 0
    report: str | None = None
    quarantine: str | None = None
    catalog: dict[str, Any] = field(default_factory=dict)  # the catalogue after the import
    ignored_columns: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def article_fields() -> list[str]:
    return [c.name for c in model_columns(Article)]


def _may_be_empty() -> set[str]:
    """Required text fields the contract allows empty."""
    return {
        c.name
        for c in model_columns(Article)
        if c.required and pa.types.is_string(c.arrow) and not c.min_length and c.values is None
    }


def _value(value: Any, arrow: pa.DataType, separator: str, *, empty: bool = False) -> Any:
    """A source value as the JSON-like value of an article field (None: absent; "" is absent
    unless `empty`: a field that may be empty)."""
    if value is None or (isinstance(value, str) and value == "" and not empty):
        return None
    if pa.types.is_list(arrow):
        if isinstance(value, str):
            return [item.strip() for item in value.split(separator) if item.strip()]
        return value
    if pa.types.is_integer(arrow):
        if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
            return int(float(value))
        return value
    if pa.types.is_timestamp(arrow):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    return value


def _rows(source: Source) -> list[tuple[int, Any]]:
    if source.table is not None:
        return [(i + 1, row) for i, row in enumerate(source.table.to_pylist())]
    return list(source.lines or [])


def import_articles(
    store: LakeStore,
    paths: Sequence[str | Path],
    mapping: ColumnMapping,
    *,
    list_separator: str = LIST_SEPARATOR,
    now: datetime | None = None,
    on_file: Callable[[str, int], None] | None = None,
) -> ArticleImport:
    """Import `paths` into the catalogue (see the module docstring). `now` is the run's clock
    (an article published after it is refused, as the collector refuses it)."""
    if not list_separator:
        raise ValueError("the list separator must not be empty")
    clock = time.perf_counter()
    run_at = (now or datetime.now(UTC)).astimezone(UTC)
    result = ArticleImport(new_run_id(run_at))
    types = {c.name: c.arrow for c in model_columns(Article)}
    empty = _may_be_empty()
    changes: list[ArticleChange] = []
    rejections: list[Rejection] = []
    for path in paths:
        source = read_source(path)
        fields = mapping.resolve(source.columns, source.name)
        result.ignored_columns[source.name] = mapping.ignored(source.columns, source.name)
        for index, (number, row) in enumerate(_rows(source)):
            result.rows += 1
            if not isinstance(row, dict):
                reason = row.reason if isinstance(row, Malformed) else "a row is a JSON object"
                code = "malformed_json" if isinstance(row, Malformed) else "wrong_type"
                rejections.append(
                    Rejection(source.name, number, (FieldError("$", reason, code),), source.record(index))
                )
                continue
            document: dict[str, Any] = {}
            for name, column in fields.items():
                value = _value(row.get(column), types[name], list_separator, empty=name in empty)
                if value is not None:
                    document[name] = value
            for name, text in mapping.fixed.items():
                value = _value(text, types[name], list_separator, empty=name in empty)
                if value is not None:
                    document[name] = value
            try:
                article = validate_article(document, now=run_at)
            except EventValidationError as exc:
                rejections.append(Rejection(source.name, number, tuple(exc.errors), source.record(index)))
                continue
            origin = f"import:{source.name}#{number}"
            changes.append(ArticleChange(article.article_id, article, article.updated_at, origin))
        if on_file is not None:
            on_file(source.name, source.rows)
    result.imported = len(changes)
    result.rejected = len(rejections)
    result.report, result.quarantine = write_rejections(store, result.run_id, rejections)
    applied = apply_changes(store, changes)
    result.catalog = {
        "changes": applied.changes,
        "rows": applied.rows,
        "published": applied.published,
        "content_hash": applied.content_hash,
    }
    result.seconds = round(time.perf_counter() - clock, 3)
    store.write_atomic(import_summary_path(result.run_id), json.dumps(result.as_dict(), indent=2).encode())
    return result
