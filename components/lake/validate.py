"""Is a silver partition fit to train on? Checked again before training, after it was built.

Per date: the manifest and its file exist, the file holds the manifest's row count, the Great
Expectations suite passes on the stored rows (a corrupted or hand-edited file fails here), and
no more than `max_quarantine_share` of the bronze rows were quarantined.

The suite's lateness horizon is the partition's rule: the one given (`lateness_days`), else the
one it was built with (its manifest: a backfill keeps its longer limit), else the default. A
partition built by a bulk import may have left the suite to this check (its manifest's
`expectations` is empty): it runs here, on every partition, before every training.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from components.lake.layout import silver_manifest_path
from components.lake.silver import lateness_rule, read_manifest, read_silver, silver_pandas
from components.lake.store import LakeStore
from components.validation import validate_silver_events


@dataclass
class PartitionReport:
    dt: str
    passed: bool
    rows: int = 0
    failures: list[str] = field(default_factory=list)
    expectations: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class ValidationReport:
    passed: bool
    partitions: list[PartitionReport]

    def failures(self) -> list[str]:
        return [f"{p.dt}: {f}" for p in self.partitions for f in p.failures]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def validate_partition(
    store: LakeStore, dt: str, *, max_quarantine_share: float, lateness_days: int | None = None
) -> PartitionReport:
    report = PartitionReport(dt=dt, passed=False)
    if not store.exists(silver_manifest_path(dt)):
        report.failures.append("no silver manifest: the partition was never built")
        return report
    manifest = read_manifest(store, dt)
    try:
        table = read_silver(store, dt)
    except Exception as exc:  # an unreadable file is a failed batch, reported with the reason
        report.failures.append(f"silver file unreadable: {exc}")
        return report
    report.rows = table.num_rows
    if table.num_rows != manifest["row_count"]:
        report.failures.append(
            f"silver holds {table.num_rows} rows, the manifest says {manifest['row_count']}"
        )
    if table.num_rows == 0:
        report.failures.append("no rows")
    else:
        # read_silver fills received_at of schema-1 partitions
        outcome = validate_silver_events(
            silver_pandas(table),
            date.fromisoformat(dt),
            lateness_days=lateness_rule(store, dt, lateness_days),
        )
        report.expectations = outcome.summary
        failed = {name: s["unexpected"] for name, s in outcome.summary.items() if not s["success"]}
        if failed:
            report.failures.append(f"expectations failed (unexpected rows): {failed}")
    bronze_rows = int(manifest.get("bronze_rows") or 0)
    quarantined = int(manifest.get("quarantined") or 0)
    if bronze_rows and quarantined / bronze_rows > max_quarantine_share:
        report.failures.append(
            f"{quarantined} of {bronze_rows} bronze rows quarantined "
            f"({quarantined / bronze_rows:.1%} > {max_quarantine_share:.1%})"
        )
    report.passed = not report.failures
    return report


def validate_partitions(
    store: LakeStore,
    dates: list[str],
    *,
    max_quarantine_share: float = 0.05,
    lateness_days: int | None = None,
) -> ValidationReport:
    """`lateness_days`: the suite's lateness horizon for every partition; None: each
    partition's own rule (see lateness_rule)."""
    partitions = [
        validate_partition(store, dt, max_quarantine_share=max_quarantine_share, lateness_days=lateness_days)
        for dt in dates
    ]
    return ValidationReport(passed=all(p.passed for p in partitions), partitions=partitions)
