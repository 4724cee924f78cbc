"""An in-memory transport: the probe's conversation with a server in the same process.

A lab inside a browser (Pyodide opens no sockets) still needs the real conversation: the same
reply parser, the same decisions, real TLS. :class:`MemoryNetwork` gives each connection a pair
of :class:`MemoryStream` ends joined by queues, and runs ``serve(server_end)`` as a task for the
server's side. ``start_tls`` is real TLS in memory (``ssl.MemoryBIO``), on either end: a server
context makes the server's end of the handshake.

>>> net = MemoryNetwork(my_smtp_server)                       # doctest: +SKIP
>>> result = await run_probe(options, net)                      # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from typing import Any, Final

from smtplab.engine.options import ProbeOptions
from smtplab.engine.tlsfacts import session_facts
from smtplab.engine.wire import TLSFailed, TLSRejected, WireClosed, WireTimeout
from smtplab.tls import ChainVerdict, describe_verify_error

__all__ = ["MemoryNetwork", "MemoryStream", "Serve"]

#: What a memory server is: a coroutine given its end of the connection.
Serve = Callable[["MemoryStream"], Awaitable[None]]

#: The address a memory connection says it has at either end.
MEMORY_ADDRESS: Final = ("127.0.0.1", 0)

_EOF: Final = b""


class _RawEnd:
    """One end of a byte pipe: what the peer wrote arrives in ``incoming``."""

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[bytes] = asyncio.Queue()
        self.peer: _RawEnd | None = None
        self.buffer = bytearray()
        self.eof = False
        self.closed = False

    async def read(self, max_bytes: int, timeout: float) -> bytes:
        if not self.buffer and not self.eof:
            try:
                if timeout > 0:
                    chunk = await asyncio.wait_for(self.incoming.get(), timeout)
                else:
                    chunk = self.incoming.get_nowait()
            except (asyncio.TimeoutError, asyncio.QueueEmpty):
                raise WireTimeout() from None
            if chunk == _EOF:
                self.eof = True
            self.buffer += chunk
            while not self.incoming.empty() and not self.eof:  # what else has arrived
                more = self.incoming.get_nowait()
                self.eof = more == _EOF
                self.buffer += more
        if not self.buffer:
            raise WireClosed("connection closed by the server")
        data = bytes(self.buffer[:max_bytes])
        del self.buffer[:max_bytes]
        return data

    def write(self, data: bytes) -> None:
        if self.closed or self.peer is None or self.peer.closed:
            raise WireClosed("connection already closed")
        if data:
            self.peer.incoming.put_nowait(bytes(data))

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.peer is not None:
                self.peer.incoming.put_nowait(_EOF)


class MemoryStream:
    """One end of an in-memory connection: a :class:`~smtplab.engine.wire.Stream`, with TLS
    done in memory once :meth:`start_tls` has run."""

    def __init__(self, raw: _RawEnd, tls: ssl.SSLObject | None = None) -> None:
        self.raw = raw
        self.tls = tls
        self._in: ssl.MemoryBIO | None = None
        self._out: ssl.MemoryBIO | None = None

    async def read(self, max_bytes: int, timeout: float) -> bytes:
        if self.tls is None:
            return await self.raw.read(max_bytes, timeout)
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            try:
                return self.tls.read(max_bytes)
            except ssl.SSLWantReadError:
                await self._pull(end - loop.time())
            except ssl.SSLError as exc:
                raise WireClosed(f"TLS error: {exc}") from None

    async def write(self, data: bytes, timeout: float) -> None:
        if self.tls is None:
            self.raw.write(data)
            return
        self.tls.write(data)
        self._push()

    async def start_tls(
        self, ctx: ssl.SSLContext, server_hostname: str | None, timeout: float
    ) -> MemoryStream:
        self.raw.buffer.clear()  # nothing read before TLS may be trusted after it
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        server_side = ctx.protocol == ssl.PROTOCOL_TLS_SERVER
        sslobj = ctx.wrap_bio(
            incoming,
            outgoing,
            server_side=server_side,
            server_hostname=None if server_side else server_hostname,
        )
        new = MemoryStream(self.raw, sslobj)
        new._in, new._out = incoming, outgoing
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            try:
                sslobj.do_handshake()
                break
            except ssl.SSLWantReadError:
                new._push()
                await new._pull(end - loop.time())
            except ssl.SSLCertVerificationError as exc:
                new._push()
                raise TLSRejected(describe_verify_error(exc)) from None
            except ssl.SSLError as exc:
                new._push()
                text = str(exc) or type(exc).__name__
                raise TLSFailed(text, "WRONG_VERSION_NUMBER" in text) from None
        new._push()
        return new

    def _push(self) -> None:
        assert self._out is not None
        data = self._out.read()
        if data:
            self.raw.write(data)

    async def _pull(self, timeout: float) -> None:
        assert self._in is not None
        if timeout <= 0:
            raise WireTimeout()
        self._in.write(await self.raw.read(65536, timeout))

    def close(self) -> None:
        self.raw.close()

    def get_extra_info(self, name: str) -> Any:
        if name in ("sockname", "peername"):
            return MEMORY_ADDRESS
        if name == "ssl_object":
            return self.tls
        if name == "tls_facts":
            return session_facts(self.tls)
        return None


class MemoryNetwork:
    """A :class:`~smtplab.engine.wire.Network` whose every connection reaches ``serve``."""

    hands_over_chain = False

    def __init__(self, serve: Serve) -> None:
        self.serve = serve
        self.servers: list[asyncio.Task[None]] = []

    def __call__(self, opts: ProbeOptions, on_handshake_bytes: Callable[[int], None]) -> Any:
        return self

    async def resolve(self, host: str, port: int, timeout: float) -> tuple[str, int]:
        return MEMORY_ADDRESS[0], port

    async def connect(self, address: str, port: int, timeout: float) -> MemoryStream:
        client, server = _RawEnd(), _RawEnd()
        client.peer, server.peer = server, client
        server_end = MemoryStream(server)
        self.servers.append(asyncio.ensure_future(self._run(server_end)))
        return MemoryStream(client)

    async def _run(self, end: MemoryStream) -> None:
        try:
            await self.serve(end)
        except (WireClosed, WireTimeout, TLSFailed, TLSRejected):
            pass  # the client went away, as clients do
        finally:
            end.close()

    def race_grace(self, proposed: float) -> float | None:
        return None  # one server, one answer: nothing to race

    async def tls_answers(self, stream: Any, server_hostname: str, timeout: float) -> bool:
        return False

    async def judge_certificate(
        self,
        stream: Any,
        server_name: str,
        *,
        cafile: str | None,
        cadata: str | None,
        verify_error: str | None,
    ) -> ChainVerdict | None:
        return None
