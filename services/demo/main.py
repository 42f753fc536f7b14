"""Run the demo news site under Hypercorn: `./pants run services/demo:bin` (docs/integrate.md)."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from hypercorn.asyncio import serve
from hypercorn.config import Config

from components.config import load_settings
from components.logs import configure_logging
from services.demo.app import create_app


def main() -> int:
    settings = load_settings()
    configure_logging(settings.log, "demo")
    config = Config()
    config.bind = [f"{settings.demo.host}:{settings.demo.port}"]
    config.errorlog = logging.getLogger("hypercorn.error")
    app = create_app(settings)
    shutdown = asyncio.Event()

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, shutdown.set)
        await serve(app, config, shutdown_trigger=shutdown.wait)  # type: ignore[arg-type]

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
