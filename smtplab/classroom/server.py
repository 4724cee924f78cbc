"""Running the collector on uvicorn: on a socket bound before it starts (so port 0 works and
the address is known), with uvicorn's access log off (it would print learners' addresses)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from pathlib import Path
from typing import Any

from smtplab.classroom.app import ClassSession, Limits, make_app
from smtplab.classroom.store import ClassStore

__all__ = ["ClassServer", "lab_ca_certificate", "lan_addresses"]


def lab_ca_certificate(folder: Path, names: list[str]) -> tuple[Path, Path, Path]:
    """HTTPS for the collector with the lab's CA: a certificate for ``names`` (the addresses
    learners dial) signed by the lab CA, written into ``folder`` with its key (mode 0600), and
    the CA's certificate beside them for learners to trust (``--class-ca``). Returns the paths
    (certificate, key, CA)."""
    import os

    from smtplab.lab import certs

    folder.mkdir(parents=True, exist_ok=True)
    pair = certs.service_certificate(names)
    cert, key, ca = folder / "class-cert.pem", folder / "class-key.pem", folder / "class-ca.pem"
    cert.write_bytes(pair.cert_pem)
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pair.key_pem)
    ca.write_text(certs.ca_pem())
    return cert, key, ca


def lan_addresses() -> list[str]:
    """This computer's IPv4 addresses other than loopback, from its interfaces (nothing is
    sent anywhere to find them)."""
    try:
        import psutil
    except ImportError:
        return []
    found = []
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family == socket.AF_INET and not a.address.startswith("127."):
                found.append(a.address)
    return sorted(set(found))


class ClassServer:
    """The collector on ``host``:``port`` (0: any free port), storing into ``folder``.

    ``start()`` serves on a background thread (tests, notebooks); ``run()`` in the foreground
    until Ctrl-C (the command). ``address`` is the bound (host, port)."""

    def __init__(
        self,
        folder: str | Path | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        limits: Limits | None = None,
        code: str | None = None,
        tls: tuple[str | Path, str | Path] | None = None,
    ) -> None:
        db = ":memory:" if folder is None else Path(folder) / "class.duckdb"
        self.store = ClassStore(db)
        session = ClassSession(self.store, limits=limits or Limits())
        if code:
            session.code = code
        self.session = session
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(511)  # learners who connect before uvicorn is up wait, not get refused
        self.address: tuple[str, int] = self.sock.getsockname()[:2]
        self._server: Any = None
        self._thread: threading.Thread | None = None
        #: (certificate file, key file) for HTTPS, or None for plain HTTP on the LAN.
        self.tls = tls

    @property
    def url(self) -> str:
        host, port = self.address
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}"

    def _uvicorn(self) -> Any:
        import uvicorn

        config = uvicorn.Config(
            make_app(self.session),
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_keep_alive=5,
            limit_concurrency=200,
            ssl_certfile=str(self.tls[0]) if self.tls else None,
            ssl_keyfile=str(self.tls[1]) if self.tls else None,
        )
        return uvicorn.Server(config)

    def run(self) -> None:
        self._server = self._uvicorn()
        try:
            self._server.run(sockets=[self.sock])
        finally:
            self.store.close()

    def start(self) -> ClassServer:
        self._server = self._uvicorn()
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._server.serve(sockets=[self.sock])),
            name="smtplab-class",
            daemon=True,
        )
        self._thread.start()
        while not self._server.started and self._thread.is_alive():
            self._thread.join(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        with contextlib.suppress(OSError):
            self.sock.close()
        self.store.close()

    def __enter__(self) -> ClassServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
