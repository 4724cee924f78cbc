"""What a probe found: the running :class:`ProbeState`, and the frozen :class:`ProbeResult`.

A result has every field of the record schema (DESIGN.md); :func:`finish` makes one from a
state, with the findings computed, and hands it to :func:`redact_result`, the one pass that takes
every form of an AUTH secret out of every field the server could have put text into.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from typing import Any, Final, cast

from smtplab import schema
from smtplab.catalogue import live_finding
from smtplab.engine.events import sentence
from smtplab.engine.options import ProbeOptions
from smtplab.findings import Finding, analyze, guess_role, top_finding
from smtplab.protocol import EventValue, TranscriptLine, ehlo_keyword
from smtplab.redaction import Redactor, Scrubber
from smtplab.schema import EventKind

__all__ = [
    "MAX_TRANSCRIPT_LINES",
    "OWN_FIELDS",
    "OWN_PARTS",
    "ProbeResult",
    "ProbeState",
    "checks_of",
    "finish",
    "redact_result",
]

#: A transcript keeps at most this many lines (a 1,000-line EHLO reply, twice, and the rest);
#: beyond it one event says how many were left out, so memory stays bounded.
MAX_TRANSCRIPT_LINES: Final = 2500


@dataclass(frozen=True)
class ProbeResult:
    """Everything one probe saw, with every field of the record schema (see DESIGN.md)."""

    schema_version: int
    probe_id: str
    started_at: str
    vantage: str
    source: schema.Source
    host: str
    address: str | None
    port: int
    mode: schema.Mode
    #: what the probe was asked: its per-phase timeout and overall deadline (seconds), and the
    #: checks beyond looking (words of :data:`smtplab.schema.CHECKS`); ``None`` in v1 records
    timeout: float | None
    deadline: float | None
    checks: tuple[str, ...] | None
    tls_mode: schema.TlsMode
    outcome: schema.Outcome
    role: schema.Role
    connect_ms: float | None
    banner_ms: float | None
    ehlo_ms: float | None
    tls_ms: float | None
    total_ms: float | None
    banner_code: int | None
    banner: str | None
    esmtp: bool | None
    extensions: tuple[str, ...]
    size_limit: int | None
    starttls_offered: bool | None
    auth_before_tls: tuple[str, ...] | None
    auth_after_tls: tuple[str, ...] | None
    tls_version: str | None
    tls_cipher: str | None
    cert_subject: str | None
    cert_issuer: str | None
    cert_not_after: str | None
    cert_san: tuple[str, ...]
    cert_verified: bool | None
    cert_error: str | None
    #: every problem of the certificate (``expired``, ``self_signed``, ... from
    #: :data:`smtplab.tls.CERT_PROBLEM_KINDS`), computed from the certificate itself; ``()``
    #: when it was verified, ``None`` when not computed (verification off, no TLS)
    cert_problems: tuple[str, ...] | None
    #: the subjects of the certificates the server sent, leaf first, and each one's issuer
    #: (``None``: not read, such as from an older record or without TLS)
    cert_chain: tuple[str, ...] | None
    cert_chain_issuers: tuple[str, ...] | None
    relay_check: schema.RelayCheck
    findings: tuple[Finding, ...]
    error: str | None
    transcript: tuple[TranscriptLine, ...]

    def to_record(self) -> schema.Record:
        """A plain dict in the record schema (JSON-ready: lists, not tuples), typed as
        :class:`smtplab.schema.Record`."""
        rec: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("findings", "transcript"):
                value = [x.to_dict() for x in value]
            elif isinstance(value, tuple):
                value = list(value)
            rec[f.name] = value
        return cast(schema.Record, rec)

    @classmethod
    def from_record(cls, rec: Mapping[str, Any]) -> ProbeResult:
        """Rebuild a result from a record (missing fields take their empty value)."""
        full = schema.empty_record(**{k: v for k, v in rec.items() if k in schema.FIELDS})
        kw: dict[str, Any] = {}
        for name in schema.FIELD_NAMES:
            value = full[name]
            if hasattr(value, "tolist") and not isinstance(value, str):
                value = value.tolist()
            if name == "findings":
                value = tuple(Finding.from_dict(x) for x in (value or ()))
            elif name == "transcript":
                value = tuple(TranscriptLine.from_dict(x) for x in (value or ()))
            elif isinstance(value, list):
                value = tuple(value)
            elif name in ("extensions", "cert_san") and value is None:
                value = ()
            elif hasattr(value, "isoformat"):
                value = value.isoformat()
            elif isinstance(value, float) and math.isnan(value):
                value = None
            kw[name] = value
        return cls(**kw)

    @property
    def extension_keywords(self) -> tuple[str, ...]:
        """The EHLO keywords alone (``SIZE`` of ``SIZE 35882577``), in the order sent."""
        return tuple(dict.fromkeys(ehlo_keyword(e) for e in self.extensions))

    @property
    def top_finding(self) -> Finding | None:
        """The most severe finding, if any."""
        return top_finding(self.findings)

    @property
    def tls(self) -> str:
        """TLS in a few words: ``TLSv1.3 (STARTTLS)``, ``TLSv1.3 (implicit)`` or ``none``."""
        if self.tls_mode == "none" or not self.tls_version:
            return "none"
        return f"{self.tls_version} ({'STARTTLS' if self.tls_mode == 'starttls' else 'implicit'})"

    def summary(self) -> str:
        """One line: where, outcome, TLS, AUTH, time and the top finding."""
        auth = (
            "AUTH " + "/".join(self.auth_after_tls or self.auth_before_tls or ())
            if (self.auth_after_tls or self.auth_before_tls)
            else "no AUTH"
        )
        ms = f"{self.total_ms:.0f} ms" if self.total_ms is not None else "-"
        top = self.top_finding
        return f"{self.host}:{self.port} {self.outcome} · TLS {self.tls} · {auth} · {ms}" + (
            f" · {top.message}" if top else ""
        )

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        import html

        rows = "".join(
            f"<li><b>{html.escape(f.severity)}</b> {html.escape(f.message)}</li>"
            for f in self.findings
        )
        return (
            f"<div><b>{html.escape(self.host)}:{self.port}</b> → <b>{html.escape(self.outcome)}</b>"
            f" — {html.escape(schema.OUTCOME_MEANING.get(self.outcome, ''))}<br>"
            f"TLS: {html.escape(self.tls)} · AUTH before TLS: "
            f"{html.escape(' '.join(self.auth_before_tls or ()) or '—')} · AUTH after TLS: "
            f"{html.escape(' '.join(self.auth_after_tls or ()) or '—')} · "
            f"{'' if self.total_ms is None else f'{self.total_ms:.0f} ms'}<ul>{rows}</ul></div>"
        )


@dataclass
class ProbeState:
    """What one probe has found so far: the transcript as it grows, the record's values, the
    findings the conversation adds. Every connection of the probe writes into the same one."""

    opts: ProbeOptions
    t0: float = field(default_factory=time.monotonic)
    started_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat())
    transcript: list[TranscriptLine] = field(default_factory=list)
    dropped_lines: int = 0
    redactor: Redactor = field(default_factory=Redactor)
    extra: list[Finding] = field(default_factory=list)
    phase: str = "connect"
    bytes_in_phase: int = 0
    values: dict[str, Any] = field(default_factory=dict)
    #: why a certificate was rejected on an earlier connection (kept across reconnects and past a
    #: deadline: what was learnt stays in the record)
    cert_rejected: str | None = None
    #: every problem found in the certificate (``None``: not judged), kept like cert_rejected
    cert_problems: tuple[str, ...] | None = None
    #: a TCP connection was established at some point (so the port is not ``filtered``)
    connected: bool = False
    #: what the previous connection found, kept when a retry starts (restored if a deadline
    #: passes before the retry learnt as much)
    previous: dict[str, Any] = field(default_factory=dict)
    #: called with each new phase as the probe enters it ("connect", "greeting", "ehlo",
    #: "starttls", "tls", "auth", ...): what a live display says the probe is waiting for
    on_phase: Callable[[str], None] | None = field(default=None, repr=False, compare=False)

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if name == "phase":
            watcher = self.__dict__.get("on_phase")
            if watcher is not None:
                try:
                    watcher(value)
                except Exception:  # a broken display must never break a probe
                    object.__setattr__(self, "on_phase", None)

    def now_ms(self) -> float:
        return (time.monotonic() - self.t0) * 1000.0

    def _add(
        self,
        direction: str,
        text: str,
        kind: str | None = None,
        data: dict[str, EventValue] | None = None,
    ) -> None:
        if len(self.transcript) >= MAX_TRANSCRIPT_LINES:
            self.dropped_lines += 1
            return
        # server text is scrubbed once, whole, by redact_result (a secret split over two lines
        # is only found with both in view); client lines are redacted in client() below
        self.transcript.append(
            TranscriptLine(round(self.now_ms(), 3), direction, text, kind, dict(data or {}))
        )

    def client(self, text: str) -> str:
        """Record a line we sent (AUTH secrets redacted); returns what was recorded."""
        shown = self.redactor.client(text)
        self._add("client", shown)
        return shown

    def server(self, text: str) -> None:
        self._add("server", text)

    def event(
        self,
        kind: EventKind,
        variant: str | None = None,
        /,
        *,
        words: dict[str, object] | None = None,
        **data: EventValue | None,
    ) -> None:
        """Record that something happened: its ``kind``, its ``data`` (``None`` values left
        out) and the sentence of :data:`smtplab.engine.events.SENTENCES` for it (``variant``
        picks one of several; ``words`` fill blanks that are for the sentence only)."""
        text = sentence(kind, variant, **data, **(words or {}))
        self._add("event", text, kind, {k: v for k, v in data.items() if v is not None})

    def set(self, **kw: Any) -> None:
        """Record what this connection found, by record field name. A name that is not a field
        of :data:`smtplab.schema.FIELDS` (a misspelling) is a bug of smtplab: it raises here,
        where it was made, instead of vanishing from the record."""
        unknown = kw.keys() - schema.FIELDS.keys()
        if unknown:
            raise KeyError(f"not record fields: {', '.join(sorted(unknown))}")
        self.values.update(kw)

    def reset_session(self) -> None:
        """Forget what one connection found (before a retry on a new connection)."""
        keep = {k: self.values[k] for k in ("address",) if k in self.values}
        if self.values.get("outcome") == "open" or not self.previous:
            self.previous = self.values
        self.values = keep


def finish(st: ProbeState, outcome: str, error: str | None) -> ProbeResult:
    """The frozen result: the values found, the findings, every secret form scrubbed."""
    o = st.opts
    v = st.values
    if st.dropped_lines:
        count = st.dropped_lines
        st.transcript.append(
            TranscriptLine(
                round(st.now_ms(), 3),
                "event",
                sentence("truncated", count=count),
                "truncated",
                {"count": count},
            )
        )
    rec = schema.empty_record(
        probe_id=uuid.uuid4().hex,
        started_at=st.started_at,
        vantage=o.vantage,
        source=o.source,
        host=o.host,
        port=o.port,
        mode=o.mode,
        timeout=o.timeout,
        deadline=o.deadline,
        checks=checks_of(o),
        outcome=outcome,
        error=error,
        total_ms=round(st.now_ms(), 3),
    )
    unknown = v.keys() - rec.keys()
    if unknown:  # written past set(): still a misspelt field, never silently dropped
        raise KeyError(f"not record fields: {', '.join(sorted(unknown))}")
    for k, val in v.items():
        if k != "outcome":
            rec[k] = val
    if st.cert_rejected is not None:  # learnt before a reconnect or a deadline: it stays
        rec["cert_verified"], rec["cert_error"] = False, st.cert_rejected
    if st.cert_problems is not None and rec.get("tls_version"):
        rec["cert_problems"] = list(st.cert_problems)
    if not rec.get("tls_version"):
        rec["tls_mode"] = "none"  # tls_mode says what was found, and no TLS session came up
    rec["role"] = guess_role(rec)
    findings = analyze(rec, st.extra)
    if error is not None and outcome == "open":
        findings = (*findings, live_finding("protocol_problem", "medium", error))
    values = {k: _frozen(val) for k, val in rec.items() if k not in ("findings", "transcript")}
    result = ProbeResult(**values, findings=findings, transcript=tuple(st.transcript))
    return redact_result(result, st.redactor.scrubber)


#: Fields the probe fills from its own options, its own clock or its own vocabulary (outcome
#: words, finding-free facts), never with text the server sent: :func:`redact_result` leaves
#: them as they are, so that a short password cannot turn ``open`` or the host name into
#: ``[redacted]``. Every other field, including any field added later, goes through the pass.
OWN_FIELDS: Final = frozenset(
    {
        "schema_version",
        "probe_id",
        "started_at",
        "vantage",
        "source",
        "host",
        "address",
        "port",
        "mode",
        "timeout",
        "deadline",
        "checks",
        "tls_mode",
        "outcome",
        "role",
        "relay_check",
        "cert_problems",
    }
)


def redact_result(result: ProbeResult, scrubber: Scrubber) -> ProbeResult:
    """``result`` with every form of the secrets ``scrubber`` knows replaced by ``[redacted]``
    in every field but :data:`OWN_FIELDS`: banner, error, extensions, certificate text, every
    finding's message, every transcript line (server lines together, so a secret split over
    two of them is found). The one place a probe's secrets are taken out of what it shows."""
    if not scrubber:
        return result
    changes: dict[str, Any] = {}
    for f in fields(result):
        if f.name not in OWN_FIELDS:
            value = getattr(result, f.name)
            if f.name == "transcript":
                changes[f.name] = _redacted_transcript(value, scrubber)
            else:
                changes[f.name] = _redacted(value, scrubber)
    return dataclasses.replace(result, **changes)


#: Parts of a finding or a transcript line that hold the probe's own words or numbers (a finding's
#: code and severity, a line's direction, kind and time), never text from the server.
OWN_PARTS: Final = frozenset({"code", "severity", "dir", "kind", "t"})


def _redacted(value: Any, scrubber: Scrubber) -> Any:
    """``value`` redacted all through: strings, sequences (of lines: a secret may run across
    two EHLO lines), mappings, and dataclasses (a finding, a typed event) but their
    :data:`OWN_PARTS`."""
    if isinstance(value, str):
        return scrubber.scrub(value)
    if value is None or isinstance(value, (bool, int, float, enum.Enum)):
        return value
    if isinstance(value, (tuple, list)) and all(isinstance(x, str) for x in value):
        return tuple(scrubber.scrub_lines(value))
    if isinstance(value, (tuple, list)):
        return tuple(_redacted(x, scrubber) for x in value)
    if isinstance(value, Mapping):
        return {k: _redacted(v, scrubber) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        parts = {
            f.name: _redacted(getattr(value, f.name), scrubber)
            for f in fields(value)
            if f.init and f.name not in OWN_PARTS
        }
        return dataclasses.replace(value, **parts)
    raise TypeError(f"redact_result does not know how to redact a {type(value).__name__}")


def _redacted_transcript(
    lines: tuple[TranscriptLine, ...], scrubber: Scrubber
) -> tuple[TranscriptLine, ...]:
    """Every line's text and other parts; the server's lines together, as one reply stream."""
    server = [i for i, x in enumerate(lines) if x.dir == "server"]
    texts = dict(zip(server, scrubber.scrub_lines([lines[i].text for i in server]), strict=True))
    out = []
    for i, line in enumerate(lines):
        parts = {
            f.name: _redacted(getattr(line, f.name), scrubber)
            for f in fields(line)
            if f.init and f.name not in OWN_PARTS and f.name != "text"
        }
        parts["text"] = texts[i] if i in texts else scrubber.scrub(line.text)
        new = dataclasses.replace(line, **parts)
        out.append(line if new == line else new)
    return tuple(out)


def checks_of(o: ProbeOptions) -> list[str]:
    """The words of :data:`smtplab.schema.CHECKS` that these options ask for."""
    asked = {
        "verify": o.verify,
        "relay": o.relay_check,
        "tls_required": o.tls_required_check,
        "auth": o.auth is not None,
        "cleartext_auth": o.auth is not None and o.allow_cleartext_auth,
    }
    return [word for word in schema.CHECKS if asked[word]]


def _frozen(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value
