"""Run the demo news site under Hypercorn: `./pants run services/demo:bin` (docs/integrate.md)."""

from __future__ import annotations

import logging
import sys

from hypercorn.config import Config

from components.config import load_settings
from components.edge.serve import serve_until_signalled
from components.logs import configure_logging
from services.demo.app import create_app


def main() -> int:
    settings = load_settings()
    configure_logging(settings.log, "demo")
    config = Config()
    config.bind = [f"{settings.demo.host}:{settings.demo.port}"]
    config.errorlog = logging.getLogger("hypercorn.error")
    app = create_app(settings)
    serve_until_signalled(app, config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
