import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from components.config import load_settings
from components.events.articles import validate_article
from components.features.store import feature_store
from components.lake import LakeStore
from components.lake.catalog import upsert_articles
from components.lake.silver import build_silver
from components.testing.lake import write_bronze
from components.testing.services import RedisNamespace
from pipelines.features.main import main


def test_builds_features_from_silver_and_records_lineage(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    redis_ns: RedisNamespace,
) -> None:
    monkeypatch.setenv("RECO_HOME", str(tmp_path))
    monkeypatch.setenv("RECO_REDIS__URL", redis_ns.url)
    monkeypatch.setenv("RECO_FEATURES__PROJECT", f"reco_test_{uuid.uuid4().hex[:8]}")
    store = LakeStore(str(tmp_path / "lake"))
    day = (datetime.now(UTC) - timedelta(days=2)).replace(hour=10, minute=0, second=0, microsecond=0)
    published = (day - timedelta(days=1)).isoformat()
    article = {"article_id": "a1", "title": "A", "abstract": "", "url": "https://x.example/a1", "section": "tech",
               "language": "en", "published_at": published, "updated_at": published, "status": "published"}  # fmt: skip
    upsert_articles(store, [validate_article(article)])
    values = []
    for i, kind in enumerate(["impression", "click", "view"]):
        value: dict[str, object] = {
            "event_id": str(uuid.uuid4()),
            "type": kind,
            "user_id": "u1",
            "article_id": "a1",
            "ts": (day + timedelta(seconds=i)).isoformat(),
        }
        if kind == "impression":
            value |= {"request_id": "r1", "position": 0, "model_version": "m", "propensity": 0.5}
        if kind == "click":
            value |= {"request_id": "r1", "position": 0}
        values.append(orjson.dumps(value))
    write_bronze(store, values)
    silver = build_silver(store, day.date().isoformat())
    try:
        assert main([]) == 0
    finally:
        feature_store(load_settings()).teardown()
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["silver_hashes"] == {day.date().isoformat(): silver.content_hash}
    assert summary["events"] == 3
    assert summary["views"] == ["user_stats", "article_stats"]
    assert store.exists("features/_manifest.json")


def test_without_silver_it_says_what_to_do_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECO_HOME", str(tmp_path))
    assert main([]) == 1
