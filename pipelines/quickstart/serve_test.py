"""What serve.py starts the services with: the demo's origin allowed by both public APIs, and
the demo pointed at them (the browser tests run the same stack: tests/browser_test.py)."""

from __future__ import annotations

import json
import os
from unittest import mock

from components.config import load_settings
from pipelines.quickstart.serve import demo_origin, serving_env


def test_the_demo_origin_is_allowed_and_the_env_is_valid_settings(tmp_path: object) -> None:
    settings = load_settings(home=str(tmp_path), serving={"cors_origins": ["https://news.example.com"]})
    env = serving_env(settings)
    origins = json.loads(env["RECO_SERVING__CORS_ORIGINS"])
    assert origins == sorted(["https://news.example.com", demo_origin(settings)])
    assert json.loads(env["RECO_COLLECTOR__CORS_ORIGINS"]) == origins
    assert env["RECO_DEMO__RECOMMEND_URL"] == f"http://127.0.0.1:{settings.serving.port}"
    # The services read it back as settings without complaint.
    with mock.patch.dict(os.environ, env, clear=True):
        served = load_settings()
    assert demo_origin(settings) in served.serving.cors_origins
    assert served.demo.collector_url == f"http://127.0.0.1:{settings.collector.port}"
    # The console's token: this run's own when none is set, the operator's when one is.
    assert served.serving.admin_token is not None and len(served.serving.admin_token.get_secret_value()) >= 20
    given = load_settings(home=str(tmp_path), serving={"admin_token": "the-operators"})
    assert serving_env(given)["RECO_SERVING__ADMIN_TOKEN"] == "the-operators"
