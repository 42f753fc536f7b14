"""Run the recommend service under Hypercorn: `./pants run services/recommender:bin`.

Settings come from RECO_* variables; Hypercorn's from hypercorn.toml next to this file
(`--workers N` overrides the worker count)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from hypercorn.config import Config
from hypercorn.run import run

from components.config import load_settings
from components.edge.ports import binds
from components.logs import configure_logging

CONFIG_FILE = Path(__file__).with_name("hypercorn.toml")
APP = "services.recommender.asgi:app"


def hypercorn_config(workers: int | None = None) -> Config:
    settings = load_settings()
    config = Config.from_toml(CONFIG_FILE)
    serving = settings.serving
    config.bind = binds(serving.host, serving.port, serving.ops_port)
    config.errorlog = logging.getLogger("hypercorn.error")
    config.application_path = APP
    if workers is not None:
        config.workers = workers
    return config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--workers", type=int, default=None, help="worker processes (default: hypercorn.toml)"
    )
    args = parser.parse_args(argv)
    configure_logging(load_settings().log, "recommender")
    return run(hypercorn_config(args.workers))


if __name__ == "__main__":
    sys.exit(main())
