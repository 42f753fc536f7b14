"""Entities, feature views and feature services, built for a given lake location.

Training (point-in-time joins on the offline store) and serving (the Redis online store) both
read these definitions; the computations behind the sources live in components/features.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.types import Float64, Int64, String, UnixTimestamp

USER_STATS_PATH = "features/user_stats.parquet"
ARTICLE_STATS_PATH = "features/article_stats.parquet"
TRAINING_SERVICE = "training_v1"
SERVING_SERVICE = "serving_v1"

user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.STRING, description="a reader")
article = Entity(
    name="article", join_keys=["article_id"], value_type=ValueType.STRING, description="an article"
)


def build(lake_uri: str, s3_endpoint_url: str | None = None) -> list[Any]:
    """Every Feast object of the repo, with sources under `lake_uri` (folder or s3://...)."""
    source_options: dict[str, Any] = {
        "timestamp_field": "event_timestamp",
        "created_timestamp_column": "created",
    }
    if s3_endpoint_url:
        source_options["s3_endpoint_override"] = s3_endpoint_url
    user_source = FileSource(name="user_stats_source", path=f"{lake_uri}/{USER_STATS_PATH}", **source_options)
    article_source = FileSource(
        name="article_stats_source", path=f"{lake_uri}/{ARTICLE_STATS_PATH}", **source_options
    )
    user_stats = FeatureView(
        name="user_stats",
        entities=[user],
        # A row summarises the last 7 days; rows are re-emitted when events leave the window.
        ttl=timedelta(days=8),
        schema=[
            Field(name="clicks_7d", dtype=Int64),
            Field(name="read_ratio_7d", dtype=Float64),
            Field(name="avg_session_len_s", dtype=Float64),
            Field(name="top_category", dtype=String),
        ],
        source=user_source,
        online=True,
        tags={"owner": "reco", "window": "7d"},
    )
    article_stats = FeatureView(
        name="article_stats",
        entities=[article],
        # Articles live up to about two months; the publication row must stay visible.
        ttl=timedelta(days=120),
        schema=[
            Field(name="views_24h", dtype=Int64),
            Field(name="ctr_24h", dtype=Float64),
            Field(name="avg_read_time_s", dtype=Float64),
            Field(name="category", dtype=String),
            Field(name="published_at", dtype=UnixTimestamp),
        ],
        source=article_source,
        online=True,
        tags={"owner": "reco", "window": "24h/7d"},
    )
    training = FeatureService(name=TRAINING_SERVICE, features=[user_stats, article_stats])
    serving = FeatureService(name=SERVING_SERVICE, features=[user_stats, article_stats])
    return [user, article, user_source, article_source, user_stats, article_stats, training, serving]
