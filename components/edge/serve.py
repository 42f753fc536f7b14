"""Run an ASGI app on Hypercorn until SIGTERM or SIGINT (the services' `main`)."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from hypercorn.asyncio import serve
from hypercorn.config import Config


def serve_until_signalled(app: Any, config: Config) -> None:
    """Serve until SIGTERM (Kubernetes' stop) or SIGINT (Ctrl-C), then shut down gracefully."""
    shutdown = asyncio.Event()

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, shutdown.set)
        await serve(app, config, shutdown_trigger=shutdown.wait)

    asyncio.run(run())
