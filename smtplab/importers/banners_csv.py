"""CSV files of host, port and banner, as many public scans publish them, as smtplab records.

The header may name the columns in the usual ways (``ip``/``ip_str``/``saddr``/``address``,
``host``/``hostname``/``domain``, ``port``, ``banner``/``data``/``response``, and an optional
``timestamp``); a file without a header is read as ``host,port,banner``.  A banner is parsed with
:mod:`smtplab.protocol`'s reply parser: its first reply is the greeting (220 ``open``, 421/554
``rejected``, anything else ``not_smtp``); if the scanner also stored an EHLO reply after it
(``250-…``), its capabilities are read too.  A row with an empty banner is ``silent``: the port
connected but said nothing the scanner kept.  Bytes that are not UTF-8 are shown as ``\\xNN``.
"""

from __future__ import annotations

import csv
import ipaddress
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from smtplab.importers._common import (
    LINE_ERRORS,
    MAX_LINE_BYTES,
    BadInput,
    Tally,
    apply_ehlo_lines,
    apply_greeting,
    bad_line,
    event,
    file_time,
    finish,
    parse_port,
    probe_id,
    show,
    utc_from_epoch,
    utc_iso,
)
from smtplab.protocol import ProtocolError, parse_replies
from smtplab.records import RecordError
from smtplab.schema import empty_record

__all__ = ["COLUMN_NAMES", "iter_csv"]

#: Header names understood for each column (compared in lower case, with spaces and hyphens
#: read as underscores).  ``ip_str`` and ``data`` are Shodan's export names, ``saddr`` ZMap's.
COLUMN_NAMES: dict[str, tuple[str, ...]] = {
    "host": ("host", "hostname", "domain", "fqdn", "name", "target", "rdns"),
    "address": ("ip", "ip_str", "address", "addr", "saddr", "ip_address", "ipv4", "ipv6"),
    "port": ("port", "portid", "port_number", "service_port", "dst_port", "target_port"),
    "banner": ("banner", "data", "response", "greeting", "banner_text", "smtp_banner", "text"),
    "time": ("timestamp", "time", "date", "scanned_at", "started_at", "scan_time", "last_seen"),
}


@dataclass(frozen=True)
class _Columns:
    host: int | None
    address: int | None
    port: int | None
    banner: int | None
    time: int | None


_HEADERLESS = _Columns(host=0, address=None, port=1, banner=2, time=None)


def iter_csv(
    path: str | os.PathLike[str],
    *,
    vantage: str = "imported",
    port: int | None = None,
    delimiter: str = ",",
    strict: bool = True,
    tally: Tally | None = None,
) -> Iterator[dict[str, Any]]:
    """Records from a host/port/banner CSV file, one row at a time (see :func:`from_csv`).

    ``port`` is used for rows without a port column.  Strict (the default): the first bad row
    raises :class:`~smtplab.records.RecordError` naming the file, line and column;
    ``strict=False`` skips bad rows and counts them in ``tally``.
    """
    path = Path(path)
    tally = tally if tally is not None else Tally()
    with open(path, "rb") as f:
        lines = _Lines(f)
        reader = csv.reader(lines, delimiter=delimiter)
        columns: _Columns | None = None
        default_time = file_time(path)
        while True:
            start = lines.count + 1
            lines.overflow = False
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                error = RecordError(f"not valid CSV ({exc})", path=str(path), line=start)
                tally.bad(error, strict=strict)
                continue
            if lines.overflow:
                reason = f"line longer than {MAX_LINE_BYTES:,} bytes"
                tally.bad(RecordError(reason, path=str(path), line=start), strict=strict)
                continue
            if not row or not any(cell.strip() for cell in row):
                continue
            if columns is None:
                columns = _header(row, path, start)
                if columns is not _HEADERLESS:
                    continue
            try:
                rec = _record(row, columns, vantage, port, default_time)
                rec = finish(rec, path=path, line=start)
            except LINE_ERRORS as exc:
                tally.bad(bad_line(path, start, exc), strict=strict)
                continue
            tally.records += 1
            yield rec


class _Lines:
    """The file's lines as text for csv.reader, counted, each at most MAX_LINE_BYTES long."""

    def __init__(self, f: IO[bytes]) -> None:
        self.f = f
        self.count = 0
        self.overflow = False

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        raw = self.f.readline(MAX_LINE_BYTES + 1)
        if not raw:
            raise StopIteration
        self.count += 1
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):
                raw = self.f.readline(1024 * 1024)
            self.overflow = True
            return "\n"
        if self.count == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]  # a UTF-8 byte order mark, as spreadsheet programs write
        return raw.decode("utf-8", "backslashreplace")


def _normal(name: str) -> str:
    return name.strip().strip('"').lower().replace(" ", "_").replace("-", "_")


def _header(row: Sequence[str], path: Path, line: int) -> _Columns:
    names = [_normal(c) for c in row]
    found: dict[str, int | None] = {}
    for column, aliases in COLUMN_NAMES.items():
        found[column] = next((i for i, n in enumerate(names) if n in aliases), None)
    if any(v is not None for v in found.values()):
        if found["host"] is None and found["address"] is None:
            raise RecordError(
                f"the header names no host or address column (got {show(list(row), 100)}; "
                f"expected one of {', '.join(COLUMN_NAMES['host'] + COLUMN_NAMES['address'])})",
                path=str(path),
                line=line,
            )
        return _Columns(**found)
    if len(row) >= 2 and row[1].strip().isdigit():
        return _HEADERLESS  # no header: host,port,banner
    raise RecordError(
        f"no header naming host, port and banner columns, and the first row is not "
        f"host,port,banner (got {show(list(row), 100)})",
        path=str(path),
        line=line,
    )


def _cell(row: Sequence[str], index: int | None) -> str:
    if index is None or index >= len(row):
        return ""
    return row[index].strip()


def _record(
    row: Sequence[str],
    columns: _Columns,
    vantage: str,
    default_port: int | None,
    default_time: str,
) -> dict[str, Any]:
    host_cell, address = _cell(row, columns.host), _cell(row, columns.address) or None
    if address is None and host_cell:
        try:
            address = str(ipaddress.ip_address(host_cell))
        except ValueError:
            pass
    host = host_cell or address
    if not host:
        raise BadInput("host", "the row names no host or address")
    port_cell = _cell(row, columns.port)
    if not port_cell and default_port is None:
        raise BadInput("port", "the row has no port, and no default port was given")
    port = parse_port(port_cell or default_port, "port")
    stamp = _cell(row, columns.time)
    started = (utc_from_epoch(stamp) if stamp.isdigit() else utc_iso(stamp)) if stamp else None
    if stamp and started is None:
        raise BadInput("timestamp", f"not an ISO-8601 time or Unix time: {show(stamp)}")
    banner = _cell(row, columns.banner)
    if "\n" not in banner and "\\r\\n" in banner:
        banner = banner.replace("\\r\\n", "\r\n")  # CRLF written as escapes
    rec = empty_record(
        probe_id=probe_id("csv", host, address, port, stamp, banner),
        started_at=started or default_time,
        vantage=vantage,
        source="imported",
        host=host,
        address=address,
        port=port,
        mode="auto",
        outcome="open" if banner else "silent",
    )
    transcript = [event(f"imported from a CSV scan: port {port}")]
    if not stamp:
        transcript.append(event("the row has no time: started_at is the file's time"))
    if banner:
        apply_greeting(rec, banner, transcript)
        _ehlo_after_greeting(rec, banner, transcript)
    else:
        transcript.append(event("the scan kept no banner for this port"))
    rec["transcript"] = transcript
    return rec


def _ehlo_after_greeting(rec: dict[str, Any], banner: str, transcript: list[Any]) -> None:
    """Capabilities, when the scanner stored the EHLO reply after the greeting."""
    data = banner.encode("utf-8", "surrogatepass")
    try:
        replies = parse_replies(data if data.endswith(b"\n") else data + b"\r\n")
    except ProtocolError:
        return
    if len(replies) >= 2 and replies[1].code == 250:
        transcript.append({"t": 0.0, "dir": "client", "text": "EHLO"})
        transcript.extend({"t": 0.0, "dir": "server", "text": ln} for ln in replies[1].raw_lines())
        apply_ehlo_lines(rec, list(replies[1].lines), after_tls=False)
