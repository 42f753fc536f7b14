"""The seed course's serving design, as the baseline of benchmarks/serving.py.

FastAPI, a synchronous endpoint (FastAPI runs it in its thread pool), Feast's
`get_online_features` per request, the MLflow pyfunc's `predict` per request, served by
uvicorn (uvloop and httptools, as `uvicorn[standard]` installs them) as the seed's Dockerfile
does. Same model version, same online store, same cold-start rule as the course: a reader
without features gets the popular list. Nothing is slowed down on purpose; this is the code
the course shows, wired to reco's settings.
"""

from __future__ import annotations

import os
import time

import mlflow.pyfunc
import pandas as pd
from fastapi import FastAPI  # pants: no-infer-dep (comes with Feast)
from prometheus_client import Counter, Histogram
from pydantic import BaseModel

from components.config import load_settings
from components.features.store import feature_store
from components.lake import LakeStore
from components.lake.catalog import read_catalog

settings = load_settings()
MODEL_URI = os.environ.get("MODEL_URI", f"models:/{settings.mlflow.model_name}@champion")
mlflow.set_tracking_uri(settings.mlflow.tracking_uri)
mlflow.set_registry_uri(settings.mlflow.registry_uri or settings.mlflow.tracking_uri)
model = mlflow.pyfunc.load_model(MODEL_URI)
store = feature_store(settings)
RECO_LATENCY = Histogram("reco_latency_ms", "latency", buckets=(1, 2, 5, 10, 25, 50, 100, 250))
RECO_REQUESTS = Counter("reco_requests", "requests")


def _popular_articles() -> list[str]:
    """The course leaves `get_popular_articles` open: the newest articles of the catalogue,
    computed once at start (cheaper per request than anything reco does for cold start)."""
    catalog = read_catalog(LakeStore.from_settings(settings.lake)).to_pandas()
    return list(catalog.sort_values("published_at", ascending=False)["article_id"].head(100))


POPULAR = _popular_articles()


def get_popular_articles(k: int) -> list[str]:
    return POPULAR[:k]


app = FastAPI(title="Reco Articles API", version="2.0")


class RecoRequest(BaseModel):
    user_id: str
    exclude: list[str] = []
    k: int = 10


@app.get("/healthz")
def health() -> dict[str, str]:
    return {"status": "ok", "model_uri": MODEL_URI}


@app.post("/recommend")
def recommend(req: RecoRequest) -> dict[str, object]:
    t0 = time.perf_counter()
    # 1. Online features (Redis)
    features = store.get_online_features(
        features=["user_stats:clicks_7d", "user_stats:top_category"],
        entity_rows=[{"user_id": req.user_id}],
    ).to_dict()
    if features["clicks_7d"][0] is None:
        # Cold-start fallback: popular articles
        items = get_popular_articles(k=req.k)
    else:
        # 2. Model inference: top-K
        out = model.predict(pd.DataFrame([{"user_id": req.user_id, "k": req.k + len(req.exclude)}]))
        items = [i for i in out.iloc[0]["article_ids"] if i not in req.exclude][: req.k]
        if not items:  # the model does not know this reader
            items = get_popular_articles(k=req.k)
    latency_ms = (time.perf_counter() - t0) * 1000
    RECO_LATENCY.observe(latency_ms)
    RECO_REQUESTS.inc()
    return {"items": items, "latency_ms": round(latency_ms, 2)}
