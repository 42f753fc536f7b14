"""The console's readings against real services: each part fails alone, and the drift part finds
the latest check's reports in the lake."""

from __future__ import annotations

import json

from components import console
from components.config import Settings
from components.lake import LakeStore
from components.lake.layout import REPORTS


def test_each_part_fails_alone(reco_settings: Settings) -> None:
    status = console.status(reco_settings, "http://127.0.0.1:9")  # nothing listens on the discard port
    assert status["versions"] == {"ok": []}  # an empty registry: no model yet
    assert status["runs"] == {"ok": []}
    assert status["ctr"]["ok"]["impressions"] == 0  # an empty stream
    assert status["drift"] == {"ok": None}
    assert "ConnectError" in status["service"]["error"]


def test_drift_reads_the_latest_check_and_its_reports(reco_settings: Settings) -> None:
    store = LakeStore.from_settings(reco_settings.lake)
    for day, stem, drifted in (("2026-01-01", "030000", False), ("2026-01-02", "030000", True)):
        base = f"{REPORTS}/drift/{day}/{stem}"
        store.write_atomic(f"{base}-summary.json", json.dumps({"drifted": drifted}).encode())
        store.write_atomic(f"{base}-features.html", b"<html>report</html>")
    found = console.drift(reco_settings)
    assert found is not None
    assert found["summary"] == {"drifted": True}
    assert found["reports"] == [f"{REPORTS}/drift/2026-01-02/030000-features.html"]
