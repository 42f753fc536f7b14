import json

from components.events.batch import validate_raw
from components.events.strategies import NOW

GOOD = {
    "event_id": "0b8f4a9e-6a53-4b8e-9a43-1d7f3a8c2e10",
    "type": "view",
    "user_id": "u1",
    "article_id": "a1",
    "ts": "2026-05-01T12:00:00Z",
}


def test_report_counts_valid_and_tallies_reasons() -> None:
    naive = {**GOOD, "ts": "2026-05-01T12:00:00"}
    unknown = {**GOOD, "colour": "red"}
    lines = [json.dumps(GOOD).encode(), json.dumps(naive).encode(), json.dumps(unknown).encode(), b"{oops"]
    report = validate_raw(lines, now=NOW, keep_valid=True)
    assert report.valid_count == 1 and len(report.valid) == 1
    assert report.total == 4
    assert [raw for raw, _ in report.rejected] == lines[1:]
    assert report.reasons["colour: unknown field"] == 1
    assert any(key.startswith("ts: timestamp must be timezone-aware") for key in report.reasons)
    assert any(key.startswith("$: malformed JSON") for key in report.reasons)


def test_valid_events_are_not_kept_unless_asked() -> None:
    report = validate_raw([json.dumps(GOOD).encode()] * 3, now=NOW)
    assert report.valid_count == 3
    assert report.valid == []
