"""The catalogue end to end: a CMS posts articles to the collector, the ingestor (a real
subprocess) writes them to the lake's versioned catalogue, the recommend service serves them;
a takedown and an unpublish leave /recommend within 5 s, pushed through Redis (the service's
periodic catalogue re-read is set to 10 minutes, so it cannot be what removes them)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from starlette.testclient import TestClient

from components.config import Settings, settings_env
from components.lake import LakeStore
from components.lake.catalog import read_catalog
from components.runtime.processes import ServiceProcess
from services.collector.app import create_app as create_collector
from services.recommender.app import create_app as create_recommender

TOKEN = "cms-e2e-token"
ARTICLES = 40
TAKEDOWN_BOUND_S = 5.0


def articles(now: datetime) -> list[dict[str, Any]]:
    out = []
    for i in range(ARTICLES):
        # Newer articles rank higher in the cold-start order: a-000 is the most recent.
        published = (now - timedelta(minutes=10 + 30 * i)).isoformat()
        out.append(
            {
                "article_id": f"a-{i:03d}",
                "title": f"Story {i}",
                "abstract": "",
                "url": f"https://news.example/story/{i}",
                "section": ["news", "sports", "tech"][i % 3],
                "tags": [f"t{i % 5}"],
                "language": "en",
                "published_at": published,
                "updated_at": published,
                "status": "published",
            }
        )
    return out


def wait_for(check: Callable[[], bool], timeout_s: float, what: str) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"{what}: not within {timeout_s} s")
        time.sleep(0.05)
    return time.monotonic() - started


@pytest.fixture
def settings(reco_settings: Settings) -> Settings:
    return reco_settings.model_copy(
        update={
            "collector": reco_settings.collector.model_copy(update={"admin_token": SecretStr(TOKEN)}),
            "serving": reco_settings.serving.model_copy(update={"catalogue_refresh_s": 600.0}),
        }
    )


def test_upsert_then_takedown_reaches_recommend_within_5_s(settings: Settings, tmp_path: Path) -> None:
    store = LakeStore.from_settings(settings.lake)
    env = settings_env(settings) | {"RECO_INGESTOR__CATALOGUE_FLUSH_INTERVAL_S": "0.2"}
    ingestor = ServiceProcess("services.ingestor.main", env, tmp_path / "ingestor.log").start()
    cms_headers = {"authorization": f"Bearer {TOKEN}"}
    try:
        with TestClient(create_collector(settings), headers=cms_headers) as cms:
            response = cms.post("/articles", json=articles(datetime.now(UTC)))
            assert response.status_code == 202, response.text

            def catalogued() -> bool:
                return store.exists("catalog/_manifest.json") and read_catalog(store).num_rows == ARTICLES

            wait_for(catalogued, 60, f"the catalogue in the lake\n{ingestor.log_tail()}")

            with TestClient(create_recommender(settings)) as service:

                def served() -> list[str]:
                    answer = service.post("/recommend", json={"user_id": "newcomer", "k": 10})
                    assert answer.status_code == 200, answer.text
                    return [item["article_id"] for item in answer.json()["items"]]

                first = served()
                assert len(first) == 10 and set(first) <= {
                    a["article_id"] for a in articles(datetime.now(UTC))
                }
                taken, withdrawn = first[0], first[1]
                time.sleep(1.5)  # the service subscribed to the push channel at start-up

                assert cms.delete(f"/articles/{taken}").status_code == 202
                unpublished = next(a for a in articles(datetime.now(UTC)) if a["article_id"] == withdrawn)
                unpublished["status"] = "unpublished"
                unpublished["updated_at"] = datetime.now(UTC).isoformat()
                assert cms.post("/articles", json=unpublished).status_code == 202
                took = wait_for(
                    lambda: not {taken, withdrawn} & set(served()),
                    TAKEDOWN_BOUND_S,
                    f"the takedown leaving /recommend\n{ingestor.log_tail()}",
                )
                print(f"takedown and unpublish left /recommend after {took:.2f} s")
                after = served()
                assert len(after) == 10 and not {taken, withdrawn} & set(after)

        snapshot = {r["article_id"]: r for r in read_catalog(store).to_pylist()}
        assert taken not in snapshot  # deleted: out of every read
        assert snapshot[withdrawn]["status"] == "unpublished"
        assert len(snapshot) == ARTICLES - 1
    finally:
        ingestor.stop()
