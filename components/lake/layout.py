"""Where things live in the lake (paths relative to the lake root)."""

from __future__ import annotations

from datetime import date

BRONZE = "bronze/events"
SILVER = "silver/events"
QUARANTINE = "quarantine/events"
# Originals too large to travel in a dead letter, kept whole, named by their sha256.
DEAD_LETTER_ORIGINALS = "dead_letters/originals"
MANIFEST = "_manifest.json"


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


def partition_dates(paths: list[str], base: str) -> list[str]:
    """The `dt=` values present under `base` (sorted)."""
    found = set()
    for path in paths:
        rest = path[len(base) :].lstrip("/") if path.startswith(base) else ""
        if rest.startswith("dt="):
            found.add(rest[3:].split("/", 1)[0])
    return sorted(found)
