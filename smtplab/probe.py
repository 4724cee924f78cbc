"""The probe engine: connect to a mail server on a port and report what happened.

The engine is the only part of smtplab that touches the network. It drives the sans-IO core of
:mod:`smtplab.protocol` over asyncio, and whatever the network or the server does, it returns a
:class:`ProbeResult` — it never raises for the peer's behaviour and never runs past its deadline.
Only misuse of the API (a port of 70000, a host with a newline in it) raises
:class:`ProbeInputError`, before anything is sent.

>>> r = probe("smtp.lab.example", 587, lab=lab)          # doctest: +SKIP
>>> r.outcome, r.tls_mode, r.auth_before_tls, r.auth_after_tls   # doctest: +SKIP
('open', 'starttls', [], ['PLAIN', 'LOGIN'])
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import functools
import ipaddress
import math
import re
import socket
import ssl
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from typing import Any, Final

from smtplab import schema
from smtplab.errors import SmtplabError
from smtplab.findings import Finding, analyze, guess_role, top_finding
from smtplab.protocol import (
    MAX_COMMAND,
    CommandError,
    ProtocolError,
    Redactor,
    Reply,
    ReplyParser,
    TranscriptLine,
    build_command,
    parse_ehlo,
    secret_forms,
    validate_ehlo_name,
)
from smtplab.tls import (
    cert_facts,
    cert_facts_from_dict,
    client_context,
    describe_handshake_error,
    describe_verify_error,
)

__all__ = [
    "DEFAULT_PORTS",
    "DEFAULT_TIMEOUT",
    "ProbeInputError",
    "ProbeOptions",
    "ProbeResult",
    "aprobe",
    "aprobe_many",
    "make_options",
    "probe",
    "probe_many",
]

DEFAULT_PORTS: Final = (25, 465, 587, 2525)

#: Seconds allowed for each phase (connect, greeting, one reply, a TLS handshake). RFC 5321
#: §4.5.3.2 lets a patient client wait minutes; a probe that teaches wants an answer while the
#: learner is still looking, and 8 s is well above a healthy server's round trip anywhere.
DEFAULT_TIMEOUT: Final = 8.0

#: A transcript keeps at most this many lines (a 1,000-line EHLO reply, twice, and the rest);
#: beyond it one event says how many were left out, so memory stays bounded.
MAX_TRANSCRIPT_LINES: Final = 2500

#: Replies received and not yet read: an honest server sends one reply per command (a few with
#: PIPELINING); more than this unasked-for is a flood, and we stop reading.
MAX_QUEUED_REPLIES: Final = 32

#: Where the relay check sends its test recipient: a domain reserved by RFC 2606, so even an
#: open relay could never deliver (and we never send DATA anyway).
RELAY_CHECK_RCPT: Final = "smtplab-relay-check@example.net"


class ProbeInputError(SmtplabError, ValueError):
    """A probe was asked for something impossible (bad host, port, mode). Nothing was sent."""


# --- the result -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProbeResult:
    """Everything one probe saw, with every field of the record schema (see DESIGN.md)."""

    schema_version: int
    probe_id: str
    started_at: str
    vantage: str
    source: str
    host: str
    address: str | None
    port: int
    mode: str
    tls_mode: str
    outcome: str
    role: str
    connect_ms: float | None
    banner_ms: float | None
    ehlo_ms: float | None
    tls_ms: float | None
    total_ms: float | None
    banner_code: int | None
    banner: str | None
    esmtp: bool | None
    extensions: tuple[str, ...]
    size_limit: int | None
    starttls_offered: bool | None
    auth_before_tls: tuple[str, ...] | None
    auth_after_tls: tuple[str, ...] | None
    tls_version: str | None
    tls_cipher: str | None
    cert_subject: str | None
    cert_issuer: str | None
    cert_not_after: str | None
    cert_san: tuple[str, ...]
    cert_verified: bool | None
    cert_error: str | None
    relay_check: str
    findings: tuple[Finding, ...]
    error: str | None
    transcript: tuple[TranscriptLine, ...]

    def to_record(self) -> dict[str, Any]:
        """A plain dict in the record schema (JSON-ready: lists, not tuples)."""
        rec: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("findings", "transcript"):
                value = [x.to_dict() for x in value]
            elif isinstance(value, tuple):
                value = list(value)
            rec[f.name] = value
        return rec

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> ProbeResult:
        """Rebuild a result from a record (missing fields take their empty value)."""
        full = schema.empty_record(**{k: v for k, v in rec.items() if k in schema.FIELDS})
        kw: dict[str, Any] = {}
        for name in schema.FIELD_NAMES:
            value = full[name]
            if hasattr(value, "tolist") and not isinstance(value, str):
                value = value.tolist()
            if name == "findings":
                value = tuple(Finding.from_dict(x) for x in (value or ()))
            elif name == "transcript":
                value = tuple(
                    TranscriptLine(float(x["t"]), str(x["dir"]), str(x["text"]))
                    for x in (value or ())
                )
            elif isinstance(value, list):
                value = tuple(value)
            elif name in ("extensions", "cert_san") and value is None:
                value = ()
            elif hasattr(value, "isoformat"):
                value = value.isoformat()
            elif isinstance(value, float) and math.isnan(value):
                value = None
            kw[name] = value
        return cls(**kw)

    @property
    def top_finding(self) -> Finding | None:
        """The most severe finding, if any."""
        return top_finding(self.findings)

    @property
    def tls(self) -> str:
        """TLS in a few words: ``TLSv1.3 (STARTTLS)``, ``TLSv1.3 (implicit)`` or ``none``."""
        if self.tls_mode == "none" or not self.tls_version:
            return "none"
        return f"{self.tls_version} ({'STARTTLS' if self.tls_mode == 'starttls' else 'implicit'})"

    def summary(self) -> str:
        """One line: where, outcome, TLS, AUTH, time and the top finding."""
        auth = (
            "AUTH " + "/".join(self.auth_after_tls or self.auth_before_tls or ())
            if (self.auth_after_tls or self.auth_before_tls)
            else "no AUTH"
        )
        ms = f"{self.total_ms:.0f} ms" if self.total_ms is not None else "-"
        top = self.top_finding
        return f"{self.host}:{self.port} {self.outcome} · TLS {self.tls} · {auth} · {ms}" + (
            f" · {top.message}" if top else ""
        )

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        import html

        rows = "".join(
            f"<li><b>{html.escape(f.severity)}</b> {html.escape(f.message)}</li>"
            for f in self.findings
        )
        return (
            f"<div><b>{html.escape(self.host)}:{self.port}</b> → <b>{html.escape(self.outcome)}</b>"
            f" — {html.escape(schema.OUTCOME_MEANING.get(self.outcome, ''))}<br>"
            f"TLS: {html.escape(self.tls)} · AUTH before TLS: "
            f"{html.escape(' '.join(self.auth_before_tls or ()) or '—')} · AUTH after TLS: "
            f"{html.escape(' '.join(self.auth_after_tls or ()) or '—')} · "
            f"{'' if self.total_ms is None else f'{self.total_ms:.0f} ms'}<ul>{rows}</ul></div>"
        )


# --- input checks -----------------------------------------------------------------------------


def _check_host(host: object) -> str:
    if not isinstance(host, str):
        raise ProbeInputError(f"host must be a string, not {type(host).__name__}")
    h = host.strip()
    if not h:
        raise ProbeInputError("host is empty: give a name such as smtp.example.org or an address")
    if any(c in h for c in "\r\n\t\x00") or any(ord(c) < 32 or ord(c) == 127 for c in h):
        raise ProbeInputError(f"host {host!r} contains control characters")
    if " " in h:
        raise ProbeInputError(f"host {host!r} contains spaces")
    if h.startswith("[") and h.endswith("]"):
        h = h[1:-1]
    try:
        return str(ipaddress.ip_address(h))
    except ValueError:
        pass
    _refuse_ambiguous_number(host, h)
    if len(h) > 253:
        raise ProbeInputError(f"host name is {len(h)} characters long; DNS allows at most 253")
    try:
        ascii_host = h.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ProbeInputError(f"host {host!r} is not a valid domain name ({exc})") from None
    labels = ascii_host.rstrip(".").split(".")
    for label in labels:
        if not label or len(label) > 63 or label.startswith("-") or label.endswith("-"):
            raise ProbeInputError(f"host {host!r} is not a valid domain name")
        if not all(c.isalnum() or c in "-_" for c in label):
            raise ProbeInputError(f"host {host!r} contains characters a host name cannot have")
    return h.rstrip(".") if h != "." else h


#: A label the C resolver reads as a number (inet_aton): decimal, octal with a leading 0, or hex.
_NUMERIC_LABEL = re.compile(r"^(?:0[xX][0-9a-fA-F]*|[0-9]+)$")


def _refuse_ambiguous_number(given: str, h: str) -> None:
    """``127.0.0.010``, ``0x7f.1``, ``127.1``, ``2130706433``: not a name (a top-level label is
    never all digits) and not a dotted-decimal address, but inet_aton reads them as one, octal
    and hex included (``127.0.0.010`` is 127.0.0.8). Tools disagree on them, so refuse."""
    labels = h.rstrip(".").split(".")
    if not _NUMERIC_LABEL.match(labels[-1]):
        return
    try:
        address = socket.inet_ntoa(socket.inet_aton(h))
        meant = f" (the C library would connect to {address})"
    except OSError:
        address, meant = "192.0.2.8", ""
    raise ProbeInputError(
        f"host {given!r} is an ambiguous numeric address{meant}: write an IPv4 address as four "
        f"decimal numbers without leading zeros, such as {address}"
    )


def _check_port(port: object) -> int:
    if isinstance(port, bool):
        raise ProbeInputError("port must be a number from 1 to 65535")
    if isinstance(port, str) and port.strip().isdigit():
        port = int(port.strip())
    if not isinstance(port, int):
        raise ProbeInputError(f"port must be a number from 1 to 65535, not {port!r}")
    if not 1 <= port <= 65535:
        raise ProbeInputError(f"port {port} is out of range: ports run from 1 to 65535")
    return port


#: The shortest timeout a probe accepts: below it not even loopback connects and greets, so an
#: open port would look filtered (``--timeout 1e-300``). A wrong answer is worse than a refusal.
MIN_TIMEOUT: Final = 0.05


def _check_timeout(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProbeInputError(f"{name} must be a number of seconds")
    if not (MIN_TIMEOUT <= float(value) <= 600) or math.isnan(float(value)):
        raise ProbeInputError(
            f"{name} must be between {MIN_TIMEOUT:g} and 600 seconds, not {value:g}: a shorter "
            "wait cannot tell an open port from a filtered one"
        )
    return float(value)


@dataclass(frozen=True)
class ProbeOptions:
    """Everything one probe needs, checked once: build it with :meth:`create` (the CLI, probe,
    aprobe and probe_many all do), then hand it to :func:`probe` or :func:`aprobe` as is.

    >>> opts = ProbeOptions.create("smtp.lab.example", 587, lab=lab, timeout=2)  # doctest: +SKIP
    >>> smtplab.probe(opts)                                                      # doctest: +SKIP
    """

    host: str
    port: int
    mode: str = "auto"
    timeout: float = DEFAULT_TIMEOUT
    deadline: float = 3 * DEFAULT_TIMEOUT + 2
    ehlo_name: str | None = None
    verify: bool = True
    cadata: str | None = field(default=None, repr=False)
    cafile: str | None = None
    relay_check: bool = False
    tls_required_check: bool = False
    vantage: str = "unspecified"
    source: str = "live"
    connect_to: tuple[str, int] | None = None  # lab: the loopback socket serving host:port
    lab_error: str | None = None
    # (user, password) for the optional AUTH check; kept out of repr so it never reaches a log
    auth: tuple[str, str] | None = field(default=None, repr=False)
    allow_cleartext_auth: bool = False

    @functools.cached_property
    def literal(self) -> bool:
        """The host is an IP address literal (parsed once): no SNI is sent for it."""
        return _is_ip(self.host)

    @functools.cached_property
    def loopback(self) -> bool:
        """The host is this machine, where no politeness limit is needed."""
        return _is_loopback(self.host)

    @classmethod
    def create(
        cls,
        host: object,
        port: object = 587,
        *,
        mode: str = "auto",
        timeout: object = DEFAULT_TIMEOUT,
        deadline: object | None = None,
        ehlo_name: str | None = None,
        lab: Any = None,
        vantage: str | None = None,
        verify: bool = True,
        cafile: str | None = None,
        relay_check: bool = False,
        auth: object = None,
        allow_cleartext_auth: bool = False,
        tls_required_check: bool = False,
    ) -> ProbeOptions:
        """Check every input once; raises :class:`ProbeInputError` (nothing is sent) if one is
        impossible. The arguments are those of :func:`probe`."""
        return _options(
            host,
            port,
            mode=mode,
            timeout=timeout,
            deadline=deadline,
            ehlo_name=ehlo_name,
            lab=lab,
            vantage=vantage,
            verify=verify,
            cafile=cafile,
            relay_check=relay_check,
            auth=auth,
            allow_cleartext_auth=allow_cleartext_auth,
            tls_required_check=tls_required_check,
        )


#: The function form of :meth:`ProbeOptions.create`.
make_options = ProbeOptions.create
_Options = ProbeOptions


def _check_auth(auth: object) -> tuple[str, str] | None:
    if auth is None:
        return None
    if (
        not isinstance(auth, (tuple, list))
        or len(auth) != 2
        or not all(isinstance(x, str) and x for x in auth)
    ):
        raise ProbeInputError("auth must be a (user, password) pair of non-empty strings")
    if any(ord(c) < 32 or ord(c) == 127 for c in auth[0] + auth[1]):
        raise ProbeInputError("the user name or password contains control characters")
    _check_auth_length(auth[0], auth[1])
    return (auth[0], auth[1])


def _check_auth_length(user: str, password: str) -> None:
    """The AUTH lines must fit SMTP's 512-octet command line (RFC 5321 §4.5.3.1.4), or the
    login would end in a local error after the connection is made: say so before."""
    import base64

    def b64len(text: str) -> int:
        return len(base64.b64encode(text.encode("utf-8")))

    plain = len("AUTH PLAIN \r\n") + b64len(f"\0{user}\0{password}")
    login = 2 + max(b64len(user), b64len(password))
    if max(plain, login) > MAX_COMMAND:
        raise ProbeInputError(
            f"the user name and password are too long: AUTH PLAIN would be a {plain}-octet "
            f"command, and SMTP allows {MAX_COMMAND} (RFC 5321 §4.5.3.1.4); together they must "
            f"stay under about {(MAX_COMMAND - 14) * 3 // 4 - 2} characters"
        )


def _options(
    host: object,
    port: object,
    *,
    mode: str,
    timeout: object,
    deadline: object | None,
    ehlo_name: str | None,
    lab: Any,
    vantage: str | None,
    verify: bool,
    cafile: str | None,
    relay_check: bool,
    auth: object = None,
    allow_cleartext_auth: bool = False,
    tls_required_check: bool = False,
) -> _Options:
    h = _check_host(host)
    p = _check_port(port)
    if mode not in schema.MODES:
        raise ProbeInputError(f"mode must be one of {', '.join(schema.MODES)}, not {mode!r}")
    t = _check_timeout(timeout, "timeout")
    d = _check_timeout(deadline, "deadline") if deadline is not None else min(600.0, 3 * t + 2)
    if ehlo_name is not None:
        try:
            ehlo_name = validate_ehlo_name(ehlo_name)
        except CommandError as exc:
            raise ProbeInputError(str(exc)) from None
    connect_to = None
    lab_error = None
    cadata = None
    source = "live"
    if lab is not None:
        if not getattr(lab, "running", False):
            raise ProbeInputError(
                "the lab is not running: call lab.start() or use `with Lab() as lab`"
            )
        try:
            connect_to = tuple(lab.address(h, p))  # type: ignore[assignment]
        except LookupError as exc:
            lab_error = str(exc.args[0] if exc.args else exc)
        cadata = lab.ca_pem
        source = "lab"
        vantage = vantage or lab.vantage
    credentials = _check_auth(auth)
    if allow_cleartext_auth:
        profile = None
        if lab is not None and connect_to is not None:
            profile = getattr(lab.endpoint(h, p), "profile", None)
        if profile != "legacy":
            raise ProbeInputError(
                "cleartext AUTH is allowed only against the lab's legacy profile "
                "(legacy.lab.example): a password sent without TLS can be read by anyone on the way"
            )
    return ProbeOptions(
        host=h,
        port=p,
        mode=mode,
        timeout=t,
        deadline=d,
        ehlo_name=ehlo_name,
        verify=verify,
        cadata=cadata,
        cafile=cafile,
        relay_check=bool(relay_check),
        tls_required_check=bool(tls_required_check),
        vantage=vantage or "unspecified",
        source=source,
        connect_to=connect_to,
        lab_error=lab_error,
        auth=credentials,
        allow_cleartext_auth=bool(allow_cleartext_auth),
    )


# --- the probe's running state ----------------------------------------------------------------


class _Stop(Exception):
    """Ends the conversation with an outcome."""

    def __init__(self, outcome: str, error: str | None = None) -> None:
        super().__init__(error or outcome)
        self.outcome = outcome
        self.error = error


class _Silent(_Stop):
    def __init__(self, error: str) -> None:
        super().__init__("silent", error)


class _CertRejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _CleartextOnTLSPort(_Stop):
    def __init__(self, error: str) -> None:
        super().__init__("tls_failed", error)


@dataclass
class _State:
    opts: _Options
    t0: float = field(default_factory=time.monotonic)
    started_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat())
    transcript: list[TranscriptLine] = field(default_factory=list)
    dropped_lines: int = 0
    redactor: Redactor = field(default_factory=Redactor)
    extra: list[Finding] = field(default_factory=list)
    phase: str = "connect"
    bytes_in_phase: int = 0
    values: dict[str, Any] = field(default_factory=dict)
    #: why a certificate was rejected on an earlier connection (kept across reconnects and past a
    #: deadline: what was learnt stays in the record)
    cert_rejected: str | None = None
    #: a TCP connection was established at some point (so the port is not ``filtered``)
    connected: bool = False
    #: what the previous connection found, kept when a retry starts (restored if a deadline
    #: passes before the retry learnt as much)
    previous: dict[str, Any] = field(default_factory=dict)

    def now_ms(self) -> float:
        return (time.monotonic() - self.t0) * 1000.0

    def _add(self, direction: str, text: str) -> None:
        if len(self.transcript) >= MAX_TRANSCRIPT_LINES:
            self.dropped_lines += 1
            return
        text = self.redactor.scrub(text)
        self.transcript.append(TranscriptLine(round(self.now_ms(), 3), direction, text))

    def client(self, text: str) -> str:
        """Record a line we sent (AUTH secrets redacted); returns what was recorded."""
        shown = self.redactor.client(text)
        self._add("client", shown)
        return shown

    def server(self, text: str) -> None:
        self._add("server", text)

    def event(self, text: str) -> None:
        self._add("event", text)

    def set(self, **kw: Any) -> None:
        self.values.update(kw)

    def reset_session(self) -> None:
        """Forget what one connection found (before a retry on a new connection)."""
        keep = {k: self.values[k] for k in ("address",) if k in self.values}
        if self.values.get("outcome") == "open" or not self.previous:
            self.previous = self.values
        self.values = keep


# --- the live wire ----------------------------------------------------------------------------


class _WireProtocol(asyncio.Protocol):
    """Bytes from the socket go straight into the reply parser; replies queue up, bounded."""

    def __init__(self, state: _State) -> None:
        self.state = state
        self.transport: asyncio.BaseTransport | None = None
        self.replies: deque[Reply] = deque()
        self.error: ProtocolError | None = None
        self.closed = False
        self.close_exc: BaseException | None = None
        self.received = 0
        self._waiter: asyncio.Future[None] | None = None
        self.parser = self._new_parser()

    def _new_parser(self) -> ReplyParser:
        return ReplyParser(on_line=self._line)

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


class _LiveWire:
    """One TCP connection, optionally upgraded to TLS."""

    def __init__(self, state: _State) -> None:
        self.state = state
        self.proto = _WireProtocol(state)
        self.transport: asyncio.Transport | None = None
        self.ssl_object: ssl.SSLObject | None = None

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
        # Nothing read before TLS may be trusted after it (RFC 3207 §5): start a fresh parser.
        self.proto.parser = self.proto._new_parser()
        self.proto.replies.clear()
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

    def tls_facts(self) -> tuple[str | None, str | None, Any]:
        """TLS version, cipher and certificate facts of the session."""
        sslobj = self.ssl_object
        if sslobj is None:
            return None, None, None
        version = sslobj.version()
        cipher_info = sslobj.cipher()
        cipher = cipher_info[0] if cipher_info else None
        # A verified session hands over the decoded certificate; only an unverified one needs
        # the DER parsed (with cryptography, imported then and not before).
        facts = cert_facts_from_dict(sslobj.getpeercert()) or cert_facts(  # type: ignore[arg-type]
            sslobj.getpeercert(binary_form=True)
        )
        return version, cipher, facts

    def local_name(self) -> str:
        """An honest EHLO name: our own address as an RFC 5321 address literal."""
        return _local_literal(self)

    def leftover(self) -> int:
        """Bytes or replies received but not asked for (a STARTTLS injection shows here)."""
        return len(self.proto.replies) + self.proto.parser.buffered

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

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()


# --- the conversation -------------------------------------------------------------------------


def _ms(start: float) -> float:
    return round((time.monotonic() - start) * 1000.0, 3)


def _classify_connect_error(exc: BaseException) -> tuple[str, str]:
    recorded = getattr(exc, "recorded_outcome", None)  # a replay tells it as it was recorded
    if recorded is not None:
        return str(recorded), str(exc)
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return "filtered", "connect timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "refused", "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "reset", "connection reset"
    if isinstance(exc, OSError) and exc.errno in (
        errno.ENETUNREACH,
        errno.EHOSTUNREACH,
        errno.EADDRNOTAVAIL,
        errno.ENETDOWN,
        errno.EHOSTDOWN,
        errno.EAFNOSUPPORT,
    ):
        return "unreachable", exc.strerror or str(exc)
    return "error", f"{type(exc).__name__}: {exc}"


class _Conversation:
    """What the probe says and when, over any wire: the live one, or a replayed recording."""

    def __init__(self, st: _State, make_wire: Callable[[_State], Any] | None = None) -> None:
        self.st = st
        self.o = st.opts
        self.make_wire = make_wire or _LiveWire
        self.wire: Any = None

    async def resolve(self) -> tuple[str, int]:
        o, st = self.o, self.st
        if hasattr(self.make_wire, "resolve"):  # a replay answers from the recording
            return await self.make_wire.resolve(self)
        if o.lab_error is not None:
            st.event(f"lab: {o.lab_error}")
            raise _Stop("dns_failed", o.lab_error)
        if o.connect_to is not None:
            st.set(address=o.connect_to[0])
            return o.connect_to
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(o.host, o.port, type=socket.SOCK_STREAM), o.timeout
            )
        except (socket.gaierror, UnicodeError) as exc:
            st.event(f"name lookup failed: {exc}")
            raise _Stop("dns_failed", f"{o.host} could not be resolved: {exc}") from None
        except asyncio.TimeoutError:
            st.event("name lookup timed out")
            raise _Stop("dns_failed", f"looking up {o.host} timed out") from None
        except OSError as exc:
            raise _Stop("dns_failed", str(exc)) from None
        if not infos:
            raise _Stop("dns_failed", f"{o.host} has no address")
        address = str(infos[0][4][0])
        st.set(address=address)
        return address, o.port

    async def send(self, verb: str, arg: str | None = None) -> None:
        assert self.wire is not None
        queued = getattr(getattr(self.wire, "proto", None), "replies", None)
        if queued:  # the probe never pipelines: a reply waiting now answers nothing we sent
            n = len(queued)
            self.st.event(f"the server sent {n} reply(ies) nobody asked for before {verb}")
            raise _Stop(
                "open" if self.st.values.get("outcome") == "open" else "error",
                f"the server sent {n} reply(ies) nobody asked for: the conversation is out of step",
            )
        data = build_command(verb, arg)
        shown = self.st.client(data.decode("utf-8", "replace").rstrip("\r\n"))
        try:
            self.wire.send(data)
        except (ConnectionError, OSError) as exc:
            what = shown.split(" ", 1)[0]  # the redacted form: never a secret in an error
            self.st.event(f"connection lost while sending {what}: {exc}")
            raise _Stop("reset", f"connection lost while sending {what}: {exc}") from None

    async def reply(self, what: str, timeout: float | None = None) -> Reply:
        assert self.wire is not None
        st = self.st
        try:
            return await self.wire.read_reply(self.o.timeout if timeout is None else timeout)
        except asyncio.TimeoutError:
            st.event(f"no reply to {what} within {self.o.timeout:g} s")
            raise _Stop("open", f"no reply to {what} within {self.o.timeout:g} s") from None
        except ProtocolError as exc:
            st.event(f"protocol error: {exc}")
            raise _Stop("open", f"the server broke SMTP after {what}: {exc}") from None
        except (ConnectionError, OSError) as exc:
            st.event(str(exc))
            raise _Stop("reset", f"{exc} (waiting for the reply to {what})") from None

    async def tls_handshake(self, verify: bool, server_hostname: str | None) -> None:
        o, st = self.o, self.st
        assert self.wire is not None
        ctx = client_context(verify=verify, cadata=o.cadata, cafile=o.cafile)
        t = time.monotonic()
        st.phase = "tls"
        st.event(f"TLS handshake ({'verifying the certificate' if verify else 'not verifying'})")
        try:
            await self.wire.start_tls(ctx, server_hostname, o.timeout)
        except ssl.SSLCertVerificationError as exc:
            reason = describe_verify_error(exc)
            st.event(f"certificate rejected: {reason}")
            st.cert_rejected = reason
            raise _CertRejected(reason) from None
        except ssl.SSLError as exc:
            msg = describe_handshake_error(exc)
            cleartext = (
                "WRONG_VERSION_NUMBER" in str(exc) or "record layer failure" in str(exc).lower()
            )
            if cleartext and st.values.get("tls_mode") != "implicit":
                # After STARTTLS's 220 this is no implicit/STARTTLS mix-up: the server agreed to
                # TLS and then did not speak it.
                msg = f"{exc} — the server agreed to STARTTLS, then answered in cleartext, not TLS"
            st.event(f"TLS handshake failed: {msg}")
            if cleartext and st.values.get("tls_mode") == "implicit":
                raise _CleartextOnTLSPort(msg) from None
            raise _Stop("tls_failed", msg) from None
        except (asyncio.TimeoutError, TimeoutError):
            st.event(f"TLS handshake timed out after {o.timeout:g} s")
            if st.bytes_in_phase == 0 and st.values.get("tls_mode") == "implicit":
                raise _Silent(f"no TLS handshake reply within {o.timeout:g} s") from None
            raise _Stop("tls_failed", f"TLS handshake timed out after {o.timeout:g} s") from None
        except (ConnectionError, OSError, EOFError) as exc:
            st.event(f"connection lost during the TLS handshake: {exc}")
            raise _Stop("tls_failed", f"connection lost during the TLS handshake: {exc}") from None
        st.set(tls_ms=_ms(t))
        version, cipher, facts = self.wire.tls_facts()
        st.set(tls_version=version, tls_cipher=cipher)
        if facts is not None:
            st.set(
                cert_subject=facts.subject,
                cert_issuer=facts.issuer,
                cert_not_after=facts.not_after,
                cert_san=list(facts.san),
            )
        if verify:
            st.set(cert_verified=True, cert_error=None)
        st.event(f"TLS established: {version} {cipher}")

    async def session(self, implicit: bool, verify: bool) -> None:
        """One connection: connect, [TLS], greeting, EHLO, [STARTTLS, EHLO], [relay check], QUIT."""
        o, st = self.o, self.st
        st.reset_session()
        address, port = await self.resolve()
        sni = None if o.literal else o.host
        st.set(tls_mode="implicit" if implicit else "none")
        self.wire = self.make_wire(st)
        st.phase = "connect"
        st.event(
            f"connecting to {address} port {port}"
            + (f" (lab socket for {o.host}:{o.port})" if o.connect_to else "")
        )
        t = time.monotonic()
        try:
            await self.wire.connect(address, port, o.timeout)
        except (asyncio.TimeoutError, TimeoutError, OSError) as exc:
            outcome, msg = _classify_connect_error(exc)
            if outcome == "filtered":
                msg = f"connect timed out after {o.timeout:g} s"
            st.event(msg)
            raise _Stop(outcome, msg) from None
        st.set(connect_ms=_ms(t))
        try:
            if implicit:
                st.bytes_in_phase = 0
                await self.tls_handshake(verify, sni)
            await self.greeting()
            caps = await self.ehlo(first=True)
            if o.tls_required_check and not implicit and caps is not None:
                await self.tls_required_check()
            if not implicit and caps is not None and o.mode in ("auto", "starttls"):
                if caps.starttls:
                    caps = await self.starttls(verify, sni) or caps
                elif o.mode == "starttls":
                    st.event("STARTTLS is not offered: staying in cleartext")
                    st.extra.append(
                        Finding(
                            "no_starttls",
                            "high" if o.port != 25 else "low",
                            "STARTTLS was asked for but the server does not offer it.",
                        )
                    )
            if o.auth is not None:
                await self.auth_check(caps)
            if o.relay_check:
                await self.relay_check()
            await self.quit()
        finally:
            self.wire.close()

    async def greeting(self) -> None:
        o, st = self.o, self.st
        assert self.wire is not None
        st.phase = "greeting"
        st.bytes_in_phase = 0
        t = time.monotonic()
        try:
            reply = await self.wire.read_reply(o.timeout)
        except asyncio.TimeoutError:
            if self.wire.proto.received and st.values.get("tls_mode") != "implicit":
                if self.wire.proto.parser.started_reply():
                    # A greeting was arriving, too slowly: a tarpit. Not "not_smtp" (what came
                    # looks like SMTP), and no implicit-TLS retry (it spoke cleartext).
                    n = self.wire.proto.received
                    st.event(f"tarpit: only {n} bytes of a greeting within {o.timeout:g} s")
                    raise _Stop(
                        "silent",
                        f"the greeting was still arriving after {o.timeout:g} s "
                        f"({n} bytes so far): a tarpit",
                    ) from None
                st.event(f"received {self.wire.proto.received} bytes that are not an SMTP greeting")
                raise _Stop(
                    "not_smtp", "the server sent data that is not an SMTP greeting"
                ) from None
            st.event(f"no greeting within {o.timeout:g} s")
            raise _Silent(f"no greeting within {o.timeout:g} s") from None
        except ProtocolError as exc:
            st.event(f"not SMTP: {exc}")
            raise _Stop("not_smtp", _not_smtp_reason(exc)) from None
        except (ConnectionError, OSError) as exc:
            st.event(str(exc))
            raise _Stop("reset", f"{exc} before any greeting") from None
        st.set(banner_ms=_ms(t), banner_code=reply.code, banner=reply.text)
        if reply.code == 220:
            st.set(outcome="open")
            return
        if reply.code in (421, 554) or reply.code >= 400:
            raise _Stop("rejected", f"the server greeted with {reply.code}: {reply.text}")
        raise _Stop("not_smtp", f"greeting code {reply.code} is not an SMTP greeting (220)")

    async def ehlo(self, first: bool) -> Any:
        o, st = self.o, self.st
        assert self.wire is not None
        st.phase = "ehlo"
        name = o.ehlo_name or self.wire.local_name()
        t = time.monotonic()
        await self.send("EHLO", name)
        reply = await self.reply("EHLO")
        if first:
            st.set(ehlo_ms=_ms(t))
        tls_now = st.values.get("tls_mode") in ("implicit", "starttls") and st.values.get(
            "tls_version"
        )
        if reply.code != 250:
            if reply.code >= 500 and first:
                await self.send("HELO", name)
                helo = await self.reply("HELO")
                st.set(esmtp=False, extensions=[], starttls_offered=False)
                if helo.code == 250:
                    st.set(**({"auth_after_tls": []} if tls_now else {"auth_before_tls": []}))
                return None
            raise _Stop("open", f"EHLO was answered with {reply.code}: {reply.text}")
        caps = parse_ehlo(reply)
        if first:
            st.set(
                esmtp=True,
                extensions=list(caps.extensions),
                size_limit=caps.size_limit,
                starttls_offered=caps.starttls,
            )
        else:
            st.set(extensions=list(caps.extensions), size_limit=caps.size_limit)
        if tls_now:
            st.set(auth_after_tls=list(caps.auth))
        else:
            st.set(auth_before_tls=list(caps.auth))
        return caps

    async def starttls(self, verify: bool, sni: str | None) -> Any:
        st = self.st
        assert self.wire is not None
        st.phase = "starttls"
        await self.send("STARTTLS")
        reply = await self.reply("STARTTLS")
        if reply.code != 220:
            st.event(f"STARTTLS refused with {reply.code}: staying in cleartext")
            st.extra.append(
                Finding(
                    "starttls_refused",
                    "high",
                    f"STARTTLS is offered but was refused with {reply.code}: {reply.text}",
                )
            )
            return
        leftover = self.wire.leftover()
        if leftover:
            st.event(f"discarding {leftover} unexpected item(s) sent before the TLS handshake")
            st.extra.append(
                Finding(
                    "starttls_injection",
                    "high",
                    "The server (or something on the way) sent extra data right after agreeing to "
                    "STARTTLS: a response-injection risk (CVE-2011-0411 style); it was discarded.",
                )
            )
        st.set(tls_mode="starttls")
        await self.tls_handshake(verify, sni)
        return await self.ehlo(first=False)

    async def auth_check(self, caps: Any) -> None:
        """Log in once with the given credentials: only over TLS, unless the lab's legacy profile."""
        o, st = self.o, self.st
        assert o.auth is not None
        st.phase = "auth"
        encrypted = bool(st.values.get("tls_version"))
        if not encrypted and not o.allow_cleartext_auth:
            st.event("AUTH check skipped: the connection is not encrypted")
            st.extra.append(
                Finding(
                    "auth_not_attempted",
                    "info",
                    "The AUTH check did not send the password: the connection is not encrypted.",
                )
            )
            return
        if encrypted and st.values.get("cert_verified") is not True:
            why = st.cert_rejected or "certificate verification was turned off"
            st.event("AUTH check skipped: the certificate was not verified for this host")
            st.extra.append(
                Finding(
                    "auth_skipped_unverified",
                    "info",
                    "The AUTH check did not send the password: the server's certificate was not "
                    f"verified for {o.host} ({why}), so anyone in the middle could have read it.",
                )
            )
            return
        mechs = tuple(getattr(caps, "auth", ()) or ())
        user, password = o.auth  # used only to build the AUTH lines, which are redacted
        if "PLAIN" in mechs:
            import base64

            payload = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
            await self.send("AUTH", f"PLAIN {payload}")
            reply = await self.reply("AUTH")
        elif "LOGIN" in mechs:
            import base64

            await self.send("AUTH", "LOGIN")
            reply = await self.reply("AUTH")
            for secret in (user, password):
                if reply.code != 334:
                    break
                await self.send(base64.b64encode(secret.encode()).decode())
                reply = await self.reply("AUTH")
        else:
            st.extra.append(
                Finding(
                    "auth_unavailable",
                    "medium",
                    "The AUTH check could not log in: the server offers neither PLAIN nor LOGIN here.",
                )
            )
            return
        if reply.code == 235:
            where = "over TLS" if encrypted else "IN CLEARTEXT (lab legacy profile)"
            st.extra.append(Finding("auth_ok", "info", f"The login check succeeded {where}."))
        else:
            st.extra.append(
                Finding(
                    "auth_failed",
                    "medium",
                    f"The login check was refused with {reply.code}.",
                )
            )

    async def tls_required_check(self) -> None:
        """Before any TLS, try MAIL FROM: a submission port must refuse it (RFC 8314 §3.3 asks
        servers to require TLS; aiosmtpd, Postfix and Exchange answer 530). Never RCPT or DATA."""
        st, o = self.st, self.o
        st.phase = "tls-required"
        st.event("TLS-required check: MAIL before any TLS (never RCPT or DATA)")
        await self.send("MAIL", "FROM:<smtplab-probe@example.org>")
        mail = await self.reply("MAIL")
        if mail.code == 250:
            await self.send("RSET")
            await self.reply("RSET")
            severity = "high" if o.port in (465, 587, 2525) else "low"
            st.extra.append(
                Finding(
                    "mail_before_tls_accepted",
                    severity,
                    "The server accepted MAIL before any TLS: a client that does not insist on TLS "
                    "could send its message, and on a submission port its password, unencrypted.",
                )
            )
        elif mail.code >= 500:
            st.extra.append(
                Finding(
                    "tls_required",
                    "info",
                    f"Mail before TLS was refused with {mail.code} ({mail.text}): this port insists "
                    "on encryption first.",
                )
            )
        else:
            st.extra.append(
                Finding(
                    "tls_required_unclear",
                    "info",
                    f"Mail before TLS got {mail.code} ({mail.text}), neither a yes nor a refusal.",
                )
            )

    async def relay_check(self) -> None:
        st = self.st
        st.phase = "relay"
        st.event("relay check: MAIL and RCPT to a reserved foreign domain (never DATA)")
        await self.send("MAIL", "FROM:<smtplab-probe@example.org>")
        mail = await self.reply("MAIL")
        if mail.code != 250:
            st.set(relay_check="denied")
            return
        await self.send("RCPT", f"TO:<{RELAY_CHECK_RCPT}>")
        rcpt = await self.reply("RCPT")
        st.set(relay_check="accepted" if rcpt.code in (250, 251) else "denied")
        await self.send("RSET")
        await self.reply("RSET")

    async def quit(self) -> None:
        st = self.st
        st.phase = "quit"
        try:
            await self.send("QUIT")
            assert self.wire is not None
            await self.wire.read_reply(min(1.0, self.o.timeout))
        except (_Stop, asyncio.TimeoutError, ProtocolError, ConnectionError, OSError):
            pass


def _is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost: this machine, where no politeness limit is needed."""
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def _local_literal(wire: _LiveWire) -> str:
    """An honest EHLO name: our own address as an RFC 5321 address literal."""
    sockname = wire.transport.get_extra_info("sockname") if wire.transport else None
    if not sockname:
        return "[127.0.0.1]"
    ip = ipaddress.ip_address(sockname[0].split("%")[0])
    return f"[IPv6:{ip}]" if ip.version == 6 else f"[{ip}]"


def _not_smtp_reason(exc: ProtocolError) -> str:
    text = str(exc)
    if "HTTP/" in text:
        return f"an HTTP server answered, not SMTP ({text})"
    if "SSH-" in text:
        return f"an SSH server answered, not SMTP ({text})"
    return f"not an SMTP greeting: {text}"


async def _run(st: _State, make_wire: Any = None) -> None:
    o = st.opts
    conv = _Conversation(st, make_wire)
    implicit = o.mode == "tls" or (o.mode == "auto" and o.port == 465)
    verify = o.verify
    cert_error: str | None = None
    attempts = 0
    while True:
        attempts += 1
        try:
            await conv.session(implicit, verify)
            break
        except _CertRejected as exc:
            cert_error = exc.reason
            st.event("reconnecting without verification to read the certificate")
            verify = False
        except _Silent as exc:
            if o.mode == "auto" and not implicit and attempts == 1:
                first_try = dict(st.values)  # what the cleartext connection found (connect_ms)
                st.event("no cleartext greeting: retrying with implicit TLS")
                implicit = True
                st.extra.append(
                    Finding(
                        "implicit_tls_detected",
                        "info",
                        f"Port {o.port} stayed silent in cleartext and answered once TLS was started "
                        "first: it speaks implicit TLS.",
                    )
                )
                try:
                    await conv.session(implicit, verify)
                    break
                except _CertRejected as exc2:
                    cert_error = exc2.reason
                    st.event("reconnecting without verification to read the certificate")
                    verify = False
                    continue
                except _Stop as stop:
                    st.extra.pop()
                    if stop.outcome == "tls_failed":  # TLS answered, too slowly or wrongly
                        raise
                    st.values = first_try  # report the cleartext connection that stayed silent
                    st.event("implicit TLS did not answer either")
            raise _Stop("silent", exc.error) from None
        except _CleartextOnTLSPort:
            if o.mode == "auto" and implicit and attempts == 1:
                st.event("the server answered in cleartext: retrying as plain SMTP with STARTTLS")
                st.extra.append(
                    Finding(
                        "wrong_tls_mode",
                        "medium",
                        f"Port {o.port} speaks plain SMTP (with STARTTLS if offered), not implicit TLS: "
                        "a client set to SSL/TLS here fails with WRONG_VERSION_NUMBER.",
                    )
                )
                implicit = False
                continue
            st.extra.append(
                Finding(
                    "wrong_tls_mode",
                    "medium",
                    "The server answered the TLS handshake in cleartext (WRONG_VERSION_NUMBER): this "
                    "port expects plain SMTP with STARTTLS, not implicit TLS. Try mode 'starttls'.",
                )
            )
            raise
        if attempts > 4:  # pragma: no cover - a safety net; each path above ends sooner
            break
    if cert_error is not None:
        st.set(cert_verified=False, cert_error=cert_error)


def _finish(st: _State, outcome: str, error: str | None) -> ProbeResult:
    o = st.opts
    v = st.values
    if st.dropped_lines:
        st.transcript.append(
            TranscriptLine(
                round(st.now_ms(), 3),
                "event",
                f"transcript truncated: {st.dropped_lines} more lines",
            )
        )
    rec = schema.empty_record(
        probe_id=uuid.uuid4().hex,
        started_at=st.started_at,
        vantage=o.vantage,
        source=o.source,
        host=o.host,
        port=o.port,
        mode=o.mode,
        outcome=outcome,
        error=error,
        total_ms=round(st.now_ms(), 3),
    )
    for k, val in v.items():
        if k in rec and k != "outcome":
            rec[k] = val
    if st.cert_rejected is not None:  # learnt before a reconnect or a deadline: it stays
        rec["cert_verified"], rec["cert_error"] = False, st.cert_rejected
    if not rec.get("tls_version"):
        rec["tls_mode"] = "none"  # tls_mode says what was found, and no TLS session came up
    rec["role"] = guess_role(rec)
    findings = analyze(rec, st.extra)
    if error is not None and outcome == "open":
        findings = (*findings, Finding("protocol_problem", "medium", error))
    scrub = st.redactor.scrub  # an echo of the AUTH data, wherever the server put it
    values: dict[str, Any] = {
        k: _scrubbed(val, scrub) for k, val in rec.items() if k not in ("findings", "transcript")
    }
    findings = tuple(Finding(f.code, f.severity, scrub(f.message)) for f in findings)
    return ProbeResult(**values, findings=findings, transcript=tuple(st.transcript))


def _scrubbed(value: Any, scrub: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, (list, tuple)):
        return tuple(scrub(x) if isinstance(x, str) else x for x in value)
    return value


class _DeadlineHit(BaseException):
    """A replayed recording reached the point where the live probe ran out of time."""


async def _aprobe(o: _Options, make_wire: Any = None, st: _State | None = None) -> ProbeResult:
    st = st or _State(o, redactor=Redactor(secret_forms(*o.auth) if o.auth else ()))
    outcome, error = "error", None
    try:
        await asyncio.wait_for(_run(st, make_wire), o.deadline)
        outcome = st.values.get("outcome", "error")
    except _Stop as stop:
        outcome, error = stop.outcome, stop.error
        if outcome == "open" and st.values.get("outcome") != "open":
            outcome = "error"
    except (asyncio.TimeoutError, TimeoutError, _DeadlineHit):
        error = f"the probe's overall deadline of {o.deadline:g} s passed"
        st.event(error)
        if st.values.get("outcome") != "open" and st.previous.get("outcome") == "open":
            st.values = st.previous  # a retry learnt less than the connection before it
        if st.values.get("outcome") == "open":
            outcome = "open"
        elif not st.connected:
            outcome = "filtered"
        elif st.phase == "tls" and st.bytes_in_phase:
            outcome = "tls_failed"
            error = f"TLS handshake still unfinished when {error}"
        else:
            outcome = "silent"
    except Exception as exc:  # a bug of ours must still not escape as a traceback into a lesson
        error = f"{type(exc).__name__}: {exc}"
        st.event(f"internal error: {error}")
        outcome = "error"
    return _finish(st, outcome, error)


# --- public entry points ----------------------------------------------------------------------


async def aprobe(
    host: str | ProbeOptions,
    port: int = 587,
    *,
    mode: str = "auto",
    timeout: float = DEFAULT_TIMEOUT,
    deadline: float | None = None,
    ehlo_name: str | None = None,
    lab: Any = None,
    vantage: str | None = None,
    verify: bool = True,
    cafile: str | None = None,
    relay_check: bool = False,
    auth: tuple[str, str] | None = None,
    allow_cleartext_auth: bool = False,
    tls_required_check: bool = False,
) -> ProbeResult:
    """Probe ``host`` on ``port`` and return what happened (the async twin of :func:`probe`)."""
    if isinstance(host, ProbeOptions):
        return await _aprobe(host)
    o = ProbeOptions.create(
        host,
        port,
        mode=mode,
        timeout=timeout,
        deadline=deadline,
        ehlo_name=ehlo_name,
        lab=lab,
        vantage=vantage,
        verify=verify,
        cafile=cafile,
        relay_check=relay_check,
        auth=auth,
        allow_cleartext_auth=allow_cleartext_auth,
        tls_required_check=tls_required_check,
    )
    return await _aprobe(o)


def _run_sync(make: Callable[[], Any]) -> Any:
    """Run a coroutine to completion from sync code, even inside a running loop (Jupyter)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="smtplab-probe") as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


def probe(
    host: str | ProbeOptions,
    port: int = 587,
    *,
    mode: str = "auto",
    timeout: float = DEFAULT_TIMEOUT,
    deadline: float | None = None,
    ehlo_name: str | None = None,
    lab: Any = None,
    vantage: str | None = None,
    verify: bool = True,
    cafile: str | None = None,
    relay_check: bool = False,
    auth: tuple[str, str] | None = None,
    allow_cleartext_auth: bool = False,
    tls_required_check: bool = False,
) -> ProbeResult:
    """Probe ``host`` on ``port`` and return a :class:`ProbeResult`. Never raises for the network.

    ``host`` may also be a :class:`ProbeOptions` made with :meth:`ProbeOptions.create` (the
    other arguments are then in it). ``mode``: ``auto`` (implicit TLS on 465; elsewhere
    cleartext, then STARTTLS when offered, and implicit TLS if the cleartext greeting never
    comes), ``plain``, ``starttls`` or ``tls``.
    ``timeout`` bounds each phase; ``deadline`` (default 3 × timeout + 2 s) bounds the whole probe.
    ``lab``: a running :class:`smtplab.Lab`; its logical names (``smtp.lab.example``) are used.
    ``relay_check``: also try MAIL/RCPT to a foreign domain (never DATA), only when asked.
    ``tls_required_check``: also try MAIL before STARTTLS, which a submission port must refuse.
    ``auth``: ``(user, password)`` for an optional login check, sent only over TLS whose
    certificate was verified for ``host`` (or, with ``allow_cleartext_auth=True``, to the lab's
    legacy profile); the password and the AUTH payload never appear in the transcript, the
    record or an error message.
    """
    o = (
        host
        if isinstance(host, ProbeOptions)
        else ProbeOptions.create(
            host,
            port,
            mode=mode,
            timeout=timeout,
            deadline=deadline,
            ehlo_name=ehlo_name,
            lab=lab,
            vantage=vantage,
            verify=verify,
            cafile=cafile,
            relay_check=relay_check,
            auth=auth,
            allow_cleartext_auth=allow_cleartext_auth,
            tls_required_check=tls_required_check,
        )
    )
    return _run_sync(lambda: _aprobe(o))  # type: ignore[no-any-return]


#: What probe_many passes on to :meth:`ProbeOptions.create` for every target.
_MANY_OPTIONS: Final = frozenset(
    {
        "mode",
        "timeout",
        "deadline",
        "ehlo_name",
        "lab",
        "vantage",
        "verify",
        "cafile",
        "relay_check",
        "tls_required_check",
        "auth",
        "allow_cleartext_auth",
    }
)


def _targets(targets: Iterable[Any]) -> list[ProbeOptions | tuple[Any, Any, str | None]]:
    out: list[ProbeOptions | tuple[Any, Any, str | None]] = []
    for t in targets:
        if isinstance(t, ProbeOptions):
            out.append(t)
        elif isinstance(t, dict):
            out.append((t.get("host"), t.get("port", 587), t.get("mode")))
        elif isinstance(t, (tuple, list)) and len(t) in (2, 3):
            out.append((t[0], t[1], t[2] if len(t) == 3 else None))
        else:
            raise ProbeInputError(f"a target is (host, port) or (host, port, mode), not {t!r}")
    return out


class _RateLimiter:
    """At most ``rate`` new connections per second, spaced evenly (politeness for live probes)."""

    def __init__(self, rate: float | None) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self.next = 0.0
        self.lock = asyncio.Lock()

    async def wait(self) -> None:
        if not self.interval:
            return
        async with self.lock:
            loop = asyncio.get_running_loop()
            while (wait := self.next - loop.time()) > 0:
                await asyncio.sleep(wait)
            # from when this one really goes: a late wake-up must not shorten the next gap
            self.next = loop.time() + self.interval


def _in_notebook() -> bool:
    return "ipykernel" in sys.modules


def _progress_printer(total: int) -> Callable[[int, int, ProbeResult], None]:
    def show(done: int, total_: int, r: ProbeResult) -> None:
        end = "\n" if done == total_ else ""
        sys.stderr.write(f"\rprobed {done}/{total_}: {r.host}:{r.port} {r.outcome:<12}{end}")
        sys.stderr.flush()

    return show


async def aprobe_many(
    targets: Iterable[Any],
    *,
    concurrency: int = 64,
    per_host: int = 4,
    rate: float | None = None,
    progress: bool | Callable[[int, int, ProbeResult], None] = False,
    **kwargs: Any,
) -> list[ProbeResult]:
    """Probe many ``(host, port)`` targets (or :class:`ProbeOptions`) concurrently; results in
    input order.

    ``concurrency`` bounds probes in flight; ``per_host`` bounds them per host (politeness);
    ``rate`` caps new connections per second (default: none in the lab or on loopback, 10 per
    second towards other hosts).
    All ports of a host run side by side, so a filtered port costs its timeout once.
    ``progress=True`` prints a counter; a callable gets ``(done, total, result)``.
    """
    items = _targets(targets)
    if not isinstance(concurrency, int) or concurrency < 1:
        raise ProbeInputError("concurrency must be a whole number of at least 1")
    if not isinstance(per_host, int) or per_host < 1:
        raise ProbeInputError("per_host must be a whole number of at least 1")
    unknown = set(kwargs) - _MANY_OPTIONS
    if unknown:
        raise ProbeInputError(f"unknown option(s): {', '.join(sorted(unknown))}")
    mode_default = kwargs.pop("mode", "auto")
    opts = [
        item
        if isinstance(item, ProbeOptions)
        else ProbeOptions.create(item[0], item[1], mode=item[2] or mode_default, **kwargs)
        for item in items
    ]
    if rate is None and not all(o.source == "lab" or o.loopback for o in opts):
        rate = 10.0  # politeness towards other people's servers; our own machine needs none
    limiter = _RateLimiter(rate)
    sem = asyncio.Semaphore(concurrency)
    host_sems: dict[str, asyncio.Semaphore] = {}
    if progress is True:
        report = _progress_printer(len(opts)) if sys.stderr.isatty() or _in_notebook() else None
    else:
        report = progress or None
    done = 0
    results: list[ProbeResult | None] = [None] * len(opts)

    async def one(i: int, o: _Options) -> None:
        nonlocal done
        hs = host_sems.setdefault(o.host.lower(), asyncio.Semaphore(per_host))
        async with sem, hs:
            await limiter.wait()
            r = await _aprobe(o)
        results[i] = r
        done += 1
        if report:
            try:
                report(done, len(opts), r)
            except Exception:  # a broken progress display must not lose results
                pass

    await asyncio.gather(*(one(i, o) for i, o in enumerate(opts)))
    return [r for r in results if r is not None]


def probe_many(
    targets: Iterable[Any],
    *,
    concurrency: int = 64,
    per_host: int = 4,
    rate: float | None = None,
    progress: bool | Callable[[int, int, ProbeResult], None] = False,
    **kwargs: Any,
) -> list[ProbeResult]:
    """Sync twin of :func:`aprobe_many` (works inside a running notebook too)."""
    items = list(targets)
    return _run_sync(  # type: ignore[no-any-return]
        lambda: aprobe_many(
            items,
            concurrency=concurrency,
            per_host=per_host,
            rate=rate,
            progress=progress,
            **kwargs,
        )
    )
