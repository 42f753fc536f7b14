"""The local Kafka-protocol broker alone: `./pants run services/broker:bin [-- --port 9092]`.

Starts the embedded tansu broker (the one the main job and the test fixtures start) on
127.0.0.1 at the port of `RECO_KAFKA__BOOTSTRAP_SERVERS` (9092 in the local profile), creates
the events and dead-letter topics where topic creation is on, prints the bootstrap address and
runs until Ctrl-C (or SIGTERM). Then the collector, the ingestor, the feedback consumer and the
recommend service can each run in a terminal of their own against it. tansu keeps its data in
memory only: stopping it loses every topic and offset.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from components.config import Settings, load_settings
from components.logs import configure_logging
from components.runtime.tansu import TansuBroker, is_listening
from components.streaming import ensure_topics

log = logging.getLogger("reco.broker")

LOOPBACK = ("127.0.0.1", "localhost")


class BrokerError(RuntimeError):
    """The broker cannot start here (port taken, not a loopback address, tansu failed)."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--port",
        type=int,
        default=None,
        help="port on 127.0.0.1 (default: the one in RECO_KAFKA__BOOTSTRAP_SERVERS)",
    )
    return p


def broker_port(settings: Settings, port: int | None) -> int:
    """The port to listen on: `port`, or the first bootstrap server's, which must be loopback
    (tansu here listens on 127.0.0.1 only)."""
    if port is not None:
        return port
    first = settings.kafka.bootstrap_servers.split(",")[0].strip()
    host, _, number = first.rpartition(":")
    if host not in LOOPBACK or not number.isdigit():
        raise BrokerError(
            f"RECO_KAFKA__BOOTSTRAP_SERVERS={settings.kafka.bootstrap_servers!r}: the embedded broker "
            "listens on 127.0.0.1 only; point it at 127.0.0.1:PORT or pass --port"
        )
    return int(number)


def serve(
    settings: Settings,
    port: int,
    stop: threading.Event,
    announce: Callable[[str], None] = print,
    log_dir: Path | None = None,
) -> None:
    """Run tansu on 127.0.0.1:`port` until `stop` is set; raises BrokerError if it cannot start
    or dies on its way. The broker process is stopped on every way out."""
    if is_listening(port):
        raise BrokerError(f"127.0.0.1:{port} is already taken (a broker running already?)")
    logs = log_dir or Path(settings.home) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    broker = TansuBroker(port=port, log_dir=logs)
    try:
        broker.start()
    except (RuntimeError, TimeoutError) as exc:
        raise BrokerError(str(exc)) from exc
    try:
        kafka = settings.kafka.model_copy(update={"bootstrap_servers": broker.bootstrap_servers})
        topics = [kafka.events_topic, kafka.dead_letter_topic]
        if kafka.create_topics:
            asyncio.run(ensure_topics(kafka, topics))
            made = f"topics {', '.join(topics)} ready"
        else:
            made = "no topics created (RECO_KAFKA__CREATE_TOPICS is off)"
        if settings.kafka.bootstrap_servers.split(",")[0].strip() == broker.bootstrap_servers:
            others = "the services' RECO_KAFKA__BOOTSTRAP_SERVERS already points here"
        else:
            others = f"set RECO_KAFKA__BOOTSTRAP_SERVERS={broker.bootstrap_servers} for the services"
        announce(
            f"tansu broker on {broker.bootstrap_servers} (pid {broker.pid}, log {broker.log_path}); {made}; "
            f"{others}. Ctrl-C stops it (data is in memory only)."
        )
        while not stop.wait(0.5):
            if broker.process is None or broker.process.poll() is not None:
                raise BrokerError(f"tansu exited on its own: {broker.log_tail()}")
    finally:
        broker.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = load_settings()
    configure_logging(settings.log, "broker")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        serve(settings, broker_port(settings, args.port), stop, lambda line: print(line, flush=True))
    except BrokerError as exc:
        log.error("%s", exc)
        return 1
    log.info("broker stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
