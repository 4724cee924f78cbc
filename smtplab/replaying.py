"""Replay a recorded probe: its server lines go back through the very same protocol core.

A record keeps the transcript of what the server said and what happened on the connection. A
replay builds a *recorded wire* that hands those lines to the probe's own conversation — the
same reply parser, the same decisions about STARTTLS, certificates and outcome words — instead
of a socket. If the code and the recording agree, the replayed result equals the stored one
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
import ssl
from collections.abc import Mapping
from typing import Any, Final

from smtplab.engine.conversation import GRACE_EVENT, HANDSHAKE_EVENTS, TLS_FIRST_EVENT
from smtplab.engine.options import DEFAULT_TIMEOUT, ProbeOptions
from smtplab.engine.result import ProbeResult, ProbeState
from smtplab.engine.run import run_probe, run_sync
from smtplab.engine.tlsfacts import TLSFacts
from smtplab.engine.wire import DeadlineReached, ReplyReader, WireFailed
from smtplab.findings import Finding
from smtplab.protocol import ProtocolError, Reply, TranscriptLine, validate_ehlo_name
from smtplab.tls import CertFacts, CertProblem, ChainVerdict, verify_error_parts

__all__ = ["TIMING_FIELDS", "areplay", "differences", "replay"]

#: Fields that measure this run's clock, not what the server did: a replay differs in them.
TIMING_FIELDS: Final = ("connect_ms", "banner_ms", "ehlo_ms", "tls_ms", "total_ms")

#: Fields schema v2 added: a v1 record holds ``None`` there, and a replay is not faulted for
#: knowing them.
NEW_IN_V2: Final = ("timeout", "deadline", "checks", "cert_problems")

_CONNECTING = re.compile(r"^connecting to (\S+) port (\d+)")
_SECONDS = re.compile(r"(?:within|after) ([0-9.]+) s\b")
_DEADLINE = re.compile(r"deadline of ([0-9.]+) s")


class _RecordedSSLError(ssl.SSLError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class _RecordedWire:
    """A :class:`~smtplab.engine.wire.Wire` that reads from a transcript instead of a socket.

    One cursor serves every connection of the probe (the conversation calls the wire factory,
    this object, once per connection). To its :class:`ReplyReader` it is also the transport."""

    def __init__(self, rec: Mapping[str, Any], lines: list[TranscriptLine], speed: float | None):
        self.rec = rec
        self.lines = lines
        self.pos = 0
        self.speed = speed
        self.t_start: float | None = None
        self.last_t = 0.0
        self.st: ProbeState | None = None
        self.proto: ReplyReader | None = None

    def __call__(self, st: ProbeState) -> _RecordedWire:
        self.st = st
        self.proto = ReplyReader(st)
        return self

    # --- reading the recording ------------------------------------------------------------

    async def _pace(self, t: float) -> None:
        if not self.speed:
            return
        loop = asyncio.get_running_loop()
        if self.t_start is None:
            self.t_start = loop.time() - t / 1000.0 / self.speed
        wait = self.t_start + t / 1000.0 / self.speed - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)

    def _peek(self) -> TranscriptLine | None:
        return self.lines[self.pos] if self.pos < len(self.lines) else None

    async def _next(self) -> TranscriptLine | None:
        line = self._peek()
        if line is not None:
            self.pos += 1
            self.last_t = line.t
            await self._pace(line.t)
        return line

    def _recorded_protocol_error(self) -> str | None:
        for line in self.lines[self.pos :]:
            if line.dir == "event":
                for prefix in ("protocol error: ", "not SMTP: "):
                    if line.text.startswith(prefix):
                        return line.text[len(prefix) :]
            if line.dir == "client":
                return None
        return None

    def _arrive(self) -> None:
        """Server lines next in the recording have "arrived": parse them now, as the live wire
        does the moment bytes come in (so they land in the transcript in the same order)."""
        while (line := self._peek()) is not None and line.dir == "server":
            self.pos += 1
            self.last_t = line.t
            self._feed(line.text)

    def _feed(self, text: str) -> None:
        assert self.proto is not None
        self.proto.data_received(text.encode("utf-8") + b"\r\n")
        if self.proto.error is not None:
            recorded = self._recorded_protocol_error()
            if recorded is not None:
                self.proto.error = ProtocolError(recorded)

    # --- what the conversation calls -------------------------------------------------------

    async def resolve(self) -> tuple[str, int]:
        assert self.st is not None
        for i, line in enumerate(self.lines):
            if line.dir == "event" and (
                line.text.startswith("lab: ") or line.text.startswith("name lookup")
            ):
                self.pos = i + 1
                self.st.event(line.text)
                raise WireFailed("dns_failed", str(self.rec.get("error") or line.text))
            m = _CONNECTING.match(line.text) if line.dir == "event" else None
            if m:
                return m.group(1), int(m.group(2))
        return str(self.rec.get("address") or "0.0.0.0"), int(self.rec["port"])

    async def connect(self, address: str, port: int, timeout: float) -> None:
        assert self.st is not None and self.proto is not None
        # the event right after the next "connecting to ..." tells how the connect went
        while (line := await self._next()) is not None:
            if line.dir == "event" and line.text.startswith("connecting to "):
                break
        while (line := await self._next()) is not None:
            if line.dir != "event":
                continue
            if line.text == "connected":
                self.proto.connection_made(self)  # type: ignore[arg-type]
                self._arrive()
                return
            if line.text == "connection refused":
                raise ConnectionRefusedError(line.text)
            if line.text.startswith("the probe's overall deadline"):
                raise DeadlineReached()
            if line.text.startswith("connect timed out"):
                raise asyncio.TimeoutError()
            outcome = (
                "reset" if line.text == "connection reset" else self.rec.get("outcome", "error")
            )
            raise WireFailed(str(outcome), line.text)
        raise WireFailed("error", "the recording ends before the connection")

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def pause_reading(self) -> None:
        pass

    async def start_tls(
        self, ctx: ssl.SSLContext, server_hostname: str | None, timeout: float
    ) -> None:
        assert self.st is not None and self.proto is not None
        self.proto.restart()
        while (line := await self._next()) is not None:
            if line.dir == "server":  # came over TLS as the handshake ended (the greeting on 465)
                self._feed(line.text)
                continue
            if line.dir != "event":
                continue
            text = line.text
            if text.startswith("TLS established"):
                return
            if text.startswith("the probe's overall deadline"):
                raise DeadlineReached()
            if text.startswith("certificate rejected: "):
                exc = ssl.SSLCertVerificationError(text)
                exc.verify_message = text[len("certificate rejected: ") :]
                raise exc
            if text.startswith("TLS handshake failed: "):
                raise _RecordedSSLError(text[len("TLS handshake failed: ") :].split(" — ")[0])
            if text.startswith("TLS handshake timed out"):
                silent = self.rec.get("outcome") == "silent"
                self.st.bytes_in_phase = 0 if silent else 1
                raise asyncio.TimeoutError()
            if text.startswith("connection lost during the TLS handshake: "):
                raise ConnectionResetError(
                    text[len("connection lost during the TLS handshake: ") :]
                )
        raise ConnectionResetError("the recording ends during the TLS handshake")

    def tls_facts(self) -> TLSFacts:
        rec = self.rec
        facts = None
        if rec.get("cert_subject") or rec.get("cert_issuer"):
            facts = CertFacts(
                subject=rec.get("cert_subject"),
                issuer=rec.get("cert_issuer"),
                not_after=_iso(rec.get("cert_not_after")),
                san=tuple(_list(rec.get("cert_san"))),
                self_signed=rec.get("cert_subject") == rec.get("cert_issuer"),
            )
        return TLSFacts(rec.get("tls_version"), rec.get("tls_cipher"), facts)

    def hands_over_chain(self) -> bool:
        first_look = HANDSHAKE_EVENTS[(True, True)]
        return any(x.dir == "event" and x.text == first_look for x in self.lines)

    async def judge_certificate(
        self,
        server_name: str,
        *,
        cafile: str | None,
        cadata: str | None,
        verify_error: str | None,
    ) -> ChainVerdict | None:
        """The verdict the recording holds (``cert_verified``, ``cert_problems``,
        ``cert_error``): a replay has no certificate to judge again."""
        rec = self.rec
        kinds = None if _missing_list(rec.get("cert_problems")) else _list(rec["cert_problems"])
        error = None if _missing(rec.get("cert_error")) else str(rec["cert_error"])
        if kinds is None:  # not recorded (v1): the one-look verdict is still in cert_verified
            if verify_error is not None or not self.hands_over_chain():
                return None
            return ChainVerdict(rec.get("cert_verified") is True, (), error)
        words = dict(verify_error_parts(error))
        problems = tuple(CertProblem(str(k), words.get(str(k), str(k))) for k in kinds)
        return ChainVerdict(rec.get("cert_verified") is True, problems, error)

    def local_name(self) -> str:
        for line in self.lines[self.pos :]:
            if line.dir == "client" and line.text.upper().startswith(("EHLO ", "HELO ")):
                return line.text.split(" ", 1)[1]
        return "[127.0.0.1]"

    def pending(self) -> int:
        assert self.proto is not None
        return len(self.proto.replies)

    def leftover(self) -> int:
        assert self.proto is not None
        self._arrive()
        return len(self.proto.replies) + self.proto.parser.buffered

    def received(self) -> int:
        assert self.proto is not None
        return self.proto.received

    def reply_started(self) -> bool:
        assert self.proto is not None
        return self.proto.parser.started_reply()

    def send(self, data: bytes) -> None:
        while (line := self._peek()) is not None:
            self.pos += 1
            if line.dir == "client":
                nxt = self._peek()
                if (
                    nxt is not None
                    and nxt.dir == "event"
                    and nxt.text.startswith("connection lost while sending ")
                ):
                    self.pos += 1  # the conversation writes this event again itself
                    raise ConnectionResetError(nxt.text.split(": ", 1)[1])
                return
            if line.dir == "server":
                self._feed(line.text)
        raise ConnectionResetError("connection already closed")

    async def read_reply(self, timeout: float) -> Reply:
        proto = self.proto
        assert proto is not None
        while True:
            if proto.replies:
                reply = proto.replies.popleft()
                self._arrive()
                await self._pace(self.last_t)
                return reply
            if proto.error is not None:
                raise proto.error
            line = self._peek()
            if line is None:
                raise ConnectionResetError("the recording ends here")
            if line.dir == "client":
                raise asyncio.TimeoutError()
            await self._next()
            if line.dir == "server":
                self._feed(line.text)
                continue
            text = line.text
            if text.startswith(("no reply to ", "no greeting within ", GRACE_EVENT)):
                raise asyncio.TimeoutError()
            m = re.match(r"^tarpit: only (\d+) bytes", text)
            if m:  # a greeting had begun; its partial bytes were not kept, their count was
                proto.received = int(m.group(1))
                proto.parser.feed(b"2")
                raise asyncio.TimeoutError()
            m = re.match(r"^received (\d+) bytes that are not", text)
            if m:
                proto.received = int(m.group(1))
                raise asyncio.TimeoutError()
            if text.startswith(("protocol error: ", "not SMTP: ")):
                raise ProtocolError(text.split(": ", 1)[1])
            if text.startswith(("connection closed", "connection reset")):
                raise ConnectionResetError(text)
            if text.startswith("the probe's overall deadline"):
                raise DeadlineReached()

    def races_tls(self) -> bool:
        return any(x.dir == "event" and x.text.startswith(GRACE_EVENT) for x in self.lines)

    async def race_tls(self, timeout: float, server_hostname: str) -> Reply | None:
        """The race as recorded: TLS first if that event comes before any server line."""
        for i in range(self.pos, len(self.lines)):
            line = self.lines[i]
            if line.dir == "event" and line.text == TLS_FIRST_EVENT:
                self.pos = i  # the conversation writes this event itself
                return None
            if line.dir != "event" or line.text.startswith("no greeting within "):
                break
        return await self.read_reply(timeout)

    def close(self) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def write(self, data: bytes) -> None:
        pass

    def abort(self) -> None:
        pass


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    if hasattr(value, "tolist"):
        value = value.tolist()
    return list(value)


def _missing_list(value: Any) -> bool:
    return not isinstance(value, (list, tuple)) and not hasattr(value, "tolist") and _missing(value)


def _missing(value: Any) -> bool:
    """None, NaN, or pandas' NaT/NA (without importing pandas)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True
    return type(value).__name__ in ("NaTType", "NAType")


def _iso(value: Any) -> str | None:
    if _missing(value):
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _transcript(rec: Mapping[str, Any]) -> list[TranscriptLine]:
    return [
        TranscriptLine(float(x["t"]), str(x["dir"]), str(x["text"]))
        for x in _list(rec.get("transcript"))
    ]


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
    if _missing_list(checks) or _missing(timeout) or _missing(deadline):
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
    deadline = float(m.group(1)) if m else min(600.0, 3 * timeout + 2)
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
    connecting = next((x for x in lines if x.dir == "event" and _CONNECTING.match(x.text)), None)
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
    wire = _RecordedWire(rec, lines, speed)
    result = await run_probe(opts, wire, ProbeState(opts))
    return dataclasses.replace(
        result,
        probe_id=str(rec.get("probe_id") or result.probe_id),
        started_at=_iso(rec.get("started_at")) or result.started_at,
    )


def replay(record: Mapping[str, Any] | ProbeResult, *, pace: float | bool = False) -> ProbeResult:
    """Replay a recorded probe through the protocol core and return the result it gives.

    ``pace=True`` replays at the recorded speed, ``pace=5`` five times faster, ``False`` at once.
    """
    return run_sync(lambda: areplay(record, pace=pace))  # type: ignore[no-any-return]


def _norm(name: str, value: Any) -> Any:
    if not isinstance(value, (list, tuple)) and not hasattr(value, "tolist") and _missing(value):
        value = None
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()
    if isinstance(value, tuple):
        value = list(value)
    if name == "transcript":
        # What was said, in order, and what happened, in order. How the two interleave can vary
        # by a few microseconds on a live socket (a greeting racing the end of a TLS handshake),
        # so they are compared as two sequences.
        pairs = [
            (x["dir"], x["text"]) if isinstance(x, Mapping) else (x.dir, x.text)
            for x in (value or [])
        ]
        return ([p for p in pairs if p[0] != "event"], [p for p in pairs if p[0] == "event"])
    if name == "findings":
        return [x.to_dict() if isinstance(x, Finding) else dict(x) for x in (value or [])]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return None
    if name in ("extensions", "cert_san") and value is None:
        return []
    return value


def differences(original: Mapping[str, Any] | ProbeResult, replayed: ProbeResult) -> list[str]:
    """Fields in which a replay differs from the recording (timings and line times ignored)."""
    a = original.to_record() if isinstance(original, ProbeResult) else dict(original)
    b = replayed.to_record()
    out = []
    for name in b:
        if name in TIMING_FIELDS:
            continue
        va, vb = _norm(name, a.get(name)), _norm(name, b.get(name))
        if name in NEW_IN_V2 and va is None:
            continue  # not recorded then (schema v1): nothing to compare
        if name in ("started_at", "cert_not_after") and va and vb:
            import datetime as dt

            va = dt.datetime.fromisoformat(str(va).replace("Z", "+00:00"))
            vb = dt.datetime.fromisoformat(str(vb).replace("Z", "+00:00"))
        if va != vb:
            out.append(name)
    return out
