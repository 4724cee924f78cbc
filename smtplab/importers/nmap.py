"""nmap XML (``nmap -oX``) as smtplab records, read as a stream.

The file is fed to expat 64 KiB at a time; only the ``<host>`` being read is held in memory,
and each ``<port>`` is turned into a record and dropped as soon as it ends, so a scan of a
million hosts takes as little memory as a scan of one.  Hostile XML is refused: a file that
declares entities (the "billion laughs" entity bomb, external entities that would read local
files: XXE) is not nmap output and stops the import before anything expands; a single XML
token (an attribute, a tag) longer than :data:`~smtplab.importers._common.MAX_LINE_BYTES` does
too.  Errors name the file and line: ``scan.xml, line 12, field 'port/@portid': …``.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.parsers import expat

from smtplab.importers._common import (
    LINE_ERRORS,
    MAX_LINE_BYTES,
    Tally,
    apply_ehlo_lines,
    apply_greeting,
    bad_line,
    event,
    file_time,
    finish,
    parse_port,
    probe_id,
    utc_from_epoch,
    utc_iso,
)
from smtplab.records import RecordError
from smtplab.schema import empty_record

__all__ = ["iter_nmap_xml"]

_CHUNK = 64 * 1024

# Short names for X.509 name attributes, as in "CN=mail.example.org, O=Example".
_DN_SHORT = {
    "commonName": "CN",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "countryName": "C",
    "stateOrProvinceName": "ST",
    "localityName": "L",
    "emailAddress": "emailAddress",
}

# nmap's banner script shows a CRLF inside the banner as the text \x0D\x0A.
_ESCAPED_CRLF = re.compile(r"\\x0[dD]\\x0[aA]")


def iter_nmap_xml(
    path: str | os.PathLike[str],
    *,
    vantage: str = "imported",
    strict: bool = True,
    tally: Tally | None = None,
) -> Iterator[dict[str, Any]]:
    """Records from an nmap XML file, one per scanned TCP port, as a stream.

    Strict (the default): the first bad port raises :class:`~smtplab.records.RecordError`.
    ``strict=False``: bad ports are skipped and counted in ``tally``, and a file that ends early
    (nmap stopped mid-scan) keeps every record before the break.  A file that is not nmap XML,
    or declares entities, is refused either way.
    """
    reader = _Reader(Path(path), vantage, strict, tally if tally is not None else Tally())
    yield from reader.run()


class _Reader:
    def __init__(self, path: Path, vantage: str, strict: bool, tally: Tally) -> None:
        self.path, self.vantage, self.strict, self.tally = path, vantage, strict, tally
        self.depth = 0
        self.scan_start: str | None = None
        self.stack: list[tuple[ET.Element, int]] = []
        self.host_facts: tuple[str, str | None, str | None] | None = None
        self.ready: list[dict[str, Any]] = []
        self.last_event = 0
        p = expat.ParserCreate()
        p.buffer_text = True
        p.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        p.EntityDeclHandler = self._entity
        p.ExternalEntityRefHandler = self._external
        p.StartElementHandler = self._start
        p.EndElementHandler = self._end
        p.CharacterDataHandler = self._data
        p.CommentHandler = self._other
        p.ProcessingInstructionHandler = self._other
        self.parser = p

    def error(self, reason: str, line: int | None = None) -> RecordError:
        line = self.parser.CurrentLineNumber if line is None else line
        return RecordError(reason, path=str(self.path), line=line)

    def run(self) -> Iterator[dict[str, Any]]:
        fed = 0
        with open(self.path, "rb") as f:
            while True:
                chunk = f.read(_CHUNK)
                try:
                    self.parser.Parse(chunk, not chunk)
                except expat.ExpatError as exc:
                    yield from self._flush()
                    self._broken(exc)
                    return
                fed += len(chunk)
                yield from self._flush()
                if not chunk:
                    break
                if fed - self.last_event > MAX_LINE_BYTES:
                    reason = f"an XML token longer than {MAX_LINE_BYTES:,} bytes"
                    raise self.error(reason)

    def _broken(self, exc: expat.ExpatError) -> None:
        message = expat.ErrorString(exc.code)
        if self.depth == 0 and self.scan_start is None:
            raise self.error(f"not an nmap XML file (not well-formed XML: {message})", exc.lineno)
        if exc.code in (expat.errors.codes[expat.errors.XML_ERROR_NO_ELEMENTS],
                        expat.errors.codes[expat.errors.XML_ERROR_UNCLOSED_TOKEN],
                        expat.errors.codes[expat.errors.XML_ERROR_PARTIAL_CHAR]):  # fmt: skip
            reason = f"the file ends early ({message}): was nmap stopped mid-scan?"
        else:
            reason = f"not well-formed XML ({message})"
        # The parser cannot go on after a syntax error: count it, keep what was read.
        self.tally.bad(self.error(reason, exc.lineno), strict=self.strict)

    def _flush(self) -> Iterator[dict[str, Any]]:
        ready, self.ready = self.ready, []
        for rec in ready:
            self.tally.records += 1
            yield rec

    # --- expat callbacks ---------------------------------------------------------------------

    def _entity(self, name: str, *args: Any) -> None:
        raise self.error(
            f"declares the XML entity {name!r}: nmap never does, and entities are how XML "
            "bombs and external-entity (XXE) attacks work; refusing the file"
        )

    def _external(self, *args: Any) -> int:
        raise self.error("refers to an external entity (XXE); refusing the file")

    def _other(self, *args: Any) -> None:
        self.last_event = self.parser.CurrentByteIndex

    def _start(self, name: str, attrs: dict[str, str]) -> None:
        self.last_event = self.parser.CurrentByteIndex
        self.depth += 1
        line = self.parser.CurrentLineNumber
        if self.depth == 1:
            if name != "nmaprun":
                raise self.error(
                    f"not an nmap XML file (root element <{name}>, expected <nmaprun>)"
                )
            self.scan_start = attrs.get("start") or ""
        elif self.stack:
            el = ET.SubElement(self.stack[-1][0], name, attrs)
            self.stack.append((el, line))
        elif self.depth == 2 and name == "host":
            self.stack.append((ET.Element(name, attrs), line))
            self.host_facts = None

    def _data(self, text: str) -> None:
        self.last_event = self.parser.CurrentByteIndex
        if self.stack:
            el = self.stack[-1][0]
            el.text = (el.text or "") + text if el.tag in ("elem", "script") else None

    def _end(self, name: str) -> None:
        self.last_event = self.parser.CurrentByteIndex
        self.depth -= 1
        if not self.stack:
            return  # outside any <host>: nothing was kept
        el, line = self.stack.pop()
        if el.tag == "port" and self.stack and self.stack[-1][0].tag == "ports":
            self._port(el, line)
            self.stack[-1][0].remove(el)  # constant memory: the port is done

    def _port(self, el: ET.Element, line: int) -> None:
        if el.get("protocol") != "tcp":
            return
        if self.host_facts is None:
            self.host_facts = _host_facts(self.stack[0][0], self.scan_start, self.path)
        try:
            rec = _port_record(el, self.host_facts, self.vantage, self.path, line)
            self.ready.append(finish(rec, path=self.path, line=line))
        except LINE_ERRORS as exc:
            self.tally.bad(bad_line(self.path, line, exc), strict=self.strict)


def _host_facts(
    host: ET.Element, scan_start: str | None, path: Path
) -> tuple[str, str | None, str | None]:
    """(host name, address, start time) of an nmap ``<host>``."""
    address = None
    for addr in host.findall("address"):
        if addr.get("addrtype") in ("ipv4", "ipv6"):
            address = addr.get("addr")
            break
    found = host.findall("hostnames/hostname")
    names = [h.get("name") for h in found if h.get("type") == "user"]
    names += [h.get("name") for h in found if h.get("type") != "user"]
    hostname = next((n for n in names if n), None) or address or "unknown"
    started = utc_from_epoch(host.get("starttime") or scan_start)
    return hostname, address, started


def _dn(table: ET.Element | None) -> str | None:
    if table is None:
        return None
    parts = [
        f"{_DN_SHORT.get(e.get('key', ''), e.get('key', ''))}={e.text or ''}"
        for e in table.findall("elem")
    ]
    return ", ".join(parts) or None


def _cert_facts(script: ET.Element) -> dict[str, Any]:
    not_after = script.findtext("table[@key='validity']/elem[@key='notAfter']")
    facts: dict[str, Any] = {
        "cert_subject": _dn(script.find("table[@key='subject']")),
        "cert_issuer": _dn(script.find("table[@key='issuer']")),
        "cert_not_after": utc_iso(not_after),
        "cert_san": [],
    }
    for ext in script.findall("table[@key='extensions']/table"):
        if ext.findtext("elem[@key='name']") == "X509v3 Subject Alternative Name":
            value = ext.findtext("elem[@key='value']") or ""
            facts["cert_san"] = [v.strip().split(":", 1)[-1] for v in value.split(",") if v.strip()]
    return facts


def _port_record(
    port_el: ET.Element,
    facts: tuple[str, str | None, str | None],
    vantage: str,
    path: Path,
    line: int,
) -> dict[str, Any]:
    host, address, started = facts
    port = parse_port(port_el.get("portid"), "port/@portid")
    state_el = port_el.find("state")
    state = state_el.get("state", "unknown") if state_el is not None else "unknown"
    reason = state_el.get("reason", "") if state_el is not None else ""
    service = port_el.find("service")
    service_name = service.get("name", "") if service is not None else ""
    tunnel = service.get("tunnel", "") if service is not None else ""
    scripts = {s.get("id"): s for s in port_el.findall("script")}

    transcript = [
        event(f"imported from nmap XML: port {port}/tcp {state} (reason: {reason or 'unknown'})")
    ]
    if started is None:
        transcript.append(event("the scan has no start time: started_at is the file's time"))
    rec = empty_record(
        probe_id=probe_id("nmap", host, address, port, started, state),
        started_at=started or file_time(path),
        vantage=vantage,
        source="imported",
        host=host,
        address=address,
        port=port,
        mode="auto",
        outcome=_outcome(state),
    )
    if rec["outcome"] == "error":
        rec["error"] = f"nmap reported the port state {state!r}"

    implicit = tunnel == "ssl" or service_name in ("smtps", "submissions", "ssl/smtp")
    banner_script = scripts.get("banner")
    if banner_script is not None:
        banner = _ESCAPED_CRLF.sub("\r\n", (banner_script.get("output") or "").strip())
        apply_greeting(rec, banner, transcript)

    commands = scripts.get("smtp-commands")
    if commands is not None:
        output = (commands.get("output") or "").strip()
        transcript.append(event(f"nmap smtp-commands: {output}"))
        first_line = output.split("\n", 1)[0]
        # "mail.example, SIZE 1000, STARTTLS": the EHLO reply's lines, its greeting first.
        items = [i.strip() for i in first_line.split(",") if i.strip()]
        if items:
            apply_ehlo_lines(rec, items, after_tls=implicit)

    cert = scripts.get("ssl-cert")
    if cert is not None:
        rec.update(_cert_facts(cert))
        subject, not_after = rec["cert_subject"], rec["cert_not_after"]
        transcript.append(event(f"nmap ssl-cert: subject {subject}, not after {not_after}"))
    if implicit:
        rec["tls_mode"] = "implicit"
        rec["mode"] = "tls"
    elif rec["starttls_offered"] or cert is not None:
        # ssl-cert on a cleartext SMTP port got its certificate through STARTTLS.
        rec["tls_mode"] = "starttls"
        if rec["starttls_offered"] is None:
            rec["starttls_offered"] = True
    if service is not None:
        product = " ".join(filter(None, (service.get("product"), service.get("version"))))
        if product:
            transcript.append(event(f"nmap service detection: {service_name} {product}"))
    rec["transcript"] = transcript
    return rec


def _outcome(state: str) -> str:
    if state == "open":
        return "open"
    if state == "closed":
        return "refused"
    if "filtered" in state:
        return "filtered"
    return "error"
