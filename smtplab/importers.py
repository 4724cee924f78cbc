"""Import other scanners' results as smtplab records (``source="imported"``).

Two well-known tools look at SMTP ports too, and their output can join a dataset:

* **nmap** with ``-oX`` (XML) and the ``smtp-commands`` and ``ssl-cert`` scripts (``banner``
  too, if you ran it): :func:`from_nmap_xml`.
* **ZGrab2**'s ``smtp`` module, whose output is JSON Lines: :func:`from_zgrab2`.

Both tools see less than an smtplab probe, and the records say so honestly: fields the tool
did not look at stay ``None`` (never guessed), and the transcript holds ``event`` lines that say
where each fact came from.  Two things to know when comparing with smtplab's own probes:

* Neither tool sends EHLO again *after* STARTTLS, so a submission server's AUTH list (which
  most servers show only over TLS) is missing: ``auth_after_tls`` is ``None`` for STARTTLS
  ports, and ``auth_before_tls`` is what the cleartext EHLO showed.
* nmap 7.93's ``smtp-commands`` reads only the first packet of a multi-line EHLO reply, so its
  extension list can be cut short when a server sends one line per packet (see DESIGN.md).

Every record gets a stable ``probe_id`` (a UUID made from the input facts with
:func:`uuid.uuid5`), so importing the same file twice and merging gives no duplicates.
"""

from __future__ import annotations

import json
import os
import uuid
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from smtplab.protocol import ehlo_keyword, parse_ehlo, parse_ehlo_text
from smtplab.schema import empty_record

__all__ = ["IMPORT_NAMESPACE", "from_nmap_xml", "from_zgrab2", "parse_ehlo_reply"]

#: Namespace for the uuid5 probe ids of imported records.
IMPORT_NAMESPACE = uuid.UUID("5d0c4a9e-6a52-5b1e-9a63-2f4f1d6b3c71")

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

# Hard limit on the size of an input file we parse in one go (bytes).  An nmap XML of a /16
# with scripts is a few hundred MB at most; anything beyond 1 GiB is more likely a mistake.
MAX_INPUT_BYTES = 1024 * 1024 * 1024


def _probe_id(*facts: Any) -> str:
    return str(uuid.uuid5(IMPORT_NAMESPACE, "|".join("" if f is None else str(f) for f in facts)))


def _utc_from_epoch(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(int(value), tz=timezone.utc).isoformat()
    except (ValueError, OverflowError, OSError):
        return None


def _utc_iso(value: str | None) -> str | None:
    """An ISO time from a tool (maybe without zone; tools write UTC) as ISO-8601 UTC, or None."""
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).isoformat()


def _event(text: str) -> dict[str, Any]:
    return {"t": 0.0, "dir": "event", "text": text}


def _reply_code(text: str | None) -> int | None:
    if text and len(text) >= 3 and text[:3].isdigit():
        return int(text[:3])
    return None


def parse_ehlo_reply(reply: str) -> tuple[list[str], list[str] | None, int | None]:
    """Split a raw multi-line EHLO reply into (extensions, AUTH mechanisms, SIZE limit).

    ``reply`` is the server's text, e.g. ``"250-mail.example Hello\\r\\n250-SIZE 1000\\r\\n
    250-AUTH PLAIN LOGIN\\r\\n250 STARTTLS\\r\\n"``.  The first line is the greeting (domain), not
    an extension.  Extensions are kept as the server wrote them (``"SIZE 1000"``).  The AUTH list
    is ``[]`` when the EHLO reply offered no AUTH, and ``None`` when the reply was not a 250
    reply at all (nothing was learnt).
    """
    caps = parse_ehlo_text(reply)
    if caps is None:
        return [], None, None
    return list(caps.as_sent), list(caps.auth), caps.size_limit


def _auth_and_size(extensions: list[str]) -> tuple[list[str], int | None]:
    caps = parse_ehlo(["", *extensions])  # the one EHLO parser (smtplab.protocol)
    return list(caps.auth), caps.size_limit


def _with_findings(rec: dict[str, Any]) -> dict[str, Any]:
    """An imported record gets its role and findings as a probe's own record does (the same
    rules, on what the other tool saw)."""
    from smtplab.findings import analyze, guess_role

    rec["role"] = guess_role(rec)
    rec["findings"] = [f.to_dict() for f in analyze(rec)]
    return rec


def _check_size(path: Path) -> None:
    size = os.path.getsize(path)
    if size > MAX_INPUT_BYTES:
        raise ValueError(
            f"{path}: {size:,} bytes is larger than the {MAX_INPUT_BYTES:,}-byte import limit; "
            "split the file"
        )


# --------------------------------------------------------------------------------------------
# nmap
# --------------------------------------------------------------------------------------------


def _dn(table: ET.Element | None) -> str | None:
    if table is None:
        return None
    parts = [
        f"{_DN_SHORT.get(e.get('key', ''), e.get('key', ''))}={e.text or ''}"
        for e in table.findall("elem")
    ]
    return ", ".join(parts) or None


def _cert_facts(script: ET.Element) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "cert_subject": _dn(script.find("table[@key='subject']")),
        "cert_issuer": _dn(script.find("table[@key='issuer']")),
        "cert_not_after": _utc_iso(script.findtext("table[@key='validity']/elem[@key='notAfter']")),
        "cert_san": [],
    }
    for ext in script.findall("table[@key='extensions']/table"):
        if ext.findtext("elem[@key='name']") == "X509v3 Subject Alternative Name":
            value = ext.findtext("elem[@key='value']") or ""
            facts["cert_san"] = [v.strip().split(":", 1)[-1] for v in value.split(",") if v.strip()]
    return facts


def from_nmap_xml(
    path: str | os.PathLike[str], *, vantage: str = "imported"
) -> list[dict[str, Any]]:
    """Records from an nmap XML file (``nmap -oX FILE``), one per scanned TCP port.

    Run nmap with the scripts that speak SMTP, for example::

        nmap -Pn -p 25,465,587,2525 --script banner,smtp-commands,ssl-cert -oX scan.xml \\
            mail.example.org

    Port states become outcomes: ``open`` → ``open`` (``rejected`` if the banner was 421/554,
    ``not_smtp`` if the banner was something else), ``closed`` → ``refused``, ``filtered`` and
    ``open|filtered`` → ``filtered``.  From ``smtp-commands``: the EHLO extensions, whether
    STARTTLS is offered, the AUTH mechanisms and SIZE.  From ``ssl-cert``: subject, issuer,
    notAfter and the subject alternative names.  nmap does not check the certificate chain, so
    ``cert_verified`` stays ``None``.
    """
    path = Path(path)
    _check_size(path)
    root = ET.parse(path).getroot()  # nmap's own XML; expat refuses entity-expansion bombs
    if root.tag != "nmaprun":
        raise ValueError(
            f"{path}: not an nmap XML file (root element <{root.tag}>, expected <nmaprun>)"
        )
    scan_start = root.get("start")
    records = []
    for host in root.findall("host"):
        address = None
        for addr in host.findall("address"):
            if addr.get("addrtype") in ("ipv4", "ipv6"):
                address = addr.get("addr")
                break
        names = [
            h.get("name") for h in host.findall("hostnames/hostname") if h.get("type") == "user"
        ]
        names += [
            h.get("name") for h in host.findall("hostnames/hostname") if h.get("type") != "user"
        ]
        hostname = next((n for n in names if n), None) or address or "unknown"
        started = _utc_from_epoch(host.get("starttime") or scan_start)
        for port_el in host.findall("ports/port"):
            if port_el.get("protocol") != "tcp":
                continue
            records.append(_nmap_port(port_el, hostname, address, started, vantage, str(path)))
    return records


def _nmap_port(
    port_el: ET.Element,
    host: str,
    address: str | None,
    started: str | None,
    vantage: str,
    source_name: str,
) -> dict[str, Any]:
    port = int(port_el.get("portid", "0"))
    state_el = port_el.find("state")
    state = state_el.get("state", "unknown") if state_el is not None else "unknown"
    reason = state_el.get("reason", "") if state_el is not None else ""
    service = port_el.find("service")
    service_name = service.get("name", "") if service is not None else ""
    tunnel = service.get("tunnel", "") if service is not None else ""
    scripts = {s.get("id"): s for s in port_el.findall("script")}

    transcript = [
        _event(f"imported from nmap XML: port {port}/tcp {state} (reason: {reason or 'unknown'})")
    ]
    rec = empty_record(
        probe_id=_probe_id("nmap", host, address, port, started, state),
        started_at=started or datetime.now(timezone.utc).isoformat(),
        vantage=vantage,
        source="imported",
        host=host,
        address=address,
        port=port,
        mode="auto",
    )
    if state == "open":
        rec["outcome"] = "open"
    elif state == "closed":
        rec["outcome"] = "refused"
    elif "filtered" in state:
        rec["outcome"] = "filtered"
    else:
        rec["outcome"] = "error"
        rec["error"] = f"nmap reported the port state {state!r}"

    implicit = tunnel == "ssl" or service_name in ("smtps", "submissions", "ssl/smtp")
    banner_script = scripts.get("banner")
    if banner_script is not None:
        banner = (banner_script.get("output") or "").strip()
        transcript.append({"t": 0.0, "dir": "server", "text": banner})
        rec["banner"] = banner
        rec["banner_code"] = _reply_code(banner)
        if rec["outcome"] == "open":
            if rec["banner_code"] in (421, 554):
                rec["outcome"] = "rejected"
            elif rec["banner_code"] != 220:
                rec["outcome"] = "not_smtp"

    commands = scripts.get("smtp-commands")
    if commands is not None:
        output = (commands.get("output") or "").strip()
        transcript.append(_event(f"nmap smtp-commands: {output}"))
        first_line = output.split("\n", 1)[0]
        items = [i.strip() for i in first_line.split(",") if i.strip()]
        extensions = items[1:]  # the first item is the EHLO greeting's domain
        auth, size = _auth_and_size(extensions)
        rec["esmtp"] = True
        rec["extensions"] = extensions
        rec["size_limit"] = size
        rec["starttls_offered"] = any(ehlo_keyword(e) == "STARTTLS" for e in extensions)
        if implicit:
            rec["auth_after_tls"] = auth  # that EHLO was already inside TLS
        else:
            rec["auth_before_tls"] = auth

    cert = scripts.get("ssl-cert")
    if cert is not None:
        rec.update(_cert_facts(cert))
        transcript.append(
            _event(
                f"nmap ssl-cert: subject {rec['cert_subject']}, not after {rec['cert_not_after']}"
            )
        )
    if implicit:
        rec["tls_mode"] = "implicit"
        rec["mode"] = "tls"
    elif rec["starttls_offered"] or cert is not None:
        # ssl-cert on a cleartext SMTP port got its certificate through STARTTLS.
        rec["tls_mode"] = "starttls"
        if rec["starttls_offered"] is None:
            rec["starttls_offered"] = True
    product = (
        " ".join(filter(None, (service.get("product"), service.get("version"))))
        if service is not None
        else ""
    )
    if product:
        transcript.append(_event(f"nmap service detection: {service_name} {product}"))
    rec["transcript"] = transcript
    return _with_findings(rec)


# --------------------------------------------------------------------------------------------
# ZGrab2
# --------------------------------------------------------------------------------------------

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


def from_zgrab2(
    path: str | os.PathLike[str], *, vantage: str = "imported", port: int = 25
) -> list[dict[str, Any]]:
    """Records from ZGrab2 ``smtp`` module output (JSON Lines, one target per line).

    A line looks like (from zgrab2's own test data, ``zgrab2_schemas/zgrab2/testdata``)::

        {"ip":"172.17.0.3","domain":"target","data":{"smtp":{"status":"success","protocol":"smtp",
         "result":{"banner":"220 … ESMTP …\\r\\n","ehlo":"250-…\\r\\n250 8BITMIME\\r\\n"},
         "timestamp":"2018-04-06T19:42:12Z"}}}

    ZGrab2 does not write the port into its output, so give ``port=`` (ZGrab2's smtp default is
    25); a ``"port"`` key on a line, if present, wins.  ``--smtps`` scans (TLS log without a
    STARTTLS reply) become ``tls_mode="implicit"``, ``--starttls`` scans ``"starttls"``.
    Lines for other modules are skipped; a line that is not JSON raises ``ValueError`` naming it.
    """
    path = Path(path)
    _check_size(path)
    records = []
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}, line {line_no}: not valid JSON ({exc.msg})") from exc
            smtp = (obj.get("data") or {}).get("smtp") if isinstance(obj, dict) else None
            if not isinstance(smtp, dict):
                continue
            records.append(_zgrab_record(obj, smtp, vantage, obj.get("port", port)))
    return records


def _zgrab_record(
    obj: dict[str, Any], smtp: dict[str, Any], vantage: str, port: Any
) -> dict[str, Any]:
    ip = obj.get("ip")
    host = obj.get("domain") or ip or "unknown"
    status = smtp.get("status", "unknown-error")
    result = smtp.get("result") or {}
    error = smtp.get("error")
    started = _utc_iso(smtp.get("timestamp")) or datetime.now(timezone.utc).isoformat()
    port = int(port)
    rec = empty_record(
        probe_id=_probe_id("zgrab2", host, ip, port, smtp.get("timestamp"), status),
        started_at=started,
        vantage=vantage,
        source="imported",
        host=host,
        address=ip,
        port=port,
        outcome=_ZGRAB_STATUS.get(status, "error"),
        error=error,
    )
    transcript = [
        _event(
            f"imported from ZGrab2 smtp module: status {status}" + (f" ({error})" if error else "")
        )
    ]
    tls = result.get("tls")
    starttls_reply = result.get("starttls")
    implicit = tls is not None and starttls_reply is None
    if implicit:
        rec["mode"], rec["tls_mode"] = "tls", "implicit"
    elif starttls_reply is not None:
        rec["mode"], rec["tls_mode"] = "starttls", "starttls"
    else:
        rec["mode"] = "plain"

    banner = result.get("banner")
    if banner:
        rec["banner"] = banner.strip()
        rec["banner_code"] = _reply_code(banner)
        transcript.extend(
            {"t": 0.0, "dir": "server", "text": ln} for ln in banner.strip().splitlines()
        )
        if rec["outcome"] in ("open", "error"):
            if rec["banner_code"] in (421, 554):
                rec["outcome"] = "rejected"
            elif rec["banner_code"] is None:
                rec["outcome"] = "not_smtp"
    ehlo = result.get("ehlo")
    if ehlo:
        transcript.append({"t": 0.0, "dir": "client", "text": "EHLO"})
        transcript.extend(
            {"t": 0.0, "dir": "server", "text": ln} for ln in ehlo.strip().splitlines()
        )
        extensions, auth, size = parse_ehlo_reply(ehlo)
        rec["esmtp"] = _reply_code(ehlo) == 250
        rec["extensions"] = extensions
        rec["size_limit"] = size
        rec["starttls_offered"] = any(ehlo_keyword(e) == "STARTTLS" for e in extensions)
        if implicit:
            rec["auth_after_tls"] = auth
        else:
            rec["auth_before_tls"] = auth
    if starttls_reply:
        transcript.append({"t": 0.0, "dir": "client", "text": "STARTTLS"})
        transcript.append({"t": 0.0, "dir": "server", "text": starttls_reply.strip()})
        if rec["starttls_offered"] is None:
            rec["starttls_offered"] = _reply_code(starttls_reply) == 220
    if isinstance(tls, dict):
        _zgrab_tls(rec, tls, transcript)
        if (
            status != "success"
            and rec["outcome"] in ("error", "reset")
            and error
            and "tls" in error.lower()
        ):
            rec["outcome"] = "tls_failed"
    rec["transcript"] = transcript
    return _with_findings(rec)


def _zgrab_tls(rec: dict[str, Any], tls: dict[str, Any], transcript: list[dict[str, Any]]) -> None:
    log = tls.get("handshake_log") or {}
    hello = log.get("server_hello") or {}
    version = (hello.get("version") or {}).get("name")
    cipher = (hello.get("cipher_suite") or {}).get("name")
    rec["tls_version"] = version
    rec["tls_cipher"] = cipher
    certs = log.get("server_certificates") or {}
    parsed = (certs.get("certificate") or {}).get("parsed") or {}
    if parsed:
        rec["cert_subject"] = parsed.get("subject_dn")
        rec["cert_issuer"] = parsed.get("issuer_dn")
        rec["cert_not_after"] = _utc_iso((parsed.get("validity") or {}).get("end"))
        san = ((parsed.get("extensions") or {}).get("subject_alt_name") or {}).get(
            "dns_names"
        ) or []
        rec["cert_san"] = [str(n) for n in san]
    validation = certs.get("validation") or {}
    if "browser_trusted" in validation:
        rec["cert_verified"] = bool(validation["browser_trusted"])
        rec["cert_error"] = validation.get("browser_error") or None
    transcript.append(_event(f"TLS {version or '?'} {cipher or ''}".strip()))
