"""Where things live in the lake (paths relative to the lake root). The one place that spells
these paths: the partitions are a storage contract (a renamed folder strands what is there).
The feature tables' paths belong to the feature repo (feature_repo/definitions.py, read by Feast)."""

from __future__ import annotations

from datetime import date, datetime

BRONZE = "bronze/events"
SILVER = "silver/events"
QUARANTINE = "quarantine/events"
# Originals too large to travel in a dead letter, kept whole, named by their sha256.
DEAD_LETTER_ORIGINALS = "dead_letters/originals"
MANIFEST = "_manifest.json"
# The article catalogue, replaced whole on every export (components.lake.catalog).
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
