"""User and article statistics from silver events, as timestamped feature rows (no look-ahead).

A row with timestamp T summarises the events with ts in (T - window, T]. Rows are emitted on
hour boundaries: at every hour in which an entity had events (an event at ts counts from
ceil_hour(ts) on) and at every hour in which events leave a window, so a point-in-time lookup
at any time t (the latest row at or before t) sees exactly the events of the window ending at
the last full hour, never one after t. Articles also get a row at publication, so a fresh
article has its category and publication time before anybody read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from feature_repo.definitions import (
    ARTICLE_STATS,
    CREATED_FIELD,
    TIMESTAMP_FIELD,
    USER_STATS,
    ViewSpec,
    feature_names,
)

HOUR_NS = 3_600 * 10**9
USER_WINDOW_H = 7 * 24
ARTICLE_SHORT_WINDOW_H = 24
ARTICLE_LONG_WINDOW_H = 7 * 24
SESSION_GAP_S = 30 * 60
READ_MIN_DWELL_MS = 10_000


@dataclass
class FeatureTables:
    """One frame per feature view, named as the view, with the view's columns in order."""

    user_stats: pd.DataFrame
    article_stats: pd.DataFrame

    def frame(self, view: ViewSpec) -> pd.DataFrame:
        frame: pd.DataFrame = getattr(self, view.name)
        return frame


def _rows(
    view: ViewSpec, keys: np.ndarray, hours: np.ndarray, created: datetime, features: dict[str, Any]
) -> pd.DataFrame:
    """The view's source rows, columns in the definitions' order; `features` must hold exactly
    the view's features (a feature computed here but not defined, or the reverse, is an error)."""
    expected = feature_names(view)
    if set(features) != set(expected):
        missing, extra = sorted(set(expected) - set(features)), sorted(set(features) - set(expected))
        raise ValueError(
            f"{view.name}: computed features differ from feature_repo/definitions.py "
            f"(not computed: {missing}, not defined: {extra})"
        )
    return pd.DataFrame(
        {view.join_key: keys, TIMESTAMP_FIELD: _hours_to_ts(hours), CREATED_FIELD: pd.Timestamp(created)}
        | {name: features[name] for name in expected}
    )


def ceil_hour(ts: pd.Series) -> np.ndarray:
    """Hours since the epoch, rounded up (an event at 10:00:00 belongs to the 10:00 row)."""
    ns = ts.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    return np.asarray(-((-ns) // HOUR_NS), dtype=np.int64)


def _hours_to_ts(hours: np.ndarray) -> pd.DatetimeIndex:
    return pd.to_datetime(hours * HOUR_NS, utc=True)


def rolling_sums(
    entity: np.ndarray,
    hour: np.ndarray,
    values: np.ndarray,
    emit_entity: np.ndarray,
    emit_hour: np.ndarray,
    window_h: int,
) -> np.ndarray:
    """For each emission point (entity, T): the sum of `values` rows of that entity with
    hour in (T - window_h, T]. Inputs are integer codes; `values` is (n, k)."""
    base = min(int(hour.min(initial=0)), int(emit_hour.min(initial=0))) - window_h - 1
    span = max(int(hour.max(initial=0)), int(emit_hour.max(initial=0))) - base + 1
    key = entity.astype(np.int64) * span + (hour - base)
    order = np.argsort(key, kind="stable")
    key = key[order]
    cumulative = np.vstack([np.zeros((1, values.shape[1])), np.cumsum(values[order], axis=0)])
    upper = emit_entity.astype(np.int64) * span + (emit_hour - base)
    lower = upper - window_h
    # Keys are ordered by entity first: the last key <= lower is either this entity's last
    # bucket before the window or the end of the previous entities, both the right baseline.
    hi = np.searchsorted(key, upper, side="right")
    lo = np.searchsorted(key, lower, side="right")
    return np.asarray(cumulative[hi] - cumulative[lo])


def _emission_points(
    entity: np.ndarray, hour: np.ndarray, windows: list[int], horizon: int
) -> tuple[np.ndarray, np.ndarray]:
    points = [np.stack([entity, hour])] + [np.stack([entity, hour + w]) for w in windows]
    both = np.unique(np.concatenate(points, axis=1), axis=1)
    keep = both[1] <= horizon
    return both[0][keep], both[1][keep]


def _sessions(events: pd.DataFrame) -> pd.DataFrame:
    """Sessions per user: a gap of more than 30 minutes starts a new one."""
    ordered = events.sort_values(["user_id", "ts"], kind="stable")
    gap = ordered.groupby("user_id", sort=False)["ts"].diff().dt.total_seconds()
    session_no = (gap.isna() | (gap > SESSION_GAP_S)).cumsum()
    grouped = ordered.groupby(session_no)
    return pd.DataFrame(
        {
            "user_id": grouped["user_id"].first().to_numpy(),
            "end": grouped["ts"].max().to_numpy(),
            "length_s": (grouped["ts"].max() - grouped["ts"].min()).dt.total_seconds().to_numpy(),
        }
    )


def user_stats(events: pd.DataFrame, categories: pd.Series, horizon: int, created: datetime) -> pd.DataFrame:
    """`categories`: article_id -> category."""
    users, user_code = np.unique(events["user_id"].to_numpy(dtype=object), return_inverse=True)
    kind = events["type"].to_numpy(dtype=object)
    category_names = sorted(categories.unique())
    category_index = pd.Series(np.arange(len(category_names)), index=category_names)
    event_category = events["article_id"].map(categories).map(category_index).to_numpy(dtype=float)
    viewed = kind == "view"
    values = np.zeros((len(events), 3 + len(category_names)))
    values[:, 0] = kind == "click"
    values[:, 1] = viewed
    values[:, 2] = (kind == "dwell") & (events["dwell_ms"].fillna(0).to_numpy() >= READ_MIN_DWELL_MS)
    known = viewed & ~np.isnan(event_category)
    values[np.flatnonzero(known), 3 + event_category[known].astype(int)] = 1.0
    hours = ceil_hour(events["ts"])

    sessions = _sessions(events)
    session_user = np.searchsorted(users, sessions["user_id"].to_numpy(dtype=object))
    session_hours = ceil_hour(sessions["end"])
    session_values = np.stack([np.ones(len(sessions)), sessions["length_s"].to_numpy()], axis=1)

    emit_user, emit_hour = _emission_points(
        np.concatenate([user_code, session_user]),
        np.concatenate([hours, session_hours]),
        [USER_WINDOW_H],
        horizon,
    )
    sums = rolling_sums(user_code, hours, values, emit_user, emit_hour, USER_WINDOW_H)
    session_sums = rolling_sums(
        session_user, session_hours, session_values, emit_user, emit_hour, USER_WINDOW_H
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        read_ratio = np.where(sums[:, 1] > 0, np.minimum(sums[:, 2] / sums[:, 1], 1.0), np.nan)
        avg_session = np.where(session_sums[:, 0] > 0, session_sums[:, 1] / session_sums[:, 0], np.nan)
    category_counts = sums[:, 3:]
    top = np.where(category_counts.max(axis=1) > 0, category_counts.argmax(axis=1), -1)
    names = np.array([*category_names, None], dtype=object)
    return _rows(
        USER_STATS,
        users[emit_user],
        emit_hour,
        created,
        {
            "clicks_7d": sums[:, 0].round().astype(np.int64),
            "read_ratio_7d": read_ratio,
            "avg_session_len_s": avg_session,
            "top_category": names[top],
        },
    )


def article_stats(
    events: pd.DataFrame, catalog: pd.DataFrame, horizon: int, created: datetime
) -> pd.DataFrame:
    catalog = catalog.drop_duplicates("article_id").reset_index(drop=True)
    articles = np.unique(
        np.concatenate(
            [catalog["article_id"].to_numpy(dtype=object), events["article_id"].to_numpy(dtype=object)]
        )
    )
    code = np.searchsorted(articles, events["article_id"].to_numpy(dtype=object))
    kind = events["type"].to_numpy(dtype=object)
    dwell = kind == "dwell"
    values = np.stack(
        [
            kind == "impression",
            kind == "click",
            kind == "view",
            dwell,
            np.where(dwell, events["dwell_ms"].fillna(0).to_numpy(dtype=float) / 1000.0, 0.0),
        ],
        axis=1,
    ).astype(float)
    hours = ceil_hour(events["ts"])
    published_code = np.searchsorted(articles, catalog["article_id"].to_numpy(dtype=object))
    published_hours = ceil_hour(catalog["published_at"])
    emit_article, emit_hour = _emission_points(
        np.concatenate([code, published_code]),
        np.concatenate([hours, published_hours]),
        [ARTICLE_SHORT_WINDOW_H, ARTICLE_LONG_WINDOW_H],
        horizon,
    )
    short = rolling_sums(code, hours, values[:, :3], emit_article, emit_hour, ARTICLE_SHORT_WINDOW_H)
    long = rolling_sums(code, hours, values[:, 3:], emit_article, emit_hour, ARTICLE_LONG_WINDOW_H)
    with np.errstate(invalid="ignore", divide="ignore"):
        ctr = np.where(short[:, 0] > 0, np.minimum(short[:, 1] / short[:, 0], 1.0), np.nan)
        read_time = np.where(long[:, 0] > 0, long[:, 1] / long[:, 0], np.nan)
    meta = catalog.set_index("article_id").reindex(articles)
    frame = _rows(
        ARTICLE_STATS,
        articles[emit_article],
        emit_hour,
        created,
        {
            "views_24h": short[:, 2].round().astype(np.int64),
            "ctr_24h": ctr,
            "avg_read_time_s": read_time,
            "category": meta["section"].to_numpy(dtype=object)[emit_article],
            "published_at": pd.to_datetime(meta["published_at"].to_numpy()[emit_article], utc=True),
        },
    )
    # An article's row before its publication would be look-ahead on the catalogue itself.
    return frame[
        frame["published_at"].isna() | (frame[TIMESTAMP_FIELD] >= frame["published_at"].dt.floor("h"))
    ]


def compute_features(
    events: pd.DataFrame, catalog: pd.DataFrame, *, created: datetime | None = None
) -> FeatureTables:
    """`events`: silver columns (type, user_id, article_id, ts, dwell_ms); `catalog`:
    article_id, section, published_at (the catalogue's columns; the section is the `category`
    feature). Rows up to the last event's hour."""
    created = created or datetime.now(UTC)
    if events.empty:
        raise ValueError("events: no silver events to compute features from")
    events = events.reset_index(drop=True)
    horizon = int(ceil_hour(events["ts"]).max())
    categories = catalog.drop_duplicates("article_id").set_index("article_id")["section"]
    return FeatureTables(
        user_stats=user_stats(events, categories, horizon, created),
        article_stats=article_stats(events, catalog, horizon, created),
    )
