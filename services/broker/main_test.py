"""The standalone broker: it announces its address, creates the topics the services use, stops
on request, and refuses a taken port or an address it cannot listen on."""

from __future__ import annotations

import asyncio
import queue
import socket
import threading
from pathlib import Path

import pytest

from components.config import Settings, load_settings
from components.runtime.tansu import free_port, is_listening
from components.streaming import ensure_topics
from services.broker.main import BrokerError, broker_port, serve


def _settings(tmp_path: Path, port: int) -> Settings:
    return load_settings(home=str(tmp_path / "reco"), kafka={"bootstrap_servers": f"127.0.0.1:{port}"})


def test_serves_the_topics_until_stopped(tmp_path: Path) -> None:
    port = free_port()
    settings = _settings(tmp_path, port)
    lines: queue.Queue[str] = queue.Queue()
    failures: list[BaseException] = []
    stop = threading.Event()

    def run() -> None:
        try:
            serve(settings, port, stop, lines.put, log_dir=tmp_path)
        except BaseException as exc:  # (handed to the test thread)
            failures.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        announced = lines.get(timeout=30)
        assert f"127.0.0.1:{port}" in announced and "events.v1, events.dlq.v1 ready" in announced
        assert "RECO_KAFKA__BOOTSTRAP_SERVERS already points here" in announced
        # Creation off: a missing topic would raise TopicMissingError; both exist already.
        kafka = settings.kafka.model_copy(update={"create_topics": False})
        assert asyncio.run(ensure_topics(kafka, [kafka.events_topic, kafka.dead_letter_topic])) == []
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive() and not failures, failures
    assert not is_listening(port), "the broker still listens after the stop"


def test_a_taken_port_is_refused(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(BrokerError, match=f"127.0.0.1:{port} is already taken"):
            serve(_settings(tmp_path, port), port, threading.Event(), log_dir=tmp_path)


def test_the_port_comes_from_the_settings_or_the_flag(tmp_path: Path) -> None:
    assert broker_port(_settings(tmp_path, 9092), None) == 9092
    assert broker_port(_settings(tmp_path, 9092), 19092) == 19092
    remote = load_settings(home=str(tmp_path), kafka={"bootstrap_servers": "kafka:9092"})
    with pytest.raises(BrokerError, match="RECO_KAFKA__BOOTSTRAP_SERVERS='kafka:9092'"):
        broker_port(remote, None)
