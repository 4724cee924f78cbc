"""Importers: nmap XML and ZGrab2 JSON become valid smtplab records.

The nmap tests run Debian's real nmap against real aiosmtpd servers on 127.0.0.1 (skipped with a
reason when nmap is not installed; CI installs it).  Recorded outputs in tests/data/ let the
parser tests run without nmap.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smtplab.findings import analyze, guess_role
from smtplab.importers import (
    Tally,
    from_csv,
    from_nmap_xml,
    from_zgrab2,
    import_scan,
    iter_csv,
    iter_nmap_xml,
    iter_scan,
    iter_zgrab2,
    parse_ehlo_reply,
)
from smtplab.protocol import ehlo_keyword
from smtplab.records import RecordError, RecordWarning, load_records, save_records, validate_record

DATA = Path(__file__).parent / "data"


def _by_port(records: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {r["port"]: r for r in records}


# --------------------------------------------------------------------------------------------
# Parsers on recorded files
# --------------------------------------------------------------------------------------------


def test_nmap_recorded_file() -> None:
    # tests/data/nmap-lab.xml: nmap 7.93 run by test_nmap_against_real_servers (see below) with
    # ports: STARTTLS submission, implicit TLS, and a closed port.
    records = from_nmap_xml(DATA / "nmap-lab.xml", vantage="lab:nmap")
    assert len(records) == 3
    for rec in records:
        assert validate_record(rec) == []
        assert rec["source"] == "imported"
        assert rec["vantage"] == "lab:nmap"
    closed = [r for r in records if r["outcome"] == "refused"]
    assert len(closed) == 1
    starttls = [r for r in records if r["tls_mode"] == "starttls"]
    implicit = [r for r in records if r["tls_mode"] == "implicit"]
    assert len(starttls) == 1 and len(implicit) == 1
    s, i = starttls[0], implicit[0]
    assert s["outcome"] == "open" and s["banner_code"] == 220
    assert "STARTTLS" in s["extensions"] and s["starttls_offered"] is True
    assert s["auth_before_tls"] == ["LOGIN", "PLAIN"]
    assert s["auth_after_tls"] is None  # nmap never sends EHLO after STARTTLS
    assert s["cert_san"] == ["mail.lab.example", "localhost"]
    assert s["cert_not_after"].startswith("3000-01-01T00:00:00")
    assert s["cert_subject"].startswith("O=trustme")
    assert s["cert_verified"] is None
    assert i["mode"] == "tls" and i["auth_after_tls"] == ["LOGIN", "PLAIN"]
    assert "STARTTLS" not in i["extensions"]


def test_nmap_import_is_stable_and_saves(tmp_path: Path) -> None:
    a = from_nmap_xml(DATA / "nmap-lab.xml")
    b = from_nmap_xml(DATA / "nmap-lab.xml")
    assert [r["probe_id"] for r in a] == [r["probe_id"] for r in b]
    assert len({r["probe_id"] for r in a}) == len(a)
    out = tmp_path / "imported.jsonl"
    assert save_records(a, out) == 3
    df = load_records(out)
    assert list(df["source"]) == ["imported"] * 3


def test_nmap_rejects_other_xml(tmp_path: Path) -> None:
    p = tmp_path / "x.xml"
    p.write_text("<html/>")
    with pytest.raises(ValueError, match="not an nmap XML file"):
        from_nmap_xml(p)


def test_zgrab2_sample() -> None:
    records = from_zgrab2(DATA / "zgrab2-smtp.jsonl", vantage="campus")
    for rec in records:
        assert validate_record(rec) == [], rec
        assert rec["source"] == "imported"
    by_host = {r["host"]: r for r in records}
    assert len(by_host) == len(records) == 6
    st = by_host["mx.example.org"]
    assert st["outcome"] == "open" and st["tls_mode"] == "starttls"
    assert st["starttls_offered"] is True and st["auth_before_tls"] == []
    assert st["size_limit"] == 52428800
    assert st["tls_version"] == "TLSv1.2"
    assert st["tls_cipher"] == "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
    assert st["cert_san"] == ["mx.example.org", "example.org"]
    assert st["cert_subject"] == "CN=mx.example.org"
    assert st["cert_verified"] is True and st["cert_error"] is None
    assert st["cert_not_after"] == "2027-03-01T12:00:00+00:00"
    imp = by_host["smtp.example.net"]
    assert imp["port"] == 465 and imp["tls_mode"] == "implicit"
    assert imp["auth_after_tls"] == ["PLAIN", "LOGIN"] and imp["auth_before_tls"] is None
    assert imp["cert_verified"] is False and "unknown authority" in imp["cert_error"]
    assert by_host["192.0.2.25"]["outcome"] == "refused"
    assert by_host["198.51.100.9"]["outcome"] == "filtered"
    assert by_host["203.0.113.80"]["outcome"] == "rejected"
    assert by_host["203.0.113.81"]["outcome"] == "silent"
    # Plain qpsmtpd line straight from zgrab2's own testdata shape: extensions, no TLS.
    assert by_host["mx.example.org"]["started_at"] == "2026-11-02T09:15:07+00:00"


def test_zgrab2_bad_line_names_line(tmp_path: Path) -> None:
    p = tmp_path / "z.jsonl"
    p.write_text('{"ip":"192.0.2.1","data":{"http":{}}}\n{not json\n')
    with pytest.raises(ValueError, match=r"line 2"):
        from_zgrab2(p)


def test_parse_ehlo_reply() -> None:
    reply = (
        "250-mx Hello\r\n250-SIZE 1000\r\n250-AUTH PLAIN LOGIN\r\n250-AUTH=LOGIN\r\n"
        "250 STARTTLS\r\n"
    )
    ext, auth, size = parse_ehlo_reply(reply)
    # The same parser as a live probe (smtplab.protocol.parse_ehlo): as sent (schema v2).
    assert ext == ["SIZE 1000", "AUTH PLAIN LOGIN", "AUTH=LOGIN", "STARTTLS"]
    assert auth == ["PLAIN", "LOGIN"]
    assert size == 1000
    assert parse_ehlo_reply("502 no\r\n") == ([], None, None)


# --------------------------------------------------------------------------------------------
# Real nmap against real aiosmtpd servers on loopback
# --------------------------------------------------------------------------------------------


class _Servers:
    """aiosmtpd on 127.0.0.1: STARTTLS submission, implicit TLS, and a closed port."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.starttls_port = self.implicit_port = self.closed_port = 0
        self._servers: list[asyncio.AbstractServer] = []

    def start(self) -> _Servers:
        trustme = pytest.importorskip("trustme")
        from aiosmtpd.smtp import SMTP

        ca = trustme.CA()
        cert = ca.issue_cert("mail.lab.example", "localhost")
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(ctx)

        class OneWriteSMTP(SMTP):  # type: ignore[misc]
            """Sends a multi-line reply in one write, as Postfix and Exim do.

            nmap 7.93's smtp-commands reads only the first packet of a multi-line EHLO reply
            (DESIGN.md, known pitfalls), and aiosmtpd writes one line per packet; buffering
            the continuation lines makes the test about our importer, not about that bug.
            """

            _pending = b""

            async def push(self, status: Any) -> None:
                data = status.encode("utf-8") if isinstance(status, str) else status
                if data[3:4] == b"-":
                    self._pending += data + b"\r\n"
                    return
                data, self._pending = self._pending + data, b""
                await super().push(data)

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                return "250 OK"

        def auth(*args: Any) -> None:
            return None

        def make(**kw: Any) -> SMTP:
            return OneWriteSMTP(Handler(), hostname="mail.lab.example", authenticator=auth, **kw)

        async def setup() -> None:
            s1 = await self.loop.create_server(
                lambda: make(tls_context=ctx, auth_require_tls=False), "127.0.0.1", 0
            )
            s2 = await self.loop.create_server(
                lambda: make(auth_require_tls=False), "127.0.0.1", 0, ssl=ctx
            )
            self._servers = [s1, s2]
            self.starttls_port = s1.sockets[0].getsockname()[1]
            self.implicit_port = s2.sockets[0].getsockname()[1]

        self.thread.start()
        asyncio.run_coroutine_threadsafe(setup(), self.loop).result(10)
        # A port with nothing listening: bind, read the number, close.
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.closed_port = s.getsockname()[1]
        return self

    def stop(self) -> None:
        async def teardown() -> None:
            for s in self._servers:
                s.close()
                await s.wait_closed()

        asyncio.run_coroutine_threadsafe(teardown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def smtp_servers() -> Iterator[_Servers]:
    servers = _Servers().start()
    try:
        yield servers
    finally:
        servers.stop()


def run_nmap(ports: dict[int, str], out: Path, tmp_path: Path) -> None:
    """Run nmap on 127.0.0.1 with the SMTP scripts.

    nmap's scripts pick ports by number or service name (smtp-commands wants 25/465/587 or a
    port named smtp), and our test ports are random unprivileged ones.  Rather than slow version
    detection (-sV takes ~30 s against aiosmtpd), give nmap a services table naming our ports:
    ``--datadir`` is searched first for nmap-services, the other data files still come from
    the installed nmap.
    """
    datadir = tmp_path / "nmapdata"
    datadir.mkdir()
    (datadir / "nmap-services").write_text(
        "".join(f"{name}\t{port}/tcp\t0.5\n" for port, name in ports.items())
    )
    cmd = [
        "nmap", "-Pn", "-n", "--datadir", str(datadir),
        "-p", ",".join(str(p) for p in ports),
        "--script", "banner,smtp-commands,ssl-cert", "--script-timeout", "10s",
        "-oX", str(out), "127.0.0.1",
    ]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)


needs_nmap = pytest.mark.skipif(
    shutil.which("nmap") is None,
    reason="nmap is not installed (apt-get install nmap); CI installs it",
)


@needs_nmap
@pytest.mark.timeout(60)
def test_nmap_against_real_servers(smtp_servers: _Servers, tmp_path: Path) -> None:
    out = tmp_path / "scan.xml"
    s = smtp_servers
    run_nmap(
        {s.starttls_port: "smtp", s.implicit_port: "smtps", s.closed_port: "smtp"}, out, tmp_path
    )
    records = _by_port(from_nmap_xml(out, vantage="lab:nmap"))
    assert set(records) == {s.starttls_port, s.implicit_port, s.closed_port}
    for rec in records.values():
        assert validate_record(rec) == []
        assert rec["address"] == "127.0.0.1"

    st = records[s.starttls_port]
    assert st["outcome"] == "open"
    assert st["banner"].startswith("mail.lab.example")  # the text, as a live probe records it
    assert st["banner_code"] == 220
    assert "STARTTLS" in st["extensions"]
    assert st["starttls_offered"] is True and st["tls_mode"] == "starttls"
    assert "PLAIN" in st["auth_before_tls"]
    assert "mail.lab.example" in st["cert_san"]

    imp = records[s.implicit_port]
    assert imp["outcome"] == "open" and imp["tls_mode"] == "implicit"
    assert "localhost" in imp["cert_san"]

    assert records[s.closed_port]["outcome"] == "refused"
    assert "reason: " in records[s.closed_port]["transcript"][0]["text"]


# --------------------------------------------------------------------------------------------
# Hostile input (issue 11, items 5 and 11): never a crash, always file, line and field
# --------------------------------------------------------------------------------------------

GOOD_ZGRAB = (
    '{"ip":"192.0.2.1","domain":"mx.example.org","data":{"smtp":{"status":"success",'
    '"timestamp":"2026-11-02T09:15:07Z","result":{"banner":"220 mx.example.org ESMTP\\r\\n"}}}}'
)

# (line, field named in the error, or None for the whole line): each crashed the old importer
# with AttributeError/TypeError/ValueError/RecursionError and no line number, or let a wrong
# value through (browser_trusted "no" read as True, dns_names "abc" as ['a', 'b', 'c']).
HOSTILE_ZGRAB = [
    ('{"ip":"192.0.2.2","data":[1]}', "data"),
    ('{"ip":"192.0.2.2","data":{"smtp":"x"}}', "data.smtp"),
    ('{"ip":"192.0.2.2","data":{"smtp":{"result":"x"}}}', "data.smtp.result"),
    ('{"ip":"192.0.2.2","data":{"smtp":{"result":{"banner":5}}}}', "data.smtp.result.banner"),
    ('{"ip":"192.0.2.2","data":{"smtp":{"result":{"ehlo":["250 x"]}}}}', "data.smtp.result.ehlo"),
    ('{"ip":"192.0.2.2","data":{"smtp":{"status":7}}}', "data.smtp.status"),
    ('{"ip":"192.0.2.2","data":{"smtp":{"timestamp":12}}}', "data.smtp.timestamp"),
    ('{"ip":"192.0.2.2","data":{"smtp":{"timestamp":"yesterday"}}}', "data.smtp.timestamp"),
    (
        '{"ip":"192.0.2.2","data":{"smtp":{"result":{"tls":{"handshake_log":"x"}}}}}',
        "data.smtp.result.tls.handshake_log",
    ),
    (
        '{"ip":"192.0.2.2","data":{"smtp":{"result":{"tls":{"handshake_log":{"server_hello":'
        '{"version":"TLSv1.2"}}}}}}}',
        "data.smtp.result.tls.handshake_log.server_hello.version",
    ),
    (
        '{"ip":"192.0.2.2","data":{"smtp":{"result":{"tls":{"handshake_log":{'
        '"server_certificates":{"validation":{"browser_trusted":"no"}}}}}}}}',
        "data.smtp.result.tls.handshake_log.server_certificates.validation.browser_trusted",
    ),
    (
        '{"ip":"192.0.2.2","data":{"smtp":{"result":{"tls":{"handshake_log":{'
        '"server_certificates":{"certificate":{"parsed":{"extensions":{"subject_alt_name":'
        '{"dns_names":"abc"}}}}}}}}}}}',
        "data.smtp.result.tls.handshake_log.server_certificates.certificate.parsed"
        ".extensions.subject_alt_name.dns_names",
    ),
    ('{"ip":5,"data":{"smtp":{}}}', "ip"),
    ('{"ip":null,"domain":"","data":{"smtp":{}}}', "ip"),
    ('{"ip":"192.0.2.2","port":"abc","data":{"smtp":{}}}', "port"),
    ('{"ip":"192.0.2.2","port":null,"data":{"smtp":{}}}', "port"),
    ('{"ip":"192.0.2.2","port":70000,"data":{"smtp":{}}}', "port"),
    ('{"ip":"192.0.2.2","port":true,"data":{"smtp":{}}}', "port"),
    ('{"ip":"192.0.2.2","port":' + "9" * 5000 + ',"data":{"smtp":{}}}', None),
    ("[" * 100_000 + "]" * 100_000, None),
    ('["not", "an", "object"]', None),
    ("{not json", None),
]


@pytest.mark.parametrize("line, field", HOSTILE_ZGRAB, ids=[f or "line" for _, f in HOSTILE_ZGRAB])
def test_zgrab2_malformed_line_is_one_precise_error(
    tmp_path: Path, line: str, field: str | None
) -> None:
    p = tmp_path / "z.jsonl"
    p.write_text(GOOD_ZGRAB + "\n" + line + "\n" + GOOD_ZGRAB.replace("192.0.2.1", "192.0.2.3"))
    where = f"{p}, line 2, field '{field}': " if field else f"{p}, line 2: "
    with pytest.raises(RecordError) as info:
        from_zgrab2(p)
    assert str(info.value).startswith(where), str(info.value)
    assert info.value.line == 2 and info.value.field == field
    # Lenient: the bad line is skipped and counted; the lines around it are imported.
    with pytest.warns(RecordWarning, match="skipped 1 bad input line and imported 2"):
        records = from_zgrab2(p, strict=False)
    assert [r["address"] for r in records] == ["192.0.2.1", "192.0.2.3"]


def test_zgrab2_json_error_reads_as_one_sentence(tmp_path: Path) -> None:
    p = tmp_path / "z.jsonl"
    p.write_text(GOOD_ZGRAB + '\n{"ip": "192.0.2.9')
    with pytest.raises(RecordError) as info:
        from_zgrab2(p)
    assert str(info.value) == (
        f"{p}, line 2: not valid JSON (Unterminated string starting at column 8)"
    )


def test_zgrab2_non_utf8_and_huge_lines(tmp_path: Path) -> None:
    p = tmp_path / "z.jsonl"
    p.write_bytes(GOOD_ZGRAB.encode() + b"\n" + b'{"ip":"\xff"}\n')
    with pytest.raises(RecordError, match=r"z.jsonl, line 2: not UTF-8"):
        from_zgrab2(p)
    tally = Tally()
    out = list(iter_zgrab2(p, strict=False, tally=tally))
    assert len(out) == 1 and tally.skipped == 1 and tally.records == 1


# Control characters and bidi overrides a hostile server (or file) can plant: ESC sequences
# that retitle or clear a terminal, the 8-bit CSI U+009B, and the "Trojan Source" overrides.
HOSTILE_CHARS = ["\x1b", "\x07", "\x00", "\x9b", "\x85", "\u202e", "\u2066", "\u2069", "\u200f"]
UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)


def _assert_safe(records: list[dict[str, Any]]) -> None:
    assert records
    for rec in records:
        for text in _strings(rec):
            assert not UNSAFE.search(text), repr(text)


def test_zgrab2_strings_are_made_safe(tmp_path: Path) -> None:
    evil = "".join(HOSTILE_CHARS)
    line = {
        "ip": "192.0.2.7",
        "domain": f"mx{evil}.example.org",
        "data": {
            "smtp": {
                "status": "success",
                "error": f"x{evil}",
                "result": {
                    "banner": f"220 mx.example.org \x1b]0;pwned\x07\x1b[2J ESMTP{evil}\r\n",
                    "ehlo": f"250-mx{evil}\r\n250-AUTH PLAIN{evil}\r\n250 STARTTLS\r\n",
                    "starttls": "220 go\u202e\r\n",
                    "tls": {
                        "handshake_log": {
                            "server_hello": {"version": {"name": f"TLSv1.2{evil}"}},
                            "server_certificates": {
                                "certificate": {
                                    "parsed": {
                                        "subject_dn": f"CN=\u202elpmaxe{evil}",
                                        "issuer_dn": "CN=\x9b31mCA",
                                        "extensions": {
                                            "subject_alt_name": {"dns_names": [f"a{evil}"]}
                                        },
                                    }
                                },
                                "validation": {"browser_trusted": False, "browser_error": evil},
                            },
                        }
                    },
                },
            }
        },
    }
    p = tmp_path / "z.jsonl"
    p.write_text(json.dumps(line) + "\n")
    records = from_zgrab2(p, vantage=f"campus{evil}")
    _assert_safe(records)
    rec = records[0]
    assert rec["banner"].startswith("mx.example.org \\x1b]0;pwned\\x07\\x1b[2J ESMTP\\x1b")
    assert "\\u202e" in rec["cert_subject"] and "\\x9b" in rec["cert_issuer"]
    assert rec["vantage"].startswith("campus\\x1b")
    assert validate_record(rec) == []


def test_nmap_strings_are_made_safe(tmp_path: Path) -> None:
    # XML 1.0 cannot carry C0 controls, but U+0085, U+009B and the bidi overrides are legal.
    evil = "&#x9b;&#x85;&#x202e;&#x2066;&#x2069;"
    p = tmp_path / "scan.xml"
    p.write_text(
        '<?xml version="1.0"?>\n<nmaprun start="1795928593">\n'
        '<host><address addr="192.0.2.9" addrtype="ipv4"/>\n'
        f'<hostnames><hostname name="mx{evil}.example" type="user"/></hostnames>\n'
        '<ports><port protocol="tcp" portid="25"><state state="open" reason="syn-ack"/>\n'
        f'<script id="banner" output="220 mx.example ESMTP{evil}"/>\n'
        f'<script id="smtp-commands" output="mx.example, SIZE 10, AUTH PLAIN{evil}"/>\n'
        "</port></ports></host></nmaprun>\n"
    )
    records = from_nmap_xml(p)
    _assert_safe(records)
    assert records[0]["banner"] == "mx.example ESMTP\\x9b\\x85\\u202e\\u2066\\u2069"
    assert records[0]["host"] == "mx\\x9b\\x85\\u202e\\u2066\\u2069.example"


def test_csv_strings_are_made_safe(tmp_path: Path) -> None:
    p = tmp_path / "scan.csv"
    evil = "".join(HOSTILE_CHARS)
    p.write_text(f'host,port,banner\nmx{evil}.example,25,"220 mx.example ESMTP {evil}"\n')
    records = from_csv(p)
    _assert_safe(records)
    assert (
        records[0]["banner"]
        == "mx.example ESMTP \\x1b\\x07\\x00\\x9b\\x85\\u202e\\u2066\\u2069\\u200f"
    )


# --------------------------------------------------------------------------------------------
# Streaming importers (issue 14, item 3)
# --------------------------------------------------------------------------------------------

NMAP_HEAD = (
    '<?xml version="1.0"?>\n<!DOCTYPE nmaprun>\n<nmaprun scanner="nmap" start="1795928593">\n'
)


def _nmap_host(i: int, port: int = 25) -> str:
    a = f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"
    return (
        f'<host starttime="1795928594"><status state="up"/><address addr="{a}" addrtype="ipv4"/>'
        f'<hostnames><hostname name="mx{i}.example" type="PTR"/></hostnames><ports>'
        f'<port protocol="tcp" portid="{port}"><state state="open" reason="syn-ack"/>'
        f'<service name="smtp" method="table"/><script id="banner" output="220 mx{i}.example '
        f'ESMTP"/><script id="smtp-commands" output="mx{i}.example, SIZE 1000, STARTTLS, '
        'AUTH PLAIN LOGIN"/></port>'
        '<port protocol="tcp" portid="2525"><state state="closed" reason="reset"/></port>'
        "</ports></host>\n"
    )


@pytest.mark.parametrize(
    "prolog",
    [
        # The "billion laughs" entity bomb.
        '<!DOCTYPE nmaprun [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>\n',
        # XXE: an external entity that would read a local file.
        '<!DOCTYPE nmaprun [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n',
        # An external parameter entity (the DTD-fetching variant).
        '<!DOCTYPE nmaprun [<!ENTITY % dtd SYSTEM "http://127.0.0.1:9/x.dtd"> %dtd;]>\n',
    ],
    ids=["entity-bomb", "xxe", "parameter-entity"],
)
def test_nmap_refuses_entities(tmp_path: Path, prolog: str) -> None:
    p = tmp_path / "scan.xml"
    p.write_text(
        '<?xml version="1.0"?>\n' + prolog + '<nmaprun start="1">'
        '<host><address addr="192.0.2.1" addrtype="ipv4"/><hostnames>'
        '<hostname name="&c;&xxe;" type="user"/></hostnames><ports>'
        '<port protocol="tcp" portid="25"><state state="open"/></port></ports></host></nmaprun>'
    )
    for strict in (True, False):
        with pytest.raises(RecordError, match=r"scan.xml, line 2: .*(entity|XXE)"):
            from_nmap_xml(p, strict=strict)


def test_nmap_stream_errors_name_the_line(tmp_path: Path) -> None:
    p = tmp_path / "scan.xml"
    bad = _nmap_host(1).replace('portid="25"', 'portid="x25"')
    p.write_text(NMAP_HEAD + _nmap_host(0) + bad + _nmap_host(2) + "</nmaprun>\n")
    with pytest.raises(
        RecordError, match=r"scan.xml, line 5, field 'port/@portid': expected a port"
    ):
        from_nmap_xml(p)
    with pytest.warns(RecordWarning, match="skipped 1"):
        records = from_nmap_xml(p, strict=False)
    assert [(r["host"], r["port"]) for r in records] == [
        ("mx0.example", 25), ("mx0.example", 2525), ("mx1.example", 2525),
        ("mx2.example", 25), ("mx2.example", 2525),
    ]  # fmt: skip


def test_nmap_truncated_file_keeps_what_was_read(tmp_path: Path) -> None:
    # nmap killed mid-scan: the file stops inside a host.
    p = tmp_path / "scan.xml"
    text = NMAP_HEAD + "".join(_nmap_host(i) for i in range(3))
    p.write_text(text[: text.rindex("<port ")])
    with pytest.raises(RecordError, match=r"line 6: the file ends early"):
        from_nmap_xml(p)
    with pytest.warns(RecordWarning, match="ends early"):
        records = from_nmap_xml(p, strict=False)
    assert len(records) == 5  # hosts 0 and 1 whole, and host 2's first port


def test_nmap_stream_many_hosts_across_chunks(tmp_path: Path) -> None:
    # 3,000 hosts (~1.5 MB) cross many 64 KiB parser chunks; every port comes out once, with
    # the EHLO parsed as a live probe parses it, and role and findings from smtplab.findings.
    p = tmp_path / "scan.xml"
    with open(p, "w") as f:
        f.write(NMAP_HEAD)
        for i in range(3000):
            f.write(_nmap_host(i))
        f.write("</nmaprun>\n")
    assert p.stat().st_size > 20 * 64 * 1024
    tally = Tally()
    records = list(iter_nmap_xml(p, tally=tally))
    assert tally.records == len(records) == 6000 and tally.skipped == 0
    assert len({r["probe_id"] for r in records}) == 6000
    opened = [r for r in records if r["port"] == 25]
    assert {r["host"] for r in opened} == {f"mx{i}.example" for i in range(3000)}
    one = opened[1234]
    assert [ehlo_keyword(e) for e in one["extensions"]] == ["SIZE", "STARTTLS", "AUTH"]
    assert one["auth_before_tls"] == ["PLAIN", "LOGIN"] and one["size_limit"] == 1000
    assert one["role"] == guess_role(one)
    assert one["findings"] == [f.to_dict() for f in analyze(one)]
    assert "auth_before_tls" in {f["code"] for f in one["findings"]}


def test_csv_header_variants(tmp_path: Path) -> None:
    files = {
        "shodan.csv": 'ip_str,port,data,timestamp\n192.0.2.5,587,"220 mx.example ESMTP\r\n",'
        "2026-11-02T09:15:07.123456\n",
        "zmap.csv": "saddr,Port,Banner\n192.0.2.5,587,220 mx.example ESMTP\n",
        "plain.csv": "192.0.2.5,587,220 mx.example ESMTP\n",
        "bom.csv": "\ufeffHost Name,IP Address,port,banner\n,192.0.2.5,587,220 mx.example ESMTP\n",
        "scan.tsv": "host\tport\tbanner\n192.0.2.5\t587\t220 mx.example ESMTP\n",
    }
    for name, text in files.items():
        p = tmp_path / name
        p.write_text(text, encoding="utf-8", newline="")
        [rec] = list(iter_scan(p))
        assert (rec["host"], rec["address"], rec["port"]) == ("192.0.2.5", "192.0.2.5", 587), name
        assert (rec["outcome"], rec["banner_code"], rec["banner"]) == (
            "open", 220, "mx.example ESMTP",
        ), name  # fmt: skip
    [shodan] = from_csv(tmp_path / "shodan.csv")
    assert shodan["started_at"] == "2026-11-02T09:15:07.123456+00:00"


def test_csv_banners_through_the_protocol_parser(tmp_path: Path) -> None:
    p = tmp_path / "scan.csv"
    p.write_text(
        "host,port,banner\n"
        'mx.example.org,25,"220 mx.example.org ESMTP\r\n250-mx.example.org\r\n250-SIZE 100\r\n'
        '250-STARTTLS\r\n250 AUTH PLAIN\r\n"\n'
        "mx2.example.org,25,220-mx2 hello\\r\\n220 ESMTP\\r\\n\n"  # CRLF written as escapes
        "mx3.example.org,25,554 go away\n"
        "mx4.example.org,25,SSH-2.0-OpenSSH_9.2\n"
        "mx5.example.org,25,\n",
        newline="",
    )
    by_host = {r["host"]: r for r in from_csv(p)}
    one = by_host["mx.example.org"]
    assert one["extensions"] == ["SIZE 100", "STARTTLS", "AUTH PLAIN"] and one["esmtp"] is True
    assert one["auth_before_tls"] == ["PLAIN"] and one["starttls_offered"] is True
    assert by_host["mx2.example.org"]["banner"] == "mx2 hello\nESMTP"
    assert by_host["mx3.example.org"]["outcome"] == "rejected"
    assert by_host["mx4.example.org"]["outcome"] == "not_smtp"
    assert by_host["mx5.example.org"]["outcome"] == "silent"
    for rec in by_host.values():
        assert validate_record(rec) == []
        assert rec["findings"] == [f.to_dict() for f in analyze(rec)]


def test_csv_errors_name_the_line(tmp_path: Path) -> None:
    p = tmp_path / "scan.csv"
    p.write_text(
        'host,port,banner\nmx1.example,25,"220 a\r\nmulti-line banner"\n'
        "mx2.example,port25,220 b\n"
        "mx3.example,25,220 c\n"
        ",25,220 d\n",
        newline="",
    )
    with pytest.raises(RecordError, match=r"scan.csv, line 4, field 'port': expected a port"):
        from_csv(p)
    tally = Tally()
    records = list(iter_csv(p, strict=False, tally=tally))
    assert [r["host"] for r in records] == ["mx1.example", "mx3.example"]
    assert tally.skipped == 2
    assert tally.problems[1].endswith("line 6, field 'host': the row names no host or address")
    no_header = tmp_path / "what.csv"
    no_header.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(RecordError, match=r"what.csv, line 1: no header naming host"):
        from_csv(no_header)


def test_import_scan_writes_batches(tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    src = tmp_path / "scan.xml"
    src.write_text(NMAP_HEAD + "".join(_nmap_host(i) for i in range(250)) + "</nmaprun>\n")
    out = tmp_path / "parquet"
    summary = import_scan(src, out, vantage="campus", batch_size=100)
    assert (summary.records, summary.skipped, summary.fmt) == (500, 0, "nmap")
    assert len(list(out.rglob("*.parquet"))) == 10  # 5 batches, each split over two ports
    rows = duckdb.sql(
        f"SELECT port, outcome, count(*) FROM read_parquet('{out}/**/*.parquet', "
        "hive_partitioning=true) GROUP BY ALL ORDER BY port"
    ).fetchall()
    assert rows == [(25, "open", 250), (2525, "refused", 250)]
    df = load_records(out)
    assert len(df) == 500 and set(df["vantage"]) == {"campus"}
    jsonl = tmp_path / "out.jsonl"
    assert import_scan(src, jsonl, batch_size=64).records == 500
    assert len(load_records(jsonl)) == 500


# --------------------------------------------------------------------------------------------
# The same facts and findings as a live probe of the same server
# --------------------------------------------------------------------------------------------


def _zgrab_line_from_live(rec: dict[str, Any]) -> dict[str, Any]:
    """What ZGrab2 would have written for the conversation a live probe recorded."""
    replies: dict[str, list[str]] = {"banner": []}
    current = "banner"
    for line in rec["transcript"]:
        if line["dir"] == "client":
            verb = line["text"].split()[0].upper()
            current = {"EHLO": "ehlo", "STARTTLS": "starttls"}.get(verb, "other")
            if current in replies:
                current = "other"  # only the first EHLO: ZGrab2 never repeats it after TLS
            replies[current] = []
        elif line["dir"] == "server":
            replies[current].append(line["text"])
    result: dict[str, Any] = {
        k: "".join(f"{ln}\r\n" for ln in v) for k, v in replies.items() if k != "other"
    }
    result["tls"] = {
        "handshake_log": {
            "server_hello": {
                "version": {"name": rec["tls_version"]},
                "cipher_suite": {"name": rec["tls_cipher"]},
            },
            "server_certificates": {
                "certificate": {"parsed": {"subject_dn": rec["cert_subject"]}},
                "validation": {"browser_trusted": rec["cert_verified"]},
            },
        }
    }
    return {
        "ip": "127.0.0.1",
        "domain": rec["host"],
        "port": rec["port"],
        "data": {"smtp": {"status": "success", "timestamp": rec["started_at"], "result": result}},
    }


@pytest.mark.timeout(60)
def test_imported_records_match_live_probes(tmp_path: Path) -> None:
    import smtplab

    with smtplab.Lab() as lab:
        live = [
            smtplab.probe("mx.lab.example", 25, lab=lab).to_record(),
            smtplab.probe("smtp.lab.example", 465, lab=lab).to_record(),
        ]
    p = tmp_path / "z.jsonl"
    p.write_text("".join(json.dumps(_zgrab_line_from_live(r)) + "\n" for r in live))
    imported = from_zgrab2(p)
    same = [
        "host", "port", "outcome", "banner_code", "banner", "esmtp", "size_limit",
        "starttls_offered", "auth_before_tls", "tls_mode", "tls_version", "tls_cipher",
        "cert_verified", "role", "findings",
    ]  # fmt: skip
    # ZGrab2 never sends EHLO after STARTTLS: auth_after_tls stays None on port 25 (unknown).
    for want, got in zip(live, imported, strict=True):
        assert {k: got[k] for k in same} == {k: want[k] for k in same}
        assert set(got) == set(want)  # the same schema, field for field
    # The CSV of the greeting alone says what a banner grab can: the greeting, judged the same.
    c = tmp_path / "scan.csv"
    c.write_text(
        "host,port,banner\n" + "".join(f"{r['host']},{r['port']},220 {r['banner']}\n" for r in live)
    )
    for want, got in zip(live, from_csv(c), strict=True):
        assert (got["outcome"], got["banner_code"], got["banner"]) == (
            want["outcome"], want["banner_code"], want["banner"],
        )  # fmt: skip


def test_oversized_tokens_and_lines_are_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import smtplab.importers.banners_csv as banners_csv
    import smtplab.importers.nmap as nmap
    import smtplab.importers.zgrab2 as zgrab2

    for module in (nmap, zgrab2, banners_csv):
        monkeypatch.setattr(module, "MAX_LINE_BYTES", 16 * 1024)
    # One XML attribute of 200 kB: refused once it outgrows the limit, without reading on.
    x = tmp_path / "scan.xml"
    x.write_text(NMAP_HEAD + _nmap_host(0) + '<host comment="' + "A" * 200_000 + '"/></nmaprun>')
    with pytest.raises(RecordError, match=r"scan.xml, line 5: an XML token longer than 16,384"):
        from_nmap_xml(x)
    # A 200 kB JSON line and a 200 kB CSV line: one bad line each, the next lines still read.
    z = tmp_path / "z.jsonl"
    z.write_text('{"pad":"' + "A" * 200_000 + '"}\n' + GOOD_ZGRAB + "\n")
    with pytest.warns(RecordWarning, match=r"line 1: line longer than 16,384 bytes"):
        assert len(from_zgrab2(z, strict=False)) == 1
    c = tmp_path / "scan.csv"
    c.write_text("host,port,banner\nmx1.example,25," + "A" * 200_000 + "\nmx2.example,25,220 b\n")
    with pytest.warns(RecordWarning, match=r"line 2: line longer than 16,384 bytes"):
        assert [r["host"] for r in from_csv(c, strict=False)] == ["mx2.example"]
