"""A TLS terminator on loopback in front of a plain-TCP broker, to test reco's Kafka TLS
settings against a real handshake (tansu speaks no TLS itself here). The broker must advertise
the proxy's address, so clients come back through it after the metadata request."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from components.runtime.tansu import free_port


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path


def self_signed(folder: Path, common_name: str = "127.0.0.1") -> Certificate:
    """A throwaway certificate for 127.0.0.1 (openssl, as on every machine of this kind)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={common_name}",
         "-addext", f"subjectAltName=IP:{common_name}"],
        check=True, capture_output=True,
    )  # fmt: skip
    return Certificate(cert, key)


class TlsProxy:
    """`start()` listens with TLS on `port` and pipes every connection to `target_port`."""

    def __init__(self, certificate: Certificate, target_port: int, port: int | None = None):
        self.certificate = certificate
        self.target_port = target_port
        self.port = port or free_port()
        self.handshakes = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> TlsProxy:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.certificate.cert, self.certificate.key)
        ready = threading.Event()

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(65_536):
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, ssl.SSLError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    writer.close()

        async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
            self.handshakes += 1
            try:
                broker_r, broker_w = await asyncio.open_connection("127.0.0.1", self.target_port)
            except OSError:
                client_w.close()
                return
            await asyncio.gather(pipe(client_r, broker_w), pipe(broker_r, client_w))

        async def serve() -> None:
            self._server = await asyncio.start_server(handle, "127.0.0.1", self.port, ssl=context)
            ready.set()
            async with self._server:
                await self._server.serve_forever()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            with contextlib.suppress(asyncio.CancelledError):
                self._loop.run_until_complete(serve())

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the TLS proxy did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._server is not None:
            self._loop.call_soon_threadsafe(self._server.close)
        if self._thread is not None:
            self._thread.join(timeout=5)
