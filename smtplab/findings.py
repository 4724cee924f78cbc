"""What a probe result means: findings with a severity, and a guess of the port's role.

Everything here is a pure function of a record (a dict in the record schema), so a finding reads
the same for a live probe, a lab probe, a replayed recording and an imported nmap scan.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

SEVERITY_ORDER: Final = {"high": 3, "medium": 2, "low": 1, "info": 0}

SUBMISSION_PORTS: Final = (587, 2525)


@dataclass(frozen=True)
class Finding:
    """One thing a probe found: a stable ``code``, a ``severity`` and one plain sentence."""

    code: str
    severity: str  # info, low, medium, high
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "severity": self.severity, "message": self.message}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Finding:
        return cls(str(d["code"]), str(d["severity"]), str(d["message"]))


def _tls_older_than_1_2(version: str | None) -> bool:
    return version in ("SSLv2", "SSLv3", "TLSv1", "TLSv1.0", "TLSv1.1")


#: STARTTLS overwritten with X's (Cisco's SMTP inspection writes XXXXXXXA): same length, so the
#: firewall can patch the reply in place.
_MASKED = re.compile(r"^X{7}[A-Z]$|^X{8}$")


def _site(name: str) -> str:
    """The last two labels of a host name (``mx.lab.example`` -> ``lab.example``)."""
    return ".".join(name.lower().rstrip(".").split(".")[-2:])


def _greeting_from_elsewhere(rec: Mapping[str, Any]) -> str | None:
    """The host named in a 220 greeting when it belongs to another site than the one asked for.

    Servers greet with their own name (RFC 5321 §4.3.1); a mail host's MX name and its greeting
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


def guess_role(rec: Mapping[str, Any]) -> str:
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


def analyze(rec: Mapping[str, Any], extra: Iterable[Finding] = ()) -> tuple[Finding, ...]:
    """The findings for a record, most severe first.

    ``extra`` carries what only the live conversation could see (a STARTTLS response injection,
    an automatic retry with implicit TLS); they are merged in.
    """
    out: list[Finding] = list(extra)
    outcome = rec.get("outcome")
    port = rec.get("port")
    host = rec.get("host")
    where = f"{host}:{port}"

    if outcome == "filtered":
        why = (
            " (many ISPs and clouds block port 25 this way, against spam from infected machines)"
            if port == 25
            else " (a network that allows only a few ports drops the rest this way)"
        )
        out.append(
            Finding(
                "filtered",
                "medium",
                f"The connection to {where} timed out: a firewall on the way probably drops it{why}.",
            )
        )
    elif outcome == "refused":
        out.append(
            Finding(
                "refused",
                "info",
                f"Nothing accepted the connection on {where}: no server listens there, or a firewall "
                "rejects it.",
            )
        )
    elif outcome == "silent":
        out.append(
            Finding(
                "silent",
                "medium",
                f"{where} accepted the connection but sent no greeting: a tarpit, or a TLS-only port "
                "spoken to in cleartext.",
            )
        )
    elif outcome == "rejected":
        out.append(
            Finding(
                "greeting_refused",
                "medium",
                f"The server greeted with {rec.get('banner_code')}: it refuses to talk to this client "
                "(often a blocklist of home or cloud addresses).",
            )
        )
    elif outcome == "not_smtp":
        out.append(
            Finding(
                "not_smtp",
                "medium",
                f"Something answered on {where}, but it is not an SMTP server.",
            )
        )
    elif outcome == "dns_failed":
        out.append(Finding("dns_failed", "medium", f"The name {host} could not be resolved."))
    elif outcome == "unreachable":
        out.append(Finding("unreachable", "medium", f"There is no route to {host} from here."))
    elif outcome == "reset":
        out.append(
            Finding(
                "reset",
                "medium",
                f"{where} dropped the connection in the middle of the conversation.",
            )
        )
    elif outcome == "tls_failed":
        out.append(
            Finding(
                "tls_failed",
                "high",
                f"The TLS handshake with {where} failed: {rec.get('error') or 'no reason given'}.",
            )
        )
    elif outcome == "error":
        out.append(Finding("error", "medium", f"The probe failed: {rec.get('error')}."))

    auth_before = rec.get("auth_before_tls") or []
    if auth_before and rec.get("tls_mode") != "implicit":
        out.append(
            Finding(
                "auth_before_tls",
                "high",
                f"AUTH ({' '.join(auth_before)}) is offered before TLS: a client could send its password "
                "in cleartext.",
            )
        )
    if outcome == "open" and rec.get("tls_mode") == "none" and not rec.get("starttls_offered"):
        if port in SUBMISSION_PORTS or port == 465:
            out.append(
                Finding(
                    "no_starttls_submission",
                    "high",
                    f"Port {port} is a submission port but offers no STARTTLS: passwords and mail would "
                    "travel unencrypted.",
                )
            )
        elif port == 25 and rec.get("esmtp") is not None:
            out.append(
                Finding(
                    "no_starttls_relay",
                    "low",
                    "This relay offers no STARTTLS: mail between servers would travel unencrypted.",
                )
            )
    if rec.get("tls_version"):
        if _tls_older_than_1_2(rec.get("tls_version")):
            out.append(
                Finding(
                    "tls_outdated",
                    "high",
                    f"{rec.get('tls_version')} is older than TLS 1.2, which RFC 8997 (2021) requires "
                    "as the minimum.",
                )
            )
        verified = rec.get("cert_verified")
        if verified is False:
            from smtplab.tls import classify_verify_error

            kind = classify_verify_error(rec.get("cert_error"))
            texts = {
                "expired": ("cert_expired", "The server's certificate has expired."),
                "self_signed": (
                    "cert_self_signed",
                    "The certificate is self-signed: the connection is encrypted, but nothing "
                    "proves who is at the other end.",
                ),
                "name_mismatch": (
                    "cert_name_mismatch",
                    f"The certificate is not valid for the name {host}.",
                ),
                "untrusted": (
                    "cert_untrusted",
                    "The certificate does not chain to a trusted authority.",
                ),
            }
            code, msg = texts.get(kind or "untrusted", texts["untrusted"])
            out.append(Finding(code, "high", f"{msg} ({rec.get('cert_error')})"))
        elif verified:
            out.append(
                Finding(
                    "tls_ok",
                    "info",
                    f"Encrypted with {rec.get('tls_version')}, and the certificate is valid for {host}: "
                    "encrypted and authenticated.",
                )
            )
    masked = [e for e in rec.get("extensions") or () if _MASKED.match(str(e))]
    if masked and not rec.get("starttls_offered"):
        out.append(
            Finding(
                "starttls_masked",
                "high",
                f"The EHLO reply lists {masked[0]} where STARTTLS would stand: a firewall on the way "
                "rewrote the offer (SMTP inspection in some firewalls does this), so the client "
                "never starts TLS. That is a STARTTLS stripping attack, whoever does it.",
            )
        )
    other = _greeting_from_elsewhere(rec)
    if other:
        out.append(
            Finding(
                "greeting_from_elsewhere",
                "medium",
                f"The greeting names {other}, not {host}: something on the way (an ISP, hotel or "
                "antivirus proxy) may be intercepting this port and answering itself.",
            )
        )
    if rec.get("relay_check") == "accepted":
        out.append(
            Finding(
                "open_relay",
                "high",
                "The server accepted a recipient in a foreign domain without authentication: an open "
                "relay.",
            )
        )
    if outcome == "open" and rec.get("tls_mode") == "implicit" and port == 465:
        out.append(
            Finding(
                "implicit_tls_465",
                "info",
                "Port 465 speaks implicit TLS, as RFC 8314 (2018) registers and recommends for "
                "submission.",
            )
        )
    if outcome == "open" and port == 2525:
        out.append(
            Finding(
                "port_2525_unofficial",
                "info",
                "2525 is not registered for SMTP (IANA lists it as ms-v-worlds); providers offer it "
                "when 587 is blocked.",
            )
        )
    # drop duplicate codes, keep the first; most severe first (stable)
    seen: set[str] = set()
    unique = [f for f in out if not (f.code in seen or seen.add(f.code))]  # type: ignore[func-returns-value]
    unique.sort(key=lambda f: -SEVERITY_ORDER.get(f.severity, 0))
    return tuple(unique)


def top_finding(findings: Iterable[Finding | Mapping[str, Any]]) -> Finding | None:
    """The most severe finding (the first, since :func:`analyze` sorts them)."""
    best: Finding | None = None
    for f in findings:
        f = f if isinstance(f, Finding) else Finding.from_dict(f)
        if best is None or SEVERITY_ORDER.get(f.severity, 0) > SEVERITY_ORDER.get(best.severity, 0):
            best = f
    return best
