"""The lake: bronze (events exactly as received, with their Kafka coordinates) and silver
(typed, deduplicated, validated, content-hashed) partitions on a local folder or S3."""

from components.lake.bronze import BRONZE_SCHEMA, BronzeBatch, route_event_time
from components.lake.layout import bronze_prefix, quarantine_prefix, silver_manifest_path, silver_prefix
from components.lake.store import LakeStore

__all__ = [
    "BRONZE_SCHEMA",
    "BronzeBatch",
    "LakeStore",
    "bronze_prefix",
    "quarantine_prefix",
    "route_event_time",
    "silver_manifest_path",
    "silver_prefix",
]
