"""What one refresh of the ranker's intraday signals costs the recommend service:
`./pants run benchmarks/intraday_refresh.py`.

A synthetic week of the feedback consumer's hourly buckets (`--hours` hours, `--per-hour`
articles counted in each, out of a `--catalogue` of articles) is held as the service holds it
(`HourlyCounts`). Measured, with the median of `--repeats` runs each:
- `refresh_ms`: one refresh as the service runs it every 5 s: the newest 3 hours and 8 older
  ones put again (re-read), the signals built, aligned with the catalogue;
- `full_ms`: the same signals summed from every hour (`Intraday.from_buckets`), aligned: what a
  refresh costs when it recomputes the whole week;
- `first_request_align_ms`: aligning the signals with the catalogue (done in the refresh now,
  before any request sees them).
Last line, one JSON object with those and `full_over_refresh`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import numpy as np

from components.ranking.intraday import HourlyCounts, Intraday


def median_ms(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1e3)
    return round(statistics.median(times), 3)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hours", type=int, default=168)
    p.add_argument("--per-hour", type=int, default=1_500)
    p.add_argument("--catalogue", type=int, default=14_000)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--seed", type=int, default=11)
    args = p.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    ids = np.array([f"article-{i:06d}" for i in range(args.catalogue)], dtype=object)
    now = 500_000
    buckets = {}
    for hour in range(now - args.hours + 1, now + 1):
        picked = rng.choice(args.catalogue, size=min(args.per_hour, args.catalogue), replace=False)
        counts = rng.integers(1, 60, size=(len(picked), 2)).astype(float)
        counts[:, 1] = np.floor(counts[:, 0] * rng.random(len(picked)) * 0.2)
        buckets[hour] = {str(ids[i]): (c[0], c[1]) for i, c in zip(picked, counts, strict=True)}
    state = HourlyCounts(recent_h=3)
    for hour, bucket in buckets.items():
        state.put(hour, bucket)
    state.intraday(now)  # the settled hours summed once, as after the service's first refresh
    older = sorted(h for h in buckets if h <= now - 3)
    turn = iter(range(10**9))

    def refresh() -> None:
        start = next(turn) * 8 % len(older)
        for hour in [*range(now - 2, now + 1), *older[start : start + 8]]:
            state.put(hour, buckets[hour])
        state.intraday(now).rows_of(ids)

    def full() -> None:
        Intraday.from_buckets(buckets, now).rows_of(ids)

    built = state.intraday(now)
    align = median_ms(lambda: Intraday(
        built.hour, built.articles, built.impressions, built.clicks, built.clicks_window
    ).rows_of(ids), args.repeats)  # fmt: skip
    refresh_ms, full_ms = median_ms(refresh, args.repeats), median_ms(full, max(args.repeats // 4, 3))
    print(
        json.dumps(
            {
                "benchmark": "intraday_refresh",
                "hours": args.hours,
                "per_hour": args.per_hour,
                "catalogue": args.catalogue,
                "refresh_ms": refresh_ms,
                "full_ms": full_ms,
                "first_request_align_ms": align,
                "full_over_refresh": round(full_ms / refresh_ms, 2),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
