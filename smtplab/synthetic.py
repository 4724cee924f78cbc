"""Synthetic probe records for benchmarks and tests, honestly labelled ``source="synthetic"``.

Scan-sized datasets are not something a course can ship, so benchmarks and tests make them:

>>> from smtplab.synthetic import synthetic_records, write_synthetic_jsonl
>>> recs = list(synthetic_records(1000, seed=7))     # dicts in the record schema
>>> write_synthetic_jsonl("big.jsonl", 1_000_000)    # doctest: +SKIP

The records are varied the way a real scan is, not copies of one record: thousands of hosts
under reserved names (RFC 2606 ``.example``/``.test``), addresses from the documentation
ranges (RFC 5737, RFC 3849), a dozen vantages whose networks block ports differently, every
outcome word, STARTTLS and implicit TLS, TLS 1.0 to 1.3, certificates that verify or fail in
the usual ways, findings that follow from all that (the codes of :mod:`smtplab.findings`),
transcripts of 2 to 40 lines, and timings drawn from long-tailed (log-normal) distributions.
Every record has ``source="synthetic"``: they never mix with the recordings in ``data/``.
"""

from __future__ import annotations

import json
import os
import random
import uuid
import zlib
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from smtplab.schema import FIELD_NAMES, SCHEMA_VERSION

__all__ = ["SOURCE", "synthetic_records", "synthetic_table", "write_synthetic_jsonl"]

SOURCE = "synthetic"

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


def _outcome(rng: random.Random, host: dict[str, Any], vantage: str, port: int) -> str:
    drop, reject = _VANTAGES[vantage]
    if port == 25:
        x = rng.random()
        if x < drop:
            return "filtered"
        if x < drop + reject:
            return "refused"
    if rng.random() < 0.006:
        return rng.choice(("dns_failed", "unreachable", "error", "reset"))
    if port not in host["ports"]:
        return rng.choice(("refused", "refused", "filtered"))
    x = rng.random()
    if x < 0.015:
        return "silent"
    if x < 0.025:
        return "rejected"
    if x < 0.03:
        return "not_smtp"
    if x < 0.04 and port in (465, 587):
        return "tls_failed"
    return "open"


def _finding(code: str, severity: str, message: str) -> dict[str, str]:
    return {"code": code, "severity": severity, "message": message}


class _Conversation:
    """A transcript being written, with its clock (milliseconds)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.t = rng.uniform(0.1, 2.0)
        self.lines: list[dict[str, Any]] = []

    def say(self, direction: str, text: str, wait: float = 0.0) -> None:
        self.t += wait + self.rng.uniform(0.01, 0.5)
        self.lines.append({"t": round(self.t, 3), "dir": direction, "text": text})


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


def _record(
    rng: random.Random, hosts: _Hosts, index: int, span_s: float, host_weights: list[float]
) -> dict[str, Any]:
    host = rng.choices(hosts.hosts, cum_weights=host_weights)[0]
    vantage = rng.choice(_VANTAGE_NAMES)
    port = rng.choices(_PORTS, weights=_PORT_WEIGHTS)[0]
    outcome = _outcome(rng, host, vantage, port)
    started = _START + timedelta(seconds=rng.uniform(0, span_s))
    rec: dict[str, Any] = {
        **_BLANK,
        "schema_version": SCHEMA_VERSION,
        "probe_id": uuid.UUID(int=rng.getrandbits(128), version=4).hex,
        "started_at": started.isoformat(),
        "vantage": vantage,
        "source": SOURCE,
        "host": host["host"],
        "address": host["address"] if outcome != "dns_failed" else None,
        "port": port,
        "mode": "auto",
        "tls_mode": "none",
        "outcome": outcome,
        "role": "unknown",
        "extensions": [],
        "cert_san": [],
        "relay_check": "not_run",
        "findings": [],
        "transcript": [],
    }
    conv = _Conversation(rng)
    conv.say("event", f"connecting to {host['address']} port {port}")
    if outcome == "open":
        _open_from_cache(rng, rec, host, conv)
    else:
        severity, message = _FAILURES[outcome]
        rec["findings"].append(_finding(_FINDING_OF.get(outcome, outcome), severity, message))
        _failed_probe(rng, rec, conv, outcome)
    rec["transcript"] = conv.lines
    rec["total_ms"] = round(conv.t + rng.uniform(0.1, 3.0), 3)
    return rec


#: Fields that differ probe to probe; the rest of an open probe is the host's own.
_PER_PROBE = frozenset(
    (
        "probe_id",
        "started_at",
        "vantage",
        "address",
        "outcome",
        "connect_ms",
        "banner_ms",
        "ehlo_ms",
        "tls_ms",
        "total_ms",
        "transcript",
    )
)


def _open_from_cache(
    rng: random.Random, rec: dict[str, Any], host: dict[str, Any], conv: _Conversation
) -> None:
    """An open probe: what the server says is the host's own (worked out once per port and
    cached), while every timing is drawn afresh for each probe."""
    cache: dict[int, tuple[dict[str, Any], list[tuple[str, str]]]] = host.setdefault("cache", {})
    port = rec["port"]
    if port not in cache:
        skeleton = dict(rec)
        skeleton["findings"] = []
        talk = _Conversation(random.Random(zlib.crc32(f"{host['host']}:{port}".encode())))
        _open_probe(talk.rng, skeleton, host, talk)
        fields = {k: v for k, v in skeleton.items() if k not in _PER_PROBE}
        cache[port] = (fields, [(line["dir"], line["text"]) for line in talk.lines])
    fields, lines = cache[port]
    rec.update(fields)
    for key in ("findings", "extensions", "cert_san", "auth_before_tls", "auth_after_tls"):
        if isinstance(rec.get(key), list):
            rec[key] = list(rec[key])
    rec["connect_ms"] = rng.lognormvariate(3.3, 0.7)
    rec["banner_ms"] = rng.lognormvariate(3.5, 1.0)
    rec["ehlo_ms"] = rng.lognormvariate(2.5, 0.8)
    if rec.get("tls_version"):
        rec["tls_ms"] = rng.lognormvariate(3.0, 0.6)
    conv.say("event", "connected", rec["connect_ms"])
    banner = f"220 {rec['banner']}"
    for direction, text in lines:
        wait = rec["banner_ms"] if text == banner else 0.0
        if text.startswith("TLS handshake"):
            wait = rec["tls_ms"] or 0.0
        conv.say(direction, text, wait)


def _failed_probe(
    rng: random.Random, rec: dict[str, Any], conv: _Conversation, outcome: str
) -> None:
    if outcome == "filtered":
        conv.say("event", "connect timed out after 5.0 s", 5000.0)
    elif outcome == "refused":
        rec["connect_ms"] = rng.lognormvariate(3.0, 0.7)
        conv.say("event", "connection refused", rec["connect_ms"])
    elif outcome in ("dns_failed", "unreachable", "error"):
        rec["error"] = {
            "dns_failed": "[Errno -2] Name or service not known",
            "unreachable": "[Errno 101] Network is unreachable",
            "error": rng.choice(_ERRORS),
        }[outcome]
        conv.say("event", rec["error"])
    else:
        rec["connect_ms"] = rng.lognormvariate(3.3, 0.7)
        conv.say("event", "connected", rec["connect_ms"])
        if outcome == "silent":
            conv.say("event", "no greeting within 5.0 s", 5000.0)
        elif outcome == "rejected":
            rec.update(banner_code=554, banner="554 5.7.1 No SMTP service here", esmtp=None)
            conv.say("server", rec["banner"], rng.lognormvariate(3.5, 1.0))
        elif outcome == "not_smtp":
            rec["banner"] = rng.choice(_OTHER_BANNERS)
            conv.say("server", rec["banner"])
        elif outcome == "tls_failed":
            rec["tls_ms"] = rng.lognormvariate(3.0, 0.6)
            conv.say("event", "TLS handshake failed: wrong version number", rec["tls_ms"])
        else:  # reset
            conv.say("event", "connection reset by peer")
        rec["tls_mode"] = "implicit" if outcome == "tls_failed" and rec["port"] == 465 else "none"


def synthetic_records(
    n: int, *, seed: int = 1, hosts: int | None = None
) -> Iterator[dict[str, Any]]:
    """``n`` varied records (dicts in the record schema, ``source="synthetic"``), reproducible.

    ``hosts`` is the size of the host pool (default: about one host per 20 records, at least
    50); hosts are picked with a long tail, as a few big providers dominate real scans.
    """
    rng = random.Random(seed)
    pool = _Hosts(rng, hosts or max(50, n // 20))
    weights: list[float] = []
    total = 0.0
    for i in range(len(pool.hosts)):
        total += 1.0 / (i + 1) ** 0.8  # a Zipf-like tail
        weights.append(total)
    span = 30 * 86400.0
    for i in range(n):
        yield _record(rng, pool, i, span, weights)


def write_synthetic_jsonl(
    path: str | os.PathLike[str], n: int, *, seed: int = 1, hosts: int | None = None
) -> Path:
    """Write ``n`` synthetic records as JSON Lines (replacing the file); return its path."""
    path = Path(path)
    with open(path, "w", encoding="utf-8") as f:
        batch: list[str] = []
        for rec in synthetic_records(n, seed=seed, hosts=hosts):
            batch.append(json.dumps(rec, ensure_ascii=False, separators=(",", ":")))
            if len(batch) >= 10_000:
                f.write("\n".join(batch) + "\n")
                batch = []
        if batch:
            f.write("\n".join(batch) + "\n")
    return path


def synthetic_table(n: int, *, seed: int = 1, hosts: int | None = None) -> Any:
    """``n`` synthetic records as an Arrow table in :func:`smtplab.records.arrow_schema`."""
    import pyarrow as pa

    from smtplab.records import arrow_schema
    from smtplab.records.check import check_fields

    schema = arrow_schema()
    batches = []
    chunk: list[dict[str, Any]] = []
    for rec in synthetic_records(n, seed=seed, hosts=hosts):
        chunk.append(check_fields(rec)[0])
        if len(chunk) >= 50_000:
            batches.append(pa.Table.from_pylist(chunk, schema=schema))
            chunk = []
    batches.append(pa.Table.from_pylist(chunk, schema=schema))
    return pa.concat_tables(batches)
