"""Running the collector: on uvicorn through :class:`smtplab.webserver.WebServer` (a socket
bound before it starts, the access log off, since it would print learners' addresses)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

from smtplab.classroom.app import ClassSession, Limits, make_app
from smtplab.classroom.store import ClassStore
from smtplab.webserver import WebServer

__all__ = ["ClassServer", "lab_ca_certificate", "lan_addresses"]


def lab_ca_certificate(folder: Path, names: list[str]) -> tuple[Path, Path, Path]:
    """HTTPS for the collector with the lab's CA: a certificate for ``names`` (the addresses
    learners dial) signed by the lab CA, written into ``folder`` with its key (mode 0600), and
    the CA's certificate beside them for learners to trust (``--class-ca``). The CA is kept in
    ``folder`` too (:func:`smtplab.lab.certs.keep_ca_in`), so the file learners were given
    last lesson still works. Returns the paths (certificate, key, CA)."""
    import os

    from smtplab.lab import certs
    from smtplab.lab.folder import LabFolder

    folder.mkdir(parents=True, exist_ok=True)
    certs.keep_ca_in(LabFolder(folder))
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
    until Ctrl-C (the command). ``address`` is the bound (host, port). ``chart`` draws the
    page's heat map (:func:`smtplab.charts.classview.class_heatmap`, handed in by the faces)."""

    def __init__(
        self,
        folder: str | Path | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        limits: Limits | None = None,
        code: str | None = None,
        tls: tuple[str | Path, str | Path] | None = None,
        chart: Callable[[ClassStore], tuple[bytes, str]] | None = None,
    ) -> None:
        db = ":memory:" if folder is None else Path(folder) / "class.duckdb"
        self.store = ClassStore(db)
        session = ClassSession(self.store, limits=limits or Limits())
        if code:
            session.code = code
        self.session = session
        app = make_app(session, chart)
        self._web = WebServer(app, host=host, port=port, tls=tls, name="smtplab-class")
        self.address: tuple[str, int] = self._web.address
        #: (certificate file, key file) for HTTPS, or None for plain HTTP on the LAN.
        self.tls = tls

    @property
    def url(self) -> str:
        return self._web.url

    def run(self) -> None:
        try:
            self._web.run()
        finally:
            self.store.close()

    def start(self) -> ClassServer:
        self._web.start()
        return self

    def stop(self) -> None:
        self._web.stop()
        self.store.close()

    def __enter__(self) -> ClassServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
