"""One drift check: the champion's reference against the last hours of production.

Signals: feature drift (share of monitored feature columns Evidently flags), CTR target drift
(Evidently on the impressions' `clicked` label), and served-traffic drift (Gini, coverage,
article age, cold-start share, as relative changes). The HTML reports and a JSON summary are
saved in the lake under `reports/drift/<date>/<time>-*`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from components.config import Settings
from components.lake.catalog import read_catalog
from components.lake.layout import drift_report_prefix
from components.lake.silver import silver_dates
from components.lake.store import LakeStore
from components.monitoring.drift import MIN_ROWS, MONITORED, compare
from components.monitoring.reference import Reference, clicked_categories, window_events, window_features
from components.monitoring.served import compare_served, label_impressions, served_stats


@dataclass
class DriftCheck:
    at: str
    window_start: str
    window_end: str
    model_version: str | None
    feature_share: float = 0.0
    drift_share: float = 0.0  # drifted / compared over features, the CTR label and interests
    feature_columns: dict[str, dict[str, Any]] = field(default_factory=dict)
    ctr_reference: float | None = None
    ctr_current: float | None = None
    ctr_drifted: bool = False
    interest_score: float | None = None  # drift score of the sections readers click
    interest_drifted: bool = False
    served: list[dict[str, Any]] = field(default_factory=list)
    served_current: dict[str, Any] | None = None
    drifted: bool = False
    reasons: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    reports: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        if not self.drifted:
            return f"no drift ({self.window_start} .. {self.window_end})"
        return "drift: " + "; ".join(self.reasons)


def run_drift_check(
    settings: Settings,
    store: LakeStore,
    reference: Reference,
    *,
    model_version: str | None,
    now: datetime | None = None,
) -> DriftCheck:
    monitoring = settings.monitoring
    end = pd.Timestamp(now or datetime.now(UTC))
    start = end - pd.Timedelta(hours=monitoring.current_hours)
    check = DriftCheck(
        at=datetime.now(UTC).isoformat(),
        window_start=start.isoformat(),
        window_end=end.isoformat(),
        model_version=model_version,
    )
    prefix = drift_report_prefix(end)

    def save_html(name: str, html: str) -> None:
        store.write_atomic(f"{prefix}-{name}.html", html.encode())
        check.reports.append(store.uri(f"{prefix}-{name}.html"))

    # Features: each monitored column is one vote; more than drift_share of them drifting is drift.
    current_features = window_features(store, start, end)
    votes: list[bool] = []
    for table, (numerical, categorical) in MONITORED.items():
        ref, cur = reference.features.get(table), current_features.get(table)
        if ref is None or cur is None or len(ref) < MIN_ROWS or len(cur) < MIN_ROWS:
            check.skipped.append(
                f"{table}: too few rows (reference {0 if ref is None else len(ref)}, current {0 if cur is None else len(cur)})"
            )
            continue
        result, html = compare(
            ref,
            cur,
            numerical,
            categorical,
            method=monitoring.drift_method,
            threshold=monitoring.drift_threshold,
        )
        save_html(table, html)
        check.skipped.extend(f"{table}.{column}: {why}" for column, why in result["unmonitored"].items())
        for column, verdict in result["columns"].items():
            check.feature_columns[f"{table}.{column}"] = verdict
            votes.append(bool(verdict["drifted"]))
    if votes:
        check.feature_share = sum(votes) / len(votes)
        if check.feature_share > monitoring.drift_share:
            drifted = sorted(c for c, v in check.feature_columns.items() if v["drifted"])
            check.reasons.append(
                f"{check.feature_share:.0%} of features drifted (> {monitoring.drift_share:.0%}): {', '.join(drifted)}"
            )

    # Target and served traffic.
    dates = [
        dt
        for dt in silver_dates(store)
        if (start - pd.Timedelta(days=1)).date().isoformat() <= dt <= end.date().isoformat()
    ]
    events = window_events(store, dates, start, end) if dates else pd.DataFrame(columns=["type"])
    impressions = label_impressions(events) if len(events) else pd.DataFrame()
    catalog = read_catalog(store).to_pandas()
    if (
        len(impressions) >= MIN_ROWS
        and reference.impressions is not None
        and len(reference.impressions) >= MIN_ROWS
    ):
        cur = impressions[["clicked"]].astype(str)
        ref = reference.impressions[["clicked"]].astype(str)
        result, html = compare(ref, cur, [], ["clicked"])
        save_html("ctr", html)
        check.ctr_reference = float((reference.impressions["clicked"]).mean())
        check.ctr_current = float(impressions["clicked"].mean())
        check.ctr_drifted = bool(result["columns"]["clicked"]["drifted"])
        if check.ctr_drifted:
            check.reasons.append(f"CTR moved from {check.ctr_reference:.4f} to {check.ctr_current:.4f}")
    else:
        check.skipped.append(f"ctr: too few impressions (current {len(impressions)})")
    # Interests: the sections of what readers click (an editorial shift shows here first).
    interests = clicked_categories(events, catalog) if len(events) else pd.DataFrame()
    ref_interests = reference.clicked_categories
    if len(interests) >= MIN_ROWS and ref_interests is not None and len(ref_interests) >= MIN_ROWS:
        result, html = compare(
            ref_interests,
            interests,
            [],
            ["category"],
            method=monitoring.drift_method,
            threshold=monitoring.interest_threshold,
        )
        save_html("interests", html)
        verdict = result["columns"]["category"]
        check.interest_score, check.interest_drifted = float(verdict["score"]), bool(verdict["drifted"])
        if check.interest_drifted:
            check.reasons.append(
                f"the sections readers click moved ({verdict['method']} {verdict['score']:.3f}"
                f" >= {verdict['threshold']})"
            )
    else:
        check.skipped.append(f"interests: too few clicks (current {len(interests)})")
    if len(impressions) and reference.served is not None:
        current = served_stats(impressions, catalog, known_users=reference.known_users)
        check.served_current = current.as_dict()
        limits = {
            "gini_increase": monitoring.gini_increase,
            "coverage_drop": monitoring.coverage_drop,
            "age_increase": monitoring.age_increase,
            "cold_start_increase": monitoring.cold_start_increase,
        }
        for finding in compare_served(reference.served, current, limits):
            check.served.append(asdict(finding))
            if finding.drifted:
                check.reasons.append(
                    f"served {finding.name} {finding.reference:.3f} -> {finding.current:.3f} (limit {finding.limit:.3f})"
                )
    signals = [bool(v["drifted"]) for v in check.feature_columns.values()]
    signals += [check.ctr_drifted] if check.ctr_current is not None else []
    signals += [check.interest_drifted] if check.interest_score is not None else []
    check.drift_share = sum(signals) / len(signals) if signals else 0.0
    check.drifted = bool(check.reasons)
    store.write_atomic(f"{prefix}-summary.json", json.dumps(check.as_dict(), indent=2).encode())
    check.reports.append(store.uri(f"{prefix}-summary.json"))
    return check


def yesterday(now: datetime | None = None) -> str:
    return ((now or datetime.now(UTC)) - timedelta(days=1)).date().isoformat()
