"""A small web service of smtplab's on uvicorn: the class collector, the lab's inbox page, the
lab's OAuth server.

The socket is bound and listening before uvicorn starts (so port 0 works, the address is known
at once, and an early client waits instead of being refused). uvicorn's access log is off: it
would print the address of every learner. ``start()`` serves on a background thread with its
own event loop (tests, notebooks, the lab); ``run()`` serves in the foreground until Ctrl-C
(a command).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from pathlib import Path
from typing import Any

__all__ = ["WebServer"]


class WebServer:
    """``app`` (an ASGI application) served on ``host``:``port``, HTTPS with ``tls`` =
    (certificate file, key file). ``address`` is the bound (host, port)."""

    def __init__(
        self,
        app: Any,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: tuple[str | Path, str | Path] | None = None,
        name: str = "smtplab-web",
        limit_concurrency: int = 200,
        backlog: int = 511,
    ) -> None:
        self.app = app
        self.tls = tls
        self.name = name
        self.limit_concurrency = limit_concurrency
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind((host, port))
            self.sock.listen(backlog)
        except OSError:
            self.sock.close()
            raise
        self.address: tuple[str, int] = self.sock.getsockname()[:2]
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.address
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}"

    def _uvicorn(self) -> Any:
        import uvicorn

        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_keep_alive=5,
            limit_concurrency=self.limit_concurrency,
            ssl_certfile=str(self.tls[0]) if self.tls else None,
            ssl_keyfile=str(self.tls[1]) if self.tls else None,
        )
        return uvicorn.Server(config)

    def run(self) -> None:
        """Serve in the foreground until Ctrl-C (uvicorn handles the signal)."""
        self._server = self._uvicorn()
        self._server.run(sockets=[self.sock])

    def start(self) -> WebServer:
        """Serve on a background thread; returns once uvicorn has started."""
        self._server = self._uvicorn()
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._server.serve(sockets=[self.sock])),
            name=self.name,
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
