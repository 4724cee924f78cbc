"""The :class:`Lab`: a scenario's servers and networks, running on a thread of their own.

A lab binds one loopback socket per logical endpoint (``smtp.lab.example:587`` becomes, say,
``127.0.0.1:40123``) and runs every server on one background thread with its own asyncio event
loop. Your code -- a script, a test, a notebook cell whose kernel already runs a loop -- just calls
:meth:`Lab.start` and :meth:`Lab.stop`.

How the network behaviours work without root or a firewall:

``refused``
    a socket that is bound but not listening: the port is reserved for the lab, and the kernel
    answers a connection attempt with a TCP reset, exactly like a closed port or a REJECT rule.
``filtered``
    a listening socket with an accept queue of length zero (``listen(0)``) that the lab fills
    with a connection of its own and never accepts. The kernel then drops further connection
    attempts (SYNs) on the floor, so the client's connect times out, exactly like a DROP rule.
``silent`` / ``slow``
    a server that accepts and never speaks, or that waits before its greeting.
``intercept``
    a server that greets with another server's name, as ISPs that redirect port 25 do.
``strip``
    a middlebox (:mod:`smtplab.lab.middlebox`) that relays to the real server, served on a
    hidden socket of its own, and masks STARTTLS in both directions.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import ipaddress
import os
import secrets
import smtplib
import socket
import ssl
import string
import textwrap
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from smtplab import labworld
from smtplab.engine import served
from smtplab.errors import SmtplabError
from smtplab.lab import certs
from smtplab.lab.clients import LabSMTP, LabSMTP_SSL
from smtplab.lab.folder import LabFolder, new_password
from smtplab.lab.middlebox import StripStartTLS
from smtplab.lab.runtime import (
    _THREAD_TIMEOUT,
    _fill_queue,
    _quiet_about_peers,
    _quiet_logging,
    _run_loop,
    _Runtime,
)
from smtplab.lab.servers import Gate, Hub, Message, Outbox
from smtplab.labworld import EndpointPlan, Scenario

if TYPE_CHECKING:
    from smtplab.lab.oauth import LabOAuth

__all__ = ["ConnectionStats", "Endpoint", "Lab", "LabError", "scenarios"]

#: The lab's default upper bound on message size: 1 MB is far above any lesson's message and far
#: below anything that strains memory. (Postfix's own default, message_size_limit, is 10 MB.)
DEFAULT_MAX_MESSAGE_SIZE: Final = 1_000_000

#: Simultaneous connections across the whole lab. 100 is Postfix's default_process_limit (at most
#: 100 smtpd processes, so 100 client connections, at once). A lab connection is freed the moment
#: its client goes, so this is enough for a classroom of thirty probing at once, and for
#: probe_many at its default concurrency (see :attr:`Lab.probe_concurrency`).
DEFAULT_MAX_CONNECTIONS: Final = 100

#: How long a slow server waits before its greeting. Two seconds is longer than a hasty client's
#: one-second timeout and shorter than a patient probe's five: both lessons fit.
SLOW_GREETING_DELAY: Final = 2.0

#: The user name of the lab's submission account (its password is random per lab, or kept in
#: the lab's folder).
LAB_USER: Final = "student"

#: Backlog of the lab's listening servers (the usual 100 of asyncio, more than max_connections).
_BACKLOG: Final = 100

#: With ``real_ports=True`` each host gets its own loopback address, so that every host can own
#: the real port numbers. 127.0.0.0/8 is all loopback on Linux; the last byte is just a label.
REAL_PORT_ADDRESSES: Final = {
    "mx.lab.example": "127.0.0.25",
    "smtp.lab.example": "127.0.0.87",
    "legacy.lab.example": "127.0.0.30",
    "expired.lab.example": "127.0.0.41",
    "selfsigned.lab.example": "127.0.0.42",
    "wronghost.lab.example": "127.0.0.43",
    "tarpit.lab.example": "127.0.0.51",
    "slow.lab.example": "127.0.0.52",
    "oauth.lab.example": "127.0.0.88",
    "outlook.lab.example": "127.0.0.89",
    "gmail.lab.example": "127.0.0.90",
    "exchange.lab.example": "127.0.0.91",
}


class LabError(SmtplabError, LookupError):
    """The lab cannot find what you asked for: an unknown scenario or host, or it is not running."""


@dataclass(frozen=True)
class Endpoint:
    """One logical endpoint of a running lab, e.g. ``smtp.lab.example`` port 587.

    ``address`` is the real loopback socket behind it: connect there, and speak of ``host`` and
    ``port`` (use ``host`` for TLS server name indication and certificate checks).
    """

    host: str
    #: The logical port: 25, 465, 587 or 2525.
    port: int
    #: The server profile that answers ("relay", "submission", ...), or None if nothing answers.
    profile: str | None
    #: open, refused, filtered, silent, slow or intercept.
    behaviour: str
    #: The real socket address, (ip, port).
    address: tuple[str, int]
    #: One sentence for a learner.
    description: str
    #: The certificate presented: "lab-ca" (good), "expired", "self-signed", "wrong-host" or None.
    certificate: str | None = None
    #: The outcome word a probe should report (with a timeout longer than the slow greeting).
    expected: str = "open"
    #: True if TLS starts with the first byte (465).
    implicit_tls: bool = False


@dataclass(frozen=True)
class ConnectionStats:
    """How busy a running lab is (see :meth:`Lab.connection_stats`)."""

    #: Client connections held now (what ``max_connections`` bounds).
    active: int
    #: The most held at once since the lab started.
    peak: int
    #: Connections turned away with ``421 Too many connections`` since the lab started.
    turned_away: int
    #: Bytes the lab has written that the kernel has not yet taken (its send buffers).
    buffered_bytes: int


def scenarios() -> dict[str, str]:
    """Every scenario's name and the paragraph a teacher can read aloud, in teaching order."""
    return {name: s.paragraph for name, s in labworld.SCENARIOS.items()}


def _normalise_host(host: str) -> str:
    if not isinstance(host, str):
        raise TypeError(f"host must be a string, not {type(host).__name__}")
    return host.strip().rstrip(".").lower()


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _family(ip: str) -> socket.AddressFamily:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        raise ValueError(
            f"bind must be an IP address such as '127.0.0.1' or '::1', not {ip!r}"
        ) from None
    return socket.AF_INET6 if addr.version == 6 else socket.AF_INET


def lab_at(address: tuple[str, int] | None) -> Lab | None:
    """The running lab serving the real socket ``address`` (ip, port), or None."""
    lab = served.served_by(address)
    return lab if isinstance(lab, Lab) else None


class Lab:
    """An embedded mail lab: real SMTP servers on loopback, behind a simulated network.

    >>> with Lab("home-isp") as lab:                        # doctest: +SKIP
    ...     lab.address("smtp.lab.example", 587)            # ('127.0.0.1', 40123)
    ...     lab.credentials                                 # ('student', 'Xy3...')

    ``scenario`` names the network (see :func:`scenarios`). ``bind`` is the address the servers
    listen on: loopback unless you say otherwise. ``real_ports=True`` binds the real port numbers
    (25, 465, 587, 2525) on one 127.0.0.x address per host, which needs root or
    CAP_NET_BIND_SERVICE. ``max_message_size`` (bytes) and ``max_connections`` (across the whole
    lab) keep a lab safe to leave running. ``slow_delay`` is the slow host's greeting delay in
    seconds. ``folder`` (a path) keeps the password there, so it is the same on every run with
    that folder, and writes the lab CA there as ``lab-ca.pem`` on start (see :attr:`ca_path`);
    without it the password is new for every lab.
    """

    def __init__(
        self,
        scenario: str = labworld.DEFAULT_SCENARIO,
        *,
        bind: str = "127.0.0.1",
        real_ports: bool = False,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        slow_delay: float = SLOW_GREETING_DELAY,
        folder: str | os.PathLike[str] | None = None,
    ) -> None:
        if scenario not in labworld.SCENARIOS:
            raise LabError(
                f"unknown scenario {scenario!r}; the lab has: {', '.join(labworld.SCENARIOS)}"
            )
        self._family = _family(bind)
        if real_ports and bind != "127.0.0.1":
            raise ValueError("real_ports=True gives each host its own 127.0.0.x; leave bind alone")
        if not isinstance(max_message_size, int) or max_message_size < 1:
            raise ValueError("max_message_size must be a positive number of bytes")
        if not isinstance(max_connections, int) or max_connections < 1:
            raise ValueError("max_connections must be a positive number")
        if slow_delay < 0:
            raise ValueError("slow_delay must not be negative")
        self._scenario: Scenario = labworld.SCENARIOS[scenario]
        self._bind = bind
        self._real_ports = real_ports
        self._max_message_size = max_message_size
        self._max_connections = max_connections
        self._slow_delay = float(slow_delay)
        self._folder = None if folder is None else LabFolder(folder)
        password = new_password() if self._folder is None else self._folder.password()
        self._credentials = (LAB_USER, password)
        self._ca_path: Path | None = None
        self._app_password = ""
        self._outbox = Outbox()
        self._plans = labworld.plan(self._scenario)
        self._endpoints: list[Endpoint] = []
        self._index: dict[tuple[str, int], Endpoint] = {}
        self._lock = threading.Lock()  # start/stop/address from several threads
        self._rt = _Runtime()
        self._finalizer = weakref.finalize(self, _Runtime.shutdown, self._rt)

    # ------------------------------------------------------------------ facts about the lab
    @property
    def scenario(self) -> str:
        """The scenario's name, e.g. ``"home-isp"``."""
        return self._scenario.name

    @property
    def vantage(self) -> str:
        """The vantage label probes through this lab record, e.g. ``"lab:home-isp"``."""
        return f"lab:{self._scenario.name}"

    @property
    def paragraph(self) -> str:
        """The scenario's description, for reading aloud."""
        return self._scenario.paragraph

    @property
    def running(self) -> bool:
        return self._rt.thread is not None and self._rt.thread.is_alive()

    @property
    def hosts(self) -> tuple[str, ...]:
        """The logical host names of this scenario."""
        return self._scenario.hosts

    @property
    def endpoints(self) -> list[Endpoint]:
        """Every logical endpoint (each host times the four ports); empty until started."""
        return list(self._endpoints)

    @property
    def credentials(self) -> tuple[str, str]:
        """(user, password) accepted by every submission server of this lab."""
        return self._credentials

    @property
    def oauth(self) -> LabOAuth:
        """The lab's OAuth 2.0 authorization server (:class:`smtplab.lab.oauth.LabOAuth`).

        The scenario must have a host that takes tokens (``oauth.lab.example`` and the
        provider-like hosts of ``open-internet``). The server starts on first use, on a loopback
        socket of its own, and stops with the lab; until it starts no token exists, so every
        token is refused. Get a token by the device flow (RFC 8628) and approve it with
        ``lab.oauth.approve(user_code)``, or by the authorization-code flow with PKCE; then log in
        with ``AUTH XOAUTH2`` (see :func:`smtplab.lab.oauth.xoauth2_string`). Tokens are for
        ``lab.credentials[0]`` and scope ``lab.oauth.scope``, and expire after
        ``lab.oauth.token_lifetime`` seconds. Raises :class:`LabError` when the lab is not
        running or has no such host.
        """
        if not any(p.profile in labworld.TOKEN_PROFILES for p in self._plans):
            raise LabError(
                f"scenario {self.scenario} has no host that takes OAuth tokens; "
                "oauth.lab.example and the provider-like hosts are in open-internet"
            )
        with self._lock:
            rt = self._rt
            if not self.running or rt.hub is None:
                raise LabError(
                    "the lab is not running: call lab.start() or use 'with Lab(...) as lab:'"
                )
            if rt.oauth is None:
                from smtplab.lab.oauth import LabOAuth

                rt.oauth = LabOAuth(*self._credentials, bind=self._bind).start()
                rt.hub.oauth = rt.oauth  # the servers read it on their next AUTH
            oauth: LabOAuth = rt.oauth
            return oauth

    @property
    def app_password(self) -> str:
        """An app password for gmail.lab.example, made on first use (16 letters, shown in groups
        of four as Google shows its own; spaces are ignored when you type it). The account
        password there gets ``534-5.7.9 Application-specific password required``."""
        with self._lock:
            if not self._app_password:
                letters = "".join(secrets.choice(string.ascii_lowercase) for _ in range(16))
                self._app_password = " ".join(letters[i : i + 4] for i in range(0, 16, 4))
            if self._rt.hub is not None:
                self._rt.hub.app_password = self._app_password.replace(" ", "")
            return self._app_password

    @property
    def ca_pem(self) -> str:
        """The lab CA's certificate (PEM). Trust it to verify the lab's good certificates."""
        return certs.ca_pem()

    @property
    def ca_path(self) -> Path | None:
        """Where the running lab wrote its CA certificate (``lab-ca.pem`` in its folder), or
        None for a lab without a folder. Trust this file to verify the lab's certificates."""
        return self._ca_path

    @property
    def folder(self) -> Path | None:
        """The lab folder (password and CA file), or None."""
        return None if self._folder is None else self._folder.path

    @property
    def outbox(self) -> list[Message]:
        """The messages the lab accepted so far (a copy; oldest first; the newest 500 are kept),
        each with the ``Received:`` line the lab's server added on top of its content."""
        return self._outbox.snapshot()

    def ssl_context(self) -> ssl.SSLContext:
        """A client TLS context that trusts the lab CA, with verification ON."""
        return ssl.create_default_context(cadata=self.ca_pem)

    def smtp(
        self,
        host: str,
        port: int,
        *,
        timeout: float = 10.0,
        local_hostname: str = "client.lab.example",
    ) -> smtplib.SMTP:
        """A connected stdlib ``smtplib`` client for a lab endpoint.

        It connects to the real socket and verifies certificates against the logical ``host``,
        trusting the lab CA. Implicit-TLS endpoints (465) give an ``SMTP_SSL``; call
        ``.starttls()`` yourself on the others. Use it as a context manager, or call ``.quit()``.
        """
        name = self._host(host)
        address = self.address(name, port)
        ep = self._index.get((name, port))
        if ep is not None and ep.implicit_tls:
            return LabSMTP_SSL(
                address,
                name,
                context=self.ssl_context(),
                timeout=timeout,
                local_hostname=local_hostname,
            )
        return LabSMTP(address, name, timeout=timeout, local_hostname=local_hostname)

    def clear_outbox(self) -> None:
        """Forget the messages accepted so far."""
        self._outbox.clear()

    @property
    def max_message_size(self) -> int:
        return self._max_message_size

    @property
    def max_connections(self) -> int:
        return self._max_connections

    @property
    def probe_concurrency(self) -> int:
        """How many probes may run at once against this lab without meeting its limit.

        A probe holds one connection at a time, but the lab may still be closing the one before
        (say, the cleartext try before an implicit-TLS retry) as the next arrives: two slots per
        probe. :func:`smtplab.probe_many` stays within this when it probes through the lab."""
        return max(1, self._max_connections // 2)

    def active_connections(self) -> int:
        """How many client connections the lab's servers hold right now (what
        ``max_connections`` bounds); 0 when the lab is not running."""
        count: int = self._on_loop(lambda hub: hub.active_connections(), 0)
        return count

    def connection_stats(self) -> ConnectionStats:
        """The lab's connections now and since it started (zeros when it is not running)."""
        stats: ConnectionStats = self._on_loop(
            lambda hub: ConnectionStats(
                hub.active_connections(), hub.peak, hub.turned_away, hub.buffered_bytes()
            ),
            ConnectionStats(0, 0, 0, 0),
        )
        return stats

    def _on_loop(self, fn: Any, default: Any) -> Any:
        """``fn(hub)`` run on the lab's own thread (where the servers live), or ``default``."""
        rt = self._rt
        loop, hub = rt.loop, rt.hub
        if loop is None or hub is None or not self.running:
            return default
        if threading.current_thread() is rt.thread:
            return fn(hub)  # already on the lab's thread: waiting for it would never end

        async def call() -> Any:
            return fn(hub)

        try:
            return asyncio.run_coroutine_threadsafe(call(), loop).result(_THREAD_TIMEOUT)
        except (concurrent.futures.TimeoutError, RuntimeError):
            return default

    def endpoint(self, host: str, port: int) -> Endpoint:
        """The :class:`Endpoint` at logical ``host`` and ``port`` (one of the four ports)."""
        key = (self._host(host), port)
        try:
            return self._index[key]
        except KeyError:
            raise LabError(f"{host}:{port} is not one of the lab's endpoints") from None

    def _host(self, host: str) -> str:
        name = _normalise_host(host)
        if name not in self._scenario.hosts and _is_ip_literal(name):
            # Not a name that failed to resolve: an address, from outside the lab's world.
            raise LabError(
                f"{host.strip()} is an IP address, not a host of the lab: inside the lab, name a "
                f"host (its hosts are: {', '.join(self._scenario.hosts)}), or leave the lab out "
                f"to probe {host.strip()} itself"
            )
        if name not in self._scenario.hosts:
            raise LabError(
                f"{host!r} is not a host of the lab (scenario {self.scenario}); "
                f"its hosts are: {', '.join(self._scenario.hosts)}"
            )
        return name

    def address(self, host: str, port: int) -> tuple[str, int]:
        """The real loopback socket behind logical ``host`` and ``port``.

        Host names compare case-insensitively, and a trailing dot is ignored. A port the lab does
        not serve maps to a reserved socket where nothing listens, so a connection is refused.
        An unknown host raises :class:`LabError`.
        """
        name = self._host(host)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ValueError(f"port must be a number from 1 to 65535, not {port!r}")
        if not self.running:
            raise LabError(
                "the lab is not running: call lab.start() or use 'with Lab(...) as lab:'"
            )
        ep = self._index.get((name, port))
        if ep is not None:
            return ep.address
        with self._lock:
            return self._reserve_extra(name, port)

    # ------------------------------------------------------------------ start and stop
    def start(self) -> Lab:
        """Start every server of the scenario (a no-op if already running). Returns the lab."""
        with self._lock:
            if self.running:
                return self
            self._rt.shutdown()  # leftovers of a failed start, if any
            try:
                if self._folder is not None:
                    certs.keep_ca_in(self._folder)  # the same CA as the folder's last lab
                    self._ca_path = self._folder.ca_path
                self._start()
            except BaseException:
                self._rt.shutdown()
                self._endpoints, self._index = [], {}
                raise
        return self

    def stop(self) -> None:
        """Stop every server, close every connection and socket, end the thread. Idempotent."""
        with self._lock:
            served.unserve(self, [e.address for e in self._endpoints])
            self._rt.shutdown()
            self._endpoints, self._index = [], {}

    close = stop

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<Lab scenario={self.scenario!r} {state}>"

    def _ip_for(self, host: str) -> str:
        return REAL_PORT_ADDRESSES[host] if self._real_ports else self._bind

    def _socket(self, host: str, port: int) -> socket.socket:
        """A TCP socket bound to the endpoint's real address (not yet listening)."""
        ip = self._ip_for(host)
        s = socket.socket(self._family, socket.SOCK_STREAM)
        self._rt.sockets.append(s)
        if self._real_ports:
            # A real port may be in TIME_WAIT from the previous lab: allow rebinding it.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((ip, port if self._real_ports else 0))
        except PermissionError as e:
            raise PermissionError(
                f"cannot bind {ip}:{port}: real_ports=True needs root or CAP_NET_BIND_SERVICE ({e})"
            ) from e
        return s

    def _reserve_extra(self, host: str, port: int) -> tuple[str, int]:
        """A socket where nothing listens, for a port outside the scenario's table."""
        rt = self._rt
        key = (host, port) if self._real_ports else ("*", 0)
        if key not in rt.extra_refused:
            if self._real_ports:
                try:
                    addr: tuple[str, int] = self._socket(host, port).getsockname()[:2]
                except OSError:  # taken by something else: still nothing of ours listens there
                    addr = (self._ip_for(host), port)
            else:
                addr = self._socket(host, 0).getsockname()[:2]
            rt.extra_refused[key] = addr
        return rt.extra_refused[key]

    def _start(self) -> None:
        rt = self._rt
        rt.loop = asyncio.new_event_loop()
        rt.loop.set_exception_handler(_quiet_about_peers)
        _quiet_logging()
        rt.hub = Hub(
            loop=rt.loop,
            credentials=self._credentials,
            outbox=self._outbox,
            max_connections=self._max_connections,
            data_size_limit=self._max_message_size,
            slow_delay=self._slow_delay,
            app_password=self._app_password.replace(" ", ""),
        )
        listeners: list[tuple[EndpointPlan, socket.socket]] = []
        middleboxes: list[tuple[socket.socket, tuple[str, int]]] = []
        endpoints: list[Endpoint] = []
        for plan in self._plans:
            s = self._socket(plan.host, plan.port)
            if plan.behaviour == "strip":
                # the real server, on a hidden socket; the middlebox listens on the endpoint's
                hidden = self._hidden_socket(plan.host)
                listeners.append((dataclasses.replace(plan, behaviour="open"), hidden))
                middleboxes.append((s, tuple(hidden.getsockname()[:2])))  # type: ignore[arg-type]
            elif plan.behaviour == "filtered":
                s.listen(0)
                for filler in _fill_queue(s, self._family):
                    rt.sockets.append(filler)
            elif plan.listens:
                listeners.append((plan, s))
            # "refused": bound and never listening.
            endpoints.append(
                Endpoint(
                    host=plan.host,
                    port=plan.port,
                    profile=plan.profile,
                    behaviour=plan.behaviour,
                    address=tuple(s.getsockname()[:2]),  # type: ignore[arg-type]
                    description=plan.description,
                    certificate=plan.certificate,
                    expected=plan.expected,
                    implicit_tls=plan.implicit_tls,
                )
            )
        rt.thread = threading.Thread(
            target=_run_loop, args=(rt.loop,), name=f"smtplab-lab-{self.scenario}", daemon=True
        )
        rt.thread.start()
        fut = asyncio.run_coroutine_threadsafe(self._serve(listeners, middleboxes), rt.loop)
        fut.result(_THREAD_TIMEOUT)
        self._endpoints = endpoints
        self._index = {(e.host, e.port): e for e in endpoints}
        # the registry a probe made from options alone finds this lab's limits in
        served.serve(self, [e.address for e in endpoints])

    def _hidden_socket(self, host: str) -> socket.socket:
        """A socket on an unused port of the host's address, for a server behind a middlebox."""
        s = socket.socket(self._family, socket.SOCK_STREAM)
        self._rt.sockets.append(s)
        s.bind((self._ip_for(host), 0))
        return s

    async def _serve(
        self,
        listeners: list[tuple[EndpointPlan, socket.socket]],
        middleboxes: list[tuple[socket.socket, tuple[str, int]]] = (),  # type: ignore[assignment]
    ) -> None:
        rt = self._rt
        assert rt.loop is not None and rt.hub is not None
        hub = rt.hub
        loop = rt.loop

        def track(transport: asyncio.BaseTransport) -> None:
            if hub.closing:
                transport.abort()  # type: ignore[attr-defined]
            else:
                hub.transports.add(transport)  # type: ignore[arg-type]

        for sock, upstream in middleboxes:
            sock.listen(_BACKLOG)
            sock.setblocking(False)

            def box(upstream: tuple[str, int] = upstream) -> StripStartTLS:
                return StripStartTLS(loop, upstream, track)

            server = await loop.create_server(box, sock=sock)
            rt.sockets.remove(sock)
            rt.servers.append(server)
        for plan, sock in listeners:
            sock.listen(_BACKLOG)
            sock.setblocking(False)
            ctx = certs.server_context(plan.host, plan.certificate) if plan.certificate else None

            def factory(plan: EndpointPlan = plan, ctx: Any = ctx) -> Gate:
                return Gate(hub, plan, ctx)

            server = await rt.loop.create_server(factory, sock=sock)
            rt.sockets.remove(sock)  # the server owns it now and closes it
            rt.servers.append(server)

    # ------------------------------------------------------------------ for people
    def describe(self) -> str:
        """The scenario, each host's behaviour on each port and the real socket behind it, the
        credentials and the CA file, as plain text; where the scenario takes OAuth tokens, where
        the lab's OAuth server is (this starts it: a browser needs its address). (Which port a
        mail program should use is the advice engine's to say: ``smtplab lab`` prints that line,
        from a live probe.)"""
        lines = [f"Lab scenario {self.scenario} (vantage {self.vantage})", ""]
        lines += textwrap.wrap(self._scenario.paragraph, width=80)
        lines.append("")
        if not self.running:
            lines.append(
                "The lab is not running: start it to see the sockets behind each endpoint."
            )
            return "\n".join(lines)
        width = max(len(e.host) for e in self._endpoints)
        for e in self._endpoints:
            ip, port = e.address
            sock = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
            lines.append(f"{e.host:<{width}}  {e.port:>4}  {e.behaviour:<9}  {sock}")
        user, password = self._credentials
        lines += ["", f"User {user}, password {password}"]
        if self._ca_path is not None:
            lines.append(f"Lab CA: {self._ca_path}")
        if any(p.profile in labworld.TOKEN_PROFILES for p in self._plans):
            oauth = self.oauth
            lines += [
                f"OAuth server (lab.oauth): {oauth.url}, metadata at {oauth.metadata_url}",
                f"  approve a device code at {oauth.url}/device, or lab.oauth.approve(code);",
                "  gmail.lab.example takes lab.app_password",
            ]
        return "\n".join(lines)
