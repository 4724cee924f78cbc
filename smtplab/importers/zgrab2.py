"""ZGrab2's ``smtp`` module output (JSON Lines, one target per line) as smtplab records.

A line looks like (from zgrab2's own test data, ``zgrab2_schemas/zgrab2/testdata``)::

    {"ip":"172.17.0.3","domain":"target","data":{"smtp":{"status":"success","protocol":"smtp",
     "result":{"banner":"220 … ESMTP …\\r\\n","ehlo":"250-…\\r\\n250 8BITMIME\\r\\n"},
     "timestamp":"2018-04-06T19:42:12Z"}}}

The file is read one line at a time (constant memory), and every line is checked field by
field: a value of the wrong type, a line that is not JSON, nested too deeply or holding an
integer too large to read is one bad line, reported as ``FILE, line N, field F: reason``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from smtplab.importers._common import (
    LINE_ERRORS,
    MAX_LINE_BYTES,
    BadInput,
    Tally,
    apply_ehlo_text,
    apply_greeting,
    bad_line,
    event,
    file_time,
    finish,
    mapping,
    parse_port,
    parse_reply_text,
    probe_id,
    show,
    text_or_none,
    utc_iso,
)
from smtplab.records import RecordError
from smtplab.records.errors import json_problem
from smtplab.schema import empty_record

__all__ = ["iter_zgrab2"]

# zgrab2's scan status words (zgrab2/module.go, SCAN_*) -> outcome when nothing else decides.
_ZGRAB_STATUS = {
    "success": "open",
    "connection-refused": "refused",
    "connection-timeout": "filtered",
    "connection-closed": "reset",
    "io-timeout": "silent",
    "protocol-error": "not_smtp",
    "application-error": "error",
    "unknown-error": "error",
}


def iter_zgrab2(
    path: str | os.PathLike[str],
    *,
    vantage: str = "imported",
    port: int = 25,
    strict: bool = True,
    tally: Tally | None = None,
) -> Iterator[dict[str, Any]]:
    """Records from ZGrab2 ``smtp`` output, one at a time (see :func:`from_zgrab2`).

    Strict (the default): the first bad line raises :class:`~smtplab.records.RecordError`.
    ``strict=False``: bad lines are skipped and counted in ``tally``.  Lines of other zgrab2
    modules (no ``data.smtp``) are not records and are passed over silently.
    """
    path = Path(path)
    tally = tally if tally is not None else Tally()
    default_time: list[str] = []
    with open(path, "rb") as f:
        line_no = 0
        while True:
            raw = f.readline(MAX_LINE_BYTES + 1)
            if not raw:
                break
            line_no += 1
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                while raw and not raw.endswith(b"\n"):
                    raw = f.readline(1024 * 1024)
                reason = f"line longer than {MAX_LINE_BYTES:,} bytes"
                tally.bad(RecordError(reason, path=str(path), line=line_no), strict=strict)
                continue
            if not raw.strip():
                continue
            try:
                obj = _decode(raw)
                smtp = _smtp_part(obj)
                if smtp is None:
                    continue
                if not default_time:
                    default_time.append(file_time(path))
                rec = _record(obj, smtp, vantage, port, default_time[0])
                rec = finish(rec, path=path, line=line_no)
            except LINE_ERRORS as exc:
                tally.bad(bad_line(path, line_no, exc), strict=strict)
                continue
            tally.records += 1
            yield rec


def _decode(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        byte = raw[exc.start : exc.start + 1]
        raise BadInput(None, f"not UTF-8 text (byte {exc.start}: {byte!r})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(None, json_problem(exc)) from None
    except RecursionError:
        raise BadInput(None, "not valid JSON (nested too deeply)") from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise BadInput(None, f"not valid JSON ({show(str(exc), 100)})") from None


def _smtp_part(obj: Any) -> Mapping[str, Any] | None:
    if not isinstance(obj, dict):
        raise BadInput(None, f"expected a JSON object, got {type(obj).__name__} {show(obj)}")
    data = mapping(obj.get("data"), "data")
    if "smtp" not in data:
        return None  # another zgrab2 module's line
    return mapping(data["smtp"], "data.smtp")


def _record(
    obj: Mapping[str, Any],
    smtp: Mapping[str, Any],
    vantage: str,
    default_port: int,
    default_time: str,
) -> dict[str, Any]:
    ip = text_or_none(obj.get("ip"), "ip")
    domain = text_or_none(obj.get("domain"), "domain")
    host = domain or ip
    if not host:
        raise BadInput("ip", "neither ip nor domain names the target")
    port = parse_port(obj.get("port", default_port), "port")
    status = text_or_none(smtp.get("status"), "data.smtp.status") or "unknown-error"
    result = mapping(smtp.get("result"), "data.smtp.result")
    error = text_or_none(smtp.get("error"), "data.smtp.error")
    stamp = text_or_none(smtp.get("timestamp"), "data.smtp.timestamp")
    started = utc_iso(stamp)
    if stamp and started is None:
        raise BadInput("data.smtp.timestamp", f"not an ISO-8601 time: {show(stamp)}")
    rec = empty_record(
        probe_id=probe_id("zgrab2", host, ip, port, stamp, status),
        started_at=started or default_time,
        vantage=vantage,
        source="imported",
        host=host,
        address=ip,
        port=port,
        outcome=_ZGRAB_STATUS.get(status, "error"),
        error=error,
    )
    note = f" ({error})" if error else ""
    transcript = [event(f"imported from ZGrab2 smtp module: status {status}{note}")]
    if not stamp:
        transcript.append(event("the line has no timestamp: started_at is the file's time"))
    _result(rec, result, transcript, status, error)
    rec["transcript"] = transcript
    return rec


def _result(
    rec: dict[str, Any],
    result: Mapping[str, Any],
    transcript: list[dict[str, Any]],
    status: str,
    error: str | None,
) -> None:
    raw_tls = result.get("tls")
    tls = None if raw_tls is None else mapping(raw_tls, "data.smtp.result.tls")
    starttls_reply = text_or_none(result.get("starttls"), "data.smtp.result.starttls")
    implicit = tls is not None and starttls_reply is None
    if implicit:
        rec["mode"], rec["tls_mode"] = "tls", "implicit"
    elif starttls_reply is not None:
        rec["mode"], rec["tls_mode"] = "starttls", "starttls"
    else:
        rec["mode"] = "plain"
    banner = text_or_none(result.get("banner"), "data.smtp.result.banner")
    if banner:
        apply_greeting(rec, banner, transcript)
    ehlo = text_or_none(result.get("ehlo"), "data.smtp.result.ehlo")
    if ehlo:
        apply_ehlo_text(rec, ehlo, transcript, after_tls=implicit)
    if starttls_reply:
        transcript.append({"t": 0.0, "dir": "client", "text": "STARTTLS"})
        reply = parse_reply_text(starttls_reply)
        lines = reply.raw_lines() if reply else starttls_reply.strip().splitlines()
        transcript.extend({"t": 0.0, "dir": "server", "text": ln} for ln in lines)
        if rec["starttls_offered"] is None:
            rec["starttls_offered"] = reply is not None and reply.code == 220
    if tls is not None:
        _tls(rec, tls, transcript)
        broken = status != "success" and rec["outcome"] in ("error", "reset")
        if broken and error and "tls" in error.lower():
            rec["outcome"] = "tls_failed"


def _tls(rec: dict[str, Any], tls: Mapping[str, Any], transcript: list[dict[str, Any]]) -> None:
    f = "data.smtp.result.tls.handshake_log"
    log = mapping(tls.get("handshake_log"), f)
    hello = mapping(log.get("server_hello"), f"{f}.server_hello")
    version = _name(hello, "version", f"{f}.server_hello")
    cipher = _name(hello, "cipher_suite", f"{f}.server_hello")
    rec["tls_version"] = version
    rec["tls_cipher"] = cipher
    fc = f"{f}.server_certificates"
    certs = mapping(log.get("server_certificates"), fc)
    cert = mapping(certs.get("certificate"), f"{fc}.certificate")
    fp = f"{fc}.certificate.parsed"
    parsed = mapping(cert.get("parsed"), fp)
    if parsed:
        rec["cert_subject"] = text_or_none(parsed.get("subject_dn"), f"{fp}.subject_dn")
        rec["cert_issuer"] = text_or_none(parsed.get("issuer_dn"), f"{fp}.issuer_dn")
        validity = mapping(parsed.get("validity"), f"{fp}.validity")
        end = text_or_none(validity.get("end"), f"{fp}.validity.end")
        rec["cert_not_after"] = utc_iso(end)
        if end and rec["cert_not_after"] is None:
            raise BadInput(f"{fp}.validity.end", f"not an ISO-8601 time: {show(end)}")
        exts = mapping(parsed.get("extensions"), f"{fp}.extensions")
        fs = f"{fp}.extensions.subject_alt_name"
        names = mapping(exts.get("subject_alt_name"), fs).get("dns_names") or []
        if not isinstance(names, list):
            raise BadInput(f"{fs}.dns_names", f"expected a list, got {show(names)}")
        rec["cert_san"] = [text_or_none(n, f"{fs}.dns_names") or "" for n in names]
    validation = mapping(certs.get("validation"), f"{fc}.validation")
    if "browser_trusted" in validation:
        trusted = validation["browser_trusted"]
        if not isinstance(trusted, bool):
            field = f"{fc}.validation.browser_trusted"
            raise BadInput(field, f"expected true or false, got {show(trusted)}")
        rec["cert_verified"] = trusted
        fe = f"{fc}.validation.browser_error"
        rec["cert_error"] = text_or_none(validation.get("browser_error"), fe) or None
    transcript.append(event(f"TLS {version or '?'} {cipher or ''}".strip()))


def _name(parent: Mapping[str, Any], key: str, field: str) -> str | None:
    return text_or_none(
        mapping(parent.get(key), f"{field}.{key}").get("name"), f"{field}.{key}.name"
    )
