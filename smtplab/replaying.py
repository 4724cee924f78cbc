"""Replay a recorded probe: its server lines go back through the very same protocol core.

A record keeps the transcript of what the server said and what happened on the connection. A
replay builds a :class:`RecordedNetwork` whose streams hand the server's lines, as bytes, to the
probe's own conversation — the same reply parser, the same decisions about STARTTLS,
certificates and outcome words — instead of a socket, and raise at each recorded event the typed
error the live stream raised. It goes by the events' kinds and data only, never by their
sentences, and takes no answer from the record's fields: the outcome is worked out again. (A
record older than schema 3 has sentences only: :mod:`smtplab.prose_events` reads them into kinds
first.) If the code and the recording agree, the replayed result equals the stored one
(:func:`differences` is empty). Pacing by the recorded timings lets a widget play a transcript
back as it happened.

>>> df = smtplab.load_records("data/recordings/home-isp.jsonl")    # doctest: +SKIP
>>> r = smtplab.replay(df.iloc[0].to_dict())                        # doctest: +SKIP
>>> differences(df.iloc[0].to_dict(), r)                            # doctest: +SKIP
[]
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from smtplab.engine.options import DEFAULT_TIMEOUT, ProbeOptions
from smtplab.engine.result import ProbeResult, ProbeState
from smtplab.engine.run import run_probe, run_sync
from smtplab.engine.tlsfacts import TLSFacts
from smtplab.engine.wire import (
    ConnectFailed,
    DeadlineReached,
    NameLookupFailed,
    TLSFailed,
    TLSRejected,
    WireClosed,
    WireTimeout,
)
from smtplab.findings import Finding
from smtplab.prose_events import CONNECTING, kinds_from_prose
from smtplab.protocol import ProtocolError, TranscriptLine, validate_ehlo_name
from smtplab.records.normalise import is_missing
from smtplab.rules import deadline_for
from smtplab.tls import CertFacts, CertProblem, ChainVerdict, verify_error_parts

__all__ = ["TIMING_FIELDS", "RecordedNetwork", "RecordedStream", "areplay", "differences", "replay"]

#: Fields that measure this run's clock, not what the server did: a replay differs in them.
TIMING_FIELDS: Final = ("connect_ms", "banner_ms", "ehlo_ms", "tls_ms", "total_ms")

#: Fields schema v2 added: a v1 record holds ``None`` there, and a replay is not faulted for
#: knowing them.
NEW_IN_V2: Final = ("timeout", "deadline", "checks", "cert_problems")

_SECONDS = re.compile(r"(?:within|after) ([0-9.]+) s\b")
_DEADLINE = re.compile(r"deadline of ([0-9.]+) s")

#: Event kinds a read goes past: what the conversation noted, which no step of the wire needs.
_NOTES: Final = frozenset(
    {
        "unasked_replies",
        "starttls_not_offered",
        "starttls_refused",
        "starttls_injection",
        "check",
        "auth_skipped",
        "retry_failed",
        "race_cleartext_first",
        "internal_error",
        "truncated",
        "note",
    }
)


def _int(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key)
    return int(value) if isinstance(value, (int, float)) else 0


def _str(data: Mapping[str, Any], key: str, default: str = "") -> str:
    value = data.get(key)
    return value if isinstance(value, str) else default


class _Cursor:
    """One place in a recorded transcript, shared by every connection of a replay, paced by
    the recorded times when asked."""

    def __init__(self, lines: list[TranscriptLine], speed: float | None) -> None:
        self.lines = lines
        self.pos = 0
        self.speed = speed
        self.t_start: float | None = None

    def peek(self) -> TranscriptLine | None:
        return self.lines[self.pos] if self.pos < len(self.lines) else None

    def take(self) -> TranscriptLine:
        line = self.lines[self.pos]
        self.pos += 1
        return line

    async def pace(self) -> None:
        """Wait until the time of the line last taken, at the replay's speed."""
        if not self.speed or not self.pos:
            return
        t = self.lines[self.pos - 1].t
        loop = asyncio.get_running_loop()
        if self.t_start is None:
            self.t_start = loop.time() - t / 1000.0 / self.speed
        wait = self.t_start + t / 1000.0 / self.speed - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)


class RecordedStream:
    """A :class:`~smtplab.engine.wire.Stream` that reads a recorded transcript: the server's
    lines come back as bytes, and each recorded event that ended a step (a timeout, a closed
    connection, a failed handshake) comes back as the typed error the live stream raised."""

    def __init__(self, cursor: _Cursor, pending: bytes = b"") -> None:
        self.cursor = cursor
        self.pending = bytearray(pending)
        self.delivered = 0
        #: the data of the TLS session's ``tls_established`` event, once it came up
        self.session: dict[str, Any] = {}

    async def read(self, max_bytes: int, timeout: float) -> bytes:
        c = self.cursor
        out = bytearray(self.pending)
        self.pending.clear()
        while (line := c.peek()) is not None:
            if line.dir == "server":
                out += line.text.encode("utf-8") + b"\r\n"
                c.take()
                continue
            if line.dir == "event" and line.kind in _NOTES:
                c.take()
                continue
            if out or line.dir == "client":
                break
            out += await self._stop_at(line, timeout)
            break
        if not out:
            if c.peek() is None:
                raise WireClosed("connection closed by the server")
            raise WireTimeout()
        await c.pace()
        self.delivered += len(out)
        return bytes(out)

    async def _stop_at(self, line: TranscriptLine, timeout: float) -> bytes:
        """The recorded event at which nothing more came: raise what the live stream raised
        (or first hand over the bytes of a greeting that had begun, when they were not kept)."""
        kind, data = line.kind, line.data
        if kind == "greeting_timeout" and _int(data, "bytes") > self.delivered:
            # a greeting had begun (or something else came) without a whole line: its bytes were
            # not kept, their count was; as many stand in for them
            n = _int(data, "bytes") - self.delivered
            return (b"220 " + b"." * n)[:n] if data.get("started") else b"." * n
        if kind == "protocol_error":
            raise ProtocolError(_str(data, "detail"))
        if kind == "closed":
            raise WireClosed(_str(data, "detail", "connection closed by the server"))
        if kind == "deadline":
            raise DeadlineReached(_int(data, "bytes"))
        if kind == "race_tls_first":  # the TLS try wins this race: nothing comes here
            await asyncio.sleep(timeout)
        raise WireTimeout()

    async def write(self, data: bytes, timeout: float) -> None:
        c = self.cursor
        while (line := c.peek()) is not None:
            c.take()
            if line.dir != "client":
                continue  # a reply nobody read, or a note: the conversation moved on
            await c.pace()
            nxt = c.peek()
            if nxt is not None and nxt.kind == "send_failed":
                c.take()
                raise WireClosed(_str(nxt.data, "detail", "connection already closed"))
            return
        raise WireClosed("connection already closed")

    async def start_tls(
        self, ctx: Any, server_hostname: str | None, timeout: float
    ) -> RecordedStream:
        c = self.cursor
        arrived = bytearray()
        while (line := c.peek()) is not None:
            if line.dir == "client":
                break
            c.take()
            if line.dir == "server":  # came over TLS as the handshake ended (465's greeting)
                arrived += line.text.encode("utf-8") + b"\r\n"
                continue
            kind, data = line.kind, line.data
            if kind == "tls_established":
                await c.pace()
                tls = RecordedStream(c, bytes(arrived))
                tls.session = dict(data)
                return tls
            if kind == "tls_rejected":
                raise TLSRejected(_str(data, "detail"))
            if kind == "tls_failed":
                raise TLSFailed(_str(data, "detail"), data.get("cleartext") is True)
            if kind == "tls_timeout":
                raise WireTimeout(received=_int(data, "bytes"))
            if kind == "closed":
                raise WireClosed(_str(data, "detail"))
            if kind == "deadline":
                raise DeadlineReached(_int(data, "bytes"))
        raise WireClosed("the recording ends during the TLS handshake")

    def close(self) -> None:
        pass

    def get_extra_info(self, name: str) -> Any:
        if name == "tls_facts":
            return _tls_facts(self.session)
        return None

    def verdict(self) -> ChainVerdict | None:
        """The verdict on the certificate as the session's event recorded it."""
        s = self.session
        if "problems" not in s:
            return None
        error = s.get("detail") if isinstance(s.get("detail"), str) else None
        words = dict(verify_error_parts(error))
        kinds = [str(k) for k in s.get("problems") or ()]
        problems = tuple(CertProblem(k, words.get(k, k)) for k in kinds)
        return ChainVerdict(s.get("verified") is True, problems, error)


def _tls_facts(s: Mapping[str, Any]) -> TLSFacts:
    version = s.get("version") if isinstance(s.get("version"), str) else None
    cipher = s.get("cipher") if isinstance(s.get("cipher"), str) else None
    facts = None
    if any(k in s for k in ("subject", "issuer", "not_after", "san")):
        facts = CertFacts(
            subject=s.get("subject"),
            issuer=s.get("issuer"),
            not_after=s.get("not_after"),
            san=tuple(str(x) for x in s.get("san") or ()),
            self_signed=s.get("subject") == s.get("issuer"),
        )
    subjects, issuers = s.get("chain"), s.get("chain_issuers")
    chain = None
    if (
        isinstance(subjects, list)
        and isinstance(issuers, list)
        and len(subjects) == len(issuers)
        and all(isinstance(x, str) for x in subjects + issuers)
    ):
        chain = tuple(zip(subjects, issuers, strict=True))
    return TLSFacts(version, cipher, facts, chain)


class RecordedNetwork:
    """A :class:`~smtplab.engine.wire.Network` over a recorded transcript: each connection of
    the replay is the next one of the recording. It dispatches on the events' kinds and data
    only: the sentences beside them may be reworded freely."""

    def __init__(self, lines: list[TranscriptLine], speed: float | None = None) -> None:
        self.cursor = _Cursor(lines, speed)
        self.hands_over_chain = any(
            x.kind == "tls_handshake" and x.data.get("judge") is True for x in lines
        )

    def __call__(self, opts: ProbeOptions, on_handshake_bytes: Callable[[int], None]) -> Any:
        return self

    async def resolve(self, host: str, port: int, timeout: float) -> tuple[str, int]:
        c = self.cursor
        for i in range(c.pos, len(c.lines)):
            line = c.lines[i]
            if line.kind == "dns_failed":
                c.pos = i + 1
                cause = _str(line.data, "cause", "other")
                raise NameLookupFailed(
                    cause if cause in ("lab", "lookup", "timeout") else "other",  # type: ignore[arg-type]
                    _str(line.data, "detail", "timed out"),
                )
            if line.kind == "connecting":
                return _str(line.data, "address", "0.0.0.0"), _int(line.data, "port") or port
        return "0.0.0.0", port

    async def connect(self, address: str, port: int, timeout: float) -> RecordedStream:
        c = self.cursor
        while (line := c.peek()) is not None:  # to the connection's own "connecting"
            c.take()
            if line.kind == "connecting":
                break
        while (line := c.peek()) is not None:  # then how it went
            c.take()
            if line.kind == "connected":
                await c.pace()
                return RecordedStream(c)
            if line.kind == "connect_failed":
                cause = _str(line.data, "cause", "other")
                known = ("timeout", "refused", "reset", "unreachable")
                raise ConnectFailed(
                    cause if cause in known else "other",  # type: ignore[arg-type]
                    _str(line.data, "detail", cause),
                )
            if line.kind == "deadline":
                raise DeadlineReached(_int(line.data, "bytes"))
        raise ConnectFailed("other", "the recording ends before the connection")

    def race_grace(self, proposed: float) -> float | None:
        """The grace the recorded probe gave (it measured its own connect time), if it raced."""
        c = self.cursor
        race = next((x for x in c.lines[c.pos :] if x.kind in ("tls_race", "connecting")), None)
        if race is None or race.kind != "tls_race":
            return None
        seconds = race.data.get("seconds")
        return float(seconds) if isinstance(seconds, (int, float)) else proposed

    async def tls_answers(self, stream: Any, server_hostname: str, timeout: float) -> bool:
        """The race as recorded: TLS first if that is the event after the race began. Takes
        the race's event at once (before its first wait), so the greeting's read goes on."""
        c = self.cursor
        while (line := c.peek()) is not None and line.kind != "tls_race":
            if line.dir != "event":
                break
            c.take()
        if c.peek() is not None and c.lines[c.pos].kind == "tls_race":
            c.take()
        nxt = c.peek()
        if nxt is not None and nxt.kind == "race_tls_first":
            return True
        await asyncio.sleep(timeout)
        return False

    async def judge_certificate(
        self,
        stream: Any,
        server_name: str,
        *,
        cafile: str | None,
        cadata: str | None,
        verify_error: str | None,
    ) -> ChainVerdict | None:
        """The verdict the recording holds: a replay has no certificate to judge again."""
        return stream.verdict() if isinstance(stream, RecordedStream) else None


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    if hasattr(value, "tolist"):
        value = value.tolist()
    return list(value)


def _iso(value: Any) -> str | None:
    if is_missing(value):
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _transcript(rec: Mapping[str, Any]) -> list[TranscriptLine]:
    """The recorded lines, every event with its kind: an older record's read by its words
    (:mod:`smtplab.prose_events`), the only place words still steer a replay."""
    lines = [TranscriptLine.from_dict(x) for x in _list(rec.get("transcript"))]
    if any(x.dir == "event" and x.kind is None for x in lines):
        return kinds_from_prose(rec, lines)
    return lines


def _ehlo_name(lines: list[TranscriptLine]) -> str | None:
    """The name the recorded probe said EHLO (or HELO) with: what it sent, not what it wrote."""
    ehlo = next(
        (
            x.text.split(" ", 1)[1]
            for x in lines
            if x.dir == "client" and x.text.upper().startswith(("EHLO ", "HELO ")) and " " in x.text
        ),
        None,
    )
    try:
        return validate_ehlo_name(ehlo) if ehlo else None
    except ValueError:
        return None


def _options_from(rec: Mapping[str, Any], lines: list[TranscriptLine]) -> ProbeOptions:
    """The options the recorded probe ran with, from the record's own fields (schema v2:
    ``timeout``, ``deadline``, ``checks``); a v1 record did not keep them, and they are read
    from its transcript instead (:func:`_options_from_v1_transcript`)."""
    checks, timeout, deadline = rec.get("checks"), rec.get("timeout"), rec.get("deadline")
    if is_missing(checks) or is_missing(timeout) or is_missing(deadline):
        return _options_from_v1_transcript(rec, lines)
    asked = {str(c) for c in _list(checks)}
    return ProbeOptions(
        host=str(rec["host"]),
        port=int(rec["port"]),
        mode=str(rec.get("mode") or "auto"),
        timeout=float(timeout),  # type: ignore[arg-type]  # not missing: checked above
        deadline=float(deadline),  # type: ignore[arg-type]
        ehlo_name=_ehlo_name(lines),
        verify="verify" in asked,
        cadata=None,
        cafile=None,
        relay_check="relay" in asked,
        tls_required_check="tls_required" in asked,
        vantage=str(rec.get("vantage") or "unspecified"),
        source=str(rec.get("source") or "live"),
        connect_to=("replay", 0) if rec.get("source") == "lab" else None,
        auth=("[redacted]", "[redacted]") if "auth" in asked else None,
        allow_cleartext_auth="cleartext_auth" in asked,
    )


def _options_from_v1_transcript(
    rec: Mapping[str, Any], lines: list[TranscriptLine]
) -> ProbeOptions:
    events = " | ".join(x.text for x in lines if x.dir == "event")
    m = _SECONDS.search(events)
    timeout = float(m.group(1)) if m else DEFAULT_TIMEOUT
    m = _DEADLINE.search(events)
    deadline = float(m.group(1)) if m else deadline_for(timeout)
    ehlo = next(
        (
            x.text.split(" ", 1)[1]
            for x in lines
            if x.dir == "client" and x.text.upper().startswith(("EHLO ", "HELO ")) and " " in x.text
        ),
        None,
    )
    try:
        ehlo = validate_ehlo_name(ehlo) if ehlo else None
    except ValueError:
        ehlo = None
    first_tls = next((x.text for x in lines if x.text.startswith("TLS handshake (")), "")
    sent_auth = any(x.dir == "client" and x.text.upper().startswith("AUTH ") for x in lines)
    asked_auth = sent_auth or any(
        x.dir == "event" and x.text.startswith("AUTH check skipped") for x in lines
    )
    connecting = next((x for x in lines if x.dir == "event" and CONNECTING.match(x.text)), None)
    lab_socket = connecting is not None and "(lab socket for" in connecting.text
    return ProbeOptions(
        host=str(rec["host"]),
        port=int(rec["port"]),
        mode=str(rec.get("mode") or "auto"),
        timeout=timeout,
        deadline=deadline,
        ehlo_name=ehlo,
        verify="not verifying" not in first_tls,
        cadata=None,
        cafile=None,
        relay_check=any(x.text.startswith("relay check:") for x in lines),
        tls_required_check=any(x.text.startswith("TLS-required check:") for x in lines),
        vantage=str(rec.get("vantage") or "unspecified"),
        source=str(rec.get("source") or "live"),
        connect_to=("replay", 0) if lab_socket else None,
        auth=("[redacted]", "[redacted]") if asked_auth else None,
        allow_cleartext_auth=sent_auth and not rec.get("tls_version"),
    )


async def areplay(
    record: Mapping[str, Any] | ProbeResult, *, pace: float | bool = False
) -> ProbeResult:
    """Async twin of :func:`replay`."""
    rec = record.to_record() if isinstance(record, ProbeResult) else dict(record)
    lines = _transcript(rec)
    opts = _options_from(rec, lines)
    speed = (1.0 if pace is True else float(pace)) if pace else None
    network = RecordedNetwork(lines, speed)
    result = await run_probe(opts, network, ProbeState(opts))
    return dataclasses.replace(
        result,
        probe_id=str(rec.get("probe_id") or result.probe_id),
        started_at=_iso(rec.get("started_at")) or result.started_at,
    )


def replay(record: Mapping[str, Any] | ProbeResult, *, pace: float | bool = False) -> ProbeResult:
    """Replay a recorded probe through the protocol core and return the result it gives.

    ``pace=True`` replays at the recorded speed, ``pace=5`` five times faster, ``False`` at once.
    """
    return run_sync(lambda: areplay(record, pace=pace))


def _norm(name: str, value: Any) -> Any:
    if is_missing(value):  # a list or an array is a value, never missing
        value = None
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()
    if isinstance(value, tuple):
        value = list(value)
    if name == "transcript":
        # What was said, in order, and what happened, in order. How the two interleave can vary
        # by a few microseconds on a live socket (a greeting racing the end of a TLS handshake),
        # so they are compared as two sequences.
        # An event is its kind and data too (schema 3).
        lines = [TranscriptLine.from_dict(x) for x in (value or [])]
        said = [(x.dir, x.text) for x in lines if x.dir != "event"]
        events = [(x.dir, x.text, x.kind, _canonical(x.data)) for x in lines if x.dir == "event"]
        return (said, events)
    if name == "findings":
        return [x.to_dict() if isinstance(x, Finding) else dict(x) for x in (value or [])]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return None
    if name in ("extensions", "cert_san") and value is None:
        return []
    return value


def _canonical(data: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    """Event data in one form (numbers as floats, lists as tuples), to compare."""
    out = []
    for key, value in sorted(data.items()):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = float(value)
        elif isinstance(value, list):
            value = tuple(value)
        out.append((key, value))
    return tuple(out)


def differences(original: Mapping[str, Any] | ProbeResult, replayed: ProbeResult) -> list[str]:
    """Fields in which a replay differs from the recording (timings and line times ignored)."""
    a = original.to_record() if isinstance(original, ProbeResult) else dict(original)
    b = replayed.to_record()
    out = []
    for name in b:
        if name in TIMING_FIELDS:
            continue
        va, vb = _norm(name, a.get(name)), _norm(name, b.get(name))
        if name == "transcript" and not any(kind for _, _, kind, _ in va[1]):
            # an older record's events have no kind: their words are all there is to compare
            va, vb = (va[0], [e[:2] for e in va[1]]), (vb[0], [e[:2] for e in vb[1]])
        if name in NEW_IN_V2 and va is None:
            continue  # not recorded then (schema v1): nothing to compare
        if name in ("started_at", "cert_not_after") and va and vb:
            import datetime as dt

            va = dt.datetime.fromisoformat(str(va).replace("Z", "+00:00"))
            vb = dt.datetime.fromisoformat(str(vb).replace("Z", "+00:00"))
        if va != vb:
            out.append(name)
    return out
