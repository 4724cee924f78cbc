"""The password never leaves a probe, in any form (issue 23 #3 and its low finding).

A real server on loopback (STARTTLS with a certificate the probe trusts, so the probe does log
in) answers AUTH with whatever a test tells it: the password echoed whole, cut short, escaped,
upper-cased, in hex, URL-encoded, split over two lines, in a line that is not SMTP at all. Each
test then looks for the secret, in every form, everywhere a result can show it: the record as
JSON, ``repr`` and ``str``, the HTML view, the transcript, and a file written by
``smtplab.save_records``.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hostile import has_stream_start_tls
from servers import Certs, ServerThread

import smtplab
from smtplab.probe import ProbeResult

USER = "alice"


@dataclass
class Echo:
    """What the echo server answers to the AUTH command (set by each test), and what it got."""

    reply: bytes = b"535 5.7.8 no\r\n"
    got: list[bytes] = field(default_factory=list)


@pytest.fixture(scope="module")
def echo() -> Echo:
    return Echo()


@pytest.fixture(scope="module")
def echo_port(servers: ServerThread, certs: Certs, echo: Echo) -> int:
    if not has_stream_start_tls():
        pytest.skip("StreamWriter.start_tls needs Python 3.11")

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 echo.test ESMTP\r\n")
        while line := await asyncio.wait_for(reader.readline(), 5):
            verb = line.split(b" ", 1)[0].strip().upper()
            if verb == b"EHLO":
                tls = writer.get_extra_info("ssl_object") is not None
                writer.write(
                    b"250-echo.test\r\n250 AUTH PLAIN\r\n"
                    if tls
                    else b"250-echo.test\r\n250 STARTTLS\r\n"
                )
            elif verb == b"STARTTLS":
                writer.write(b"220 go\r\n")
                await writer.drain()
                await writer.start_tls(certs.server_context())  # type: ignore[attr-defined]
                continue
            elif verb == b"AUTH":
                echo.got.append(line.rstrip(b"\r\n"))
                writer.write(echo.reply)
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                return
            else:
                writer.write(b"250 OK\r\n")
            await writer.drain()

    return servers.raw(run)


@pytest.fixture(scope="module")
def cafile(certs: Certs, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("redaction-ca") / "ca.pem"
    path.write_text(certs.ca_pem)
    return str(path)


def probe_echo(port: int, cafile: str, password: str) -> ProbeResult:
    return smtplab.probe(
        "127.0.0.1", port, auth=(USER, password), cafile=cafile, timeout=2, deadline=6
    )


def places(r: ProbeResult, saved: Path) -> dict[str, str]:
    """Every text a result shows, as a learner or a file would see it."""
    smtplab.save_records([r], saved)
    return {
        "record": json.dumps(r.to_record(), ensure_ascii=False),
        "record-ascii": json.dumps(r.to_record()),
        "repr": repr(r),
        "str": str(r),
        "html": r._repr_html_(),
        "transcript": "\n".join(x.text for x in r.transcript),
        "error": r.error or "",
        "findings": "\n".join(f.message for f in r.findings),
        "saved file": saved.read_text(encoding="utf-8"),
    }


# --- issue 23 #3: a password in error text --------------------------------------------------

#: A long password lands past the 80 bytes the "not an SMTP reply line" error quotes: the error
#: kept its first characters. A password with a backslash and both quotes comes out of repr()
#: escaped (``\\``, ``\'``), so the plain text was not found in it.
BROKEN_ECHO_PASSWORDS = [
    "correct-horse-battery-staple-and-then-some-more-words",
    "back\\slash'and\"quotes",
]


@pytest.mark.parametrize("password", BROKEN_ECHO_PASSWORDS)
def test_a_password_echoed_in_a_line_that_is_not_smtp_stays_out_of_the_error(
    password: str, echo: Echo, echo_port: int, cafile: str, tmp_path: Path
) -> None:
    echo.reply = b"you said, and I quote it here at length to fill a line: " + password.encode()
    echo.reply += b"\r\n"
    r = probe_echo(echo_port, cafile, password)
    assert echo.got and echo.got[-1].startswith(b"AUTH PLAIN ")  # the secret went out
    assert r.outcome == "open" and r.cert_verified is True, (r.error, r.transcript)
    assert r.error and "not an SMTP reply line" in r.error, r.error
    assert "protocol_problem" in {f.code for f in r.findings}
    escaped = repr(password)[1:-1]
    fragments = {password[i : i + 8] for i in range(len(password) - 7)}
    fragments |= {escaped[i : i + 8] for i in range(len(escaped) - 7)}
    for where, text in places(r, tmp_path / "r.jsonl").items():
        for fragment in fragments:
            assert fragment not in text, f"{fragment!r} of the password is in the {where}"
