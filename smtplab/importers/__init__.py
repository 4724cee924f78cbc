"""Import other scanners' results as smtplab records (``source="imported"``).

Three kinds of scan output can join a dataset, each read as a stream (constant memory):

* **nmap** with ``-oX`` (XML) and the ``smtp-commands`` and ``ssl-cert`` scripts (``banner``
  too, if you ran it): :func:`from_nmap_xml`, :func:`iter_nmap_xml`.
* **ZGrab2**'s ``smtp`` module, whose output is JSON Lines: :func:`from_zgrab2`,
  :func:`iter_zgrab2`.
* **CSV** of host, port and banner, as many public scans publish: :func:`from_csv`,
  :func:`iter_csv`.

:func:`import_scan` writes any of them to JSON Lines or partitioned Parquet in batches.

Every record is built the way a live probe's is: EHLO replies go through
:func:`smtplab.protocol.parse_ehlo`, the role and findings come from :mod:`smtplab.findings`, and
:func:`smtplab.records.check_record` checks it.  Every string is made safe to print at this edge:
control characters (C0, C1 such as U+009B) and bidi overrides (U+202E, U+2066–U+2069…) become
visible escapes (``\\x1b``, ``\\u202e``).  A bad input line is one
:class:`~smtplab.records.RecordError` naming file, line and field; ``strict=False`` skips and
counts such lines instead.

The tools see less than an smtplab probe, and the records say so honestly: fields the tool did
not look at stay ``None`` (never guessed), and the transcript holds ``event`` lines that say
where each fact came from.  Two things to know when comparing with smtplab's own probes:

* Neither nmap nor ZGrab2 sends EHLO again *after* STARTTLS, so a submission server's AUTH list
  (which most servers show only over TLS) is missing: ``auth_after_tls`` is ``None`` for
  STARTTLS ports, and ``auth_before_tls`` is what the cleartext EHLO showed.
* nmap 7.93's ``smtp-commands`` reads only the first packet of a multi-line EHLO reply, so its
  extension list can be cut short when a server sends one line per packet (see DESIGN.md).

Every record gets a stable ``probe_id`` (a UUID made from the input facts with
:func:`uuid.uuid5`), so importing the same file twice and merging gives no duplicates.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from smtplab.importers._common import (
    IMPORT_NAMESPACE,
    MAX_INPUT_BYTES,
    MAX_LINE_BYTES,
    Tally,
    parse_ehlo_reply,
    safe_text,
)
from smtplab.importers.banners_csv import COLUMN_NAMES, iter_csv
from smtplab.importers.nmap import iter_nmap_xml
from smtplab.importers.sink import FORMATS, ImportSummary, import_scan, iter_scan
from smtplab.importers.zgrab2 import iter_zgrab2
from smtplab.records import RecordWarning

__all__ = [
    "COLUMN_NAMES",
    "FORMATS",
    "IMPORT_NAMESPACE",
    "MAX_INPUT_BYTES",
    "MAX_LINE_BYTES",
    "ImportSummary",
    "Tally",
    "from_csv",
    "from_nmap_xml",
    "from_zgrab2",
    "import_scan",
    "iter_csv",
    "iter_nmap_xml",
    "iter_scan",
    "iter_zgrab2",
    "parse_ehlo_reply",
    "safe_text",
]


def _collect(name: str, path: Path, records: Iterator[dict[str, Any]], tally: Tally) -> list[Any]:
    size = os.path.getsize(path)
    if size > MAX_INPUT_BYTES:
        raise ValueError(
            f"{path}: {size:,} bytes is more than {name} holds in memory "
            f"({MAX_INPUT_BYTES:,}); stream it with smtplab.importers.import_scan"
        )
    out = list(records)
    if tally.skipped:
        first = f" First: {tally.problems[0]}" if tally.problems else ""
        warnings.warn(
            f"{name}: skipped {tally.skipped} bad input line{'s' if tally.skipped != 1 else ''}"
            f" and imported {len(out)}.{first}",
            RecordWarning,
            stacklevel=3,
        )
    return out


def from_nmap_xml(
    path: str | os.PathLike[str], *, vantage: str = "imported", strict: bool = True
) -> list[dict[str, Any]]:
    """Records from an nmap XML file (``nmap -oX FILE``), one per scanned TCP port.

    Run nmap with the scripts that speak SMTP, for example::

        nmap -Pn -p 25,465,587,2525 --script banner,smtp-commands,ssl-cert -oX scan.xml HOST

    Port states become outcomes: ``open`` → ``open`` (``rejected`` if the banner was 421/554,
    ``not_smtp`` if the banner was something else), ``closed`` → ``refused``, ``filtered`` and
    ``open|filtered`` → ``filtered``.  From ``smtp-commands``: the EHLO extensions, whether
    STARTTLS is offered, the AUTH mechanisms and SIZE.  From ``ssl-cert``: subject, issuer,
    notAfter and the subject alternative names.  nmap does not check the certificate chain, so
    ``cert_verified`` stays ``None``.  Files that declare XML entities (entity bombs, XXE) are
    refused.  ``strict=False`` skips bad ports (and keeps what came before a truncation) with a
    :class:`~smtplab.records.RecordWarning`.
    """
    tally = Tally()
    records = iter_nmap_xml(path, vantage=vantage, strict=strict, tally=tally)
    return _collect("from_nmap_xml", Path(path), records, tally)


def from_zgrab2(
    path: str | os.PathLike[str],
    *,
    vantage: str = "imported",
    port: int = 25,
    strict: bool = True,
) -> list[dict[str, Any]]:
    """Records from ZGrab2 ``smtp`` module output (JSON Lines, one target per line).

    ZGrab2 does not write the port into its output, so give ``port=`` (ZGrab2's smtp default is
    25); a ``"port"`` key on a line, if present, wins.  ``--smtps`` scans (TLS log without a
    STARTTLS reply) become ``tls_mode="implicit"``, ``--starttls`` scans ``"starttls"``.  Lines
    for other modules are skipped.  A malformed line raises
    :class:`~smtplab.records.RecordError` (a ``ValueError``) naming the file, the line and the
    field; with ``strict=False`` it is skipped and counted in a
    :class:`~smtplab.records.RecordWarning`.
    """
    tally = Tally()
    records = iter_zgrab2(path, vantage=vantage, port=port, strict=strict, tally=tally)
    return _collect("from_zgrab2", Path(path), records, tally)


def from_csv(
    path: str | os.PathLike[str],
    *,
    vantage: str = "imported",
    port: int | None = None,
    delimiter: str = ",",
    strict: bool = True,
) -> list[dict[str, Any]]:
    """Records from a CSV of host, port and banner (header names: :data:`COLUMN_NAMES`)."""
    tally = Tally()
    records = iter_csv(
        path, vantage=vantage, port=port, delimiter=delimiter, strict=strict, tally=tally
    )
    return _collect("from_csv", Path(path), records, tally)
