"""What a probe result means: findings with a severity, and a guess of the port's role.

Everything here is a pure function of a record (a dict in the record schema), so a finding reads
the same for a live probe, a lab probe, a replayed recording and an imported nmap scan.

The findings are a table, :data:`RULES`: one :class:`Rule` per finding, with its stable code, its
severity, the condition on the record, the sentence it says and the source of that sentence.
Adding a finding is adding a row.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, cast

from smtplab.protocol import ehlo_keyword
from smtplab.rules import AUTH_TLS_VERSIONS as AUTH_TLS_VERSIONS  # kept importable from here
from smtplab.rules import SUBMISSION_PORTS as SUBMISSION_PORTS
from smtplab.schema import CERT_PROBLEMS as _CERT_PROBLEMS
from smtplab.schema import SEVERITIES, FindingDict, Severity

SEVERITY_ORDER: Final = {"high": 3, "medium": 2, "low": 1, "info": 0}


Record = Mapping[str, Any]


@dataclass(frozen=True)
class Finding:
    """One thing a probe found: a stable ``code``, a ``severity`` and one plain sentence."""

    code: str
    severity: Severity
    message: str

    def to_dict(self) -> FindingDict:
        return {"code": self.code, "severity": self.severity, "message": self.message}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Finding:
        """A finding read back from a record; a severity word outside the vocabulary (a
        hand-edited file) reads as ``info``, the least, rather than failing the whole file."""
        severity = str(d["severity"])
        known = severity if severity in SEVERITIES else "info"
        return cls(str(d["code"]), cast(Severity, known), str(d["message"]))


@dataclass(frozen=True)
class Rule:
    """One row of the findings table.

    ``when`` decides from the record alone; ``message`` is a :meth:`str.format_map` template over
    the record's fields and the derived values of :func:`_context` (``where``, ``why_filtered``,
    ``auth_before``, ``cert_note``, …); ``source`` names where the sentence's claim comes from.
    """

    code: str
    severity: Severity
    when: Callable[[Record], bool]
    message: str
    source: str

    def finding(self, ctx: Mapping[str, Any]) -> Finding:
        return Finding(self.code, self.severity, self.message.format_map(ctx))


# --- helpers the conditions use -----------------------------------------------------------------


def _tls_older_than_1_2(version: str | None) -> bool:
    return version in ("SSLv2", "SSLv3", "TLSv1", "TLSv1.0", "TLSv1.1")


#: STARTTLS overwritten with X's (Cisco's SMTP inspection writes XXXXXXXA): same length, so the
#: firewall can patch the reply in place.
_MASKED = re.compile(r"^X{7}[A-Z]$|^X{8}$")


def _masked(rec: Record) -> list[str]:
    return [str(e) for e in rec.get("extensions") or () if _MASKED.match(ehlo_keyword(str(e)))]


def _site(name: str) -> str:
    """The last two labels of a host name (``mx.lab.example`` -> ``lab.example``)."""
    return ".".join(name.lower().rstrip(".").split(".")[-2:])


def _greeting_from_elsewhere(rec: Record) -> str | None:
    """The host named in a 220 greeting when it belongs to another site than the one asked for.

    Servers greet with their own name (RFC 5321 §4.2); a mail host's MX name and its greeting
    usually share a domain. A greeting from an unrelated domain is the mark of a transparent
    proxy. Only compared when we asked for a name, not an address.
    """
    host = str(rec.get("host") or "")
    banner = rec.get("banner")
    if rec.get("outcome") != "open" or not banner or not host or ":" in host:
        return None
    if host.replace(".", "").isdigit():
        return None
    named = str(banner).split()[0] if str(banner).split() else ""
    if "." not in named or named.startswith("["):
        return None
    return named if _site(named) != _site(host) else None


def guess_role(rec: Record) -> str:
    """Guess what the port is for: relay, submission-starttls, submission-implicit or unknown."""
    if rec.get("outcome") != "open":
        return "unknown"
    auth_any = bool(rec.get("auth_before_tls")) or bool(rec.get("auth_after_tls"))
    if rec.get("tls_mode") == "implicit":
        return "submission-implicit" if auth_any or rec.get("port") == 465 else "unknown"
    if rec.get("starttls_offered"):
        if auth_any:
            return "submission-starttls"
        if rec.get("tls_mode") == "starttls" and rec.get("auth_after_tls") == []:
            return "relay"
    if rec.get("port") == 25 and not auth_any:
        return "relay"
    if auth_any and rec.get("port") in SUBMISSION_PORTS:
        return "submission-starttls"
    if not auth_any and rec.get("esmtp") is not None:
        return "relay"
    return "unknown"


def _is_relay(rec: Record) -> bool:
    """Server-to-server relay (port 25, or an unregistered port that offers no login) rather
    than submission by a mail client: the two live under different TLS rules."""
    port = rec.get("port")
    if port == 25:
        return True
    return port not in (*SUBMISSION_PORTS, 465) and guess_role(rec) == "relay"


# --- certificate problems -----------------------------------------------------------------------

#: Every certificate problem the probe can name, in the order findings list them. The probe
#: computes them from the certificate itself (:func:`smtplab.tls.certificate_problems`) and
#: records them as ``cert_problems``; older records get them from their fields
#: (:func:`cert_problems_of`).
# the words live with the record schema (certcheck reads them there, below findings)
CERT_PROBLEMS: Final = _CERT_PROBLEMS


def _parse_time(value: object) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        when = value
    elif isinstance(value, str) and value:
        try:
            when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


def _name_matches_record(host: str, names: Iterable[str]) -> bool | None:
    """Whether the recorded names cover the host; ``None`` when the record cannot tell (a name
    dialled, and only addresses recorded: the subject's CN would then decide)."""
    from smtplab.tls import name_matches

    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        ip = None
    dns: list[str] = []
    ips: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    for n in names:
        try:
            ips.append(ipaddress.ip_address(n))
        except ValueError:
            dns.append(n)
    if ip is not None:
        return ip in ips
    if not dns:
        return None
    return any(name_matches(host, pattern) for pattern in dns)


def cert_problems_of(rec: Record) -> tuple[str, ...]:
    """The certificate problems of a record, in :data:`CERT_PROBLEMS` order.

    A record that carries ``cert_problems`` (computed by the probe from the certificate) is
    taken at its word. Otherwise, for a certificate that failed verification, they are read
    from what the record holds: OpenSSL's first reason (``cert_error``), the expiry against the
    time of the probe, issuer against subject, and the names against the host. Weak keys and
    signatures need the certificate itself, so only the probe can name them.
    """
    listed = rec.get("cert_problems")
    if isinstance(listed, (list, tuple)):
        return tuple(p for p in CERT_PROBLEMS if p in listed)
    if rec.get("cert_verified") is not False:
        return ()
    from smtplab.tls import problems_from_verify_error, trust_from_verify_error

    err = rec.get("cert_error")
    found = set(problems_from_verify_error(err))
    not_after = _parse_time(rec.get("cert_not_after"))
    when = _parse_time(rec.get("started_at")) or dt.datetime.now(dt.timezone.utc)
    if not_after is not None and not_after < when:
        found.add("expired")
    subject, issuer = rec.get("cert_subject"), rec.get("cert_issuer")
    if subject and subject == issuer and trust_from_verify_error(err) is not True:
        found.add("self_signed")
        found.discard("unknown_issuer")  # a self-signed leaf has no issuer to look up
    san = [str(n) for n in rec.get("cert_san") or ()]
    host = str(rec.get("host") or "")
    if san and host and _name_matches_record(host, san) is False:
        found.add("name_mismatch")
    if not found:
        found.add("unknown_issuer")  # verification failed for a reason we cannot name
    return tuple(p for p in CERT_PROBLEMS if p in found)


def _cert_problem(kind: str) -> Callable[[Record], bool]:
    def when(rec: Record) -> bool:
        return bool(rec.get("tls_version")) and kind in cert_problems_of(rec)

    when.__name__ = f"cert_{kind}"
    return when


# --- the rule table -----------------------------------------------------------------------------


def _outcome(word: str) -> Callable[[Record], bool]:
    def when(rec: Record) -> bool:
        return rec.get("outcome") == word

    when.__name__ = f"outcome_{word}"
    return when


def _open(rec: Record) -> bool:
    return rec.get("outcome") == "open"


def _no_tls(rec: Record) -> bool:
    return _open(rec) and rec.get("tls_mode") == "none" and not rec.get("starttls_offered")


_RFC8997: Final = "RFC 8997 §3 (updating the list in RFC 8314 §4)"

RULES: Final[tuple[Rule, ...]] = (
    # -- what happened to the connection: one per outcome word (DESIGN.md) --
    Rule(
        "filtered",
        "medium",
        _outcome("filtered"),
        "The connection to {where} timed out: a firewall on the way probably drops it"
        "{why_filtered}.",
        "MAAWG, Managing Port 25 for Residential or Dynamic IP Space (2005); smtplab outcome "
        "words (DESIGN.md)",
    ),
    Rule(
        "refused",
        "info",
        _outcome("refused"),
        "Nothing accepted the connection on {where}: no server listens there, or a firewall "
        "rejects it.",
        "RFC 9293 §3.10.7.1 (a closed port answers with a reset)",
    ),
    Rule(
        "silent",
        "medium",
        _outcome("silent"),
        "{where} accepted the connection but sent no greeting: a tarpit, or a TLS-only port "
        "spoken to in cleartext.",
        "RFC 5321 §3.1 (the server speaks first, with a 220 greeting); RFC 8314 §3.3",
    ),
    Rule(
        "greeting_refused",
        "medium",
        _outcome("rejected"),
        "The server greeted with {banner_code}: it refuses to talk to this client "
        "(often a blocklist of home or cloud addresses).",
        "RFC 5321 §3.1 (554 instead of 220) and §4.2.3 (421)",
    ),
    Rule(
        "not_smtp",
        "medium",
        _outcome("not_smtp"),
        "Something answered on {where}, but it is not an SMTP server.",
        "RFC 5321 §4.2 (the syntax of a reply)",
    ),
    Rule(
        "dns_failed",
        "medium",
        _outcome("dns_failed"),
        "{unresolved}",
        "RFC 3493 §6.1 (getaddrinfo); smtplab outcome words (DESIGN.md)",
    ),
    Rule(
        "unreachable",
        "medium",
        _outcome("unreachable"),
        "There is no route to {host} from here.",
        "RFC 1122 §3.2.2.1 (destination unreachable); smtplab outcome words (DESIGN.md)",
    ),
    Rule(
        "reset",
        "medium",
        _outcome("reset"),
        "{where} dropped the connection in the middle of the conversation.",
        "RFC 9293 §3.5.2 (reset generation)",
    ),
    Rule(
        "tls_failed",
        "high",
        _outcome("tls_failed"),
        "The TLS handshake with {where} failed: {error_or_none}.",
        "RFC 8446 §6 (alerts end a failed handshake)",
    ),
    Rule(
        "error",
        "medium",
        _outcome("error"),
        "The probe failed: {error}.",
        "smtplab outcome words (DESIGN.md)",
    ),
    # -- what the server offers --
    Rule(
        "auth_before_tls",
        "high",
        lambda r: bool(r.get("auth_before_tls")) and r.get("tls_mode") != "implicit",
        "AUTH ({auth_before}) is offered before TLS: a client could send its password "
        "in cleartext.",
        "RFC 4954 §4 (no plaintext password mechanism before STARTTLS)",
    ),
    Rule(
        "no_starttls_submission",
        "high",
        lambda r: _no_tls(r) and r.get("port") in (*SUBMISSION_PORTS, 465),
        "Port {port} is a submission port but offers no STARTTLS: passwords and mail would "
        "travel unencrypted.",
        "RFC 8314 §4 and §4.1 (cleartext submission deprecated)",
    ),
    Rule(
        "no_starttls_relay",
        "low",
        lambda r: _no_tls(r) and r.get("port") == 25 and r.get("esmtp") is not None,
        "This relay offers no STARTTLS: mail between servers would travel unencrypted.",
        "RFC 3207 (STARTTLS); RFC 7435 (opportunistic security)",
    ),
    # -- the TLS session --
    Rule(
        "tls_outdated",
        "high",
        lambda r: _tls_older_than_1_2(r.get("tls_version")) and not _is_relay(r),
        "{tls_version} is older than TLS 1.2: for mail submission and access, RFC 8997 (2021) "
        "says providers SHOULD, as soon as practicable, move their users to TLS 1.2 or later "
        "and stop supporting the older versions.",
        _RFC8997,
    ),
    Rule(
        "tls_outdated_relay",
        "info",
        lambda r: _tls_older_than_1_2(r.get("tls_version")) and _is_relay(r),
        "{tls_version} is older than TLS 1.2. Between relays TLS is opportunistic, and even old "
        "TLS beats cleartext: RFC 8997's TLS 1.2 floor is written for mail submission and "
        "access, not for relay. Still, SSL and TLS before 1.2 are deprecated for every use.",
        "RFC 7435 (opportunistic security); RFC 8997 Abstract (its scope); RFC 6176, RFC 7568 "
        "and RFC 8996 (SSL 2.0, SSL 3.0, TLS 1.0 and 1.1 deprecated)",
    ),
    Rule(
        "cert_expired",
        "high",
        _cert_problem("expired"),
        "The server's certificate has expired.{cert_note_expired}",
        "RFC 5280 §4.1.2.5 and §6.1.3 (validity)",
    ),
    Rule(
        "cert_not_yet_valid",
        "high",
        _cert_problem("not_yet_valid"),
        "The server's certificate is not valid yet (or this machine's clock is wrong)."
        "{cert_note_not_yet_valid}",
        "RFC 5280 §4.1.2.5 and §6.1.3 (validity)",
    ),
    Rule(
        "cert_self_signed",
        "high",
        _cert_problem("self_signed"),
        "The certificate is self-signed: the connection is encrypted, but nothing proves who is "
        "at the other end.{cert_note_self_signed}",
        "RFC 5280 §6.1 (path validation ends at a trust anchor); RFC 7817",
    ),
    Rule(
        "cert_untrusted",
        "high",
        _cert_problem("unknown_issuer"),
        "The certificate does not chain to a trusted authority.{cert_note_unknown_issuer}",
        "RFC 5280 §6.1 (path validation); RFC 7817",
    ),
    Rule(
        "cert_wrong_purpose",
        "high",
        _cert_problem("wrong_purpose"),
        "The certificate is not issued for a TLS server: its Extended Key Usage (or that of a "
        "certificate above it) leaves out serverAuth, or its Key Usage forbids what a server "
        'does with its key. Mail clients refuse it ("unsuitable certificate purpose"), '
        "however trusted its issuer.{cert_note_wrong_purpose}",
        "RFC 5280 §4.2.1.12 (Extended Key Usage: id-kp-serverAuth) and §4.2.1.3 (Key Usage); "
        "OpenSSL's purpose sslserver",
    ),
    Rule(
        "cert_bad_extension",
        "high",
        _cert_problem("bad_extension"),
        "The certificate carries an extension marked critical that clients do not understand, "
        "or one they cannot read: they must refuse the certificate.{cert_note_bad_extension}",
        "RFC 5280 §4.2 (a critical extension that is not recognized must be rejected)",
    ),
    Rule(
        "cert_name_mismatch",
        "high",
        _cert_problem("name_mismatch"),
        "The certificate is not valid for the name {host}.{cert_note_name_mismatch}",
        "RFC 6125 §6.4 (matching DNS names, wildcards); RFC 7817",
    ),
    Rule(
        "cert_weak_key",
        "medium",
        _cert_problem("weak_key"),
        "The certificate's key is too weak (RSA under 2048 bits or elliptic curves under 224): "
        "it can be broken or is refused by current clients.",
        "NIST SP 800-131A Rev. 2 §3 (112 bits of security: RSA at least 2048 bits); OpenSSL "
        "security level 2 (SSL_CTX_set_security_level); CA/Browser Forum Baseline Requirements "
        "§6.1.5",
    ),
    Rule(
        "cert_weak_signature",
        "medium",
        _cert_problem("weak_signature"),
        "The certificate is signed with MD5 or SHA-1, whose collisions can be forged: current "
        "clients refuse it.",
        "RFC 6151 (MD5); CA/Browser Forum Baseline Requirements §7.1.3 (no SHA-1)",
    ),
    Rule(
        "tls_ok",
        "info",
        lambda r: (
            bool(r.get("tls_version")) and bool(r.get("cert_verified")) and not cert_problems_of(r)
        ),
        "Encrypted with {tls_version}, and the certificate is valid for {host}: "
        "encrypted and authenticated.",
        "RFC 7817 (checking a mail server's certificate); RFC 6125",
    ),
    # -- what a middlebox or the server's policy shows --
    Rule(
        "starttls_masked",
        "high",
        lambda r: bool(_masked(r)) and not r.get("starttls_offered"),
        "The EHLO reply lists {masked} where STARTTLS would stand: a firewall on the way "
        "rewrote the offer, so the client "
        "never starts TLS. That is a STARTTLS stripping attack, whoever does it.",
        "RFC 3207 §6 (deleting the STARTTLS offer is a man-in-the-middle attack); Cisco ASA "
        'Series Firewall CLI Configuration Guide, ch. 13, Defaults for ESMTP Inspection: "The '
        'STARTTLS indication is removed from the session connection attempt"',
    ),
    Rule(
        "greeting_from_elsewhere",
        "medium",
        lambda r: _greeting_from_elsewhere(r) is not None,
        "The greeting names {other_site}, not {host}: something on the way (an ISP, hotel or "
        "antivirus proxy) may be intercepting this port and answering itself.",
        "RFC 5321 §4.2 (the 220 greeting names the server)",
    ),
    Rule(
        "open_relay",
        "high",
        lambda r: r.get("relay_check") == "accepted",
        "The server accepted a recipient in a foreign domain without authentication: an open "
        "relay.",
        "RFC 5321 §3.6 (relaying is the server's policy); RFC 2505 (BCP 30)",
    ),
    Rule(
        "implicit_tls_465",
        "info",
        lambda r: _open(r) and r.get("tls_mode") == "implicit" and r.get("port") == 465,
        "Port 465 speaks implicit TLS, as RFC 8314 (2018) registers and recommends for submission.",
        "RFC 8314 §3.3 and §7.3",
    ),
    Rule(
        "port_2525_unofficial",
        "info",
        lambda r: _open(r) and r.get("port") == 2525,
        "2525 is not registered for SMTP (IANA lists it as ms-v-worlds); some sending services "
        "document it as an alternative for networks that block 587.",
        "IANA Service Name and Transport Protocol Port Number Registry (2525: ms-v-worlds); "
        'SparkPost SMTP docs: "Port 2525 is provided as an alternate port for cases where port '
        '587 is blocked" (data/reference/provider_ports.csv)',
    ),
)

_CERT_CODE: Final = {
    "expired": "cert_expired",
    "not_yet_valid": "cert_not_yet_valid",
    "self_signed": "cert_self_signed",
    "unknown_issuer": "cert_untrusted",
    "wrong_purpose": "cert_wrong_purpose",
    "bad_extension": "cert_bad_extension",
    "name_mismatch": "cert_name_mismatch",
    "weak_key": "cert_weak_key",
    "weak_signature": "cert_weak_signature",
}


def _unresolved(rec: Record) -> str:
    """Why a ``dns_failed`` host has no address: an IP literal needs no lookup, and the lab
    knows its own names only."""
    host = str(rec.get("host") or "")
    try:
        ipaddress.ip_address(host.strip("[]"))
        literal = True
    except ValueError:
        literal = False
    if rec.get("source") == "lab":
        if literal:
            return f"{host} is an IP address, not one of the lab's host names."
        return f"The lab has no host named {host}."
    if literal:
        return f"The address {host} could not be used."
    return f"The name {host} could not be resolved."


def _context(rec: Record) -> dict[str, Any]:
    """The record's fields plus the derived values the message templates use."""
    ctx: dict[str, Any] = {k: ("" if v is None else v) for k, v in rec.items()}
    port, host = rec.get("port"), rec.get("host")
    ctx["port"], ctx["host"] = port, host
    ctx["where"] = f"{host}:{port}"
    ctx["why_filtered"] = (
        ' (RFC 6409 §1: "many sites now prohibit outbound traffic on the standard SMTP port")'
        if port == 25
        else " (a network that allows only a few ports drops the rest this way)"
    )
    ctx["unresolved"] = _unresolved(rec)
    ctx["error"] = rec.get("error")
    ctx["error_or_none"] = rec.get("error") or "no reason given"
    ctx["auth_before"] = " ".join(rec.get("auth_before_tls") or [])
    masked = _masked(rec)
    ctx["masked"] = masked[0] if masked else ""
    ctx["other_site"] = _greeting_from_elsewhere(rec) or ""
    ctx["tls_version"] = rec.get("tls_version")
    ctx["banner_code"] = rec.get("banner_code")
    # OpenSSL's (or verify_chain's) words go with the problem they name.
    from smtplab.tls import verify_error_parts

    err = rec.get("cert_error")
    parts = dict(verify_error_parts(err))
    for kind in CERT_PROBLEMS:
        ctx[f"cert_note_{kind}"] = f" ({parts[kind]})" if kind in parts else ""
    if err and not parts:
        ctx["cert_note_unknown_issuer"] = f" ({err})"
    return ctx


def analyze(rec: Record, extra: Iterable[Finding] = ()) -> tuple[Finding, ...]:
    """The findings for a record, most severe first.

    ``extra`` carries what only the live conversation could see (a STARTTLS response injection,
    an automatic retry with implicit TLS); they are merged in.
    """
    out: list[Finding] = list(extra)
    ctx: dict[str, Any] | None = None
    for rule in RULES:
        if rule.when(rec):
            ctx = _context(rec) if ctx is None else ctx
            out.append(rule.finding(ctx))
    # drop duplicate codes, keep the first; most severe first (stable)
    seen: set[str] = set()
    unique: list[Finding] = []
    for f in out:
        if f.code not in seen:
            seen.add(f.code)
            unique.append(f)
    unique.sort(key=lambda f: -SEVERITY_ORDER.get(f.severity, 0))
    return tuple(unique)


def rule_for(code: str) -> Rule | None:
    """The table row behind a finding code (``None`` for findings only a live probe makes)."""
    return next((r for r in RULES if r.code == code), None)


def cert_finding_code(problem: str) -> str:
    """The finding code for a certificate problem (``unknown_issuer`` -> ``cert_untrusted``)."""
    return _CERT_CODE[problem]


def top_finding(findings: Iterable[Finding | Mapping[str, Any]]) -> Finding | None:
    """The most severe finding (the first, since :func:`analyze` sorts them)."""
    best: Finding | None = None
    for item in findings:
        f = item if isinstance(item, Finding) else Finding.from_dict(item)
        if best is None or SEVERITY_ORDER.get(f.severity, 0) > SEVERITY_ORDER.get(best.severity, 0):
            best = f
    return best
