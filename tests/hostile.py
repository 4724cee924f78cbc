"""Hostile SMTP servers on loopback: every way a peer can misbehave, as a reusable catalogue.

Each :class:`Behaviour` is a real server (a scripted asyncio peer, or aiosmtpd behind an expired
certificate) started on ``127.0.0.1`` on a port the kernel picks, through the ``servers`` fixture
of ``tests/servers.py``. The suite in ``test_hostile.py`` probes each one and checks that the
probe stays inside its deadline and its memory, names the right outcome and keeps a readable
transcript; other tests (benchmarks, notebooks) may reuse the catalogue::

    ports = start_all(servers, certs)          # {"http_banner": 40123, ...}
    smtplab.probe("127.0.0.1", ports["http_banner"], timeout=1, deadline=3)

Every handler is bounded on its own too (a few seconds, a few megabytes at most), so a probe that
hangs up early never leaves a server writing forever.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from servers import Certs, ServerThread

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

#: How long any scripted server keeps a connection at most (the probe's deadline is shorter).
MAX_SERVER_SECONDS = 8.0

#: The 200,000-line EHLO reply, sent in batches of this many lines so the server's own buffer
#: stays small (it waits for the probe to read, like a real socket peer).
FLOOD_LINES = 200_000
FLOOD_BATCH = 1_000
_FLOOD_CHUNK = b"".join(
    b"250-X-FLOOD-%06d padding padding padding padding\r\n" % i for i in range(FLOOD_BATCH)
)

#: Fixed "random" bytes, so a failure can be reproduced byte for byte.
GARBAGE = random.Random(1984).randbytes(3000)


@dataclass
class Recorder:
    """What a scripted server saw: connections accepted and command lines received."""

    connections: int = 0
    commands: list[bytes] = field(default_factory=list)


@dataclass(frozen=True)
class Behaviour:
    """One hostile behaviour: what it does, the outcome word the probe must give, and why."""

    name: str
    does: str
    outcome: str
    why: str
    #: a finding code the probe must report (or None)
    finding: str | None = None
    #: True when an outcome of ``open`` must carry an error (the server broke SMTP later on)
    error: bool = False


async def _read_line(reader: asyncio.StreamReader, timeout: float = MAX_SERVER_SECONDS) -> bytes:
    """One command line from the probe, or b"" at EOF/timeout (hostile servers never raise)."""
    try:
        return await asyncio.wait_for(reader.readline(), timeout)
    except (asyncio.TimeoutError, ValueError):
        return b""


async def _wait_eof(reader: asyncio.StreamReader, timeout: float = MAX_SERVER_SECONDS) -> None:
    """Swallow whatever the client sends until it hangs up (bounded)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            data = await asyncio.wait_for(reader.read(4096), end - time.monotonic())
        except asyncio.TimeoutError:
            return
        if not data:
            return


async def _serve_commands(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    ehlo: bytes,
    rec: Recorder | None = None,
) -> None:
    """A minimal, honest command loop: ``ehlo`` answers EHLO, QUIT says 221, the rest 502."""
    while True:
        line = await _read_line(reader)
        if not line:
            return
        if rec is not None:
            rec.commands.append(line.rstrip(b"\r\n"))
        verb = line.split(b" ", 1)[0].strip().upper()
        if verb in (b"EHLO", b"HELO"):
            writer.write(ehlo)
        elif verb == b"QUIT":
            writer.write(b"221 2.0.0 bye\r\n")
            await writer.drain()
            return
        elif verb in (b"MAIL", b"RCPT", b"RSET", b"NOOP"):
            writer.write(b"250 2.0.0 OK\r\n")
        else:
            writer.write(b"502 5.5.1 not here\r\n")
        await writer.drain()


EHLO_STARTTLS = b"250-hostile.example\r\n250-SIZE 1000000\r\n250 STARTTLS\r\n"
EHLO_AFTER_TLS = b"250-hostile.example\r\n250-SIZE 1000000\r\n250 AUTH PLAIN LOGIN\r\n"


def _counted(rec: Recorder, handler: Handler) -> Handler:
    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        rec.connections += 1
        await handler(reader, writer)

    return run


# --- the behaviours ---------------------------------------------------------------------------


async def never_ending_line(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """``220 AAAA…`` with no line end, ever (bounded here at 16 MB or MAX_SERVER_SECONDS)."""
    writer.write(b"220 ")
    chunk = b"A" * 16384
    end = time.monotonic() + MAX_SERVER_SECONDS
    for _ in range(1024):
        if time.monotonic() > end:
            break
        writer.write(chunk)
        await asyncio.wait_for(writer.drain(), MAX_SERVER_SECONDS)


async def ehlo_flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A normal greeting, then 200,000 ``250-`` lines in answer to EHLO (about 10 MB)."""
    writer.write(b"220 hostile.example ESMTP\r\n")
    await writer.drain()
    if not await _read_line(reader):
        return
    for _ in range(FLOOD_LINES // FLOOD_BATCH):
        writer.write(_FLOOD_CHUNK)
        await asyncio.wait_for(writer.drain(), MAX_SERVER_SECONDS)
    writer.write(b"250 end of the flood\r\n")
    await writer.drain()
    await _wait_eof(reader)


async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A real greeting, one byte every half second (a tarpit): 14 s for the whole line."""
    for b in b"220 hostile.example ESMTP tarpit\r\n":
        if writer.is_closing() or reader.at_eof():
            return  # the probe hung up
        writer.write(bytes([b]))
        await writer.drain()
        await asyncio.sleep(0.5)


async def binary_garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """3,000 random bytes (newlines and NULs among them), then nothing."""
    writer.write(GARBAGE)
    await writer.drain()
    await _wait_eof(reader)


async def http_banner(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A web server's answer where a mail server should greet."""
    writer.write(
        b"HTTP/1.1 400 Bad Request\r\nServer: nginx\r\nContent-Type: text/html\r\n"
        b"Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    await writer.drain()
    await _wait_eof(reader)


async def ssh_banner(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """An SSH server's identification string (RFC 4253 §4.2)."""
    writer.write(b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5\r\n")
    await writer.drain()
    await _wait_eof(reader)


async def close_after_greeting(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Greets properly, then hangs up before the EHLO."""
    writer.write(b"220 hostile.example ESMTP\r\n")
    await writer.drain()
    writer.close()


async def bad_reply_code(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A greeting whose code has two digits."""
    writer.write(b"22 hostile.example ESMTP ready\r\n")
    await writer.drain()
    await _wait_eof(reader)


def starttls_garbage_handler() -> Handler:
    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Offers STARTTLS, agrees with 220, then sends text instead of a TLS ServerHello."""
        writer.write(b"220 hostile.example ESMTP\r\n")
        await writer.drain()
        while line := await _read_line(reader):
            verb = line.strip().upper()
            if verb.startswith(b"EHLO"):
                writer.write(EHLO_STARTTLS)
            elif verb == b"STARTTLS":
                writer.write(b"220 2.0.0 Ready to start TLS\r\n")
                await writer.drain()
                await asyncio.sleep(0.05)  # let the ClientHello arrive, then answer nonsense
                writer.write(b"this is not a TLS handshake, sorry\r\n" * 20)
                await writer.drain()
                await _wait_eof(reader)
                return
            else:
                writer.write(b"502 no\r\n")
            await writer.drain()

    return run


def starttls_injection_handler(certs: Certs, rec: Recorder) -> Handler:
    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Agrees to STARTTLS and, in the SAME packet, sends a second reply (CVE-2011-0411)."""
        rec.connections += 1
        writer.write(b"220 hostile.example ESMTP\r\n")
        await writer.drain()
        while line := await _read_line(reader):
            verb = line.strip().upper()
            rec.commands.append(line.rstrip(b"\r\n"))
            if verb.startswith(b"EHLO"):
                writer.write(EHLO_STARTTLS)
            elif verb == b"STARTTLS":
                # one write, one segment: the 220 and an injected reply arrive together
                writer.write(
                    b"220 2.0.0 Go ahead\r\n250-INJECTED hostile.example\r\n250 AUTH PLAIN\r\n"
                )
                await writer.drain()
                await writer.start_tls(certs.server_context())  # type: ignore[attr-defined]
                await _serve_commands(reader, writer, EHLO_AFTER_TLS, rec)
                return
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                return
            else:
                writer.write(b"502 no\r\n")
            await writer.drain()

    return run


def auth_cleartext_handler(rec: Recorder) -> Handler:
    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Offers AUTH PLAIN LOGIN without TLS, and records every command it gets."""
        rec.connections += 1
        writer.write(b"220 hostile.example ESMTP\r\n")
        await writer.drain()
        await _serve_commands(
            reader,
            writer,
            b"250-hostile.example\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n",
            rec,
        )

    return run


def auth_echo_handler(certs: Certs, rec: Recorder, variant: str) -> Handler:
    """STARTTLS with a certificate the probe trusts, then a server that echoes the AUTH data
    back in every place it can: the reply to AUTH, the 221 to QUIT, and (``broken``) a line
    that is not SMTP, so the echo lands in the probe's error. ``plain`` also greets with the
    password, as a man in the middle replaying an earlier session could.

    ``plain`` and ``broken`` offer AUTH PLAIN; ``login`` offers only AUTH LOGIN and echoes each
    base64 line in its next 334 challenge."""
    import base64

    mechs = b"LOGIN" if variant == "login" else b"PLAIN LOGIN"
    after_tls = b"250-hostile.example\r\n250 AUTH " + mechs + b"\r\n"

    def decoded(blob: bytes) -> bytes:
        try:
            return base64.b64decode(blob).replace(b"\0", b" ")
        except ValueError:
            return b"?"

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        rec.connections += 1
        greeting = b"220 hostile.example ESMTP"
        sent = [c for c in rec.commands if c.upper().startswith(b"AUTH PLAIN ")]
        if variant == "plain" and sent:  # the password seen on an earlier connection
            greeting += b" hello again " + decoded(sent[0].split()[-1])
        writer.write(greeting + b"\r\n")
        await writer.drain()
        said: list[bytes] = []
        while line := await _read_line(reader):
            line = line.rstrip(b"\r\n")
            verb = line.split(b" ", 1)[0].upper()
            tls = writer.get_extra_info("ssl_object") is not None
            if verb == b"AUTH" or said:
                rec.commands.append(line)
                said.append(line)
            if verb == b"EHLO":
                writer.write(after_tls if tls else EHLO_STARTTLS)
            elif verb == b"STARTTLS":
                writer.write(b"220 2.0.0 Go ahead\r\n")
                await writer.drain()
                await writer.start_tls(certs.server_context())  # type: ignore[attr-defined]
                continue
            elif verb == b"QUIT":
                writer.write(b"221 bye, " + b" ".join(said) + b"\r\n")
                await writer.drain()
                return
            elif verb == b"AUTH" and variant == "login":
                writer.write(b"334 VXNlcm5hbWU6\r\n")
            elif said and variant == "login" and len(said) == 2:
                writer.write(b"334 " + line + b" " + decoded(line) + b"\r\n")
            elif said and variant == "login":
                writer.write(b"535-5.7.8 you said " + line + b"\r\n")
                writer.write(b"535 5.7.8 which is " + decoded(line) + b"\r\n")
            elif variant == "broken":
                blob = line.split()[-1]
                writer.write(b"what you sent: " + blob + b" = " + decoded(blob) + b"\r\n")
            else:
                blob = line.split()[-1]
                writer.write(b"535-5.7.8 you sent " + blob + b"\r\n")
                writer.write(b"535 5.7.8 that is " + decoded(blob) + b"\r\n")
            await writer.drain()

    return run


async def starttls_masked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A firewall's SMTP inspection in the path: STARTTLS in the EHLO reply overwritten with
    XXXXXXXA (same length, patched in place), and the STARTTLS command itself refused."""
    writer.write(b"220 hostile.example ESMTP\r\n")
    await writer.drain()
    await _serve_commands(
        reader,
        writer,
        b"250-hostile.example\r\n250-SIZE 10240000\r\n250-XXXXXXXA\r\n250 AUTH PLAIN LOGIN\r\n",
    )


def greeting(line: bytes) -> Handler:
    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Greets with ``line`` and (politely, as real servers do after 421/554) waits for QUIT."""
        writer.write(line)
        await writer.drain()
        await _serve_commands(reader, writer, b"503 5.5.1 go away\r\n")

    return run


async def invalid_utf8_nul(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Invalid UTF-8, NUL bytes and a lone CR in the greeting and the EHLO reply."""
    writer.write(b"220 h\xc3\x28stile\x00\x00.example \xff\xfe ESMTP\rready\r\n")
    await writer.drain()
    await _serve_commands(
        reader, writer, b"250-hostile\x00.example\r\n250-SIZE \xff\xff\r\n250 8BITMIME\xc0\r\n"
    )


async def terminal_escapes(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """ANSI escapes, an 8-bit CSI (U+009B), a bell and a right-to-left override in the text."""
    writer.write(b"220 \x1b[2J\x1b[31mhostile\x1b[0m \xc2\x9b31m \x07 \xe2\x80\xaeLIAM-E ESMTP\r\n")
    await writer.drain()
    await _serve_commands(reader, writer, b"250-hostile.example\r\n250 \x1b]0;owned\x07HELP\r\n")


async def mismatched_multiline(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """An EHLO reply whose lines change code half-way (250-, 251-, 250 )."""
    writer.write(b"220 hostile.example ESMTP\r\n")
    await writer.drain()
    await _serve_commands(
        reader, writer, b"250-hostile.example\r\n251-SIZE 1000\r\n250 STARTTLS\r\n"
    )


async def mismatched_greeting(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A multi-line greeting that starts as 220 and ends as 554."""
    writer.write(b"220-hostile.example welcome\r\n554 no service for you\r\n")
    await writer.drain()
    await _wait_eof(reader)


async def tcp_reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accepts, then resets the connection at once (SO_LINGER 0 and close: a TCP RST)."""
    sock = writer.transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def reply_flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The greeting, then 100 replies nobody asked for, all at once."""
    writer.write(b"220 hostile.example ESMTP\r\n" + b"250 unasked-for\r\n" * 100)
    await writer.drain()
    await _serve_commands(reader, writer, b"250 hostile.example\r\n")


async def silent_after_greeting(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Greets, then never answers the EHLO."""
    writer.write(b"220 hostile.example ESMTP\r\n")
    await writer.drain()
    await _wait_eof(reader)


async def long_line_after_greeting(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Greets, then answers EHLO with a single 1 MB line."""
    writer.write(b"220 hostile.example ESMTP\r\n")
    await writer.drain()
    if await _read_line(reader):
        writer.write(b"250 " + b"B" * 1_000_000 + b"\r\n")
        await asyncio.wait_for(writer.drain(), MAX_SERVER_SECONDS)
        await _wait_eof(reader)


# --- the catalogue ----------------------------------------------------------------------------

BEHAVIOURS: dict[str, Behaviour] = {
    b.name: b
    for b in [
        Behaviour(
            "never_ending_line",
            "220 then 16 MB without a line end",
            "not_smtp",
            "no complete reply ever comes; after 4 KiB the line is over MAX_LINE, so what "
            "answered is not speaking SMTP",
        ),
        Behaviour(
            "ehlo_flood",
            "a 200,000-line EHLO reply",
            "open",
            "the 220 greeting came (open); the reply breaks MAX_REPLY_LINES (1,000), so the "
            "result carries an error and a protocol_problem finding",
            "protocol_problem",
            True,
        ),
        Behaviour(
            "trickle",
            "a real greeting, one byte every 0.5 s",
            "silent",
            "a tarpit: the start of an SMTP greeting arrived but no whole greeting in time; "
            "DESIGN's `silent` (no greeting in time: tarpit), not `not_smtp`",
        ),
        Behaviour("binary_garbage", "3,000 random bytes", "not_smtp", "something else answered"),
        Behaviour(
            "http_banner",
            "an HTTP/1.1 400 response",
            "not_smtp",
            "an HTTP server answered; the error names HTTP",
        ),
        Behaviour(
            "ssh_banner",
            "SSH-2.0-OpenSSH…",
            "not_smtp",
            "an SSH server answered; the error names SSH",
        ),
        Behaviour(
            "close_after_greeting",
            "220, then FIN before EHLO",
            "reset",
            "the connection was lost mid-conversation (after an SMTP greeting)",
        ),
        Behaviour(
            "bad_reply_code",
            "greeting `22 …` (two digits)",
            "not_smtp",
            "a reply line must start with three digits",
        ),
        Behaviour(
            "starttls_garbage",
            "STARTTLS → 220, then text instead of TLS",
            "tls_failed",
            "the handshake itself failed; this is not a wrong-TLS-mode mix-up (we were already "
            "doing STARTTLS), so no wrong_tls_mode finding",
            "tls_failed",
        ),
        Behaviour(
            "starttls_injection",
            "STARTTLS 220 and another reply in the same packet, then real TLS",
            "open",
            "the server works after TLS; the injected reply is discarded and reported",
            "starttls_injection",
        ),
        Behaviour(
            "auth_cleartext",
            "AUTH PLAIN LOGIN offered without TLS",
            "open",
            "a working server with a dangerous offer: finding auth_before_tls; the probe sends "
            "no AUTH",
            "auth_before_tls",
        ),
        Behaviour(
            "starttls_masked",
            "STARTTLS overwritten with XXXXXXXA in the EHLO reply, as firewall SMTP inspection "
            "does",
            "open",
            "a working server behind a middlebox that strips STARTTLS: finding starttls_masked",
            "starttls_masked",
        ),
        Behaviour(
            "auth_echo_plain",
            "a server that echoes AUTH PLAIN's payload and password back (and greets with it)",
            "open",
            "a working server; probed with credentials (test_hostile), every echo is redacted",
        ),
        Behaviour(
            "auth_echo_login",
            "a server that echoes AUTH LOGIN's base64 user and password in its challenges",
            "open",
            "a working server; probed with credentials, every echo is redacted",
        ),
        Behaviour(
            "auth_echo_broken",
            "a server that answers AUTH with a non-SMTP line echoing the payload",
            "open",
            "a working server; probed with credentials, the echo lands in the error, redacted",
        ),
        Behaviour(
            "greeting_421",
            "greeting 421",
            "rejected",
            "the server refuses this client",
            "greeting_refused",
        ),
        Behaviour(
            "greeting_554",
            "greeting 554",
            "rejected",
            "the server refuses this client",
            "greeting_refused",
        ),
        Behaviour(
            "invalid_utf8_nul",
            "invalid UTF-8, NULs and a lone CR in greeting and EHLO",
            "open",
            "the syntax is valid SMTP; the odd bytes are shown escaped",
        ),
        Behaviour(
            "terminal_escapes",
            "ANSI/OSC escapes, 8-bit CSI, BEL, RTL override",
            "open",
            "valid SMTP; every control character is shown escaped, none reaches a terminal",
        ),
        Behaviour(
            "mismatched_multiline",
            "EHLO reply 250-/251-/250",
            "open",
            "the greeting came; the EHLO reply breaks SMTP: error + protocol_problem",
            "protocol_problem",
            True,
        ),
        Behaviour(
            "mismatched_greeting",
            "greeting 220-… then 554",
            "not_smtp",
            "the greeting itself is not a valid reply, so it is not an SMTP greeting",
        ),
        Behaviour(
            "tcp_reset",
            "accept, then RST at once (SO_LINGER 0)",
            "reset",
            "the TCP connection was established, then lost (a closed port would be `refused`)",
        ),
        Behaviour(
            "expired_implicit_tls",
            "implicit TLS, expired certificate, on a port that is not 465",
            "open",
            "auto mode finds implicit TLS after a silent cleartext try; encrypted but not "
            "authenticated: cert_verified False, the error says expired",
            "implicit_tls_detected",
        ),
        Behaviour(
            "reply_flood",
            "the greeting and 100 unasked-for replies at once",
            "open",
            "the greeting came; replies nobody asked for put the conversation out of step: "
            "error + protocol_problem, and no unasked-for reply is taken as an answer",
            "protocol_problem",
            True,
        ),
        Behaviour(
            "silent_after_greeting",
            "220, then no answer to EHLO",
            "open",
            "the greeting came; the EHLO reply did not: error",
            None,
            True,
        ),
        Behaviour(
            "long_line_after_greeting",
            "EHLO answered with one 1 MB line",
            "open",
            "the greeting came; the reply line breaks MAX_LINE: error + protocol_problem",
            "protocol_problem",
            True,
        ),
    ]
}


@dataclass
class Started:
    """The running hostile servers: port by behaviour name, and what some of them recorded."""

    ports: dict[str, int]
    recorders: dict[str, Recorder]


def start_all(servers: ServerThread, certs: Certs) -> Started:
    """Start one server per behaviour on the shared server thread; returns their ports."""
    rec = {
        name: Recorder()
        for name in (
            "starttls_injection",
            "auth_cleartext",
            "auth_echo_plain",
            "auth_echo_login",
            "auth_echo_broken",
        )
    }
    handlers: dict[str, Handler] = {
        "never_ending_line": never_ending_line,
        "ehlo_flood": ehlo_flood,
        "trickle": trickle,
        "binary_garbage": binary_garbage,
        "http_banner": http_banner,
        "ssh_banner": ssh_banner,
        "close_after_greeting": close_after_greeting,
        "bad_reply_code": bad_reply_code,
        "starttls_garbage": starttls_garbage_handler(),
        "starttls_injection": starttls_injection_handler(certs, rec["starttls_injection"]),
        "auth_cleartext": auth_cleartext_handler(rec["auth_cleartext"]),
        "starttls_masked": starttls_masked,
        "auth_echo_plain": auth_echo_handler(certs, rec["auth_echo_plain"], "plain"),
        "auth_echo_login": auth_echo_handler(certs, rec["auth_echo_login"], "login"),
        "auth_echo_broken": auth_echo_handler(certs, rec["auth_echo_broken"], "broken"),
        "greeting_421": greeting(b"421 4.7.0 hostile.example too many connections, try later\r\n"),
        "greeting_554": greeting(b"554 5.7.1 hostile.example: no SMTP service here for you\r\n"),
        "invalid_utf8_nul": invalid_utf8_nul,
        "terminal_escapes": terminal_escapes,
        "mismatched_multiline": mismatched_multiline,
        "mismatched_greeting": mismatched_greeting,
        "tcp_reset": tcp_reset,
        "reply_flood": reply_flood,
        "silent_after_greeting": silent_after_greeting,
        "long_line_after_greeting": long_line_after_greeting,
    }
    ports = {name: servers.raw(h) for name, h in handlers.items()}
    ports["expired_implicit_tls"] = servers.smtp(ssl_ctx=certs.expired_context(), implicit=True)
    missing = set(BEHAVIOURS) ^ set(ports)
    assert not missing, f"behaviours without a server (or servers without a row): {missing}"
    return Started(ports=ports, recorders=rec)


def has_stream_start_tls() -> bool:
    """``StreamWriter.start_tls`` (Python 3.11+) is what the injection server needs."""
    return hasattr(asyncio.StreamWriter, "start_tls")
