"""The lab's servers: real aiosmtpd SMTP servers with lab profiles, and two that misbehave.

Every connection to a lab socket first meets a :class:`Gate`. The gate counts connections (over the
limit, the client gets ``421 4.7.0 Too many connections``), remembers the transport so that
``lab.stop()`` can close it, wraps it in TLS when the endpoint speaks implicit TLS, and hands it to
the protocol of the endpoint:

* :class:`LabSMTP` -- aiosmtpd's :class:`~aiosmtpd.smtp.SMTP` with the lab's profile rules
  (relay, submission, implicit-TLS submission, legacy, intercept), optionally slow to greet;
* :class:`Silent` -- accepts and never speaks (a tarpit).

The profile rules live in :class:`LabHandler`, aiosmtpd's handler hooks: who may relay, which
extensions EHLO lists, and what goes into the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as _dt
import email.parser
import email.policy
import email.utils
import hmac
import logging
import secrets
import socket
import ssl
import threading
import weakref
from asyncio import sslproto
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, cast

from aiosmtpd.smtp import (
    MISSING,
    SMTP,
    AuthResult,
    Envelope,
    LoginPassword,
    Session,
    TLSSetupException,
)

from smtplab.lab.logins import (
    PROVIDER_LIKE,
    SMTP_SCOPE,
    TOKEN_REFUSAL,
    decode_b64,
    error_challenge,
    parse_oauthbearer,
    parse_xoauth2,
)
from smtplab.labworld import DOMAIN, INTERCEPT_NAME, TOKEN_PROFILES, EndpointPlan
from smtplab.protocol import MAX_AUTH_LINE

__all__ = [
    "MAX_OUTBOX",
    "Gate",
    "Hub",
    "LabHandler",
    "LabSMTP",
    "Message",
    "Outbox",
    "Silent",
    "received_line",
]

log = logging.getLogger("smtplab.lab")

#: The reply to a connection over the lab's limit (RFC 5321 4.3.2: 421 closes the channel;
#: RFC 3463: 4.7.0 is "other or undefined security status", what Postfix sends here too).
TOO_MANY_CONNECTIONS: Final = b"421 4.7.0 Too many connections\r\n"

#: Idle time before a lab server hangs up: RFC 5321 4.5.3.2.7 asks servers to wait at least
#: five minutes for the next command, and a learner typing by hand needs that much.
SERVER_TIMEOUT: Final = 300.0

#: How long a TLS handshake may take before the lab drops the connection (asyncio's default is 60 s;
#: on loopback a handshake takes milliseconds, so 10 s is generous and frees slots sooner).
TLS_HANDSHAKE_TIMEOUT: Final = 10.0

#: The greeting's text after the host name.
IDENT: Final = "ESMTP smtplab"


@dataclass(frozen=True)
class Message:
    """One message the lab accepted: its envelope, its headers, and how it arrived."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    subject: str | None
    #: Header name -> value (the first occurrence of each name, as a client sees it on top).
    headers: dict[str, str]
    #: The logical host and port the client connected to (e.g. "smtp.lab.example", 587).
    host: str
    port: int
    #: True when the message travelled encrypted (STARTTLS or implicit TLS).
    tls: bool
    #: The user name that authenticated, or None if the client did not authenticate.
    auth_user: str | None
    #: Size of the message data in bytes, as received.
    size: int
    received_at: _dt.datetime
    #: The name the answering server greeted with (differs from ``host`` when intercepted).
    server: str
    #: The message data as received, below the ``Received:`` trace line the lab added on top.
    content: bytes = field(repr=False, default=b"")
    #: The outbox's number for this message (1, 2, ...; unique within one lab).
    id: int = 0


#: The most messages an outbox keeps (the oldest go first): with the lab's 1 MB message limit,
#: at most about 500 MB held, and far more mail than a lesson sends.
MAX_OUTBOX: Final = 500


class Outbox:
    """A thread-safe list of accepted messages (written on the lab's thread, read from yours)."""

    def __init__(self, max_messages: int = MAX_OUTBOX) -> None:
        self._lock = threading.Lock()
        self._messages: list[Message] = []
        self._max = max_messages
        self._count = 0

    def append(self, message: Message) -> Message:
        """Keep ``message`` under the next number (returned), forgetting the oldest if full."""
        with self._lock:
            self._count += 1
            message = dataclasses.replace(message, id=self._count)
            self._messages.append(message)
            del self._messages[: -self._max]
            return message

    def snapshot(self) -> list[Message]:
        """A copy of the messages so far, oldest first."""
        with self._lock:
            return list(self._messages)

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()


@dataclass
class Hub:
    """What all servers of one lab share. Lives on the lab's event loop thread."""

    loop: asyncio.AbstractEventLoop
    credentials: tuple[str, str]
    outbox: Outbox
    max_connections: int
    data_size_limit: int
    slow_delay: float
    #: The lab's OAuth authorization server (:class:`smtplab.lab.oauth.LabOAuth`), once started
    #: (``lab.oauth`` starts it on first use; until then no token exists).
    oauth: Any = None
    #: The app password the Gmail-like profile takes ("" until the lab makes one).
    app_password: str = ""
    #: True once the lab is stopping: new connections are dropped on arrival.
    closing: bool = False
    #: Every raw transport the lab opened or accepted, for ``stop()`` to close (weak: closed ones
    #: just disappear). The middlebox's own two sockets of a relayed connection are here too.
    transports: weakref.WeakSet[asyncio.Transport] = field(default_factory=weakref.WeakSet)
    #: The connections a server accepted: what the connection limit counts. A connection through
    #: the middlebox counts once, at the server behind it, as one client holds one slot.
    accepted: weakref.WeakSet[asyncio.Transport] = field(default_factory=weakref.WeakSet)

    #: The most connections held at once, and how many were turned away with 421, so far.
    peak: int = 0
    turned_away: int = 0

    def active_connections(self) -> int:
        """Accepted connections that are not closing (the ones the limit counts)."""
        return sum(1 for t in list(self.accepted) if not t.is_closing())

    def buffered_bytes(self) -> int:
        """Bytes the lab has written and the kernel has not yet taken, over every transport."""
        return sum(t.get_write_buffer_size() for t in list(self.transports) if not t.is_closing())


class _LabSession(Session):
    """aiosmtpd's session, minus the deprecation log line it writes on every successful AUTH."""

    @property  # type: ignore[override]
    def login_data(self) -> Any:
        return self._login_data

    @login_data.setter
    def login_data(self, value: Any) -> None:
        self._login_data = value


def _is_local(address: str) -> bool:
    domain = address.rpartition("@")[2].strip().rstrip(">").rstrip(".").lower()
    return domain == DOMAIN or domain.endswith("." + DOMAIN)


def _transport_is_tls(transport: asyncio.BaseTransport | None) -> bool:
    return transport is not None and transport.get_extra_info("ssl_object") is not None


def _trace_text(text: str | None, limit: int = 255) -> str:
    """Client-chosen text (its EHLO name, a recipient) made safe inside a header: printable
    ASCII, none of the parentheses or brackets that would end a clause early, bounded."""
    clean = "".join(c for c in (text or "") if 32 < ord(c) < 127 and c not in "()[]<>;\\")
    return clean[:limit] or "unknown"


def received_line(
    by: str,
    session: Session,
    transport: asyncio.BaseTransport | None,
    envelope: Envelope,
    when: _dt.datetime,
) -> bytes:
    """The ``Received:`` trace line a server adds on top of a message (RFC 5321 section 4.4).

    ``with`` names the protocol as RFC 3848 registers it: ESMTP, plus S when the message came
    over TLS and A when the client authenticated (ESMTPSA: both); the comment after it names the
    TLS version and cipher, as Postfix and Sendmail do. ``for`` names the recipient when there
    is exactly one, as section 4.4 advises."""
    proto = "ESMTP" if session.extended_smtp else "SMTP"
    ssl_object = None if transport is None else transport.get_extra_info("ssl_object")
    tls = ""
    if ssl_object is not None:
        proto += "S"
        cipher = ssl_object.cipher()
        version = str(ssl_object.version() or "TLS").replace("TLSv", "TLS")
        tls = f" ({version} {cipher[0]})" if cipher else f" ({version})"
    if session.authenticated:
        proto += "A"
    peer = session.peer[0] if isinstance(session.peer, tuple) and session.peer else "unknown"
    helo = _trace_text(session.host_name)
    date = email.utils.format_datetime(when)
    rcpts = envelope.rcpt_tos
    single = f"\r\n\tfor <{_trace_text(rcpts[0], 320)}>" if len(rcpts) == 1 else ""
    line = (
        f"Received: from {helo} ([{_trace_text(str(peer))}])\r\n"
        f"\tby {by} (smtplab) with {proto}{tls} id {secrets.token_hex(6).upper()}{single};"
        f"\r\n\t{date}\r\n"
    )
    return line.encode("ascii", "replace")


class LabHandler:
    """aiosmtpd handler hooks implementing one lab profile at one logical endpoint."""

    def __init__(self, hub: Hub, plan: EndpointPlan, greeting_name: str) -> None:
        self.hub = hub
        self.plan = plan
        self.greeting_name = greeting_name
        self.offers_auth = plan.profile in (
            "submission",
            "submission-implicit",
            "legacy",
            *TOKEN_PROFILES,
        )

    async def handle_exception(self, error: Exception) -> str:
        """A client that gives up during STARTTLS (say, it rejected a bad certificate) is a lesson,
        not a crash: no traceback on the learner's screen. Anything else is logged."""
        if isinstance(error, TLSSetupException):
            log.debug("TLS handshake failed at %s:%s: %r", self.plan.host, self.plan.port, error)
        else:
            log.warning("error at %s:%s", self.plan.host, self.plan.port, exc_info=error)
        return f"451 4.3.0 Error: ({type(error).__name__}) {error}"

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname  # a 5-argument EHLO hook must do this itself
        if not self.offers_auth:
            # aiosmtpd lists "AUTH" (with no mechanisms) once TLS is up; a relay offers none.
            responses = [r for r in responses if not r[4:].upper().startswith("AUTH")]
        return responses

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        _rcpt_options: list[str],
    ) -> str:
        # Anyone may send to the lab's own domain; only an authenticated user may relay elsewhere.
        if not (_is_local(address) or session.authenticated):
            # Postfix's exact wording (RFC 3463: 5.7.1 "delivery not authorized").
            return f"554 5.7.1 <{address}>: Relay access denied"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        if isinstance(envelope.content, bytes) and not raw:
            raw = envelope.content
        now = _dt.datetime.now(_dt.timezone.utc)
        size = len(raw)
        raw = received_line(self.greeting_name, session, server.transport, envelope, now) + raw
        headers: dict[str, str] = {}
        subject: str | None = None
        try:
            parsed = email.parser.BytesParser(policy=email.policy.default).parsebytes(
                raw, headersonly=True
            )
            for name, value in parsed.items():
                headers.setdefault(name, str(value))
            subject = headers.get("Subject")
        except Exception as e:
            log.debug("unparsable headers at %s:%s: %r", self.plan.host, self.plan.port, e)
        auth = session.auth_data if session.authenticated else None
        self.hub.outbox.append(
            Message(
                mail_from=envelope.mail_from or "",
                rcpt_tos=tuple(envelope.rcpt_tos),
                subject=subject,
                headers=headers,
                host=self.plan.host,
                port=self.plan.port,
                tls=_transport_is_tls(server.transport),
                auth_user=None if auth is None else str(auth),
                size=size,
                received_at=now,
                server=self.greeting_name,
                content=bytes(raw),
            )
        )
        return "250 2.0.0 OK: queued in the lab outbox"


class OAuthHandler(LabHandler):
    """A profile that takes OAuth 2.0 bearer tokens: AUTH XOAUTH2 and OAUTHBEARER.

    aiosmtpd lists a handler's ``auth_<NAME>`` methods as AUTH mechanisms. Each reads the
    client's string (inline, or after an empty ``334`` challenge), asks the lab's authorization
    server whether the token lets that user send mail, and answers ``235`` -- or refuses as Google
    documents for XOAUTH2 (https://developers.google.com/workspace/gmail/imap/xoauth2-protocol,
    checked 2026-12-07): a ``334`` challenge carrying base64 JSON
    ``{"status":"401","schemes":"bearer","scope":...}``, the client's empty reply, then
    ``535 5.7.8``. OAUTHBEARER refuses the same way with RFC 7628 section 3.2.2's JSON.
    The user named in the SASL string must be the one the token was issued to.
    """

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        return await self._token_login(server, args, oauthbearer=False)

    async def auth_OAUTHBEARER(self, server: SMTP, args: list[str]) -> AuthResult:
        return await self._token_login(server, args, oauthbearer=True)

    def _refusal(self, reason: str) -> str:
        like = PROVIDER_LIKE.get(self.plan.profile or "")
        if like is not None and like.token_refusal:
            return like.token_refusal
        return f"535 5.7.8 Authentication credentials invalid: {TOKEN_REFUSAL[reason]}"

    async def _token_login(self, server: SMTP, args: list[str], *, oauthbearer: bool) -> AuthResult:
        if len(args) == 1:  # no initial response: ask for it, and read (never log) it
            blob = await server.challenge_auth("", encode_to_b64=False)
            if blob is MISSING:
                return AuthResult(success=False, handled=True)  # aborted: aiosmtpd said 501
            data: bytes | None = cast(bytes, blob)
        else:
            data = decode_b64(args[1])
        parse = parse_oauthbearer if oauthbearer else parse_xoauth2
        sasl = parse(data) if data is not None else None
        oauth = self.hub.oauth
        if sasl is None:
            reason = "malformed"
        elif oauth is None:
            reason = "no-server"
        else:
            check = oauth.check(sasl.token, _lab_user(sasl.user))
            if check.ok:
                return AuthResult(success=True, auth_data=sasl.user)
            reason = check.reason
        if reason == "malformed":  # not a token at all: no error exchange, just the refusal
            return AuthResult(success=False, handled=False, message=self._refusal(reason))
        # The documented error exchange: a 334 with the JSON, the client's empty line, then 535.
        challenge = error_challenge(SMTP_SCOPE, oauthbearer=oauthbearer)
        if await server.challenge_auth(challenge) is MISSING:
            return AuthResult(success=False, handled=True)
        return AuthResult(success=False, handled=False, message=self._refusal(reason))


def _lab_user(user: str) -> str:
    """The lab account a SASL user name means: ``student`` or ``student@lab.example``."""
    name = user.strip()
    local, at, domain = name.rpartition("@")
    if at and domain.lower().rstrip(".") == DOMAIN:
        return local
    return name


def _authenticator(hub: Hub, profile: str | None) -> Callable[..., AuthResult]:
    """aiosmtpd's check of AUTH PLAIN and LOGIN. The lab's own profiles take ``hub.credentials``;
    a provider-like profile answers the account password with its provider's refusal (see
    :mod:`smtplab.lab.logins`), and Gmail-like takes the lab's app password instead."""
    user, password = (c.encode("utf-8") for c in hub.credentials)
    like = PROVIDER_LIKE.get(profile or "")

    def check(
        server: SMTP, session: Session, envelope: Envelope, _mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        # compare_digest: constant time, so timing does not leak how much of a guess was right.
        if like is None:  # the lab's own servers: exactly lab.credentials
            if hmac.compare_digest(data.login, user) & hmac.compare_digest(data.password, password):
                return AuthResult(success=True, auth_data=data.login.decode("utf-8", "replace"))
            return AuthResult(success=False, handled=False)
        # A provider-like server: the user name as the provider takes it, an address too.
        login = _lab_user(data.login.decode("utf-8", "replace")).encode("utf-8")
        right_user = hmac.compare_digest(login, user)
        app = hub.app_password.encode("utf-8")
        # Google shows app passwords in groups of four with spaces; people paste them so.
        typed = data.password.replace(b" ", b"")
        if like.takes_app_password and app and right_user and hmac.compare_digest(typed, app):
            return AuthResult(success=True, auth_data=data.login.decode("utf-8", "replace"))
        if like.wrong_password_reply and not (
            right_user & hmac.compare_digest(data.password, password)
        ):
            return AuthResult(success=False, handled=False, message=like.wrong_password_reply)
        return AuthResult(success=False, handled=False, message=like.password_reply)

    return check


class LabSMTP(SMTP):
    """aiosmtpd's SMTP server, aware of implicit TLS and optionally slow to greet.

    aiosmtpd decides "is this session encrypted?" by looking at ``_tls_protocol``, which only its
    STARTTLS command sets. On an implicit-TLS port the whole connection is encrypted from the first
    byte, but aiosmtpd cannot tell, and with ``auth_require_tls`` it hides AUTH (aiosmtpd issues
    #274 and #281). So when this server runs behind implicit TLS it marks the session encrypted
    as soon as the connection is made.
    """

    #: RFC 4954 §4: "Clients and servers MUST be able to handle the maximum encoded size of
    #: challenges and responses generated by their supported authentication mechanisms", and
    #: 12288 octets is enough for those deployed. aiosmtpd reads every line with one limit
    #: (1001 octets: a text line of RFC 5321 with CR LF), which cut an OAuth token's line off;
    #: the lab's servers read lines of an AUTH exchange, and so every line, up to 12288 octets
    #: plus CR LF. Other commands keep SMTP's 512 (aiosmtpd's ``command_size_limit``).
    line_length_limit = MAX_AUTH_LINE + 2

    def __init__(
        self,
        handler: LabHandler,
        *,
        implicit_tls: bool = False,
        greeting_delay: float = 0.0,
        **kw: Any,
    ) -> None:
        super().__init__(handler, **kw)
        # A client may still put a long initial response on the AUTH line itself: Python's
        # smtplib always does, and the big providers take it. So does the lab, up to 12288.
        # (aiosmtpd keeps these limits in one dict shared by every server in the process, which
        # each new connection clears: each lab connection gets its own.)
        limits: defaultdict[str, int] = defaultdict(lambda: self.command_size_limit)
        limits["AUTH"] = MAX_AUTH_LINE + 2
        self.command_size_limits = limits
        self._implicit_tls = implicit_tls
        self._greeting_delay = greeting_delay
        self._greeted = False

    def _create_session(self) -> Session:
        return _LabSession(self.loop)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self.transport is None
        super().connection_made(transport)
        if first and self._implicit_tls and _transport_is_tls(transport):
            self._tls_protocol = transport  # type: ignore[assignment]  # any true value: "TLS is on"
            assert self.session is not None
            self.session.ssl = {
                "implicit": True,
                "cipher": transport.get_extra_info("cipher"),
                "peercert": transport.get_extra_info("peercert"),
            }

    def eof_received(self) -> bool | None:
        """The client is gone (it sent FIN): close our side too, at once.

        aiosmtpd cancels its handler here and keeps the half-closed connection open (asyncio's
        stream protocol returns True). Its handler closes the writer when the cancellation
        reaches its command loop, but not while the greeting is still being prepared -- a slow
        host's delay -- so the socket sat in CLOSE-WAIT, holding a lab slot, until the 5-minute
        idle timeout. No command can follow an EOF, so nothing is lost by closing: returning
        False tells asyncio to close the transport (after writing what is buffered)."""
        super().eof_received()
        return False

    async def push(self, status: Any) -> None:
        if not self._greeted:
            self._greeted = True
            if self._greeting_delay > 0:
                await asyncio.sleep(self._greeting_delay)
        await super().push(status)


class Silent(asyncio.Protocol):
    """A tarpit: accepts the connection, reads and discards everything, never says a word.

    Silent is not deaf: when the client hangs up (EOF) the tarpit closes at once, and it drops a
    client that has held the line for :data:`SERVER_TIMEOUT` seconds, as any lab server does.
    """

    def __init__(self, timeout: float = SERVER_TIMEOUT) -> None:
        self.timeout = timeout
        self.transport: asyncio.BaseTransport | None = None
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.timer = asyncio.get_running_loop().call_later(self.timeout, transport.close)

    def data_received(self, data: bytes) -> None:
        pass

    def eof_received(self) -> bool:
        return False  # the client is gone: asyncio closes our side

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.transport = self.timer = None


class _TooMany(asyncio.Protocol):
    """Says 421 and hangs up: the lab is at its connection limit."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(TOO_MANY_CONNECTIONS)
        transport.close()


_ALL_MECHANISMS: Final = ("LOGIN", "PLAIN", "XOAUTH2", "OAUTHBEARER")


def _excluded_mechanisms(profile: str | None, offers_auth: bool) -> tuple[str, ...]:
    """What aiosmtpd must not offer: a relay or an intercepting proxy knows no AUTH at all (504 to
    any AUTH command); the OAuth-only profile knows no password mechanism; a provider-like one
    offers exactly its provider's list."""
    if not offers_auth:
        return ("PLAIN", "LOGIN")
    if profile == "submission-oauth":
        return ("PLAIN", "LOGIN")
    like = PROVIDER_LIKE.get(profile or "")
    if like is not None:
        return tuple(m for m in _ALL_MECHANISMS if m not in like.mechanisms)
    return ()


class Gate(asyncio.Protocol):
    """The first protocol of every lab connection: count, track, add TLS, hand over.

    It replaces itself with the endpoint's protocol as soon as the connection is made, the same way
    aiosmtpd's STARTTLS puts TLS under a live connection.
    """

    def __init__(self, hub: Hub, plan: EndpointPlan, tls_context: ssl.SSLContext | None) -> None:
        self.hub = hub
        self.plan = plan
        self.tls_context = tls_context

    def _app(self) -> asyncio.BaseProtocol:
        plan, hub = self.plan, self.hub
        if plan.behaviour == "silent":
            return Silent()
        intercept = plan.profile == "intercept"
        greeting_name = INTERCEPT_NAME if intercept else plan.host
        tokens = plan.profile in TOKEN_PROFILES
        handler = (OAuthHandler if tokens else LabHandler)(hub, plan, greeting_name)
        submission = plan.profile in ("submission", "submission-implicit", *TOKEN_PROFILES)
        starttls_ctx = self.tls_context if not plan.implicit_tls else None
        return LabSMTP(
            handler,
            implicit_tls=plan.implicit_tls,
            greeting_delay=hub.slow_delay if plan.behaviour == "slow" else 0.0,
            loop=hub.loop,
            hostname=greeting_name,
            ident="ESMTP" if intercept else IDENT,
            data_size_limit=hub.data_size_limit,
            timeout=SERVER_TIMEOUT,
            tls_context=starttls_ctx,
            require_starttls=submission and not plan.implicit_tls,
            auth_required=submission,
            # Legacy is the one profile that offers AUTH without TLS: the lesson it exists for.
            auth_require_tls=plan.profile != "legacy",
            authenticator=_authenticator(hub, plan.profile),
            auth_exclude_mechanism=_excluded_mechanisms(plan.profile, handler.offers_auth),
        )

    def connection_made(self, base: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, base)  # a TCP server's transports are Transports
        hub = self.hub
        if hub.closing:
            transport.abort()
            return
        # aiosmtpd writes a multi-line reply one line at a time; with Nagle's algorithm on, each
        # line after the first waits for the client's delayed ACK (about 40 ms on Linux), so an
        # EHLO on loopback took 45 ms. Real MTAs write a reply at once; no delay is faithful.
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        active = hub.active_connections()
        over = active >= hub.max_connections
        hub.transports.add(transport)
        hub.accepted.add(transport)
        if over:
            hub.turned_away += 1
        else:
            hub.peak = max(hub.peak, active + 1)
        if over and self.plan.behaviour == "silent":
            transport.abort()  # a tarpit never speaks, not even to say it is full
            return
        app: asyncio.BaseProtocol = _TooMany() if over else self._app()
        if self.plan.implicit_tls:
            assert self.tls_context is not None
            app = sslproto.SSLProtocol(
                hub.loop,
                app,  # type: ignore[arg-type]
                self.tls_context,
                None,  # type: ignore[arg-type]  # no one waits for the handshake here
                server_side=True,
                ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT,  # type: ignore[arg-type]
            )
        transport.set_protocol(app)
        app.connection_made(transport)

    def data_received(self, data: bytes) -> None:  # pragma: no cover - replaced before any data
        pass
