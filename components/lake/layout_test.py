"""The lake's paths are a storage contract: what the ingestor, silver, the flows and the
operators' runbooks read is what an earlier version wrote. The literals are written out on
purpose; a change here must come with a migration of the lake."""

from __future__ import annotations

from datetime import UTC, date, datetime

from components.lake.layout import (
    BRONZE,
    CATALOG_FILE,
    CATALOG_MANIFEST,
    FEATURES_MANIFEST,
    QUARANTINE,
    REPORTS,
    SILVER,
    bronze_file,
    bronze_prefix,
    daily_report_path,
    dead_letter_original,
    drift_report_prefix,
    partition_dates,
    quarantine_prefix,
    silver_manifest_path,
    silver_prefix,
    validation_report_path,
)


def test_partition_paths() -> None:
    assert (BRONZE, SILVER, QUARANTINE) == ("bronze/events", "silver/events", "quarantine/events")
    assert bronze_prefix(date(2026, 3, 1)) == "bronze/events/dt=2026-03-01/"
    assert silver_prefix("2026-03-01") == "silver/events/dt=2026-03-01/"
    assert quarantine_prefix("2026-03-01") == "quarantine/events/dt=2026-03-01/"
    assert silver_manifest_path("2026-03-01") == "silver/events/dt=2026-03-01/_manifest.json"
    assert (
        bronze_file("2026-03-01", "07", 2, 10, 19, "ab12")
        == "bronze/events/dt=2026-03-01/hour=07/p002-000000000010-000000000019-ab12.parquet"
    )
    assert dead_letter_original("ff" + "0" * 62) == f"dead_letters/originals/ff/ff{'0' * 62}.bin"


def test_tables_and_reports() -> None:
    assert (CATALOG_FILE, CATALOG_MANIFEST) == ("catalog/articles.parquet", "catalog/_manifest.json")
    assert FEATURES_MANIFEST == "features/_manifest.json"
    assert REPORTS == "reports"
    assert daily_report_path("2026-03-01") == "reports/daily/2026-03-01.json"
    assert validation_report_path(date(2026, 3, 1)) == "reports/validation/2026-03-01.json"
    end = datetime(2026, 3, 1, 7, 5, 9, tzinfo=UTC)
    assert drift_report_prefix(end) == "reports/drift/2026-03-01/070509"


def test_partition_dates_reads_back_what_the_prefixes_write() -> None:
    paths = [silver_manifest_path("2026-03-02"), silver_manifest_path("2026-03-01"), "silver/events/x"]
    assert partition_dates(paths, SILVER) == ["2026-03-01", "2026-03-02"]
