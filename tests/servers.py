"""Real servers on loopback for the tests: aiosmtpd SMTP servers and raw scripted peers.

Everything runs on one background thread with its own event loop, bound to 127.0.0.1 on a port
the kernel picks, so tests run in parallel with nothing else and never leave loopback.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import trustme
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

USER, PASSWORD = "alice", "s3cret-Passw0rd"

RawHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Certs:
    """A throwaway CA and server certificates made with trustme (no files left behind)."""

    def __init__(self) -> None:
        self.ca = trustme.CA()
        self.good = self.ca.issue_cert("localhost", "127.0.0.1", "mail.test.example")

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.good.configure_cert(ctx)
        return ctx

    def expired_context(self) -> ssl.SSLContext:
        import datetime as dt

        cert = self.ca.issue_cert(
            "localhost",
            "127.0.0.1",
            not_before=dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc),
            not_after=dt.datetime(2021, 1, 1, tzinfo=dt.timezone.utc),
        )
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(ctx)
        return ctx

    @property
    def ca_pem(self) -> str:
        return self.ca.cert_pem.bytes().decode()


def _authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (
        auth_data.login.decode(),
        auth_data.password.decode(),
    ) == (USER, PASSWORD)
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself


class ImplicitTLSSMTP(SMTP):
    """aiosmtpd behind ``ssl=``: tell it the transport is already encrypted (aiosmtpd #274/#281)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if transport.get_extra_info("ssl_object") is not None:
            self._tls_protocol = True  # type: ignore[assignment]
            self.session.ssl = {"ssl_object": transport.get_extra_info("ssl_object")}


class Sink:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


class ServerThread:
    """Runs servers on a private loop in a daemon thread; ``stop()`` closes them all."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.servers: list[asyncio.AbstractServer] = []
        self.writers: set[asyncio.StreamWriter] = set()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def call(self, coro: Awaitable[Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)  # type: ignore[arg-type]

    def smtp(
        self, *, ssl_ctx: ssl.SSLContext | None = None, implicit: bool = False, **kw: Any
    ) -> int:
        """Start an aiosmtpd server; returns its port. ``kw`` go to aiosmtpd's ``SMTP``."""
        kw.setdefault("hostname", "mail.test.example")
        kw.setdefault("authenticator", _authenticator)
        handler = kw.pop("handler", Sink())
        cls = ImplicitTLSSMTP if implicit else SMTP
        if ssl_ctx is not None and not implicit:
            kw["tls_context"] = ssl_ctx

        async def start() -> int:
            server = await self.loop.create_server(
                lambda: cls(handler, **kw), "127.0.0.1", 0, ssl=ssl_ctx if implicit else None
            )
            self.servers.append(server)
            return int(server.sockets[0].getsockname()[1])

        return int(self.call(start()))

    def raw(self, handler: RawHandler) -> int:
        """Start a scripted peer: ``handler(reader, writer)`` runs for every connection."""

        async def wrapped(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.writers.add(writer)
            try:
                await handler(reader, writer)
            except (ConnectionError, OSError, asyncio.IncompleteReadError, ssl.SSLError):
                pass
            finally:
                self.writers.discard(writer)
                writer.close()

        async def start() -> int:
            server = await asyncio.start_server(wrapped, "127.0.0.1", 0)
            self.servers.append(server)
            return int(server.sockets[0].getsockname()[1])

        return int(self.call(start()))

    def stop(self) -> None:
        async def close() -> None:
            for s in self.servers:
                s.close()
            for w in list(self.writers):
                w.transport.abort()
            for s in self.servers:
                await s.wait_closed()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            self.call(close())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()
