"""What a probe is asked to do, checked once: the host, port, mode, timeouts and checks.

:meth:`ProbeOptions.create` turns what a caller typed (the CLI, a notebook, ``probe_many``'s
targets) into one frozen :class:`ProbeOptions`, or raises :class:`ProbeInputError` before
anything is sent. Everything after it trusts the options and checks nothing again.
"""

from __future__ import annotations

import contextvars
import functools
import ipaddress
import os
import re
import socket
import ssl
from dataclasses import dataclass, field
from typing import Any, Final

from smtplab import schema
from smtplab.errors import SmtplabError
from smtplab.protocol import MAX_AUTH_LINE, CommandError, validate_ehlo_name
from smtplab.rules import (
    DEFAULT_MODE,
    DEFAULT_PORT,
    DEFAULT_TIMEOUT,
    MIN_TIMEOUT,
    PORTS,
    deadline_for,
    timeout_problem,
)

__all__ = [
    "DEFAULT_PORTS",
    "DEFAULT_TIMEOUT",
    "MIN_TIMEOUT",
    "ProbeInputError",
    "ProbeOptions",
    "RoundTrips",
    "check_cafile",
    "check_port",
    "check_timeout",
    "make_options",
]

#: The four ports, the default timeout and its bounds are the rules of :mod:`smtplab.rules`.
DEFAULT_PORTS: Final = PORTS


class ProbeInputError(SmtplabError, ValueError):
    """A probe was asked for something impossible (bad host, port, mode). Nothing was sent."""


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


def _check_timeout(value: object, name: str) -> float:
    """A number of seconds within the bounds of :mod:`smtplab.rules` (text is not a number here:
    the command line turns its text into a number first)."""
    problem = timeout_problem(value, name)
    if problem is not None:
        raise ProbeInputError(problem)
    return float(value)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ProbeOptions:
    """Everything one probe needs, checked once: build it with :meth:`create` (the CLI, probe,
    aprobe and probe_many all do), then hand it to :func:`probe` or :func:`aprobe` as is.

    >>> opts = ProbeOptions.create("smtp.lab.example", 587, lab=lab, timeout=2)  # doctest: +SKIP
    >>> smtplab.probe(opts)                                                      # doctest: +SKIP
    """

    host: str
    port: int
    mode: str = DEFAULT_MODE
    timeout: float = DEFAULT_TIMEOUT
    deadline: float = deadline_for(DEFAULT_TIMEOUT)
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
    #: ``auto`` (PLAIN, else LOGIN) or ``XOAUTH2`` (the secret is an OAuth token).
    auth_mechanism: str = "auto"
    #: After a login that succeeded, send a short test message to this address (doctor --login
    #: --send-test); set by :func:`smtplab.login_check.check_login`, which checks the address.
    send_test: str | None = None
    #: Cut a connect short once other ports of the same host answered much faster (see
    #: :class:`RoundTrips`); False waits the whole ``timeout`` (patient, the default).
    adaptive: bool = False

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
        port: object = DEFAULT_PORT,
        *,
        mode: str = DEFAULT_MODE,
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
        adaptive: bool = False,
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
            adaptive=adaptive,
        )


#: The function form of :meth:`ProbeOptions.create`.
make_options = ProbeOptions.create


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
    """Every line the login may send must fit RFC 4954 §4's 12288 octets for an AUTH exchange
    (a longer initial response goes on its own line after the AUTH command), or the login would
    end in a local error after the connection is made: say so before, without the secret."""
    import base64

    def b64len(text: str) -> int:
        return len(base64.b64encode(text.encode("utf-8")))

    lines = (
        b64len(f"\0{user}\0{password}"),  # AUTH PLAIN's response
        b64len(user),  # AUTH LOGIN's two lines
        b64len(password),
        b64len(f"user={user}\x01auth=Bearer {password}\x01\x01"),  # XOAUTH2, a token
    )
    longest = max(lines) + 2  # with CR LF
    if longest > MAX_AUTH_LINE:
        raise ProbeInputError(
            f"the user name and password (or token) are too long: a line of the login would be "
            f"{longest} octets, and RFC 4954 §4 takes {MAX_AUTH_LINE} as enough for every "
            f"mechanism in use; together they must stay under about "
            f"{(MAX_AUTH_LINE - 2) * 3 // 4 - 24} characters"
        )


def _check_cafile(cafile: object) -> str | None:
    """A CA file a verifying handshake can load: PEM text with at least one certificate, as
    ``ssl.create_default_context(cafile=)`` reads it. Anything else is refused in one line,
    never silently left out (the certificate would then fail for a reason the learner did not
    cause). ``None`` stays ``None``."""
    if cafile is None:
        return None
    if not isinstance(cafile, (str, os.PathLike)):
        raise ProbeInputError(f"cafile must be a path to a PEM file, not {type(cafile).__name__}")
    path = os.fspath(cafile)
    if not isinstance(path, str) or not path:
        raise ProbeInputError("cafile must be a path to a PEM file")
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        raise ProbeInputError(f"cafile {path!r}: no such file") from None
    why = _cafile_problem(path, st.st_mtime_ns, st.st_size)
    if why:
        raise ProbeInputError(f"cafile {path!r}: {why}")
    return path


@functools.lru_cache(maxsize=16)
def _cafile_problem(path: str, mtime_ns: int, size: int) -> str | None:
    """What is wrong with a CA file (``None``: nothing), once per version of the file."""
    if os.path.isdir(path):
        return "is a folder, not a PEM file (give the file of CA certificates)"
    limit = 64 * 1024 * 1024  # a system bundle is about 200 KB
    if size > limit:
        return "is larger than 64 MiB: not a file of CA certificates"
    try:
        with open(path, "rb") as f:
            # read what stat says is there (plus one byte), not the limit: read(n) sets n bytes
            # aside first, and 64 MiB for a 1 KB file was a probe's whole memory budget
            data = f.read(min(size, limit) + 1 if size else 64 * 1024)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if b"-----BEGIN CERTIFICATE-----" not in data:
        return (
            "holds no PEM certificate (-----BEGIN CERTIFICATE-----); a DER file converts with "
            "openssl x509 -inform der"
        )
    try:
        ssl.create_default_context(cafile=path)
    except (ssl.SSLError, OSError, ValueError) as exc:
        return f"not a PEM file of CA certificates OpenSSL can load ({exc.__class__.__name__})"
    return None


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
    adaptive: bool = False,
) -> ProbeOptions:
    h = _check_host(host)
    p = _check_port(port)
    if mode not in schema.MODES:
        raise ProbeInputError(f"mode must be one of {', '.join(schema.MODES)}, not {mode!r}")
    t = _check_timeout(timeout, "timeout")
    d = _check_timeout(deadline, "deadline") if deadline is not None else deadline_for(t)
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
            connect_to = tuple(lab.address(h, p))
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
        cafile=_check_cafile(cafile),
        relay_check=bool(relay_check),
        tls_required_check=bool(tls_required_check),
        vantage=vantage or "unspecified",
        source=source,
        connect_to=connect_to,
        lab_error=lab_error,
        auth=credentials,
        allow_cleartext_auth=bool(allow_cleartext_auth),
        adaptive=bool(adaptive),
    )


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


#: The probe's own checks, for the command line to reuse: one set of rules for every input.
check_port = _check_port
check_timeout = _check_timeout
check_cafile = _check_cafile


# --- adaptive connect timeouts -----------------------------------------------------------------

#: A connect to a host whose other ports answered in ``r`` is given ``ADAPT_FACTOR × r``.
ADAPT_FACTOR: Final = 10
#: The shortest adaptive connect wait on loopback and in the lab, where no packet is lost: a
#: busy machine (two cores, a dozen processes) still connects there in a few milliseconds.
ADAPT_FLOOR_LOCAL: Final = 0.5
#: Linux resends an unanswered SYN after 1 s (RFC 6298's initial retransmission timeout):
#: across a real network the adaptive wait covers that resend and its answer, so one lost
#: packet never reads as a DROP rule.
SYN_RESEND: Final = 1.0


class RoundTrips:
    """The connect round trips seen per host during one :func:`~smtplab.probe_many` run, and
    the connect wait they justify, as nmap's timing does: once a port of a host has answered
    (a connection, or a refusal: both take one round trip), a connect to another port of the
    same host that takes far longer than that is being dropped, not slow.

    The wait for a connect is ``min(timeout, max(ADAPT_FACTOR × r, floor))`` where ``r`` is the
    slowest round trip seen to that host and ``floor`` is :data:`ADAPT_FLOOR_LOCAL` on loopback
    and in the lab, else :data:`SYN_RESEND` plus two round trips (a lost SYN is resent after
    1 s). Until some port of the host answers, nothing is known and the connect gets the whole
    ``timeout``. Ten round trips are generous: nmap's own wait is the smoothed round trip plus
    four deviations, and it resends instead. At 200 ms a dropped port costs 2 s, not 5.
    """

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}

    def add(self, host: str, seconds: float) -> None:
        key = host.lower()
        self.seen[key] = max(seconds, self.seen.get(key, 0.0))

    def wait(self, o: ProbeOptions) -> float:
        """Seconds a connect of ``o`` may take before it is called filtered."""
        if not o.adaptive:
            return o.timeout
        return self.wait_for(o.host, o.timeout, local=o.source == "lab" or o.loopback)

    def wait_for(self, host: str, timeout: float, *, local: bool) -> float:
        """Seconds a connect to ``host`` may take (``local``: loopback or the lab)."""
        r = self.seen.get(host.lower())
        if r is None:
            return timeout
        floor = ADAPT_FLOOR_LOCAL if local else SYN_RESEND + 2 * r
        return min(timeout, max(ADAPT_FACTOR * r, floor))


#: The :class:`RoundTrips` of the ``probe_many`` run this task belongs to (None: patient).
ROUND_TRIPS: contextvars.ContextVar[RoundTrips | None] = contextvars.ContextVar(
    "smtplab_round_trips", default=None
)
