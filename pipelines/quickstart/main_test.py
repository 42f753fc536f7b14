import json
from pathlib import Path

import pytest

from pipelines.quickstart.main import main


def test_main_job_simulates_and_validates_every_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RECO_HOME", str(tmp_path))
    assert main(["--days", "2", "--users", "300"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["events"] > 1_000
    assert result["valid"] == result["events"]
    assert result["rejected"] == 0
    assert result["out"].startswith(str(tmp_path))
