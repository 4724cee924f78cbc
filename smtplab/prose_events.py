"""Reading the event lines of records older than schema 3 by their words.

Before schema 3 an event line was a sentence and nothing else. A replay of such a record reads
each sentence once, here, into the kind and data a schema-3 line carries, and from there on
knows only kinds. Where an old sentence did not say enough (the certificate of a TLS session,
how many bytes a silent handshake got), the old record's own fields fill in, as the replay of
those versions always did. Nothing written since schema 3 goes through this module.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from smtplab.protocol import EventValue, TranscriptLine
from smtplab.records.normalise import is_missing

__all__ = ["CONNECTING", "event_kind", "kinds_from_prose", "read_sentence"]

CONNECTING: Final = re.compile(r"^connecting to (\S+) port (\d+)( \(lab socket for)?")
_SECONDS: Final = re.compile(r"(?:within|after|of) ([0-9.]+) s\b")
_HANDSHAKES: Final = {
    "TLS handshake (verifying the certificate)": (True, False),
    "TLS handshake (not verifying)": (False, False),
    "TLS handshake (reading the certificate, to verify it after the handshake)": (True, True),
}
_RACE: Final = "no cleartext greeting within"
_TLS_FIRST: Final = "implicit TLS answered first on the second connection"
_CLEARTEXT_FIRST: Final = "the cleartext greeting came first: the TLS attempt was dropped"

Data = dict[str, EventValue]


def _text(rec: Mapping[str, Any], name: str) -> str | None:
    value = rec.get(name)
    if value is None or is_missing(value):
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _strings(value: Any) -> list[str] | None:
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [str(x) for x in value]
    return None


def _seconds(text: str) -> Data:
    m = _SECONDS.search(text)
    return {"seconds": float(m.group(1))} if m else {}


def _after(prefix: str) -> Callable[[str], str]:
    return lambda text: text[len(prefix) :]


#: Sentences that start with a prefix: (prefix, kind, data from the text).
_PREFIXED: Final[tuple[tuple[str, str, Callable[[str], Data]], ...]] = (
    ("lab: ", "dns_failed", lambda t: {"cause": "lab", "detail": _after("lab: ")(t)}),
    (
        "name lookup failed: ",
        "dns_failed",
        lambda t: {"cause": "lookup", "detail": _after("name lookup failed: ")(t)},
    ),
    ("name lookup timed out", "dns_failed", lambda t: {"cause": "timeout", "detail": "timed out"}),
    ("connect timed out", "connect_failed", lambda t: {"cause": "timeout", **_seconds(t)}),
    ("the probe's overall deadline", "deadline", _seconds),
    ("internal error: ", "internal_error", lambda t: {"detail": _after("internal error: ")(t)}),
    ("the server sent ", "unasked_replies", lambda t: {}),
    (
        "connection lost while sending ",
        "send_failed",
        lambda t: {"detail": t.split(": ", 1)[1] if ": " in t else t},
    ),
    ("no reply to ", "reply_timeout", _seconds),
    ("no greeting within ", "greeting_timeout", lambda t: {"bytes": 0, **_seconds(t)}),
    ("protocol error: ", "protocol_error", lambda t: {"detail": _after("protocol error: ")(t)}),
    ("not SMTP: ", "protocol_error", lambda t: {"detail": _after("not SMTP: ")(t)}),
    (
        "connection lost during the TLS handshake: ",
        "closed",
        lambda t: {"detail": _after("connection lost during the TLS handshake: ")(t)},
    ),
    ("connection closed", "closed", lambda t: {"detail": t}),
    ("connection reset by", "closed", lambda t: {"detail": t}),
    (
        "certificate rejected: ",
        "tls_rejected",
        lambda t: {"detail": _after("certificate rejected: ")(t)},
    ),
    ("TLS handshake timed out", "tls_timeout", _seconds),
    ("certificate verified", "cert_verdict", lambda t: {"verified": True}),
    (
        "certificate not verified: ",
        "cert_verdict",
        lambda t: {"verified": False, "detail": _after("certificate not verified: ")(t)},
    ),
    (_RACE, "tls_race", _seconds),
    (_TLS_FIRST, "race_tls_first", lambda t: {}),
    (_CLEARTEXT_FIRST, "race_cleartext_first", lambda t: {}),
)


def _tls_failed(text: str) -> Data:
    message = text[len("TLS handshake failed: ") :]
    raw = message.split(" — ")[0]
    cleartext = "WRONG_VERSION_NUMBER" in raw or "record layer failure" in raw.lower()
    return {"detail": raw, "cleartext": cleartext}


def _tls_established(rec: Mapping[str, Any], reconnected: bool, first_look: bool) -> Data:
    """What a v1/v2 TLS session line did not say, from the record's fields."""
    data: Data = {}
    for key, field in (
        ("version", "tls_version"),
        ("cipher", "tls_cipher"),
        ("subject", "cert_subject"),
        ("issuer", "cert_issuer"),
        ("not_after", "cert_not_after"),
        ("detail", "cert_error"),
    ):
        value = _text(rec, field)
        if value is not None:
            data[key] = value
    san = _strings(rec.get("cert_san"))
    if san:
        data["san"] = san
    problems = _strings(rec.get("cert_problems"))
    verified = rec.get("cert_verified") is True
    if problems is not None:  # v2 kept the verdict's problems
        data.update(verified=verified, problems=problems)
    elif first_look and not reconnected:  # v1: the one-look verdict is still in cert_verified
        data.update(verified=verified, problems=[])
    return data


def read_sentence(text: str) -> tuple[str, Data]:
    """The kind and data an old event sentence stands for (``note`` when its words name none;
    the certificate and byte counts old sentences left out are not filled in here)."""
    if text == "connected":
        return "connected", {}
    m = CONNECTING.match(text)
    if m:
        return "connecting", {"address": m.group(1), "port": int(m.group(2)), "lab": bool(m[3])}
    if text in _HANDSHAKES:
        verify, judge = _HANDSHAKES[text]
        return "tls_handshake", {"verify": verify, "judge": judge}
    if text == "connection refused":
        return "connect_failed", {"cause": "refused", "detail": text}
    if text == "connection reset":
        return "connect_failed", {"cause": "reset", "detail": text}
    if text.startswith("TLS handshake failed: "):
        return "tls_failed", _tls_failed(text)
    m = re.match(r"^tarpit: only (\d+) bytes", text)
    if m:
        return "greeting_timeout", {"bytes": int(m.group(1)), "started": True, **_seconds(text)}
    m = re.match(r"^received (\d+) bytes that are not", text)
    if m:
        return "greeting_timeout", {"bytes": int(m.group(1)), "started": False}
    for prefix, kind, read in _PREFIXED:
        if text.startswith(prefix):
            return kind, read(text)
    return "note", {}


def kinds_from_prose(rec: Mapping[str, Any], lines: list[TranscriptLine]) -> list[TranscriptLine]:
    """The transcript of an old record with a kind and data on every event line."""
    out: list[TranscriptLine] = []
    reconnected = False
    first_look = any(x.dir == "event" and _HANDSHAKES.get(x.text) == (True, True) for x in lines)
    after_connecting = False
    for line in lines:
        if line.dir != "event" or line.kind is not None:
            out.append(line)
            continue
        kind, data = read_sentence(line.text)
        if after_connecting and kind in ("note", "closed") and line.text != "connected":
            # the one line after "connecting to" that is not "connected": how the connect failed
            outcome = _text(rec, "outcome")
            cause = "unreachable" if outcome == "unreachable" else "other"
            kind, data = "connect_failed", {"cause": cause, "detail": line.text}
        if kind == "tls_rejected":
            reconnected = True
        if kind == "deadline":
            data["bytes"] = 1 if _text(rec, "outcome") == "tls_failed" else 0
        if kind == "tls_timeout":
            data["bytes"] = 0 if _text(rec, "outcome") == "silent" else 1
        if line.text.startswith("TLS established"):
            kind, data = "tls_established", _tls_established(rec, reconnected, first_look)
        after_connecting = kind == "connecting"
        out.append(TranscriptLine(line.t, line.dir, line.text, kind, data))
    return out


def event_kind(line: Any) -> str | None:
    """The kind of an event line (a record's dict or a :class:`TranscriptLine`): its own, or
    for a line of an older record, the kind its words stand for. ``None`` for other lines."""
    get = line.get if isinstance(line, Mapping) else lambda k: getattr(line, k, None)
    if get("dir") != "event":
        return None
    kind = get("kind")
    if isinstance(kind, str):
        return kind
    text = str(get("text"))
    return "tls_established" if text.startswith("TLS established") else read_sentence(text)[0]
