"""The docs command checks the repository (clean) and rewrites a drifted copy."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipelines.docs.generated import GENERATED
from pipelines.docs.main import main


def test_check_passes_on_the_repository(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--check"]) == 0
    assert f"{len(GENERATED)} of {len(GENERATED)} generated files up to date" in capsys.readouterr().out


def test_check_fails_on_drift_and_write_repairs_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for item in GENERATED:
        (tmp_path / item.path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(item.path, tmp_path / item.path)
    schema = tmp_path / "docs/contracts/events.v1.schema.json"
    schema.write_text(schema.read_text().replace('"user_id"', '"reader_id"'))
    assert main(["--check", "--root", str(tmp_path)]) == 1
    assert "docs/contracts/events.v1.schema.json: differs from the events.v1 model" in capsys.readouterr().err
    assert main(["--write", "--root", str(tmp_path)]) == 0
    assert main(["--root", str(tmp_path)]) == 0
