"""What every importer shares: safe text, stable ids, the EHLO parser, line-precise errors.

Every record an importer yields goes through :func:`finish`: its strings are made safe to
print, its role and findings come from :mod:`smtplab.findings` (the very rules a live probe
uses), and :func:`smtplab.records.check_record` checks it against the schema.  A bad input line
becomes one :class:`smtplab.records.RecordError` naming the file, the line and the field.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from smtplab.findings import analyze, guess_role
from smtplab.protocol import ProtocolError, Reply, ReplyParser, parse_ehlo
from smtplab.records import RecordError, check_record

#: Namespace for the uuid5 probe ids of imported records.
IMPORT_NAMESPACE = uuid.UUID("5d0c4a9e-6a52-5b1e-9a63-2f4f1d6b3c71")

#: Size limit for the ``from_*`` functions, which hold every record in memory at once.  The
#: streaming ``iter_*`` functions and :func:`smtplab.importers.import_scan` have no file limit.
MAX_INPUT_BYTES = 1024 * 1024 * 1024

#: Longest input line (JSON Lines, CSV) or XML token we accept.  One scan target's JSON with a
#: full TLS handshake log is tens of kB; 16 MiB is far beyond it, and bounds what a file without
#: newlines can make us hold.
MAX_LINE_BYTES = 16 * 1024 * 1024

#: How many problem messages a lenient import keeps.
MAX_PROBLEMS_KEPT = 20

# What safe_text() escapes: C0 controls but tab, DEL, the C1 controls (U+009B is an 8-bit
# terminal CSI), the bidirectional marks, embeddings, overrides and isolates that make text
# display in another order than it reads ("Trojan Source", CVE-2021-42574: U+061C, U+200E,
# U+200F, U+202A-U+202E, U+2066-U+2069), the line and paragraph separators U+2028/U+2029, and
# lone surrogates (not storable as UTF-8).  A superset of smtplab.protocol.printable's set.
_UNSAFE = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]"
)


def _escape(m: re.Match[str]) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_text(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with every control, bidi-override and lone-surrogate character shown as an escape.

    ``keep_newlines`` keeps ``\\n`` (a multi-line banner joins its lines with it, as in a live
    probe's record); every other control is escaped all the same.

    >>> safe_text("220 mx\\u202egro.elpmaxe\\x1b[2J")
    '220 mx\\\\u202egro.elpmaxe\\\\x1b[2J'
    """
    if keep_newlines:
        return "\n".join(_UNSAFE.sub(_escape, part) for part in text.split("\n"))
    return _UNSAFE.sub(_escape, text)


def _safe_record(rec: dict[str, Any]) -> dict[str, Any]:
    """Every string of a record made safe, field by field (the banner keeps its newlines)."""
    out = dict(rec)
    sub = _UNSAFE.sub
    for name, value in rec.items():
        if isinstance(value, str):
            out[name] = sub(_escape, value)
        elif isinstance(value, list):
            out[name] = [_safe(v) for v in value]
    if isinstance(rec.get("banner"), str):
        out["banner"] = safe_text(rec["banner"], keep_newlines=True)
    return out


def _safe(value: Any) -> Any:
    if isinstance(value, str):
        return _UNSAFE.sub(_escape, value)
    if isinstance(value, dict):
        return {k: _UNSAFE.sub(_escape, v) if isinstance(v, str) else v for k, v in value.items()}
    if isinstance(value, list):
        return [_safe(v) for v in value]
    return value


def probe_id(*facts: Any) -> str:
    """A stable id from the input facts: importing a file twice gives the same ids."""
    return str(uuid.uuid5(IMPORT_NAMESPACE, "|".join("" if f is None else str(f) for f in facts)))


def show(value: Any, limit: int = 60) -> str:
    """A short repr of a bad input value for an error message (repr escapes controls)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def utc_from_epoch(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(int(value), tz=timezone.utc).isoformat()
    except (ValueError, OverflowError, OSError):
        return None


def utc_iso(value: str | None) -> str | None:
    """An ISO time from a tool (maybe without zone, maybe ``Z``; tools write UTC), or None."""
    if not value:
        return None
    try:
        text = value.strip()
        dt = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "Zz" else text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    try:
        return dt.astimezone(timezone.utc).isoformat()
    except (OverflowError, ValueError):
        return None


def file_time(path: Path) -> str:
    """The file's modification time (UTC, ISO-8601): the start time of lines that have none."""
    return datetime.fromtimestamp(os.stat(path).st_mtime, tz=timezone.utc).isoformat()


def event(text: str) -> dict[str, Any]:
    return {"t": 0.0, "dir": "event", "text": text}


def server_lines(text: str) -> list[dict[str, Any]]:
    return [{"t": 0.0, "dir": "server", "text": ln} for ln in text.strip().splitlines()]


class BadInput(Exception):
    """One input value is wrong: ``field`` (where in the input) and ``reason``."""

    def __init__(self, field: str | None, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def parse_port(value: Any, field: str) -> int:
    """A TCP port from an input value (an integer, or decimal digits), else :class:`BadInput`."""
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 5:
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise BadInput(field, f"expected a port number 1-65535, got {show(value)}")
    return value


# --------------------------------------------------------------------------------------------
# SMTP text through smtplab.protocol's parser, as live probes do
# --------------------------------------------------------------------------------------------


def parse_reply_text(text: str) -> Reply | None:
    """The first SMTP reply in ``text`` (``"220 mx ESMTP\\r\\n"``), or None if it is not one."""
    data = text.encode("utf-8", "surrogatepass")
    if not data.endswith(b"\n"):
        data += b"\r\n"
    parser = ReplyParser()
    parser.feed(data)
    try:
        return parser.next_reply()
    except ProtocolError:
        return None


def apply_greeting(rec: dict[str, Any], text: str, transcript: list[dict[str, Any]]) -> None:
    """Banner fields from the greeting text a scanner saw, judged as a live probe judges them.

    220 keeps ``open``; 421 and 554 are ``rejected``; anything else is ``not_smtp``.  Only an
    ``open`` or ``error`` outcome is changed: the scanner's own status wins otherwise.
    """
    reply = parse_reply_text(text)
    if reply is None:
        rec["banner"] = text.strip()
        rec["banner_code"] = None
        transcript.extend(server_lines(text))
    else:
        rec["banner"] = reply.text
        rec["banner_code"] = reply.code
        transcript.extend({"t": 0.0, "dir": "server", "text": ln} for ln in reply.raw_lines())
    if rec["outcome"] in ("open", "error"):
        if rec["banner_code"] == 220:
            rec["outcome"], rec["error"] = "open", None
        elif rec["banner_code"] in (421, 554):
            rec["outcome"] = "rejected"
        else:
            rec["outcome"] = "not_smtp"


def apply_ehlo_lines(rec: dict[str, Any], lines: list[str], *, after_tls: bool) -> None:
    """Capabilities from an EHLO reply's text lines (first line: the server's name)."""
    caps = parse_ehlo(lines)
    rec["esmtp"] = True
    rec["extensions"] = list(caps.as_sent)  # schema v2: as sent (``SIZE 35882577``)
    rec["size_limit"] = caps.size_limit
    rec["starttls_offered"] = caps.starttls
    rec["auth_after_tls" if after_tls else "auth_before_tls"] = list(caps.auth)


def apply_ehlo_text(
    rec: dict[str, Any], text: str, transcript: list[dict[str, Any]], *, after_tls: bool
) -> None:
    """Capabilities from a raw EHLO reply (``"250-mx\\r\\n250 STARTTLS\\r\\n"``)."""
    transcript.append({"t": 0.0, "dir": "client", "text": "EHLO"})
    reply = parse_reply_text(text)
    if reply is None:
        transcript.extend(server_lines(text))
        transcript.append(event("the EHLO reply is not a valid SMTP reply"))
        return
    transcript.extend({"t": 0.0, "dir": "server", "text": ln} for ln in reply.raw_lines())
    if reply.code == 250:
        apply_ehlo_lines(rec, list(reply.lines), after_tls=after_tls)
    else:
        rec["esmtp"] = False
        rec["extensions"] = []
        rec["starttls_offered"] = False


def parse_ehlo_reply(reply: str) -> tuple[list[str], list[str] | None, int | None]:
    """Split a raw multi-line EHLO reply into (extensions, AUTH mechanisms, SIZE limit).

    ``reply`` is the server's text, e.g. ``"250-mail.example Hello\\r\\n250-SIZE 1000\\r\\n
    250-AUTH PLAIN LOGIN\\r\\n250 STARTTLS\\r\\n"``.  Parsed by :func:`smtplab.protocol.parse_ehlo`,
    as in a live probe: extensions as the server sent them (``"SIZE 1000"``), in its order
    (schema v2).  The AUTH list is ``[]`` when no AUTH was offered, and ``None`` when the reply was
    not a 250 reply (nothing was learnt).
    """
    parsed = parse_reply_text(reply)
    if parsed is None or parsed.code != 250:
        return [], None, None
    caps = parse_ehlo(list(parsed.lines))
    return list(caps.as_sent), list(caps.auth), caps.size_limit


# --------------------------------------------------------------------------------------------
# Finishing records, counting problems
# --------------------------------------------------------------------------------------------


def finish(rec: dict[str, Any], *, path: Path, line: int | None) -> dict[str, Any]:
    """Safe text, role and findings as a live probe gets them, checked against the schema."""
    rec = _safe_record(rec)
    rec["role"] = guess_role(rec)
    rec["findings"] = [f.to_dict() for f in analyze(rec)]
    return check_record(rec, path=str(path), line=line)


@dataclass
class Tally:
    """Counts of one import while it runs (lenient imports skip bad lines and count them here)."""

    records: int = 0
    skipped: int = 0
    problems: list[str] = field(default_factory=list)

    def bad(self, error: RecordError, *, strict: bool) -> None:
        if strict:
            raise error
        self.skipped += 1
        if len(self.problems) < MAX_PROBLEMS_KEPT:
            self.problems.append(str(error))


def bad_line(path: Path, line: int | None, exc: BaseException) -> RecordError:
    """The RecordError for an input line that could not be imported."""
    if isinstance(exc, RecordError):
        return exc
    if isinstance(exc, BadInput):
        return RecordError(exc.reason, path=str(path), line=line, field=exc.field)
    if isinstance(exc, RecursionError):
        return RecordError("nested too deeply", path=str(path), line=line)
    return RecordError(
        f"cannot import this line ({type(exc).__name__}: {show(str(exc), 120)})",
        path=str(path),
        line=line,
    )


#: What converting one input line may raise besides BadInput: a shape we did not foresee is
#: still one bad line, never a crash of the whole import.
LINE_ERRORS = (BadInput, RecordError, TypeError, ValueError, AttributeError, KeyError,
               IndexError, OverflowError, RecursionError)  # fmt: skip


def counted(items: Iterator[dict[str, Any]], tally: Tally | None) -> Iterator[dict[str, Any]]:
    for rec in items:
        if tally is not None:
            tally.records += 1
        yield rec


def mapping(value: Any, field: str) -> Mapping[str, Any]:
    """``value`` if it is a JSON object, ``{}`` if null/absent, else :class:`BadInput`."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadInput(field, f"expected an object, got {type(value).__name__} {show(value)}")
    return value


def text_or_none(value: Any, field: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise BadInput(field, f"expected text, got {type(value).__name__} {show(value)}")
