"""Run the collector under Hypercorn: `./pants run services/collector:bin`."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path

from hypercorn.asyncio import serve
from hypercorn.config import Config

from components.config import load_settings
from components.edge.ports import binds
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
    shutdown = asyncio.Event()

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, shutdown.set)
        await serve(app, config, shutdown_trigger=shutdown.wait)

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
