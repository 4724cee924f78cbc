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

import functools
import json
import os
import random
import re
import zlib
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

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


# ---- records, a block at a time ------------------------------------------------------------
#
# A record is assembled as JSON text from a template (what the server says: the host's own for
# an open port, worked out once per host and port; the outcome's for a failure) and the values
# drawn afresh for every probe with numpy, a block of records at a time: host, vantage, port,
# outcome, time, probe id, every timing and every transcript line's clock.

#: Records drawn per block.  Blocks are always drawn whole (and the output cut to ``n``), so the
#: first records of a seed are the same whatever ``n`` is.
_BLOCK = 4096
#: Open-port templates kept at once (then the cache starts again: memory stays bounded).
_CACHE_LIMIT = 100_000
#: What a transcript line waits for before it: nothing, the connect, the greeting, the TLS
#: handshake, or a 5-second timeout.
_WAIT_NONE, _WAIT_CONNECT, _WAIT_BANNER, _WAIT_TLS, _WAIT_TIMEOUT = range(5)
_OUTCOME_WORDS = (
    "open",
    "filtered",
    "refused",
    "silent",
    "rejected",
    "not_smtp",
    "tls_failed",
    "dns_failed",
    "unreachable",
    "error",
    "reset",
)
_O = {word: i for i, word in enumerate(_OUTCOME_WORDS)}
_DNS = _O["dns_failed"]
_RARE = np.array([_O[w] for w in ("dns_failed", "unreachable", "error", "reset")])
_CLOSED = np.array([_O[w] for w in ("refused", "refused", "filtered")])
_DROP = np.array([drop for drop, _ in _VANTAGES.values()])
_REJECT = np.array([reject for _, reject in _VANTAGES.values()])
_J = functools.partial(json.dumps, ensure_ascii=False, separators=(",", ":"))


class _Template:
    """The part of a record that does not change probe to probe, as JSON text."""

    __slots__ = ("kinds", "lines", "middle", "role", "timings", "tls_mode")

    def __init__(
        self,
        rec: dict[str, Any],
        lines: list[tuple[str, str, int]],
        timings: tuple[bool, bool, bool, bool],
    ) -> None:
        self.tls_mode = rec["tls_mode"]
        self.role = rec["role"]
        #: which of connect_ms, banner_ms, ehlo_ms, tls_ms this kind of probe measures
        self.timings = timings
        #: the fields from banner_code to error, in schema order, as JSON (without braces)
        self.middle = _J({k: rec[k] for k in _MIDDLE})[1:-1]
        #: each transcript line after its clock: ``,"dir":"server","text":"220 …"}``
        self.lines = [f',"dir":"{d}","text":{_quoted(text)}}}' for d, text, _ in lines]
        self.kinds = np.array([_WAIT_NONE] + [k for _, _, k in lines], dtype=np.int8)


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
    return _Template(rec, lines, (connect, banner, False, tls))


class _Generator:
    """Records of one seed, block by block: numpy draws, then JSON text from templates."""

    def __init__(self, seed: int, n: int, hosts: int | None) -> None:
        self.seed = seed
        self.hosts = _Hosts(random.Random(seed), hosts or max(50, n // 20)).hosts
        count = len(self.hosts)
        self.cum = np.cumsum(1.0 / np.arange(1, count + 1) ** 0.8)  # a Zipf-like tail
        self.has_port = np.array([[p in h["ports"] for p in _PORTS] for h in self.hosts])
        self.names = [_J(h["host"]) for h in self.hosts]
        self.addresses = [_J(h["address"]) for h in self.hosts]
        self.open: dict[tuple[int, int], _Template] = {}
        self.failed: dict[tuple[int, int, int], _Template] = {}

    def template(self, host: int, port: int, outcome: int, variant: int) -> _Template:
        if outcome == 0:
            tpl = self.open.get((host, port))
            if tpl is None:
                if len(self.open) >= _CACHE_LIMIT:
                    self.open.clear()
                tpl = self.open[host, port] = _open_template(self.hosts[host], port)
            return tpl
        key = (outcome, variant, port)
        tpl = self.failed.get(key)
        if tpl is None:
            tpl = self.failed[key] = _failure_template(_OUTCOME_WORDS[outcome], variant, port)
        return tpl

    def outcomes(self, rng: np.random.Generator, host: Any, vantage: Any, port: Any) -> Any:
        """The outcome of each probe: the vantage's network, then the host's open ports."""
        b = len(host)
        x = rng.random((3, b))
        rare, closed = rng.integers(0, 4, b), rng.integers(0, 3, b)
        out = np.full(b, -1)
        is25 = _PORTS_A[port] == 25
        drop, reject = _DROP[vantage], _REJECT[vantage]
        out[is25 & (x[0] < drop + reject)] = _O["refused"]
        out[is25 & (x[0] < drop)] = _O["filtered"]
        todo = out < 0
        out[todo & (x[1] < 0.006)] = _RARE[rare[todo & (x[1] < 0.006)]]
        todo = out < 0
        shut = todo & ~self.has_port[host, port]
        out[shut] = _CLOSED[closed[shut]]
        todo = out < 0
        tls_port = np.isin(_PORTS_A[port], (465, 587))
        for limit, word, where in (
            (0.015, "silent", todo),
            (0.025, "rejected", todo),
            (0.03, "not_smtp", todo),
            (0.04, "tls_failed", todo & tls_port),
        ):
            hit = where & (out < 0) & (x[2] < limit)
            out[hit] = _O[word]
        out[out < 0] = _O["open"]
        return out

    def block(self, k: int) -> Any:
        """Block ``k`` of this seed: :data:`_BLOCK` JSON lines, each ending in a newline, as
        an Arrow string array (assembled column-wise by Arrow, not line by line in Python)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        rng = np.random.default_rng([self.seed, k])
        b = _BLOCK
        host = np.minimum(
            np.searchsorted(self.cum, rng.random(b) * self.cum[-1], side="right"), len(self.cum) - 1
        )
        vantage = rng.integers(0, len(_VANTAGE_NAMES), b)
        port = rng.choice(len(_PORTS), b, p=_PORT_WEIGHTS)
        outcome = self.outcomes(rng, host, vantage, port)
        variant = rng.integers(0, 6, b)
        started = np.datetime_as_string(
            _START64 + (rng.random(b) * _SPAN_US).astype("timedelta64[us]"), unit="us"
        )
        ids = rng.integers(0, 256, (b, 16), dtype=np.uint8)
        ids[:, 6] = (ids[:, 6] & 0x0F) | 0x40  # a version 4 UUID
        ids[:, 8] = (ids[:, 8] & 0x3F) | 0x80
        hexes = ids.tobytes().hex()
        waits = np.stack(
            [
                np.zeros(b),
                rng.lognormal(3.3, 0.7, b),  # connect
                rng.lognormal(3.5, 1.0, b),  # greeting
                rng.lognormal(3.0, 0.6, b),  # TLS handshake
                np.full(b, 5000.0),  # a timeout
            ]
        )
        ehlo = rng.lognormal(2.5, 0.8, b)
        hosts, ports, outcomes = host.tolist(), _PORTS_A[port].tolist(), outcome.tolist()
        tpls = [
            self.template(h, p, o, v)
            for h, p, o, v in zip(hosts, ports, outcomes, variant.tolist(), strict=True)
        ]
        clocks, ends = _clocks(rng, waits, tpls)
        total = np.round(clocks[ends - 1] + rng.uniform(0.1, 3.0, b), 3)
        said: list[str] = []
        for h, p, tpl in zip(hosts, ports, tpls, strict=True):
            said.append(
                f',"dir":"event","text":"connecting to {self.hosts[h]["address"]} port {p}"}}'
            )
            said.extend(tpl.lines)
        lines = pc.binary_join_element_wise('{"t":', _text(clocks), pa.array(said), "")
        starts = np.concatenate([[0], ends]).astype(np.int32)
        transcript = pc.binary_join(pa.ListArray.from_arrays(starts, lines), ",")
        on = np.array([tpl.timings for tpl in tpls]).T
        timing = [
            _text(values, on[i]) for i, values in enumerate((waits[1], waits[2], ehlo, waits[3]))
        ]
        parts: list[Any] = [
            f'{{"schema_version":{SCHEMA_VERSION},"probe_id":"',
            pa.array([hexes[i : i + 32] for i in range(0, 32 * b, 32)]),
            '","started_at":"',
            pa.array(started),
            '+00:00","vantage":"',
            pa.array(_VANTAGE_NAMES).take(pa.array(vantage)),
            f'","source":"{SOURCE}","host":',
            pa.array(self.names).take(pa.array(host)),
            ',"address":',
            pa.array(
                [
                    self.addresses[h] if o != _DNS else "null"
                    for h, o in zip(hosts, outcomes, strict=True)
                ]
            ),
            ',"port":',
            pa.array(ports).cast(pa.string()),
            ',"mode":"auto","timeout":null,"deadline":null,"checks":null,"tls_mode":"',
            pa.array([tpl.tls_mode for tpl in tpls]),
            '","outcome":"',
            pa.array(_OUTCOME_WORDS).take(pa.array(outcome)),
            '","role":"',
            pa.array([tpl.role for tpl in tpls]),
            '","connect_ms":',
            timing[0],
            ',"banner_ms":',
            timing[1],
            ',"ehlo_ms":',
            timing[2],
            ',"tls_ms":',
            timing[3],
            ',"total_ms":',
            _text(total),
            ",",
            pa.array([tpl.middle for tpl in tpls]),
            ',"transcript":[',
            transcript,
            "]}\n",
        ]
        return pc.binary_join_element_wise(*parts, "")


def _text(values: Any, on: Any = None) -> Any:
    """Numbers as JSON text (shortest round-trip form); ``null`` where ``on`` is False."""
    import pyarrow as pa

    arr = pa.array(values, mask=None if on is None else ~on).cast(pa.string())
    return arr.fill_null("null") if on is not None else arr


_PORTS_A = np.array(_PORTS)
_START64 = np.datetime64(_START.replace(tzinfo=None), "us")
_SPAN_US = 30 * 86400 * 1_000_000


def _clocks(rng: np.random.Generator, waits: Any, tpls: list[_Template]) -> tuple[Any, Any]:
    """Every transcript line's clock (ms since the probe began), and where each record's end.

    A line comes a little (0.01 to 0.5 ms) after the one before, plus what it waited for."""
    kinds = np.concatenate([tpl.kinds for tpl in tpls])
    sizes = np.array([len(tpl.kinds) for tpl in tpls])
    ends = np.cumsum(sizes)
    owner = np.repeat(np.arange(len(tpls)), sizes)
    steps = waits[kinds, owner] + rng.uniform(0.01, 0.5, len(kinds))
    steps[ends - sizes] += rng.uniform(0.1, 2.0, len(tpls))  # the clock starts a little late
    run = np.cumsum(steps)
    before = np.concatenate([[0.0], run[ends[:-1] - 1]])  # each record's clock starts at 0
    return np.round(run - np.repeat(before, sizes), 3), ends


def _blocks(n: int, seed: int, hosts: int | None) -> Iterator[Any]:
    """The first ``n`` lines of a seed, as Arrow string arrays of up to :data:`_BLOCK`."""
    gen = _Generator(seed, n, hosts)
    for k in range(-(-n // _BLOCK)):
        yield gen.block(k)[: n - k * _BLOCK]


def synthetic_records(
    n: int, *, seed: int = 1, hosts: int | None = None
) -> Iterator[dict[str, Any]]:
    """``n`` varied records (dicts in the record schema, ``source="synthetic"``), reproducible.

    ``hosts`` is the size of the host pool (default: about one host per 20 records, at least
    50); hosts are picked with a long tail, as a few big providers dominate real scans.  The
    records are the lines :func:`write_synthetic_jsonl` writes, parsed.
    """
    for block in _blocks(n, seed, hosts):
        yield from map(json.loads, block.to_pylist())


def write_synthetic_jsonl(
    path: str | os.PathLike[str], n: int, *, seed: int = 1, hosts: int | None = None
) -> Path:
    """Write ``n`` synthetic records as JSON Lines (replacing the file); return its path."""
    path = Path(path)
    with open(path, "wb") as f:
        for block in _blocks(n, seed, hosts):
            if len(block):
                _, offsets, data = block.buffers()  # the lines, back to back
                ends = np.frombuffer(offsets, np.int32)[[block.offset, block.offset + len(block)]]
                f.write(memoryview(data)[ends[0] : ends[1]])
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
