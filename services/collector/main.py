"""Run the collector under Hypercorn: `./pants run services/collector:bin`."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from hypercorn.config import Config

from components.config import load_settings
from components.edge.ports import binds
from components.edge.serve import serve_until_signalled
from components.logs import configure_logging
from services.collector.app import create_app

CONFIG_FILE = Path(__file__).with_name("hypercorn.toml")


def main() -> int:
    settings = load_settings()
    configure_logging(settings.log, "collector")
    config = Config.from_toml(CONFIG_FILE)
    cfg = settings.collector
    config.bind = binds(cfg.host, cfg.port, cfg.ops_port)
    # Hypercorn's own lines go through reco's handler (text or JSON, as configured).
    config.errorlog = logging.getLogger("hypercorn.error")
    config.accesslog = logging.getLogger("hypercorn.access") if config.accesslog else None
    app = create_app(settings)
    serve_until_signalled(app, config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
