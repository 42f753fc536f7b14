"""The server's ceiling for benchmarks/serving.py: a trivial Starlette endpoint returning a
fixed JSON body of a given size, served by Hypercorn with the recommend service's own
settings (services/recommender/hypercorn.toml: uvloop worker, no access log). Whatever the
recommend service costs beyond this is reco's request path, not the server.

    python -m benchmarks.ceiling_app --port 8099 --body-bytes 900 [--workers 1]
"""

from __future__ import annotations

import argparse
import os
import sys

import orjson
from hypercorn.config import Config
from hypercorn.run import run
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.recommender.main import CONFIG_FILE

BODY_BYTES = int(os.environ.get("CEILING_BODY_BYTES", "900"))


def fixed_body(size: int) -> bytes:
    """A JSON object of exactly `size` bytes (at least 16), shaped like a recommend answer."""
    shell = orjson.dumps({"items": [], "pad": ""})
    return orjson.dumps({"items": [], "pad": "x" * max(size - len(shell), 0)})


BODY = fixed_body(BODY_BYTES)


async def recommend(request: Request) -> Response:
    await request.body()  # read the request as the service does
    return Response(BODY, media_type="application/json")


async def healthz(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


app = Starlette(routes=[Route("/recommend", recommend, methods=["POST"]), Route("/healthz", healthz)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--body-bytes", type=int, default=BODY_BYTES)
    args = parser.parse_args(argv)
    os.environ["CEILING_BODY_BYTES"] = str(args.body_bytes)  # the workers import the app
    config = Config.from_toml(CONFIG_FILE)
    config.bind = [f"127.0.0.1:{args.port}"]
    config.application_path = "benchmarks.ceiling_app:app"
    config.workers = args.workers
    return run(config)


if __name__ == "__main__":
    sys.exit(main())
