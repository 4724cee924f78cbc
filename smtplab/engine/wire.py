"""The wire a conversation talks over: a byte stream with typed errors, and the network it opens.

A :class:`Stream` moves bytes and nothing else, the shape of httpcore's network stream:
``read(n, timeout)``, ``write(data, timeout)``, ``start_tls(ctx, server_hostname, timeout)``,
``close()`` and ``get_extra_info(name)``. Whatever goes wrong is one of a few typed errors
(:class:`WireTimeout`, :class:`WireClosed`, :class:`TLSRejected`, :class:`TLSFailed`), mapped
from sockets and ``ssl`` here, at the live edge, so the conversation (which owns the reply parser)
never sees an ``OSError`` or an ``ssl.SSLError``. A :class:`Network` opens streams: it resolves
the name, connects, and answers the few questions a stream cannot (may auto mode race implicit
TLS, does a TLS handshake answer on a second connection, what is the verdict on a certificate).

:class:`LiveNetwork` is the real one; :mod:`smtplab.replaying` implements both over a recorded
transcript, and :mod:`smtplab.engine.memory` over a server in the same process.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import socket
import ssl
from collections.abc import Callable
from typing import Any, Final, Literal, Protocol, runtime_checkable

from smtplab import tls
from smtplab.engine.options import ProbeOptions
from smtplab.engine.tlsfacts import session_facts
from smtplab.tls import ChainVerdict, describe_verify_error, judge_session_certificate

__all__ = [
    "READ_LIMIT",
    "ConnectFailed",
    "DeadlineReached",
    "LiveNetwork",
    "LiveStream",
    "NameLookupFailed",
    "Network",
    "NetworkFactory",
    "Stream",
    "TLSFailed",
    "TLSRejected",
    "WireClosed",
    "WireError",
    "WireTimeout",
]

#: Bytes a live stream holds unread before it stops reading the socket (the parser's own limits,
#: a 1,000-byte line and 2,000 lines a reply in :mod:`smtplab.protocol`, bound what is kept after).
READ_LIMIT: Final = 256 * 1024


class WireError(Exception):
    """Something the network or the peer did, said in one line (``str(exc)``)."""


class WireTimeout(WireError):
    """Nothing (more) came within the time given; ``received``: bytes the peer sent meanwhile
    (a TLS handshake that got an answer, too slowly, is no silent port)."""

    def __init__(self, message: str = "timed out", received: int = 0) -> None:
        super().__init__(message)
        self.received = received


class WireClosed(WireError):
    """The connection is gone (closed or reset by the peer, or lost on the way)."""


class TLSRejected(WireError):
    """The verifying handshake rejected the certificate; ``str(exc)`` is OpenSSL's reason."""


class TLSFailed(WireError):
    """The TLS handshake failed; ``cleartext``: the peer answered in cleartext, not TLS."""

    def __init__(self, message: str, cleartext: bool = False) -> None:
        super().__init__(message)
        self.cleartext = cleartext


ConnectCause = Literal["timeout", "refused", "reset", "unreachable", "other"]
LookupCause = Literal["lab", "lookup", "timeout", "other"]


class ConnectFailed(WireError):
    """No connection: ``cause`` says how (``timeout``: nothing answered, the usual DROP rule)."""

    def __init__(self, cause: ConnectCause, message: str) -> None:
        super().__init__(message)
        self.cause: ConnectCause = cause


class NameLookupFailed(WireError):
    """The host name did not resolve (``cause``: ``lab``, ``lookup``, ``timeout``, ``other``)."""

    def __init__(self, cause: LookupCause, message: str) -> None:
        super().__init__(message)
        self.cause: LookupCause = cause


class DeadlineReached(BaseException):
    """Raised by a wire whose time is up (a replayed recording reaching the point where the
    live probe ran out of time): the probe ends as if its own deadline had passed.
    ``received``: bytes of a TLS handshake under way then, as the recording says."""

    def __init__(self, received: int | None = None) -> None:
        super().__init__("deadline")
        self.received = received


@runtime_checkable
class Stream(Protocol):
    """One connection as bytes. Every method raises only the errors of this module."""

    async def read(self, max_bytes: int, timeout: float) -> bytes:
        """Up to ``max_bytes`` received bytes, waiting at most ``timeout`` seconds for the
        first (``0``: only what has already arrived); :class:`WireTimeout` if none came,
        :class:`WireClosed` once the connection is gone and nothing is left to read."""
        ...

    async def write(self, data: bytes, timeout: float) -> None:
        """Send ``data``; :class:`WireClosed` if the connection is gone."""
        ...

    async def start_tls(
        self, ctx: ssl.SSLContext, server_hostname: str | None, timeout: float
    ) -> Stream:
        """The TLS handshake over this connection; the stream to use after it. Bytes received
        before it and not read are dropped: nothing read before TLS may be trusted after it
        (RFC 3207 §5)."""
        ...

    def close(self) -> None:
        """Drop the connection."""
        ...

    def get_extra_info(self, name: str) -> Any:
        """``sockname``, ``peername``, ``ssl_object``, or ``tls_facts`` (a
        :class:`~smtplab.engine.tlsfacts.TLSFacts`); ``None`` where unknown."""
        ...


@runtime_checkable
class Network(Protocol):
    """What opens the streams of one probe, and answers what a stream cannot."""

    @property
    def hands_over_chain(self) -> bool:
        """True if a handshake that does not verify can still hand over the whole chain the
        server sent, so that it is judged without a second connection."""
        ...

    async def resolve(self, host: str, port: int, timeout: float) -> tuple[str, int]:
        """The address and port to connect to; :class:`NameLookupFailed`."""
        ...

    async def connect(self, address: str, port: int, timeout: float) -> Stream:
        """A new connection; :class:`ConnectFailed`."""
        ...

    def race_grace(self, proposed: float) -> float | None:
        """How long auto mode waits for a cleartext greeting before it races implicit TLS
        beside it (``proposed``: a few connect times); ``None``: no race here."""
        ...

    async def tls_answers(self, stream: Stream, server_hostname: str, timeout: float) -> bool:
        """Whether a TLS handshake completes within ``timeout`` on a second connection to the
        peer of ``stream`` (dropped at once: the probe's own TLS session follows on another)."""
        ...

    async def judge_certificate(
        self,
        stream: Stream,
        server_name: str,
        *,
        cafile: str | None,
        cadata: str | None,
        verify_error: str | None,
    ) -> ChainVerdict | None:
        """The verdict on the certificate of the TLS session of ``stream``, from the
        certificate itself: the whole chain verified against the trust store (when
        :attr:`hands_over_chain`), or the leaf's problems beside OpenSSL's ``verify_error``
        from an earlier, verifying handshake. ``None`` when it cannot be judged."""
        ...


class NetworkFactory(Protocol):
    """Makes the network of one probe (given the probe's state, for byte counts)."""

    def __call__(
        self, opts: ProbeOptions, on_handshake_bytes: Callable[[int], None], /
    ) -> Network: ...


# --- the live edge ----------------------------------------------------------------------------


class _Receiver(asyncio.Protocol):
    """Bytes from asyncio, held (bounded) until the stream's reader asks for them."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.closed = False
        self.reset = False
        self.paused = False
        self._waiter: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > READ_LIMIT and self.transport is not None and not self.paused:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: BaseException | None) -> None:
        self.closed = True
        self.reset = exc is not None
        self._wake()

    def take(self, max_bytes: int) -> bytes:
        data = bytes(self.buffer[:max_bytes])
        del self.buffer[:max_bytes]
        if self.paused and len(self.buffer) <= READ_LIMIT and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        return data

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def wait(self, timeout: float) -> None:
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(self._waiter, timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            self._waiter = None


class LiveStream:
    """A TCP connection (upgraded to TLS when asked): the :class:`Stream` of a live probe."""

    def __init__(
        self,
        transport: asyncio.Transport,
        receiver: _Receiver,
        on_handshake_bytes: Callable[[int], None],
    ) -> None:
        self.transport = transport
        self.receiver = receiver
        self.on_handshake_bytes = on_handshake_bytes

    async def read(self, max_bytes: int, timeout: float) -> bytes:
        r = self.receiver
        if not r.buffer and not r.closed and timeout > 0:
            await r.wait(timeout)
        if r.buffer:
            return r.take(max_bytes)
        if r.closed:
            raise WireClosed(
                "connection reset by the server" if r.reset else "connection closed by the server"
            )
        raise WireTimeout()

    async def write(self, data: bytes, timeout: float) -> None:
        if self.transport.is_closing() or self.receiver.closed:
            raise WireClosed("connection already closed")
        self.transport.write(data)

    async def start_tls(
        self, ctx: ssl.SSLContext, server_hostname: str | None, timeout: float
    ) -> LiveStream:
        loop = asyncio.get_running_loop()
        self.receiver.buffer.clear()
        handshake = asyncio.ensure_future(
            loop.start_tls(
                self.transport,
                self.receiver,
                ctx,
                server_hostname=server_hostname,
                ssl_handshake_timeout=timeout,
            )
        )
        await asyncio.sleep(0)  # start_tls has now put its TLS protocol on the transport
        counted = self._watch_tls_reads()
        try:
            new = await asyncio.wait_for(handshake, timeout + 1)
        except ssl.SSLCertVerificationError as exc:
            raise TLSRejected(describe_verify_error(exc)) from None
        except ssl.SSLError as exc:
            text = str(exc) or type(exc).__name__
            cleartext = "WRONG_VERSION_NUMBER" in text or "record layer failure" in text.lower()
            raise TLSFailed(text, cleartext) from None
        except asyncio.TimeoutError:
            raise WireTimeout(received=counted[0]) from None
        except ConnectionAbortedError as exc:
            if "taking longer" in str(exc):  # asyncio's own handshake timeout: say it as one
                raise WireTimeout(received=counted[0]) from None
            raise WireClosed(str(exc)) from None
        except (OSError, EOFError) as exc:
            raise WireClosed(str(exc)) from None
        if new is None:
            raise WireClosed("connection closed during the TLS handshake")
        return LiveStream(new, self.receiver, self.on_handshake_bytes)

    def _watch_tls_reads(self) -> list[int]:
        """Count the bytes the server sends during the handshake (asyncio's TLS layer consumes
        them before our protocol sees any): a server that answered slowly is no silent one.
        And acknowledge each read at once (:func:`_ack_at_once`)."""
        counted = [0]
        tls_proto = self.transport.get_protocol()
        inner = getattr(tls_proto, "buffer_updated", None)
        if tls_proto is self.receiver or inner is None:
            return counted
        report = self.on_handshake_bytes
        sock = self.transport.get_extra_info("socket")

        def counting(nbytes: int) -> None:
            counted[0] += nbytes
            report(nbytes)
            inner(nbytes)
            _ack_at_once(sock)

        tls_proto.buffer_updated = counting  # type: ignore[attr-defined]
        return counted

    def close(self) -> None:
        self.transport.abort()

    def get_extra_info(self, name: str) -> Any:
        if name == "tls_facts":
            return session_facts(self.transport.get_extra_info("ssl_object"))
        return self.transport.get_extra_info(name)


#: Linux's TCP_QUICKACK (absent elsewhere, where the kernel decides alone).
_QUICKACK: Final = getattr(socket, "TCP_QUICKACK", None)


def _ack_at_once(sock: Any) -> None:
    """Acknowledge at once what just arrived on a TLS connection.

    A server that writes its greeting right after its TLS 1.3 session tickets (Postfix on 465)
    holds the greeting back, by Nagle's algorithm (RFC 896), until the tickets are acknowledged;
    a client with nothing to send meanwhile has Linux delay that acknowledgement by at least
    40 ms. Implicit TLS paid that for its greeting, the slowest step of a loopback probe.
    ``TCP_QUICKACK`` lasts only until the kernel next decides to delay, so it is set after each
    read. A socket that refuses it is left as it is.
    """
    if _QUICKACK is None or sock is None:
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
    except OSError:
        pass


_WARM_POOL: list[concurrent.futures.ThreadPoolExecutor] = []  # made on first need
_WARMING: dict[tuple[str | None, str | None], concurrent.futures.Future[None]] = {}


def _warm_up_tls(o: ProbeOptions) -> concurrent.futures.Future[None] | None:
    """A probe that may judge a certificate from its one handshake reads the trust store of
    its verifying context in a thread while it waits for the network, once per process (its
    own thread: the end of an event loop never waits for it). ``cryptography`` is not loaded
    there: a chain that verifies never needs it, and one that does not loads it when judged."""
    if not o.verify or o.mode == "plain" or not tls.HANDS_OVER_CHAIN:
        return None
    key = (o.cafile, o.cadata)
    fut = _WARMING.get(key)
    if fut is None:
        if not _WARM_POOL:
            _WARM_POOL.append(concurrent.futures.ThreadPoolExecutor(1, "smtplab-tls-warm-up"))
        fut = _WARMING[key] = _WARM_POOL[0].submit(tls.warm_up, o.cafile, o.cadata)
    return fut


#: errno values that mean there is no way to the host (outcome ``unreachable``).
_UNREACHABLE: Final = frozenset(
    {
        errno.ENETUNREACH,
        errno.EHOSTUNREACH,
        errno.EADDRNOTAVAIL,
        errno.ENETDOWN,
        errno.EHOSTDOWN,
        errno.EAFNOSUPPORT,
    }
)


def _address_literal(host: str) -> str | None:
    """``host`` as getaddrinfo would give it back when it is an IPv4 or IPv6 address already
    (a lookup would only hop to a worker thread and back); ``None`` for a name."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            return socket.inet_ntop(family, socket.inet_pton(family, host))
        except (OSError, ValueError):
            continue
    return None


class LiveNetwork:
    """Real sockets: the :class:`Network` of a live probe."""

    @property
    def hands_over_chain(self) -> bool:
        return tls.HANDS_OVER_CHAIN  # read now: a test may play an older Python

    def __init__(self, opts: ProbeOptions, on_handshake_bytes: Callable[[int], None]) -> None:
        self.opts = opts
        self.on_handshake_bytes = on_handshake_bytes
        self.warm: concurrent.futures.Future[None] | None = None

    async def resolve(self, host: str, port: int, timeout: float) -> tuple[str, int]:
        o = self.opts
        self.warm = _warm_up_tls(o)
        if o.lab_error is not None:
            raise NameLookupFailed("lab", o.lab_error)
        if o.connect_to is not None:
            return o.connect_to
        literal = _address_literal(host)
        if literal is not None:  # nothing to look up (asyncio's connect skips it too)
            return literal, port
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout
            )
        except (socket.gaierror, UnicodeError) as exc:
            raise NameLookupFailed("lookup", str(exc)) from None
        except asyncio.TimeoutError:
            raise NameLookupFailed("timeout", "timed out") from None
        except OSError as exc:
            raise NameLookupFailed("other", str(exc)) from None
        if not infos:
            raise NameLookupFailed("other", f"{host} has no address")
        return str(infos[0][4][0]), port

    async def connect(self, address: str, port: int, timeout: float) -> LiveStream:
        loop = asyncio.get_running_loop()
        receiver = _Receiver()
        try:
            transport, _ = await asyncio.wait_for(
                loop.create_connection(lambda: receiver, address, port), timeout
            )
        except asyncio.TimeoutError:
            raise ConnectFailed("timeout", "connect timed out") from None
        except ConnectionRefusedError:
            raise ConnectFailed("refused", "connection refused") from None
        except ConnectionResetError:
            raise ConnectFailed("reset", "connection reset") from None
        except OSError as exc:
            if exc.errno in _UNREACHABLE:
                raise ConnectFailed("unreachable", exc.strerror or str(exc)) from None
            raise ConnectFailed("other", f"{type(exc).__name__}: {exc}") from None
        return LiveStream(transport, receiver, self.on_handshake_bytes)

    def race_grace(self, proposed: float) -> float | None:
        return proposed

    async def tls_answers(self, stream: Stream, server_hostname: str, timeout: float) -> bool:
        peer = stream.get_extra_info("peername")
        if not peer:
            await asyncio.sleep(timeout)
            return False
        ctx = tls.client_context(verify=False)
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    peer[0],
                    peer[1],
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

    async def judge_certificate(
        self,
        stream: Stream,
        server_name: str,
        *,
        cafile: str | None,
        cadata: str | None,
        verify_error: str | None,
    ) -> ChainVerdict | None:
        sslobj = stream.get_extra_info("ssl_object")
        if sslobj is None:
            return None
        if self.warm is not None and not self.warm.done():  # the trust store, read meanwhile
            await asyncio.wait({asyncio.wrap_future(self.warm)}, timeout=self.opts.timeout)
        try:
            context: ssl.SSLContext | None = tls.client_context(
                verify=True, cadata=cadata, cafile=cafile
            )
        except (ssl.SSLError, OSError, ValueError):  # then the chain judge decides alone
            context = None
        return judge_session_certificate(
            sslobj,
            server_name,
            cafile=cafile,
            cadata=cadata,
            verify_error=verify_error,
            context=context,
        )
