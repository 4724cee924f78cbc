"""What synthetic servers say: host traits, and a probe's fixed part as a JSON template.

The rules that make :mod:`smtplab.synthetic` records look like a scan (software, TLS versions,
certificates that fail in the usual ways, findings that follow from them, the SMTP conversation
of an open port, the ways a probe fails) live here; :mod:`smtplab.synthetic` draws everything
that changes probe to probe and joins the two.
"""

from __future__ import annotations

import functools
import json
import random
import re
import zlib
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np

from smtplab.schema import FIELD_NAMES

_START = datetime(2026, 11, 1, tzinfo=timezone.utc)
_PORTS = (25, 465, 587, 2525)
_PORT_WEIGHTS = (0.4, 0.2, 0.3, 0.1)
#: vantage -> probability that the network drops (filtered) or rejects (refused) port 25
_VANTAGES = {
    "home-isp:fr": (0.85, 0.05),
    "home-isp:de": (0.7, 0.1),
    "home-isp:us": (0.9, 0.02),
    "mobile:4g": (0.6, 0.3),
    "campus:eduroam": (0.2, 0.5),
    "cafe-wifi": (0.5, 0.1),
    "cloud:aws-eu": (0.95, 0.0),
    "cloud:gcp-us": (1.0, 0.0),
    "cloud:hetzner": (0.05, 0.0),
    "datacenter:ovh": (0.02, 0.0),
    "office:vpn": (0.3, 0.3),
    "scan:research": (0.0, 0.0),
}
_VANTAGE_NAMES = tuple(_VANTAGES)
_WORDS = (
    "acme",
    "alpha",
    "atlas",
    "birch",
    "cedar",
    "delta",
    "ember",
    "fjord",
    "gamma",
    "harbor",
    "indigo",
    "juniper",
    "kepler",
    "lumen",
    "maple",
    "nimbus",
    "onyx",
    "pixel",
    "quartz",
    "raven",
    "sierra",
    "tundra",
    "umbra",
    "vertex",
    "willow",
    "xenon",
    "yarrow",
    "zephyr",
)
_TLDS = ("example", "test", "example.net", "example.org", "example.com")
_EXTENSIONS = (
    "PIPELINING",
    "8BITMIME",
    "ENHANCEDSTATUSCODES",
    "SMTPUTF8",
    "DSN",
    "CHUNKING",
    "BINARYMIME",
    "HELP",
    "VRFY",
    "ETRN",
)
_MECHS = (("PLAIN", "LOGIN"), ("LOGIN", "PLAIN"), ("PLAIN",), ("PLAIN", "LOGIN", "XOAUTH2"))
_TLS = (("TLSv1.3", 0.72), ("TLSv1.2", 0.24), ("TLSv1.1", 0.025), ("TLSv1", 0.015))
_CIPHERS = {
    "TLSv1.3": ("TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256"),
    "TLSv1.2": ("ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-AES128-GCM-SHA256"),
    "TLSv1.1": ("ECDHE-RSA-AES256-SHA",),
    "TLSv1": ("AES256-SHA", "DES-CBC3-SHA"),
}
_CERT_PROBLEMS = (
    (None, 0.8),
    ("cert_self_signed", 0.08),
    ("cert_name_mismatch", 0.06),
    ("cert_untrusted", 0.03),
    ("cert_expired", 0.03),
)
_CERT_ERRORS = {
    "cert_self_signed": "self-signed certificate",
    "cert_name_mismatch": "hostname mismatch, certificate is not valid for '{host}'",
    "cert_untrusted": "unable to get local issuer certificate",
    "cert_expired": "certificate has expired",
}
_SOFTWARE = ("Postfix", "Exim 4.97", "Microsoft ESMTP MAIL Service", "OpenSMTPD", "Sendmail 8.18")
_OTHER_BANNERS = ("SSH-2.0-OpenSSH_9.6", "HTTP/1.1 400 Bad Request", "+OK POP3 ready")
_ERRORS = ("[Errno 24] Too many open files", "timed out while reading EHLO reply")


def _weighted(rng: random.Random, pairs: tuple[tuple[Any, float], ...]) -> Any:
    x = rng.random()
    for value, weight in pairs:
        x -= weight
        if x < 0:
            return value
    return pairs[-1][0]


class _Hosts:
    """A pool of hosts, each with stable traits (software, TLS version, certificate)."""

    def __init__(self, rng: random.Random, count: int) -> None:
        self.hosts: list[dict[str, Any]] = []
        for i in range(count):
            name = f"{rng.choice(_WORDS)}{i}.{rng.choice(_TLDS)}"
            mx = rng.choice(("mx", "mail", "smtp", "mx1", "mx2", "relay"))
            six = rng.random() < 0.15
            self.hosts.append(
                {
                    "host": f"{mx}.{name}",
                    "address": (
                        f"2001:db8:{i % 65536:x}::{rng.randrange(1, 65535):x}"
                        if six
                        else f"{rng.choice(('192.0.2', '198.51.100', '203.0.113'))}."
                        f"{rng.randrange(1, 255)}"
                    ),
                    "software": rng.choice(_SOFTWARE),
                    "tls": _weighted(rng, _TLS),
                    "cert": _weighted(rng, _CERT_PROBLEMS),
                    "starttls": rng.random() < 0.93,
                    "auth_in_clear": rng.random() < 0.04,
                    "masked": rng.random() < 0.01,
                    "relay": rng.random() < 0.003,
                    "ports": {p for p in _PORTS if rng.random() < (0.97 if p == 25 else 0.6)},
                    "ext": [e for e in _EXTENSIONS if rng.random() < 0.55],
                    "size": rng.choice((10240000, 52428800, 35882577, 157286400, None)),
                    "mechs": list(rng.choice(_MECHS)),
                }
            )


def _finding(code: str, severity: str, message: str) -> dict[str, str]:
    return {"code": code, "severity": severity, "message": message}


class _Conversation:
    """A transcript being written: its lines, without their clocks (drawn for each probe)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.lines: list[tuple[str, str]] = []

    def say(self, direction: str, text: str, wait: float = 0.0) -> None:
        self.lines.append((direction, text))


def _open_probe(
    rng: random.Random, rec: dict[str, Any], host: dict[str, Any], conv: _Conversation
) -> None:
    """Fill in what an open SMTP port shows: greeting, EHLO, STARTTLS or TLS, AUTH, findings."""
    name, port = host["host"], rec["port"]
    implicit = port == 465
    findings: list[dict[str, str]] = rec["findings"]
    tls_ms = rng.lognormvariate(3.0, 0.6) if implicit or host["starttls"] else None
    if implicit:
        conv.say("event", f"TLS handshake ({host['tls']})", tls_ms or 0.0)
    banner = f"{name} ESMTP {host['software']}"
    rec.update(banner_code=220, banner=banner, esmtp=True, banner_ms=rng.lognormvariate(3.5, 1.0))
    conv.say("server", f"220 {banner}", rec["banner_ms"])
    conv.say("client", "EHLO probe.smtplab.invalid")
    ext = list(host["ext"])
    if host["size"]:
        ext.insert(0, f"SIZE {host['size']}")
    offers_starttls = not implicit and host["starttls"] and not host["masked"]
    if offers_starttls:
        ext.append("STARTTLS")
    if host["masked"] and not implicit:
        ext.append("XXXXXXXA")
        findings.append(_finding("starttls_masked", "high", "STARTTLS is masked by a middlebox."))
    auth_clear = host["auth_in_clear"] and not implicit
    if auth_clear:
        ext.append("AUTH " + " ".join(host["mechs"]))
    reply = [name, *ext]
    for i, line in enumerate(reply):
        conv.say("server", f"250{'-' if i < len(reply) - 1 else ' '}{line}")
    rec["ehlo_ms"] = rng.lognormvariate(2.5, 0.8)
    rec.update(extensions=ext, size_limit=host["size"], starttls_offered=offers_starttls)
    submission = port != 25
    rec["auth_before_tls"] = None if implicit else (list(host["mechs"]) if auth_clear else [])
    if auth_clear:
        findings.append(_finding("auth_before_tls", "high", "AUTH is offered before TLS."))
    if offers_starttls:
        conv.say("client", "STARTTLS")
        conv.say("server", "220 2.0.0 Ready to start TLS")
        conv.say("event", f"TLS handshake ({host['tls']})", tls_ms or 0.0)
        conv.say("client", "EHLO probe.smtplab.invalid")
        for i, line in enumerate([name, *host["ext"], "AUTH " + " ".join(host["mechs"])]):
            conv.say("server", f"250{'-' if i < len(host['ext']) + 1 else ' '}{line}")
    if implicit or offers_starttls:
        _tls_facts(rng, rec, host, tls_ms)
        rec["auth_after_tls"] = list(host["mechs"]) if submission else []
        rec["tls_mode"] = "implicit" if implicit else "starttls"
    elif not implicit:
        kind = "no_starttls_submission" if submission else "no_starttls_relay"
        findings.append(_finding(kind, "high" if submission else "low", "No STARTTLS offered."))
    rec["role"] = (
        "submission-implicit"
        if implicit
        else (
            "submission-starttls" if submission else ("relay" if rng.random() < 0.9 else "unknown")
        )
    )
    if implicit:
        findings.append(_finding("implicit_tls_465", "info", "Implicit TLS on 465 (RFC 8314)."))
    if port == 2525:
        findings.append(_finding("port_2525_unofficial", "info", "2525 is not an IANA port."))
    if host["relay"] and port == 25:
        rec["relay_check"] = "accepted"
        findings.append(_finding("open_relay", "high", "The server relays mail for anyone."))
    conv.say("client", "QUIT")
    conv.say("server", "221 2.0.0 Bye")


def _tls_facts(
    rng: random.Random, rec: dict[str, Any], host: dict[str, Any], tls_ms: float | None
) -> None:
    version, problem, name = host["tls"], host["cert"], host["host"]
    not_after = _START + timedelta(
        days=rng.randrange(-30, 400) if problem else rng.randrange(20, 400)
    )
    if problem == "cert_expired":
        not_after = _START - timedelta(days=rng.randrange(1, 300))
    rec.update(
        tls_ms=tls_ms,
        tls_version=version,
        tls_cipher=rng.choice(_CIPHERS[version]),
        cert_subject=f"CN={name if problem != 'cert_name_mismatch' else 'localhost'}",
        cert_issuer=(f"CN={name}" if problem == "cert_self_signed" else "CN=R11,O=Let's Encrypt"),
        cert_not_after=not_after.replace(microsecond=0).isoformat(),
        cert_san=[name] if problem != "cert_name_mismatch" else ["localhost"],
        cert_verified=problem is None,
        cert_error=_CERT_ERRORS[problem].format(host=name) if problem else None,
    )
    if problem:
        rec["findings"].append(_finding(problem, "high", rec["cert_error"]))
    else:
        rec["findings"].append(_finding("tls_ok", "info", f"Encrypted with {version}."))
    if version in ("TLSv1", "TLSv1.1"):
        rec["findings"].append(_finding("tls_outdated", "medium", f"{version} is outdated."))


_FAILURES = {
    "filtered": ("medium", "No answer: a firewall drops the traffic."),
    "refused": ("info", "The connection was refused."),
    "silent": ("medium", "Connected, but no greeting came."),
    "rejected": ("medium", "The server refused this client at the greeting."),
    "not_smtp": ("medium", "Something answered that is not SMTP."),
    "tls_failed": ("high", "The TLS handshake failed."),
    "dns_failed": ("medium", "The name could not be resolved."),
    "unreachable": ("medium", "There is no route to the host."),
    "reset": ("medium", "The connection was lost mid-conversation."),
    "error": ("medium", "The probe failed."),
}
_FINDING_OF = {"rejected": "greeting_refused"}
_BLANK = {name: None for name in FIELD_NAMES}

#: What a transcript line waits for before it: nothing, the connect, the greeting, the TLS
#: handshake, or a 5-second timeout.
_WAIT_NONE, _WAIT_CONNECT, _WAIT_BANNER, _WAIT_TLS, _WAIT_TIMEOUT = range(5)


_J = functools.partial(json.dumps, separators=(",", ":"))  # ASCII: the C encoder


class _Template:
    """The part of a record that does not change probe to probe, as JSON text."""

    __slots__ = ("kinds", "lines", "middle", "role", "timings", "tls_mode")

    def __init__(
        self,
        rec: dict[str, Any],
        lines: list[tuple[str, str, int]],
        timings: tuple[bool, bool, bool, bool],
        events: dict[str, tuple[str, dict[str, Any]]] | None = None,
    ) -> None:
        self.tls_mode = rec["tls_mode"]
        self.role = rec["role"]
        #: which of connect_ms, banner_ms, ehlo_ms, tls_ms this kind of probe measures
        self.timings = timings
        #: the fields from banner_code to error, in schema order, as JSON (without braces)
        self.middle = _J({k: rec[k] for k in _MIDDLE})[1:-1]
        #: each transcript line after its clock: ``,"dir":"server","text":"220 …"}``
        self.lines = [
            f',"dir":"{d}","text":{_quoted(text)}{_event(text, events) if d == "event" else ""}}}'
            for d, text, _ in lines
        ]
        self.kinds = np.array([_WAIT_NONE] + [k for _, _, k in lines], dtype=np.int8)


def _event(text: str, events: dict[str, tuple[str, dict[str, Any]]] | None) -> str:
    """An event line's kind and data as JSON (schema 3), read from the generator's sentence
    unless given."""
    from smtplab.prose_events import read_sentence

    kind, data = (events or {}).get(text) or read_sentence(text)
    return f',"kind":"{kind}"' + (f',"data":{_J(data)}' if data else "")


def _quoted(text: str) -> str:
    """Text as a JSON string; the generator's own words need no escaping (most of the time)."""
    return _J(text) if _ESCAPE.search(text) else f'"{text}"'


_ESCAPE = re.compile(r'["\\\x00-\x1f\x7f-\uffff]')
_MIDDLE = FIELD_NAMES[FIELD_NAMES.index("banner_code") : FIELD_NAMES.index("transcript")]


def _blank(port: int) -> dict[str, Any]:
    rec: dict[str, Any] = {**_BLANK, "port": port, "tls_mode": "none", "role": "unknown"}
    rec.update(extensions=[], cert_san=[], relay_check="not_run", findings=[])
    return rec


def _open_template(host: dict[str, Any], port: int) -> _Template:
    rec = _blank(port)
    talk = _Conversation(random.Random(zlib.crc32(f"{host['host']}:{port}".encode())))
    _open_probe(talk.rng, rec, host, talk)
    banner = f"220 {rec['banner']}"
    lines = [("event", "connected", _WAIT_CONNECT)]
    for direction, text in talk.lines:
        kind = _WAIT_BANNER if text == banner else _WAIT_NONE
        if text.startswith("TLS handshake"):
            kind = _WAIT_TLS
        lines.append((direction, text, kind))
    return _Template(rec, lines, (True, True, True, rec["tls_version"] is not None))


def _failure_template(outcome: str, variant: int, port: int) -> _Template:
    """What a probe that did not reach an SMTP conversation records."""
    rec = _blank(port)
    severity, message = _FAILURES[outcome]
    rec["findings"] = [_finding(_FINDING_OF.get(outcome, outcome), severity, message)]
    connect = banner = tls = False
    events: dict[str, tuple[str, dict[str, Any]]] = {}
    if outcome == "filtered":
        lines = [("event", "connect timed out after 5.0 s", _WAIT_TIMEOUT)]
    elif outcome == "refused":
        connect, lines = True, [("event", "connection refused", _WAIT_CONNECT)]
    elif outcome in ("dns_failed", "unreachable", "error"):
        rec["error"] = {
            "dns_failed": "[Errno -2] Name or service not known",
            "unreachable": "[Errno 101] Network is unreachable",
            "error": _ERRORS[variant % len(_ERRORS)],
        }[outcome]
        lines = [("event", rec["error"], _WAIT_NONE)]
        cause = "lookup" if outcome == "dns_failed" else "unreachable"
        events = {
            rec["error"]: (
                "dns_failed" if outcome == "dns_failed" else "connect_failed",
                {"cause": cause if outcome != "error" else "other", "detail": rec["error"]},
            )
        }
    else:
        connect, lines = True, [("event", "connected", _WAIT_CONNECT)]
        if outcome == "silent":
            lines.append(("event", "no greeting within 5.0 s", _WAIT_TIMEOUT))
        elif outcome == "rejected":
            banner = True
            rec.update(banner_code=554, banner="554 5.7.1 No SMTP service here")
            lines.append(("server", rec["banner"], _WAIT_BANNER))
        elif outcome == "not_smtp":
            rec["banner"] = _OTHER_BANNERS[variant % len(_OTHER_BANNERS)]
            lines.append(("server", rec["banner"], _WAIT_NONE))
        elif outcome == "tls_failed":
            tls = True
            lines.append(("event", "TLS handshake failed: wrong version number", _WAIT_TLS))
            rec["tls_mode"] = "implicit" if port == 465 else "none"
        else:  # reset
            lines.append(("event", "connection reset by peer", _WAIT_NONE))
    return _Template(rec, lines, (connect, banner, False, tls), events)
