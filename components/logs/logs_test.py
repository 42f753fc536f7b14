import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from components.config.settings import LogSettings
from components.logs import bind_request, configure_logging


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = configure_logging(LogSettings(format="json"), "test", stream=out)
    yield out
    logging.getLogger().removeHandler(handler)


def _records(stream: io.StringIO) -> list[dict[str, str]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line]


def test_json_lines_carry_the_request_they_were_logged_for(stream: io.StringIO) -> None:
    log = logging.getLogger("reco.test")

    async def request(request_id: str, variant: str) -> None:
        bind_request(request_id=request_id, variant=variant, model_version="7")
        await asyncio.sleep(0)  # interleave with the other request
        log.warning("served %s", request_id)

    async def both() -> None:
        await asyncio.gather(request("r1", "champion"), request("r2", "canary"))

    asyncio.run(both())
    log.warning("outside any request")
    first, second, outside = _records(stream)
    assert (first["request_id"], first["variant"], first["model_version"]) == ("r1", "champion", "7")
    assert (second["request_id"], second["variant"]) == ("r2", "canary")
    assert "request_id" not in outside
    assert (
        outside["level"] == "WARNING" and outside["logger"] == "reco.test" and outside["component"] == "test"
    )
    assert outside["message"] == "outside any request"


def test_text_lines_append_the_request_fields() -> None:
    out = io.StringIO()
    handler = configure_logging(LogSettings(format="text"), "test", stream=out)
    try:

        async def request() -> None:
            bind_request(request_id="r9")
            logging.getLogger("reco.test").warning("hello")

        asyncio.run(request())
    finally:
        logging.getLogger().removeHandler(handler)
    assert out.getvalue().rstrip().endswith("hello [request_id=r9]")
