"""Bulk import of history ("bring your own data"): events and articles from CSV, Parquet or
JSON lines, through a column mapping, judged by the contracts, into the lake."""

from components.importer.events import DEFAULT_IMPORT_LATENESS_DAYS, EventImport, import_events
from components.importer.mapping import ColumnMapping, MappingError
from components.importer.sources import SourceError

__all__ = [
    "DEFAULT_IMPORT_LATENESS_DAYS",
    "ColumnMapping",
    "EventImport",
    "MappingError",
    "SourceError",
    "import_events",
]
