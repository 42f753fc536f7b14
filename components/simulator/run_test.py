from datetime import UTC, datetime
from pathlib import Path

import orjson

from components.events import decode_event
from components.events.articles import validate_article
from components.simulator import World, WorldConfig, simulate_to_files
from components.simulator.sinks import read_jsonl

START = datetime(2026, 4, 6, tzinfo=UTC)


def tiny_world() -> World:
    return World.build(WorldConfig(seed=2, start=START, days=2, users=400, articles_per_day=30))


def test_files_hold_every_event_of_every_day(tmp_path: Path) -> None:
    seen_days = []
    summary = simulate_to_files(tiny_world(), tmp_path, on_day=lambda t: seen_days.append(t.day))
    assert [d.isoformat() for d in seen_days] == ["2026-04-06", "2026-04-07"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "articles.jsonl",
        "events-2026-04-06.jsonl",
        "events-2026-04-07.jsonl",
    ]
    lines = read_jsonl(tmp_path / "events-2026-04-06.jsonl") + read_jsonl(
        tmp_path / "events-2026-04-07.jsonl"
    )
    assert len(lines) == summary.events > 0
    for line in lines:
        decode_event(line, now=datetime(2026, 4, 9, tzinfo=UTC))
    articles = [orjson.loads(line) for line in read_jsonl(tmp_path / "articles.jsonl")]
    assert len(articles) == len(tiny_world().catalogue)
    assert {"article_id", "title", "section", "tags", "url", "published_at", "status"} <= set(articles[0])
    assert [validate_article(a).article_id for a in articles] == tiny_world().catalogue.ids
    assert summary.as_dict()["events"] == summary.events
