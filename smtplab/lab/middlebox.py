"""A STARTTLS-stripping middlebox: the lab's ``strip`` network behaviour.

It relays every byte between the client and the real server, except that it masks STARTTLS:
in the server's EHLO reply ``250-STARTTLS`` becomes ``250-XXXXXXXA``, and a ``STARTTLS``
command from the client becomes ``XXXXXXXA`` (which the server answers with a 500). The
replacement keeps the length, so a middlebox can patch a packet in place. Cisco documents this
behaviour as the default of its firewalls' ESMTP inspection: "The STARTTLS indication is removed
from the session connection attempt" (ASA Series Firewall CLI Configuration Guide, chapter 13,
Defaults for ESMTP Inspection). The client never starts TLS, so everything, a password too,
would cross in cleartext: a downgrade that implicit TLS on 465 leaves no room for.

``inject_auth=True`` makes it worse, as a tampering box can: where it masks STARTTLS it also
adds :data:`FAKE_AUTH` (``250-AUTH PLAIN LOGIN``) to the cleartext EHLO reply, inviting a
password in cleartext that the real server never offered there (issue 24, item 7: the doctor
must not recommend such a port for a password, nor ``--login`` send one to it).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Final

__all__ = ["FAKE_AUTH", "MASK", "StripStartTLS", "mask_client_line", "mask_server_line"]

#: What the middlebox writes where STARTTLS stood (8 bytes, like the word it replaces).
MASK: Final = b"XXXXXXXA"

#: The AUTH line ``inject_auth`` adds to the EHLO reply, after the masked STARTTLS line.
FAKE_AUTH: Final = b"AUTH PLAIN LOGIN"

_SERVER_LINE: Final = re.compile(rb"^(\d{3}[- ])STARTTLS(?=\s|$)", re.I)
_CLIENT_LINE: Final = re.compile(rb"^STARTTLS(?=\s|$)", re.I)
#: A line longer than this without CRLF is passed on as it is (no SMTP line is this long).
_MAX_LINE: Final = 8192
#: What the client may send before the server connection is up, before the box stops reading.
_MAX_PENDING: Final = 65536


def mask_server_line(line: bytes, inject_auth: bool = False) -> bytes:
    """``250-STARTTLS\\r\\n`` -> ``250-XXXXXXXA\\r\\n``; any other line unchanged.

    ``inject_auth``: the masked line also gets a ``250-AUTH PLAIN LOGIN`` line beside it (after
    it, or before it when it ends the reply), so the reply stays well formed."""
    m = _SERVER_LINE.match(line)
    if m is None:
        return line
    masked = _SERVER_LINE.sub(lambda m: m.group(1) + MASK, line)
    if not inject_auth:
        return masked
    fake = m.group(1)[:3] + b"-" + FAKE_AUTH + b"\r\n"
    return masked + fake if m.group(1).endswith(b"-") else fake + masked


def mask_client_line(line: bytes) -> bytes:
    """``STARTTLS\\r\\n`` -> ``XXXXXXXA\\r\\n``; any other line unchanged."""
    return _CLIENT_LINE.sub(MASK, line)


class _LineRewriter:
    """Splits a byte stream into lines, rewrites each, and passes on the rest untouched."""

    def __init__(self, rewrite: Callable[[bytes], bytes]) -> None:
        self.rewrite = rewrite
        self.buf = b""

    def feed(self, data: bytes) -> bytes:
        self.buf += data
        out = []
        while True:
            i = self.buf.find(b"\n")
            if i < 0:
                break
            line, self.buf = self.buf[: i + 1], self.buf[i + 1 :]
            out.append(self.rewrite(line))
        if len(self.buf) > _MAX_LINE:
            out.append(self.buf)
            self.buf = b""
        return b"".join(out)


class _Upstream(asyncio.Protocol):
    """The middlebox's connection to the real server."""

    def __init__(self, box: StripStartTLS) -> None:
        self.box = box

    def data_received(self, data: bytes) -> None:
        self.box.from_server(data)

    def eof_received(self) -> bool:
        return False  # the server hung up: close this side; connection_lost closes the client's

    def connection_lost(self, exc: Exception | None) -> None:
        self.box.server_gone()

    # The server's side is full (it reads more slowly than the client sends): stop reading
    # from the client until it drains.
    def pause_writing(self) -> None:
        self.box.pause(self.box.client)

    def resume_writing(self) -> None:
        self.box.resume(self.box.client)


class StripStartTLS(asyncio.Protocol):
    """One client connection through the middlebox, relayed to ``upstream`` (ip, port).

    Back-pressure, as a real relay has it: when one side's write buffer passes asyncio's
    high-water mark (64 KiB), the middlebox stops reading from the other side until the buffer
    drains, so a client that sends without reading (or a server that answers faster than the
    client reads) fills kernel socket buffers, not the lab's memory. What the client sends before
    the server connection is up waits in at most :data:`_MAX_PENDING` bytes. When either side
    goes, both are closed.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        upstream: tuple[str, int],
        track: Callable[[asyncio.BaseTransport], None] = lambda t: None,
        *,
        inject_auth: bool = False,
    ) -> None:
        self.loop = loop
        self.upstream = upstream
        self.track = track
        self.client: asyncio.Transport | None = None
        self.server: asyncio.Transport | None = None
        self.pending = b""
        self.to_client = _LineRewriter(lambda line: mask_server_line(line, inject_auth))
        self.to_server = _LineRewriter(mask_client_line)
        self.task: asyncio.Task[None] | None = None

    @staticmethod
    def pause(transport: asyncio.Transport | None) -> None:
        if transport is not None and not transport.is_closing() and transport.is_reading():
            transport.pause_reading()

    @staticmethod
    def resume(transport: asyncio.Transport | None) -> None:
        if transport is not None and not transport.is_closing() and not transport.is_reading():
            transport.resume_reading()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.client = transport
        self.track(transport)
        if transport.is_closing():
            return
        self.task = self.loop.create_task(self._connect())

    async def _connect(self) -> None:
        try:
            transport, _ = await self.loop.create_connection(
                lambda: _Upstream(self), *self.upstream
            )
        except OSError:
            if self.client is not None:
                self.client.close()
            return
        self.server = transport
        self.track(transport)
        if self.client is None or self.client.is_closing():
            transport.close()
            return
        self.resume(self.client)  # before writing: that write may pause the client again
        if self.pending:
            transport.write(self.pending)
            self.pending = b""

    def data_received(self, data: bytes) -> None:
        out = self.to_server.feed(data)
        if self.server is None:
            self.pending += out
            if len(self.pending) >= _MAX_PENDING:
                self.pause(self.client)  # resumed once the server connection is up
        elif out and not self.server.is_closing():
            self.server.write(out)

    def eof_received(self) -> bool:
        return False  # the client hung up: close this side; connection_lost closes the server's

    def from_server(self, data: bytes) -> None:
        out = self.to_client.feed(data)
        if out and self.client is not None and not self.client.is_closing():
            self.client.write(out)

    # The client's side is full: stop reading from the server until it drains.
    def pause_writing(self) -> None:
        self.pause(self.server)

    def resume_writing(self) -> None:
        self.resume(self.server)

    def server_gone(self) -> None:
        self.server = None
        if self.client is not None and not self.client.is_closing():
            self.client.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.client = None
        self.pending = b""
        if self.server is not None and not self.server.is_closing():
            self.server.close()
