"""The reference a champion is monitored against, saved with the model when it is registered:
samples of the feature rows of its training window, of its labelled impressions (CTR), and the
served-traffic statistics of that window."""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from components.events.schema import POSITIVE_TYPES
from components.lake.catalog import read_catalog
from components.lake.layout import CATALOG_FILE
from components.lake.silver import load_silver_frame
from components.lake.store import LakeStore
from components.lake.tombstones import erased_rows, erased_users
from components.monitoring.served import ServedStats, label_impressions, served_stats
from feature_repo.definitions import TIMESTAMP_FIELD, VIEWS

ARTIFACT_DIR = "reference"
TABLES = {view.name: view.path for view in VIEWS}
EVENT_COLUMNS = ["type", "user_id", "article_id", "ts", "request_id"]


@dataclass
class Reference:
    features: dict[str, pd.DataFrame] = field(default_factory=dict)  # table -> sampled rows
    impressions: pd.DataFrame | None = None  # sampled labelled impressions (clicked)
    served: ServedStats | None = None
    known_users: set[str] = field(default_factory=set)  # readers the model was trained on
    clicked_categories: pd.DataFrame | None = None  # sampled sections of clicked articles


def _sample(frame: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    return frame.sample(n=max_rows, random_state=seed) if len(frame) > max_rows else frame


def window_features(store: LakeStore, start: pd.Timestamp, end: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """Feature rows with event_timestamp in [start, end), per table (absent tables skipped)."""
    out = {}
    for table, path in TABLES.items():
        if not store.exists(path):
            continue
        frame = pq.read_table(io.BytesIO(store.read_bytes(path))).to_pandas()
        ts = pd.to_datetime(frame[TIMESTAMP_FIELD], utc=True)
        out[table] = frame[(ts >= start) & (ts < end)].reset_index(drop=True)
    return out


def _between(events: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    ts = pd.to_datetime(events["ts"], utc=True)
    return events[(ts >= start) & (ts < end)].reset_index(drop=True)


def load_events(store: LakeStore, dates: Sequence[str]) -> pd.DataFrame:
    """The silver events of `dates` (EVENT_COLUMNS), erased readers' events received before
    their erasure left out (components/lake/tombstones.py): silver not rebuilt yet since a
    `DELETE /users` still holds them."""
    events, _ = load_silver_frame(store, list(dates), [*EVENT_COLUMNS, "received_at"])
    erased = erased_users(store)
    if erased and not events.empty:
        mask = erased_rows(
            pa.Table.from_pandas(events[["user_id", "received_at"]], preserve_index=False), erased
        )
        events = events.loc[~mask].reset_index(drop=True)
    return events.drop(columns=["received_at"])


def window_events(
    store: LakeStore, dates: Sequence[str], start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    return _between(load_events(store, dates), start, end)


def clicked_categories(events: pd.DataFrame, catalog: pd.DataFrame) -> pd.DataFrame:
    """The section of every clicked article: what readers are interested in."""
    clicks = events[events["type"].isin(POSITIVE_TYPES)]
    sections = clicks["article_id"].map(catalog.set_index("article_id")["section"])
    return pd.DataFrame({"category": sections.fillna("unknown").astype(str).to_numpy()})


def build_reference(
    store: LakeStore,
    dates: Sequence[str],
    known_users: set[str],
    *,
    hours: int = 24,
    max_rows: int = 20_000,
    seed: int = 42,
) -> Reference:
    """The last `hours` of the training window, as the monitor will see production: same
    window length, and cold start measured against the readers known before that window."""
    end = pd.Timestamp(max(dates), tz="UTC") + pd.Timedelta(days=1)
    start = end - pd.Timedelta(hours=hours)
    features = {t: _sample(f, max_rows, seed) for t, f in window_features(store, start, end).items()}
    history = load_events(store, dates)
    events = _between(history, start, end)
    impressions = label_impressions(events)
    served = None
    interests = None
    if store.exists(CATALOG_FILE):
        catalog = read_catalog(store).to_pandas()
        interests = _sample(clicked_categories(events, catalog), max_rows, seed)
        if len(impressions):
            before = history[pd.to_datetime(history["ts"], utc=True) < start]
            clicked_before = set(before.loc[before["type"].isin(POSITIVE_TYPES), "user_id"])
            known_before = clicked_before & set(known_users) if known_users else clicked_before
            served = served_stats(impressions, catalog, known_users=known_before)
    return Reference(
        features=features,
        impressions=_sample(impressions, max_rows, seed)[["clicked"]],
        served=served,
        known_users=set(known_users),
        clicked_categories=interests,
    )


def save_reference(reference: Reference, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for table, frame in reference.features.items():
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), folder / f"{table}.parquet")
    if reference.impressions is not None:
        pq.write_table(
            pa.Table.from_pandas(reference.impressions, preserve_index=False), folder / "impressions.parquet"
        )
    if reference.served is not None:
        (folder / "served.json").write_text(json.dumps(reference.served.as_dict()))
    (folder / "users.json").write_text(json.dumps(sorted(reference.known_users)))
    if reference.clicked_categories is not None:
        pq.write_table(
            pa.Table.from_pandas(reference.clicked_categories, preserve_index=False),
            folder / "clicks.parquet",
        )
    return folder


def load_reference(folder: Path) -> Reference:
    reference = Reference()
    for table in TABLES:
        if (folder / f"{table}.parquet").exists():
            reference.features[table] = pq.read_table(folder / f"{table}.parquet").to_pandas()
    if (folder / "impressions.parquet").exists():
        reference.impressions = pq.read_table(folder / "impressions.parquet").to_pandas()
    if (folder / "served.json").exists():
        reference.served = ServedStats(**json.loads((folder / "served.json").read_text()))
    if (folder / "clicks.parquet").exists():
        reference.clicked_categories = pq.read_table(folder / "clicks.parquet").to_pandas()
    if (folder / "users.json").exists():
        reference.known_users = set(json.loads((folder / "users.json").read_text()))
    return reference


def download_reference(run_id: str) -> Reference:
    """The reference logged with a model's run (empty if the run has none)."""
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=ARTIFACT_DIR, dst_path=tmp
            )
        except Exception:  # a run registered without a reference (older versions)
            return Reference()
        return load_reference(Path(path))


def champion_reference(model_name: str) -> tuple[str | None, Reference]:
    """The champion's version and the reference logged with it ((None, empty) without one)."""
    from components.names import CHAMPION
    from components.registry.tracking import version_by_alias

    champion = version_by_alias(model_name, CHAMPION)
    if champion is None or not champion.run_id:
        return None, Reference()
    return str(champion.version), download_reference(champion.run_id)
