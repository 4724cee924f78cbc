"""Secrets that must stay out of a result, and the server that hands a probe one to leak.

:func:`starttls_server` is the scripted peer of the redaction tests: it greets, offers STARTTLS
with a certificate from ``certs`` (the probe trusts it through the CA file), offers AUTH only
once TLS is up, says goodbye to QUIT, and answers every other command as the test's ``answer``
says. :func:`shown_texts` gathers every text a result shows; :func:`assert_absent` checks that
no secret is in any of them::

    port = servers.raw(starttls_server(certs, b"echo.test", lambda line, tls: b"535 no\r\n"))
    r = smtplab.probe("127.0.0.1", port, auth=(USER, PASSWORD), cafile=cafile, timeout=2)
    assert_absent(shown_texts(r, tmp_path / "r.jsonl"), [PASSWORD])
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from servers import Certs, RawHandler

import smtplab
from smtplab.engine import ProbeResult

#: The reply to one command (the whole line, and whether TLS is up), or None to hang up at once.
Answer = Callable[[bytes, bool], bytes | None]


def starttls_server(
    certs: Certs,
    name: bytes,
    answer: Answer,
    *,
    mechanisms: bytes = b"PLAIN",
    go_ahead: bytes = b"220 go\r\n",
    greeting: Callable[[], bytes] | None = None,
    ehlo_lines: Callable[[], bytes] | None = None,
    seen: list[bytes] | None = None,
    wait: float = 5,
) -> RawHandler:
    """A server named ``name``: EHLO offers STARTTLS before TLS and ``AUTH mechanisms`` after
    it, STARTTLS answers ``go_ahead``, QUIT ``221 bye``, anything else what ``answer`` returns.
    ``greeting()`` and ``ehlo_lines()`` (read as each connection opens) replace the greeting and
    add lines before the last of the EHLO reply after TLS; ``seen`` gets every command line.
    A connection quiet for ``wait`` seconds is dropped."""

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        more = ehlo_lines() if ehlo_lines is not None else b""
        writer.write(greeting() if greeting is not None else b"220 " + name + b" ESMTP\r\n")
        while line := await asyncio.wait_for(reader.readline(), wait):
            if seen is not None:
                seen.append(line.rstrip(b"\r\n"))
            verb = line.split(b" ", 1)[0].strip().upper()
            tls = writer.get_extra_info("ssl_object") is not None
            if verb == b"EHLO":
                offer = more + b"250 AUTH " + mechanisms if tls else b"250 STARTTLS"
                writer.write(b"250-" + name + b"\r\n" + offer + b"\r\n")
            elif verb == b"STARTTLS":
                writer.write(go_ahead)
                await writer.drain()
                await writer.start_tls(certs.server_context())  # type: ignore[attr-defined]
                continue
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                return
            else:
                reply = answer(line, tls)
                if reply is None:
                    writer.transport.abort()
                    return
                writer.write(reply)
            await writer.drain()

    return run


def answer_auth(got: list[bytes], reply: Callable[[], bytes | None]) -> Answer:
    """An :data:`Answer` that keeps each AUTH line in ``got`` and answers it ``reply()`` (None
    hangs up), and says ``250 OK`` to any other command."""

    def answer(line: bytes, tls: bool) -> bytes | None:
        if line.split(b" ", 1)[0].strip().upper() == b"AUTH":
            got.append(line.rstrip(b"\r\n"))
            return reply()
        return b"250 OK\r\n"

    return answer


def shown_texts(r: ProbeResult, saved: Path) -> dict[str, str]:
    """Every text a result shows, as a learner or a file would see it, by where it is shown;
    ``saved`` is where the result is written with ``smtplab.save_records`` to be read back."""
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


def assert_absent(texts: Mapping[str, str], secrets: Iterable[str]) -> None:
    """No secret is in any of ``texts`` (where it is shown -> the text). The message says where
    and at which offset, not the secret itself."""
    for secret in secrets:
        for where, text in texts.items():
            assert secret not in text, f"a secret appears in the {where} at {text.find(secret)}"
