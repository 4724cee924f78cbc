"""What one probe record proves: who answered, whether TLS was verified, whether STARTTLS was
masked or stripped, and one plain sentence saying so.

Everything here reads a record (a dict in the record schema) and nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from smtplab.findings import AUTH_TLS_VERSIONS
from smtplab.schema import OUTCOME_MEANING

__all__ = [
    "answered_by",
    "codes",
    "describe",
    "intercepted",
    "oauth_only",
    "old_tls",
    "stripped",
    "verified_tls",
]

_MASKED: Final = re.compile(r"^X{7}[A-Z]$|^X{8}$")
_EHLO_REPLY: Final = re.compile(r"^250[- ](\S+)")


def codes(rec: Mapping[str, Any]) -> set[str]:
    """The finding codes of a record."""
    out = set()
    for f in rec.get("findings") or ():
        code = f.get("code") if isinstance(f, Mapping) else getattr(f, "code", None)
        if code:
            out.add(str(code))
    return out


def _site(name: str) -> str:
    return ".".join(name.lower().rstrip(".").split(".")[-2:])


def _is_name(text: str) -> bool:
    return "." in text and not text.startswith("[") and not text.replace(".", "").isdigit()


def _ehlo_name(rec: Mapping[str, Any]) -> str | None:
    """The name in the first EHLO reply line of the transcript, if any."""
    after_ehlo = False
    for line in rec.get("transcript") or ():
        d = line if isinstance(line, Mapping) else getattr(line, "to_dict", lambda: {})()
        text, direction = str(d.get("text", "")), d.get("dir")
        if direction == "client" and text.upper().startswith("EHLO"):
            after_ehlo = True
        elif after_ehlo and direction == "server":
            m = _EHLO_REPLY.match(text)
            return m.group(1) if m else None
    return None


def answered_by(rec: Mapping[str, Any]) -> str | None:
    """The name the server gave for itself (greeting first, else the EHLO reply)."""
    banner = str(rec.get("banner") or "").split()
    if banner and _is_name(banner[0]):
        return banner[0]
    name = _ehlo_name(rec)
    return name if name and _is_name(name) else None


def verified_tls(rec: Mapping[str, Any]) -> bool:
    """True when the conversation ran under TLS whose certificate was verified for the host."""
    return rec.get("tls_mode") in ("implicit", "starttls") and rec.get("cert_verified") is True


def old_tls(rec: Mapping[str, Any]) -> str | None:
    """The TLS version, when the record names one older than the TLS floor (1.2, see
    :data:`smtplab.findings.AUTH_TLS_VERSIONS`); None when it names none (an imported record)."""
    version = rec.get("tls_version")
    if rec.get("tls_mode") not in ("implicit", "starttls") or not version:
        return None
    return None if version in AUTH_TLS_VERSIONS else str(version)


def intercepted(rec: Mapping[str, Any]) -> bool:
    """A greeting or EHLO name from another site than the host dialled, with no certificate
    valid for the host to prove otherwise: something on the way answered in the server's place."""
    if rec.get("outcome") != "open" or verified_tls(rec):
        return False
    host = str(rec.get("host") or "")
    if not _is_name(host) or ":" in host:
        return False
    name = answered_by(rec)
    return name is not None and _site(name) != _site(host)


#: SASL mechanisms that carry an OAuth 2.0 token, not a password (RFC 7628; Google's XOAUTH2).
OAUTH_MECHANISMS: Final = frozenset({"XOAUTH2", "OAUTHBEARER"})


def oauth_only(rec: Mapping[str, Any]) -> bool:
    """The server's AUTH list under TLS names only OAuth mechanisms (XOAUTH2, OAUTHBEARER):
    a password has no mechanism to travel in, so the login is a token."""
    mechs = rec.get("auth_after_tls") or (
        rec.get("auth_before_tls") if rec.get("tls_mode") == "implicit" else None
    )
    names = {str(m).upper() for m in mechs or ()}
    return bool(names) and names <= OAUTH_MECHANISMS


def stripped(rec: Mapping[str, Any]) -> bool:
    """STARTTLS masked in the EHLO reply (``XXXXXXXA``), as SMTP-inspecting firewalls do."""
    if "starttls_masked" in codes(rec):
        return True
    masked = any(_MASKED.match(str(e)) for e in rec.get("extensions") or ())
    return masked and not rec.get("starttls_offered")


def _certificate(rec: Mapping[str, Any]) -> str:
    if rec.get("tls_mode") not in ("implicit", "starttls"):
        return ""
    if rec.get("cert_verified") is True:
        return f"its certificate is valid for {rec.get('host')}"
    err = rec.get("cert_error") or "it could not be verified"
    return f"its certificate is not valid for {rec.get('host')} ({err})"


def describe(rec: Mapping[str, Any]) -> str:
    """One plain sentence: the outcome, who answered, TLS and certificate, key findings."""
    port = rec.get("port")
    outcome = str(rec.get("outcome"))
    if outcome != "open":
        meaning = OUTCOME_MEANING.get(outcome, "")
        return f"Port {port} came back {outcome}. {meaning}".rstrip()
    parts = [f"Port {port} answered (open)"]
    name = answered_by(rec)
    if name:
        parts.append(f"greeting as {name}")
    mode = rec.get("tls_mode")
    version = f" ({rec.get('tls_version')})" if old_tls(rec) else ""
    if mode == "implicit":
        parts.append(f"with TLS{version} from the first byte")
    elif mode == "starttls":
        parts.append(f"and upgraded with STARTTLS{version}")
    elif stripped(rec):
        parts.append("but STARTTLS was masked as XXXXXXXA in its EHLO reply")
    else:
        parts.append("with no TLS at all")
    cert = _certificate(rec)
    if cert:
        parts.append(cert)
    auth_before = rec.get("auth_before_tls") or []
    auth_after = rec.get("auth_after_tls")
    if auth_before and mode != "implicit":
        parts.append(f"AUTH {' '.join(auth_before)} is offered in cleartext")
    elif auth_after:
        parts.append(f"AUTH {' '.join(auth_after)} is offered under TLS")
    elif auth_after == [] and mode in ("implicit", "starttls"):
        parts.append("no AUTH is offered, even under TLS")
    return ", ".join(parts) + "."
