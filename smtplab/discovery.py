"""Discovery: where a domain's mail is delivered, and where its users submit mail.

Two questions, two kinds of DNS record:

* **Delivery** (server to server, port 25) follows the domain's **MX** records (RFC 5321 §5):
  the lowest *preference* number is tried first. A domain with no MX record at all still gets
  mail at its own address — the "implicit MX" of RFC 5321 §5.1. A single MX record ``0 .`` is a
  *null MX* (RFC 7505): the domain says it accepts no mail at all.
* **Submission** (your mail program to your provider) can be advertised with **SRV** records:
  ``_submission._tcp.<domain>`` for port 587 with STARTTLS (RFC 6186) and
  ``_submissions._tcp.<domain>`` for implicit TLS, usually port 465 (RFC 8314 §5.1). A target of
  ``.`` means "this service is deliberately not offered here". Few domains publish these records;
  most mail programs are still told the server by hand.

>>> found = discover("lab.test", nameservers=["127.0.0.1"], port=5353)   # doctest: +SKIP
>>> print(found.explain())                                                 # doctest: +SKIP
Mail for lab.test is delivered to mx1.lab.test on port 25 (preference 10); ...

DNS trouble (a name that does not exist, a server that never answers) is *data*: it lands in
``Discovery.errors`` and :func:`discover` returns normally. Only bad input — an empty domain, one
with a newline in it, an IP address where a domain belongs — raises
:class:`smtplab.engine.ProbeInputError`.

Which DNS server is asked: the ``nameservers`` you pass (with ``port``); else the environment
variable ``SMTPLAB_NAMESERVER`` (``127.0.0.1:5353``, ``[::1]:53``, several separated by commas —
handy to point the ``smtplab probe --mx`` command at a lab DNS server); else the system's
resolver configuration (``/etc/resolv.conf``).
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from smtplab.engine.options import ProbeInputError, _check_host

__all__ = ["NAMESERVER_ENV", "Discovery", "MXHost", "SRVTarget", "discover"]

#: Environment variable naming the DNS server(s) to ask when ``nameservers`` is not given.
NAMESERVER_ENV: Final = "SMTPLAB_NAMESERVER"

#: The port delivery between mail servers always uses (RFC 5321 §4.5.4.2 and IANA).
DELIVERY_PORT: Final = 25


@dataclass(frozen=True)
class MXHost:
    """One mail exchanger: a host name and its preference (lower numbers are tried first)."""

    host: str
    preference: int


@dataclass(frozen=True)
class SRVTarget:
    """One SRV answer: where a service runs (host and port) and how to pick among several.

    Lower ``priority`` is tried first; among equal priorities, ``weight`` shares the load
    (RFC 2782).
    """

    host: str
    port: int
    priority: int
    weight: int


@dataclass(frozen=True)
class Discovery:
    """What DNS says about one mail domain. Build it with :func:`discover`.

    ``mx`` is sorted by preference (then name, so output is stable); for a domain without MX
    records but with an address it holds the domain itself (``implicit_mx`` is then true).
    ``submission`` (STARTTLS, RFC 6186) and ``submissions`` (implicit TLS, RFC 8314) are sorted by
    priority, heavier weight first. ``errors`` lists DNS problems in plain words; ``notes`` lists
    other things worth knowing (a service explicitly declined with a ``.`` target, a null MX mixed
    with other MX records).
    """

    domain: str
    mx: tuple[MXHost, ...] = ()
    submission: tuple[SRVTarget, ...] = ()
    submissions: tuple[SRVTarget, ...] = ()
    null_mx: bool = False
    implicit_mx: bool = False
    errors: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def targets(self) -> list[tuple[str, int]]:
        """``(host, port)`` pairs worth probing: MX hosts on 25, then the submission services.

        Implicit-TLS submission comes before STARTTLS submission, as RFC 8314 §3 recommends;
        duplicates are dropped and order is kept.
        """
        out: list[tuple[str, int]] = []
        for pair in [
            *((m.host, DELIVERY_PORT) for m in self.mx),
            *((s.host, s.port) for s in self.submissions),
            *((s.host, s.port) for s in self.submission),
        ]:
            if pair not in out:
                out.append(pair)
        return out

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (lists, not tuples), ready for JSON or a DataFrame."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def explain(self) -> str:
        """The findings in plain words, a few sentences a learner can read aloud."""
        d = self.domain
        parts: list[str] = []
        if self.null_mx:
            parts.append(
                f"{d} publishes a null MX record (RFC 7505): it accepts no mail at all, so a "
                "sending server gives up at once instead of retrying for days."
            )
        elif self.implicit_mx and self.mx:
            parts.append(
                f"{d} has no MX record, so mail goes to the domain's own address — the "
                f'"implicit MX" of RFC 5321 §5.1: {self.mx[0].host} on port {DELIVERY_PORT}.'
            )
        elif self.mx:
            first, rest = self.mx[0], self.mx[1:]
            text = (
                f"Mail for {d} is delivered to {first.host} on port {DELIVERY_PORT} "
                f"(preference {first.preference})"
            )
            if rest:
                backups = ", then ".join(f"{m.host} (preference {m.preference})" for m in rest)
                text += f"; if that fails, to {backups}"
            text += ". Lower preference numbers are tried first (RFC 5321 §5)."
            if len({m.preference for m in self.mx}) < len(self.mx):
                text += " Hosts with equal preference share the load."
            parts.append(text)
        elif not self.errors:
            parts.append(f"{d} has no MX record and no address: mail to it cannot be delivered.")

        subs = [(s, "implicit TLS, RFC 8314") for s in self.submissions] + [
            (s, "STARTTLS, RFC 6186") for s in self.submission
        ]
        if subs:
            where = "; or ".join(f"{s.host}:{s.port} ({how})" for s, how in subs)
            parts.append(f"Users submit their mail to {where}.")
        elif not self.errors:
            parts.append(
                f"{d} advertises no submission service in DNS (no _submission or _submissions "
                "SRV record, RFC 6186): mail programs must be told the server by hand."
            )
        parts.extend(self.notes)
        if self.errors:
            parts.append("DNS problems: " + "; ".join(self.errors) + ".")
        return " ".join(parts)

    def __str__(self) -> str:
        return self.explain()


# --- input ------------------------------------------------------------------------------------


def _check_domain(domain: object) -> str:
    if isinstance(domain, str) and domain.strip() == ".":
        raise ProbeInputError(
            "the DNS root '.' is not a mail domain: give a name such as example.org"
        )
    h = _check_host(domain)
    try:
        ipaddress.ip_address(h)
    except ValueError:
        pass
    else:
        raise ProbeInputError(
            f"{domain!r} is an address, not a mail domain: give a name such as example.org"
        )
    return h


def _parse_nameserver(text: str, default_port: int) -> tuple[str, int]:
    """``127.0.0.1``, ``127.0.0.1:5353``, ``::1``, ``[::1]:5353`` -> (address, port)."""
    t = text.strip()
    addr, port = t, default_port
    if t.startswith("["):
        addr, _, rest = t[1:].partition("]")
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit():
                raise ProbeInputError(f"DNS server {text!r}: write [address]:port, e.g. [::1]:5353")
            port = int(rest[1:])
    elif t.count(":") == 1:
        addr, _, p = t.partition(":")
        if not p.isdigit():
            raise ProbeInputError(f"DNS server {text!r}: the port must be a number")
        port = int(p)
    try:
        addr = str(ipaddress.ip_address(addr))
    except ValueError:
        raise ProbeInputError(
            f"DNS server {text!r} is not an IP address (e.g. 127.0.0.1 or 127.0.0.1:5353)"
        ) from None
    if not 1 <= port <= 65535:
        raise ProbeInputError(f"DNS server port {port} is out of range: ports run from 1 to 65535")
    return addr, port


def _servers(nameservers: Sequence[str] | str | None, port: int) -> list[tuple[str, int]] | None:
    """The DNS servers to ask, or None for the system's configuration."""
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ProbeInputError(f"port must be a number from 1 to 65535, not {port!r}")
    if nameservers is None:
        env = os.environ.get(NAMESERVER_ENV, "").strip()
        if not env:
            return None
        nameservers = env.split(",")
    elif isinstance(nameservers, str):
        nameservers = [nameservers]
    servers = [_parse_nameserver(s, port) for s in nameservers if s.strip()]
    if not servers:
        raise ProbeInputError("nameservers is empty: give at least one address, or None")
    return servers


# --- lookups ----------------------------------------------------------------------------------


class _Lookup:
    """One resolver setup and an overall deadline shared by every query of a discovery."""

    def __init__(self, servers: list[tuple[str, int]] | None, timeout: float) -> None:
        self.servers = servers
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout

    def _resolver(self, lifetime: float) -> Any:
        import dns.nameserver
        import dns.resolver

        if self.servers is None:
            r = dns.resolver.Resolver(configure=True)
        else:
            r = dns.resolver.Resolver(configure=False)
            r.nameservers = [dns.nameserver.Do53Nameserver(a, p) for a, p in self.servers]
        r.timeout = lifetime
        r.lifetime = lifetime
        r.cache = None
        return r

    def where(self) -> str:
        if self.servers is None:
            return "the system's DNS servers"
        return ", ".join(f"[{a}]:{p}" if ":" in a else f"{a}:{p}" for a, p in self.servers)

    def query(self, name: str, rdtype: str) -> tuple[list[Any], str | None, str]:
        """Ask one question: ``(records, problem in words or None, kind)``.

        ``kind`` is ``ok`` (an answer, possibly empty: the name has no record of this type),
        ``nxdomain`` (the name does not exist), ``timeout`` or ``error``.
        """
        import dns.exception
        import dns.resolver

        remaining = self.deadline - time.monotonic()
        label = f"{rdtype} lookup for {name}"
        if remaining <= 0.001:
            return (
                [],
                f"{label}: not asked, the {self.timeout:g} s time limit was used up",
                "timeout",
            )
        try:
            answer = self._resolver(remaining).resolve(name, rdtype, raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            return [], f"{label}: the name does not exist (NXDOMAIN)", "nxdomain"
        except dns.resolver.NoResolverConfiguration:
            return [], f"{label}: no DNS server is configured on this machine", "error"
        except dns.exception.Timeout:
            return [], f"{label}: no answer within {self.timeout:g} s (timeout)", "timeout"
        except dns.resolver.NoNameservers as exc:
            return [], f"{label}: every DNS server failed to answer ({exc})", "error"
        except dns.exception.DNSException as exc:
            return [], f"{label}: {exc}", "error"
        except OSError as exc:  # e.g. no route to the DNS server
            return [], f"{label}: {exc.strerror or exc}", "error"
        return list(answer), None, "ok"


def _host(name: Any) -> str:
    return str(name.to_text(omit_final_dot=True))


@dataclass
class _Said:
    """What a discovery has to say besides its answers: errors, notes, unanswered questions."""

    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    timeouts: list[str] = field(default_factory=list)


def _mx_hosts(
    name: str, answer: tuple[Any, str | None, str], look: _Lookup, said: _Said
) -> tuple[list[MXHost], bool, bool]:
    """The MX hosts by preference, whether the domain has a null MX, and whether the domain's
    own address stands in for a missing MX (RFC 5321 §5.1)."""
    mx_records, mx_error, mx_kind = answer
    mx: list[MXHost] = []
    if mx_kind == "nxdomain":
        said.errors.append(f"{name} does not exist in DNS (NXDOMAIN)")
        return mx, False, False
    if mx_kind == "timeout":
        said.timeouts.append("MX")
        return mx, False, False
    if mx_error:
        said.errors.append(mx_error)
        return mx, False, False
    real = [r for r in mx_records if r.exchange.to_text() != "."]
    nulls = len(mx_records) - len(real)
    mx = sorted(
        (MXHost(_host(r.exchange), int(r.preference)) for r in real),
        key=lambda m: (m.preference, m.host.lower()),
    )
    if nulls and not real:
        return mx, True, False
    if nulls:
        said.notes.append(
            f"{name} mixes a null MX ('.') with other MX records, which RFC 7505 §3 forbids; "
            "senders use the other records."
        )
    if mx_records:
        return mx, False, False
    # No MX at all: RFC 5321 §5.1 says the domain's own address is the mail exchanger.
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        fa = pool.submit(look.query, name, "A")
        fb = pool.submit(look.query, name, "AAAA")
        (a, a_err, a_kind), (aaaa, aaaa_err, aaaa_kind) = fa.result(), fb.result()
    if a or aaaa:
        return [MXHost(name, 0)], False, True
    for err, kind, what in ((a_err, a_kind, "A"), (aaaa_err, aaaa_kind, "AAAA")):
        if kind == "timeout":
            said.timeouts.append(what)
        elif err:
            said.errors.append(err)
    return mx, False, False


def _srv_targets(
    name: str, key: str, answer: tuple[Any, str | None, str], service: str, said: _Said
) -> tuple[SRVTarget, ...]:
    """The SRV targets by priority and weight (RFC 2782), or none."""
    records, error, kind = answer
    if kind == "timeout":
        said.timeouts.append(f"SRV _{key}")
    elif error and kind != "nxdomain":  # NXDOMAIN for an SRV name just means "not published"
        said.errors.append(error)
    if error:
        return ()
    real = [r for r in records if r.target.to_text() != "."]
    if records and not real:
        said.notes.append(
            f"{name} declares that it offers no {service} service (SRV target '.', RFC 6186 §3)."
        )
    return tuple(
        sorted(
            (SRVTarget(_host(r.target), int(r.port), int(r.priority), int(r.weight)) for r in real),
            key=lambda s: (s.priority, -s.weight, s.host.lower(), s.port),
        )
    )


def discover(
    domain: str,
    *,
    nameservers: Sequence[str] | str | None = None,
    port: int = 53,
    timeout: float = 5.0,
) -> Discovery:
    """Look up where mail for ``domain`` is delivered (MX) and where its users submit (SRV).

    ``nameservers`` are DNS server addresses to ask (``"127.0.0.1"`` or ``"127.0.0.1:5353"``) on
    ``port``; without them, ``$SMTPLAB_NAMESERVER`` or the system's resolver is used.
    ``timeout`` bounds the whole discovery: the MX and both SRV questions are asked side by side,
    and a DNS server that never answers costs the timeout once. DNS problems come back in
    ``Discovery.errors``; only bad input raises :class:`~smtplab.engine.ProbeInputError`.
    """
    name = _check_domain(domain)
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not (0 < float(timeout) <= 600)
    ):
        raise ProbeInputError(f"timeout must be between 0 and 600 seconds, not {timeout!r}")
    servers = _servers(nameservers, port)
    try:
        import dns.resolver  # noqa: F401
    except ImportError:  # pragma: no cover - dnspython is a dependency
        raise ProbeInputError("discovery needs dnspython: pip install dnspython") from None

    look = _Lookup(servers, float(timeout))
    questions = {
        "mx": (name, "MX"),
        "submission": (f"_submission._tcp.{name}", "SRV"),
        "submissions": (f"_submissions._tcp.{name}", "SRV"),
    }
    # Three threads, so one slow answer does not delay the others; each query carries the
    # remaining time of the shared deadline, so the whole call ends within ``timeout``.
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        futures = {key: pool.submit(look.query, *q) for key, q in questions.items()}
        answers = {key: f.result() for key, f in futures.items()}

    said = _Said()
    mx, null_mx, implicit_mx = _mx_hosts(name, answers["mx"], look, said)
    submission = _srv_targets(
        name, "submission", answers["submission"], "STARTTLS submission (port 587 style)", said
    )
    submissions = _srv_targets(
        name,
        "submissions",
        answers["submissions"],
        "implicit-TLS submission (port 465 style)",
        said,
    )
    errors, notes, timeouts = said.errors, said.notes, said.timeouts
    if timeouts:
        # One sentence for all the questions that went unanswered, not one per question.
        errors.append(
            f"no answer from {look.where()} within {look.timeout:g} s (timeout) for "
            f"the {', '.join(timeouts)} lookup{'s' if len(timeouts) > 1 else ''} "
            f"of {name}"
        )
    return Discovery(
        domain=name,
        mx=tuple(mx),
        submission=submission,
        submissions=submissions,
        null_mx=null_mx,
        implicit_mx=implicit_mx,
        errors=tuple(errors),
        notes=tuple(notes),
    )
