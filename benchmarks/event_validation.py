"""Cost of the `events.v1` contract per event, the collector's per-event work.

`validate_event` (a parsed JSON object, what the collector does for each element of a batch) and
`decode_event` (raw bytes, what silver does), best of five runs, in microseconds per event. The
clock is injected (the event is stamped at the run's own time). Last line: one JSON object.

    ./pants run benchmarks/event_validation.py -- --events 50000
"""

from __future__ import annotations

import argparse
import json
import timeit
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from components.events.codec import decode_event, validate_event


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=50_000, help="events per timed run")
    args = p.parse_args(argv)
    now = datetime.now(UTC)
    doc = {
        "event_id": str(uuid.uuid4()),
        "type": "click",
        "user_id": "u-123",
        "article_id": "a-456",
        "ts": now.isoformat().replace("+00:00", "Z"),
        "request_id": "r-1",
        "position": 3,
        "context": {"device": "mobile"},
    }
    raw = json.dumps(doc).encode()

    def per_event_us(call: Callable[[], object]) -> float:
        return round(min(timeit.repeat(call, number=args.events, repeat=5)) / args.events * 1e6, 2)

    print(
        json.dumps(
            {
                "events": args.events,
                "validate_event_us": per_event_us(lambda: validate_event(doc, now=now)),
                "decode_event_us": per_event_us(lambda: decode_event(raw, now=now)),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
