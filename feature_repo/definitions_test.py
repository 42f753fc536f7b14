"""The Feast objects are built from the feature specs, and the specs' helpers say what they hold."""

import pytest
from feast import Entity, FeatureService, FeatureView, FileSource
from feast.types import Int64, UnixTimestamp

from feature_repo import definitions
from feature_repo.definitions import ARTICLE_STATS, USER_STATS, VIEWS


def _objects() -> dict[str, list[object]]:
    objects = definitions.build("s3://lake", "http://minio:9000")
    by_kind: dict[str, list[object]] = {}
    for obj in objects:
        by_kind.setdefault(type(obj).__name__, []).append(obj)
    return by_kind


def test_feast_views_are_the_specs() -> None:
    objects = _objects()
    views = {v.name: v for v in objects["FeatureView"] if isinstance(v, FeatureView)}
    assert list(views) == [spec.name for spec in VIEWS]
    for spec in VIEWS:
        view = views[spec.name]
        defined = [(f.name, definitions.feast_type(f)) for f in spec.fields]
        assert [(f.name, f.dtype) for f in view.features] == defined, spec.name
        # Feast keeps `schema` in no particular order.
        assert {(f.name, f.dtype) for f in view.schema} == set(defined), spec.name
        assert view.entities == [spec.entity]
        assert view.ttl == spec.ttl
        assert view.tags == dict(spec.tags)
        for feature, field_spec in zip(view.features, spec.fields, strict=True):
            assert feature.tags == {
                "categorical": str(field_spec.categorical).lower(),
                "monitored": str(field_spec.monitored).lower(),
            }
        source = view.batch_source
        assert isinstance(source, FileSource)
        assert source.path == f"s3://lake/{spec.path}"
        assert source.timestamp_field == definitions.TIMESTAMP_FIELD
        assert source.created_timestamp_column == definitions.CREATED_FIELD
    entities = {e.name: e for e in objects["Entity"] if isinstance(e, Entity)}
    assert {name: e.join_key for name, e in entities.items()} == {s.entity: s.join_key for s in VIEWS}
    services = {s.name: s for s in objects["FeatureService"] if isinstance(s, FeatureService)}
    assert set(services) == {definitions.TRAINING_SERVICE, definitions.SERVING_SERVICE}
    for service in services.values():
        assert [p.name for p in service.feature_view_projections] == [spec.name for spec in VIEWS]


def test_feature_names_are_unique_across_views() -> None:
    """Training sets merge every view into one frame by column name: a name used twice, or a
    feature named like a key or timestamp column, would overwrite another column."""
    names = [name for spec in VIEWS for name in definitions.feature_names(spec)]
    reserved = {spec.join_key for spec in VIEWS} | {definitions.TIMESTAMP_FIELD, definitions.CREATED_FIELD}
    assert len(names) == len(set(names)), names
    assert not set(names) & reserved


def test_helpers_read_the_specs() -> None:
    assert definitions.feature_names("user_stats") == [
        "clicks_7d",
        "read_ratio_7d",
        "avg_session_len_s",
        "top_category",
    ]
    assert definitions.columns(ARTICLE_STATS)[:3] == ["article_id", "event_timestamp", "created"]
    assert definitions.defaults(USER_STATS) == {"clicks_7d": 0}
    assert definitions.defaults(ARTICLE_STATS) == {"views_24h": 0}
    # Publication time moves by design: not monitored; sections are categories.
    assert definitions.monitored(ARTICLE_STATS) == (["views_24h", "ctr_24h", "avg_read_time_s"], ["category"])
    assert definitions.monitored(USER_STATS) == (
        ["clicks_7d", "read_ratio_7d", "avg_session_len_s"],
        ["top_category"],
    )
    assert definitions.max_ttl() == ARTICLE_STATS.ttl
    feast_type = definitions.feast_type
    assert [feast_type(f) for f in ARTICLE_STATS.fields if f.name == "published_at"] == [UnixTimestamp]
    assert all(feast_type(f) == Int64 for spec in VIEWS for f in spec.fields if isinstance(f.default, int))
    with pytest.raises(KeyError, match="'session_stats': not defined"):
        definitions.view("session_stats")
