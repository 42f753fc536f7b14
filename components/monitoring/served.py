"""What was served, and how it was received: recommendation-specific drift signals.

From impression and click events (silver): click-through rate, how concentrated the served
articles are (Gini of impressions per article), catalogue coverage (share of live articles
served at least once), the age of served articles at serving time, and the share of
impressions that went to readers the model did not know (cold start). Each impression gets a
`clicked` label (a click with the same request and article), the target for CTR drift.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from components.events.schema import EXPOSURE_TYPES, POSITIVE_TYPES


@dataclass(frozen=True)
class ServedStats:
    impressions: int
    ctr: float
    gini: float
    coverage: float
    median_age_h: float
    cold_start_share: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def gini(counts: np.ndarray) -> float:
    """Gini coefficient of non-negative counts: 0 when all are equal, towards 1 when one
    item takes everything."""
    values = np.sort(np.asarray(counts, dtype=float))
    n = len(values)
    if n == 0 or values.sum() == 0:
        return 0.0
    ranks = np.arange(1, n + 1)
    return float((2 * (ranks * values).sum()) / (n * values.sum()) - (n + 1) / n)


def label_impressions(events: pd.DataFrame) -> pd.DataFrame:
    """The impressions of `events` with `clicked` (bool): a click carried the same request_id
    and article_id."""
    impressions = events[events["type"].isin(EXPOSURE_TYPES)][["user_id", "article_id", "ts", "request_id"]]
    clicked = events["type"].isin(POSITIVE_TYPES) & events["request_id"].notna()
    clicks = events[clicked][["request_id", "article_id"]]
    keys = set(zip(clicks["request_id"], clicks["article_id"], strict=True))
    labelled = impressions.copy()
    labelled["clicked"] = [
        k in keys for k in zip(labelled["request_id"], labelled["article_id"], strict=True)
    ]
    return labelled.reset_index(drop=True)


def served_stats(
    impressions: pd.DataFrame, catalog: pd.DataFrame, *, known_users: set[str] | None = None
) -> ServedStats:
    """Stats of labelled `impressions` (see `label_impressions`); `catalog` has article_id,
    published_at and expires_at; `known_users`: the readers the model was trained on."""
    if impressions.empty:
        raise ValueError("no impressions in the window")
    ts = pd.to_datetime(impressions["ts"], utc=True)
    start, end = ts.min(), ts.max()
    published = catalog.set_index("article_id")["published_at"]
    served_published = pd.to_datetime(impressions["article_id"].map(published), utc=True)
    age_h = (ts - served_published).dt.total_seconds() / 3600.0
    expires = pd.to_datetime(catalog["expires_at"], utc=True)
    live = catalog[
        (pd.to_datetime(catalog["published_at"], utc=True) <= end) & (expires.isna() | (expires > start))
    ]
    served_live = impressions["article_id"][impressions["article_id"].isin(set(live["article_id"]))].nunique()
    cold = 0.0
    if known_users is not None:
        cold = float((~impressions["user_id"].isin(known_users)).mean())
    return ServedStats(
        impressions=len(impressions),
        ctr=float(impressions["clicked"].mean()),
        gini=gini(impressions["article_id"].value_counts().to_numpy()),
        coverage=served_live / max(len(live), 1),
        median_age_h=(
            float(np.nanmedian(age_h.to_numpy(dtype=float))) if age_h.notna().any() else float("nan")
        ),
        cold_start_share=cold,
    )


@dataclass(frozen=True)
class ServedFinding:
    name: str
    reference: float
    current: float
    limit: float
    drifted: bool


def compare_served(
    reference: ServedStats, current: ServedStats, limits: dict[str, float]
) -> list[ServedFinding]:
    """Relative changes against limits: `gini_increase`, `coverage_drop`, `age_increase`,
    `cold_start_increase` (each a share of the reference value)."""
    findings = []
    for name, attr, direction in (
        ("gini_increase", "gini", 1),
        ("coverage_drop", "coverage", -1),
        ("age_increase", "median_age_h", 1),
        ("cold_start_increase", "cold_start_share", 1),
    ):
        ref, cur = float(getattr(reference, attr)), float(getattr(current, attr))
        limit = ref * (1 + direction * limits[name])
        drifted = bool(cur > limit if direction > 0 else cur < limit) and ref > 0
        findings.append(ServedFinding(attr, ref, cur, limit, drifted))
    return findings
