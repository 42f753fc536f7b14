"""Where things live in the lake (paths relative to the lake root). The one place that spells
these paths: the partitions are a storage contract (a renamed folder strands what is there).
The feature tables' paths belong to the feature repo (feature_repo/definitions.py, read by Feast)."""

from __future__ import annotations

from datetime import date, datetime

BRONZE = "bronze/events"
SILVER = "silver/events"
QUARANTINE = "quarantine/events"
# Rows a bulk import refused (never in bronze: they are not events), per run.
IMPORT_QUARANTINE = "quarantine/import"
# Originals too large to travel in a dead letter, kept whole, named by their sha256.
DEAD_LETTER_ORIGINALS = "dead_letters/originals"
MANIFEST = "_manifest.json"
# The article catalogue (components.lake.catalog): every change, by the date reco received it,
# and the current snapshot with its manifest.
CATALOG_CHANGES = "catalog/changes"
CATALOG_FILE = "catalog/articles.parquet"
CATALOG_MANIFEST = f"catalog/{MANIFEST}"
# Which silver partitions (by content hash) the online features came from (components.features.build).
FEATURES_MANIFEST = f"features/{MANIFEST}"
# Reports the daily flow and the drift monitor write for operators and the main job.
REPORTS = "reports"


def bronze_prefix(dt: date | str) -> str:
    return f"{BRONZE}/dt={dt}/"


def bronze_file(dt: str, hour: str, partition: int, first_offset: int, last_offset: int, digest: str) -> str:
    # Named by the Kafka range it holds and a digest of its records: a replay of the same
    # records rewrites the same file; the same offsets from another incarnation of the topic
    # (offsets restart when a topic is re-created) get a name of their own.
    name = f"p{partition:03d}-{first_offset:012d}-{last_offset:012d}-{digest}"
    return f"{BRONZE}/dt={dt}/hour={hour}/{name}.parquet"


def bronze_import_file(dt: str, digest: str) -> str:
    """One date's records from a bulk import (components/importer), named by their content.
    Under `hour=all`: an import file holds the whole day (the tools that rewrite bronze read
    the hour off the path)."""
    return f"{BRONZE}/dt={dt}/hour=all/import-{digest}.parquet"


def import_report_path(run_id: str) -> str:
    """The rejected rows of one bulk import run (JSON lines: source, row, field, code, reason)."""
    return f"{REPORTS}/import/{run_id}.jsonl"


def import_summary_path(run_id: str) -> str:
    """The summary of one bulk import run."""
    return f"{REPORTS}/import/{run_id}.json"


def import_quarantine_file(run_id: str, digest: str) -> str:
    """The rejected rows of one bulk import run, whole (the row as read, and why)."""
    return f"{IMPORT_QUARANTINE}/run={run_id}/part-{digest}.parquet"


def catalog_change_file(dt: str, digest: str) -> str:
    """One batch of catalogue changes received on `dt`, named by its content."""
    return f"{CATALOG_CHANGES}/dt={dt}/part-{digest}.parquet"


def dead_letter_original(sha256: str) -> str:
    return f"{DEAD_LETTER_ORIGINALS}/{sha256[:2]}/{sha256}.bin"


def silver_prefix(dt: date | str) -> str:
    return f"{SILVER}/dt={dt}/"


def silver_manifest_path(dt: date | str) -> str:
    return f"{SILVER}/dt={dt}/{MANIFEST}"


def quarantine_prefix(dt: date | str) -> str:
    return f"{QUARANTINE}/dt={dt}/"


def daily_report_path(dt: date | str) -> str:
    """The daily flow's run summary for run date `dt`."""
    return f"{REPORTS}/daily/{dt}.json"


def validation_report_path(dt: date | str) -> str:
    """The silver validation report the daily flow writes for run date `dt`."""
    return f"{REPORTS}/validation/{dt}.json"


def drift_report_prefix(end: datetime) -> str:
    """The stem of one drift check's reports (`<stem>-<name>.html`, `<stem>-summary.json`)."""
    return f"{REPORTS}/drift/{end.date().isoformat()}/{end.strftime('%H%M%S')}"


def partition_dates(paths: list[str], base: str) -> list[str]:
    """The `dt=` values present under `base` (sorted)."""
    found = set()
    for path in paths:
        rest = path[len(base) :].lstrip("/") if path.startswith(base) else ""
        if rest.startswith("dt="):
            found.add(rest[3:].split("/", 1)[0])
    return sorted(found)


# Erasure (components.lake.tombstones): one small file per erased reader, named by the sha256 of
# the reader's id; it holds the raw id (the lake needs it to find the reader's records).
TOMBSTONES = "erasure/tombstones"
# Which tombstones `apply_erasure` has carried through the whole lake (hashed ids, JSON).
ERASURE_APPLIED = "erasure/_applied.json"


def tombstone_path(user_hash: str) -> str:
    """The tombstone of the reader whose id hashes (sha256, hex) to `user_hash`."""
    return f"{TOMBSTONES}/{user_hash}.json"
