"""The recommend service on a request clock, for replays only (benchmarks/closed_loop.py and
tests): each request's `context.now` is the time it is served at, so simulated days pass in
minutes. A test-only entry point: the production service (services/recommender) has no way to
let clients pick the time.

    python -m benchmarks.clocked_recommender [--workers N]
"""

from __future__ import annotations

import argparse
import sys

from hypercorn.run import run

from components.config import load_settings
from components.logs import configure_logging
from components.serving.clock import RequestClock
from services.recommender.app import create_app
from services.recommender.main import hypercorn_config

APP = "benchmarks.clocked_recommender:build"


def build() -> object:
    """The ASGI app Hypercorn's workers build (`module:build()`), on a request clock."""
    settings = load_settings()
    configure_logging(settings.log, "recommender")
    return create_app(settings, clock=RequestClock())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args(argv)
    configure_logging(load_settings().log, "recommender")
    config = hypercorn_config(args.workers)
    config.application_path = f"{APP}()"
    return run(config)


if __name__ == "__main__":
    sys.exit(main())
