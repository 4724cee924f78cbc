"""The wire a conversation talks over: the :class:`Wire` interface and the live socket.

A :class:`~smtplab.engine.conversation.Conversation` decides what to say and what the answers
mean; a wire only moves lines. :class:`LiveWire` is a TCP connection (upgraded to TLS when
asked); :mod:`smtplab.replay` implements the same interface over a recorded transcript, so a
recording goes back through the very same conversation.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ipaddress
import socket
import ssl
from collections import deque
from typing import Final, Protocol, runtime_checkable

from smtplab import tls
from smtplab.engine.options import ProbeOptions
from smtplab.engine.result import ProbeState
from smtplab.engine.tlsfacts import TLSFacts, session_facts
from smtplab.protocol import ProtocolError, Reply, ReplyParser
from smtplab.tls import ChainVerdict, judge_session_certificate

__all__ = [
    "MAX_QUEUED_REPLIES",
    "DeadlineReached",
    "LiveWire",
    "ReplyReader",
    "Wire",
    "WireFactory",
    "WireFailed",
]

#: Replies received and not yet read: an honest server sends one reply per command (a few with
#: PIPELINING); more than this unasked-for is a flood, and we stop reading.
MAX_QUEUED_REPLIES: Final = 32


class WireFailed(Exception):
    """The wire could not get as far as a connection: ``outcome`` is the word for it
    (``dns_failed``, ``refused``, ...) and ``message`` the one line that says why."""

    def __init__(self, outcome: str, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.message = message


class DeadlineReached(BaseException):
    """Raised by a wire whose time is up (a replayed recording reaching the point where the
    live probe ran out of time): the probe ends as if its own deadline had passed."""


@runtime_checkable
class Wire(Protocol):
    """One connection as the conversation sees it. Each method raises what a socket would
    (``TimeoutError``, ``ConnectionError``/``OSError``, ``ssl.SSLError``, ``ProtocolError``)
    or :class:`WireFailed`; the conversation turns each into an outcome word."""

    async def resolve(self) -> tuple[str, int]:
        """The address and port to connect to (records nothing in the state itself but
        events); raises :class:`WireFailed` (``dns_failed``)."""
        ...

    async def connect(self, address: str, port: int, timeout: float) -> None:
        """Open the connection; the wire's :class:`ReplyReader` logs ``connected``."""
        ...

    async def start_tls(
        self, ctx: ssl.SSLContext, server_hostname: str | None, timeout: float
    ) -> None:
        """The TLS handshake, forgetting what was read before it."""
        ...

    def tls_facts(self) -> TLSFacts:
        """TLS version, cipher and certificate facts of the session (``None`` where unknown)."""
        ...

    def hands_over_chain(self) -> bool:
        """True if a handshake that does not verify can still hand over the whole chain the
        server sent (Python 3.13), so that it is judged without a second connection."""
        ...

    async def judge_certificate(
        self,
        server_name: str,
        *,
        cafile: str | None,
        cadata: str | None,
        verify_error: str | None,
    ) -> ChainVerdict | None:
        """The verdict on the certificate of this TLS session, from the certificate itself:
        the whole chain verified against the trust store (when :meth:`hands_over_chain`), or
        the leaf's problems beside OpenSSL's ``verify_error`` from an earlier, verifying
        handshake. ``None`` when it cannot be judged."""
        ...

    def local_name(self) -> str:
        """An honest EHLO name for our end of the connection."""
        ...

    def pending(self) -> int:
        """Whole replies received and not asked for yet."""
        ...

    def leftover(self) -> int:
        """Replies or bytes received and not asked for (a STARTTLS injection shows here)."""
        ...

    def received(self) -> int:
        """Bytes received on this connection so far."""
        ...

    def reply_started(self) -> bool:
        """True if what was received so far is the beginning of an SMTP reply."""
        ...

    def send(self, data: bytes) -> None:
        """Send one command line (raises ``ConnectionError`` if the connection is gone)."""
        ...

    async def read_reply(self, timeout: float) -> Reply:
        """The next reply; raises ``TimeoutError``, ``ProtocolError`` or ``ConnectionError``."""
        ...

    def races_tls(self) -> bool:
        """True if auto mode may race implicit TLS against a silent greeting over this wire
        (a live one; a recording only where it recorded such a race)."""
        ...

    async def race_tls(self, timeout: float, server_hostname: str) -> Reply | None:
        """Wait for the greeting on this connection while implicit TLS is tried on a second
        one: the greeting if it comes first, ``None`` if a TLS handshake completes first;
        ``TimeoutError`` when neither happens within ``timeout``."""
        ...

    def close(self) -> None:
        """Drop the connection (the conversation has already said QUIT if it could)."""
        ...


class WireFactory(Protocol):
    """Makes the wire for each connection of one probe (a probe may connect more than once)."""

    def __call__(self, state: ProbeState, /) -> Wire: ...


class ReplyReader(asyncio.Protocol):
    """Bytes from the socket go straight into the reply parser; replies queue up, bounded.

    Each line is written to the state's transcript as it arrives; a live wire gets its bytes
    from asyncio, a replayed one feeds :meth:`data_received` from the recording."""

    def __init__(self, state: ProbeState) -> None:
        self.state = state
        self.transport: asyncio.BaseTransport | None = None
        self.replies: deque[Reply] = deque()
        self.error: ProtocolError | None = None
        self.closed = False
        self.close_exc: BaseException | None = None
        self.received = 0
        self._waiter: asyncio.Future[None] | None = None
        self.parser = self.new_parser()

    def new_parser(self) -> ReplyParser:
        return ReplyParser(on_line=self._line)

    def restart(self) -> None:
        """Forget every byte and reply read so far: nothing read before TLS may be trusted
        after it (RFC 3207 §5)."""
        self.parser = self.new_parser()
        self.replies.clear()

    def _line(self, text: str) -> None:
        self.state.server(text)
        m = text[:3]
        if m.isdigit() and (len(text) == 3 or text[3] != "-"):
            self.state.redactor.server(int(m))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.state.connected = True
        self.state.event("connected")  # here, so it precedes any byte the server sends

    def data_received(self, data: bytes) -> None:
        self.received += len(data)
        self.state.bytes_in_phase += len(data)
        if self.error is not None:
            return
        self.parser.feed(data)
        try:
            while (reply := self.parser.next_reply()) is not None:
                self.replies.append(reply)
                if len(self.replies) > MAX_QUEUED_REPLIES:
                    raise ProtocolError(
                        f"server sent more than {MAX_QUEUED_REPLIES} replies nobody asked for"
                    )
        except ProtocolError as exc:
            self.error = exc
            if self.transport is not None:
                self.transport.pause_reading()  # type: ignore[attr-defined]
        self._wake()

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: BaseException | None) -> None:
        self.closed = True
        self.close_exc = exc
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def wait(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        self._waiter = loop.create_future()
        try:
            await asyncio.wait_for(self._waiter, timeout)
        finally:
            self._waiter = None


_WARM_POOL: list[concurrent.futures.ThreadPoolExecutor] = []  # made on first need
_WARMING: dict[tuple[str | None, str | None], concurrent.futures.Future[None]] = {}


def _warm_up_tls(o: ProbeOptions) -> concurrent.futures.Future[None] | None:
    """A probe that may judge a certificate from its one handshake imports ``cryptography``
    and reads the trust store in a thread while it waits for the network, once per process
    (its own thread: the end of an event loop never waits for it)."""
    if not o.verify or o.mode == "plain" or not tls.HANDS_OVER_CHAIN:
        return None
    key = (o.cafile, o.cadata)
    fut = _WARMING.get(key)
    if fut is None:
        if not _WARM_POOL:
            _WARM_POOL.append(concurrent.futures.ThreadPoolExecutor(1, "smtplab-tls-warm-up"))
        fut = _WARMING[key] = _WARM_POOL[0].submit(tls.warm_up, o.cafile, o.cadata)
    return fut


class LiveWire:
    """One TCP connection, optionally upgraded to TLS: the :class:`Wire` a live probe uses."""

    def __init__(self, state: ProbeState) -> None:
        self.state = state
        self.proto = ReplyReader(state)
        self.transport: asyncio.Transport | None = None
        self.ssl_object: ssl.SSLObject | None = None
        self.warm: concurrent.futures.Future[None] | None = None

    async def resolve(self) -> tuple[str, int]:
        o, st = self.state.opts, self.state
        self.warm = _warm_up_tls(o)
        if o.lab_error is not None:
            st.event(f"lab: {o.lab_error}")
            raise WireFailed("dns_failed", o.lab_error)
        if o.connect_to is not None:
            return o.connect_to
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(o.host, o.port, type=socket.SOCK_STREAM), o.timeout
            )
        except (socket.gaierror, UnicodeError) as exc:
            st.event(f"name lookup failed: {exc}")
            raise WireFailed("dns_failed", f"{o.host} could not be resolved: {exc}") from None
        except asyncio.TimeoutError:
            st.event("name lookup timed out")
            raise WireFailed("dns_failed", f"looking up {o.host} timed out") from None
        except OSError as exc:
            raise WireFailed("dns_failed", str(exc)) from None
        if not infos:
            raise WireFailed("dns_failed", f"{o.host} has no address")
        return str(infos[0][4][0]), o.port

    async def connect(self, address: str, port: int, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await asyncio.wait_for(
            loop.create_connection(lambda: self.proto, address, port), timeout
        )
        self.transport = transport  # type: ignore[assignment]

    async def start_tls(
        self, ctx: ssl.SSLContext, server_hostname: str | None, timeout: float
    ) -> None:
        loop = asyncio.get_running_loop()
        assert self.transport is not None
        self.proto.restart()  # nothing read before TLS may be trusted after it (RFC 3207 §5)
        handshake = asyncio.ensure_future(
            loop.start_tls(
                self.transport,
                self.proto,
                ctx,
                server_hostname=server_hostname,
                ssl_handshake_timeout=timeout,
            )
        )
        await asyncio.sleep(0)  # start_tls has now put its TLS protocol on the transport
        self._count_handshake_bytes()
        try:
            new = await asyncio.wait_for(handshake, timeout + 1)
        except ConnectionAbortedError as exc:
            if "taking longer" in str(exc):  # asyncio's own handshake timeout: say it as one
                raise asyncio.TimeoutError() from None
            raise
        if new is None:
            raise ConnectionResetError("connection closed during the TLS handshake")
        self.transport = new
        self.ssl_object = new.get_extra_info("ssl_object")

    def _count_handshake_bytes(self) -> None:
        """Count the bytes the server sends during the handshake (asyncio's TLS layer consumes
        them before our protocol sees any): a server that answered slowly is no silent one."""
        tls_proto = self.transport.get_protocol() if self.transport is not None else None
        inner = getattr(tls_proto, "buffer_updated", None)
        if tls_proto is None or tls_proto is self.proto or inner is None:
            return
        state = self.state

        def counted(nbytes: int) -> None:
            state.bytes_in_phase += nbytes
            inner(nbytes)

        tls_proto.buffer_updated = counted  # type: ignore[attr-defined]

    def tls_facts(self) -> TLSFacts:
        return session_facts(self.ssl_object)

    def hands_over_chain(self) -> bool:
        return tls.HANDS_OVER_CHAIN

    async def judge_certificate(
        self,
        server_name: str,
        *,
        cafile: str | None,
        cadata: str | None,
        verify_error: str | None,
    ) -> ChainVerdict | None:
        if self.ssl_object is None:
            return None
        if self.warm is not None and not self.warm.done():  # the trust store, read meanwhile
            timeout = self.state.opts.timeout
            await asyncio.wait({asyncio.wrap_future(self.warm)}, timeout=timeout)
        return judge_session_certificate(
            self.ssl_object, server_name, cafile=cafile, cadata=cadata, verify_error=verify_error
        )

    def local_name(self) -> str:
        """An honest EHLO name: our own address as an RFC 5321 address literal."""
        sockname = self.transport.get_extra_info("sockname") if self.transport else None
        if not sockname:
            return "[127.0.0.1]"
        ip = ipaddress.ip_address(sockname[0].split("%")[0])
        return f"[IPv6:{ip}]" if ip.version == 6 else f"[{ip}]"

    def pending(self) -> int:
        return len(self.proto.replies)

    def leftover(self) -> int:
        return len(self.proto.replies) + self.proto.parser.buffered

    def received(self) -> int:
        return self.proto.received

    def reply_started(self) -> bool:
        return self.proto.parser.started_reply()

    def send(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            raise ConnectionResetError("connection already closed")
        self.transport.write(data)

    async def read_reply(self, timeout: float) -> Reply:
        """The next reply; raises TimeoutError, ProtocolError or ConnectionResetError."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            if self.proto.replies:
                return self.proto.replies.popleft()
            if self.proto.error is not None:
                raise self.proto.error
            if self.proto.closed:
                exc = self.proto.close_exc
                raise ConnectionResetError(
                    "connection reset by the server" if exc else "connection closed by the server"
                )
            remaining = end - loop.time()
            if remaining <= 0:
                raise asyncio.TimeoutError()
            await self.proto.wait(remaining)

    def races_tls(self) -> bool:
        return True

    async def race_tls(self, timeout: float, server_hostname: str) -> Reply | None:
        peer = self.transport.get_extra_info("peername") if self.transport else None
        greeting = asyncio.ensure_future(self.read_reply(timeout))
        if not peer:
            return await greeting
        tls_try = asyncio.ensure_future(_tls_answers(peer[0], peer[1], server_hostname, timeout))
        try:
            done, _ = await asyncio.wait({greeting, tls_try}, return_when=asyncio.FIRST_COMPLETED)
            if greeting not in done and tls_try.result():
                return None
            return await greeting
        finally:
            for task in (greeting, tls_try):
                task.cancel()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()


async def _tls_answers(address: str, port: int, server_hostname: str, timeout: float) -> bool:
    """Whether a TLS handshake completes on a fresh connection within ``timeout`` (the
    connection is dropped at once: the probe's own TLS session follows on another)."""
    ctx = tls.client_context(verify=False)
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(
                address,
                port,
                ssl=ctx,
                server_hostname=server_hostname,
                ssl_handshake_timeout=timeout,
            ),
            timeout,
        )
    except (OSError, ssl.SSLError, asyncio.TimeoutError, EOFError):
        return False
    writer.transport.abort()
    return True
