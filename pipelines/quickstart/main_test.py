import json
import uuid
from pathlib import Path

import pytest

from components.config import load_settings
from components.features.store import feature_store
from components.runtime import free_port
from components.testing.services import RedisNamespace
from pipelines.quickstart.main import main


def test_main_job_moves_a_simulated_week_into_silver_and_features(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    redis_ns: RedisNamespace,
) -> None:
    project = f"reco_test_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("RECO_HOME", str(tmp_path))
    # its own broker and collector ports: the job starts the embedded broker itself
    monkeypatch.setenv("RECO_KAFKA__BOOTSTRAP_SERVERS", f"127.0.0.1:{free_port()}")
    monkeypatch.setenv("RECO_COLLECTOR__PORT", str(free_port()))
    monkeypatch.setenv("RECO_SERVING__PORT", str(free_port()))
    monkeypatch.setenv("RECO_REDIS__URL", redis_ns.url)
    monkeypatch.setenv("RECO_REDIS__KEY_PREFIX", redis_ns.prefix)
    monkeypatch.setenv("RECO_FEATURES__PROJECT", project)
    try:
        assert main(["--days", "3", "--users", "300"]) == 0
    finally:
        feature_store(load_settings()).teardown()
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["events"] > 1_000
    assert result["accepted"] == result["events"]
    assert result["rejected"] == 0 and result["lost"] == 0
    assert result["silver_rows"] == result["accepted"]
    assert result["lake"].startswith(str(tmp_path))
    assert result["feature_rows"] > 0 and result["materialized"] > 0
    # The daily flow trained, registered and gated a model in the job's own MLflow store.
    assert result["model_version"] == "1" and result["gate"]["decision"] == "promoted"
    # The gate promoted it on news AUC by position over the day's logged lists, which requires beating the
    # popularity and random references there. Top-k NDCG@10 over the catalogue is reported beside
    # it; in this 300-reader world it can be 0 (a handful of test readers).
    assert 0.0 <= result["ndcg_at_10"] <= 1.0
    assert result["flow_run"].startswith("DailyFlow/")
    assert (tmp_path / "mlflow.db").exists()
    # The recommend service answered from that champion, and a newcomer got the cold-start list.
    served = result["recommend"]
    assert served["known_reader"]["model_version"] == "1"
    assert served["known_reader"]["variant"] == "champion"
    assert len(served["known_reader"]["items"]) == 5
    assert len(served["newcomer"]["items"]) == 5
    # The learned ranker is champion (the only kind that beats plain popularity on the logged
    # lists): the known reader's list comes from their own reading, a newcomer's from the
    # articles' own signals (trending, popular).
    assert result["champion_kind"] == "ranker"
    assert result["demo"] == {
        "command": "./pants run pipelines/quickstart/serve.py",
        "url": "http://127.0.0.1:8090/",
        "console": "http://127.0.0.1:8090/console",
    }
    assert served["known_reader"]["ranked_by"] == served["newcomer"]["ranked_by"] == "ranker"
    assert all(item.endswith(("(trending)", "(popular)")) for item in served["newcomer"]["items"])
    assert any(item.endswith(("(content)", "(sections)")) for item in served["known_reader"]["items"])
