"""The in-memory transport: a whole probe, STARTTLS and certificate included, with no socket."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from smtplab.engine.memory import MemoryNetwork, MemoryStream
from smtplab.engine.options import ProbeOptions
from smtplab.engine.run import run_probe
from smtplab.engine.wire import Network, Stream
from smtplab.lab.certs import ca_pem, server_context
from smtplab.replaying import differences, replay

HOST = "smtp.lab.example"


async def _line(end: MemoryStream, buf: bytearray) -> bytes:
    while b"\r\n" not in buf:
        buf += await end.read(4096, 5)
    line, _, rest = bytes(buf).partition(b"\r\n")
    buf[:] = rest
    return line


async def submission_server(end: MemoryStream) -> None:
    """A submission server in a few lines: STARTTLS, then AUTH only inside TLS."""
    await end.write(b"220 smtp.lab.example ESMTP in memory\r\n", 5)
    buf = bytearray()
    tls = False
    while True:
        verb = (await _line(end, buf))[:8].upper()
        if verb.startswith(b"EHLO"):
            offer = b"250-AUTH PLAIN LOGIN\r\n" if tls else b"250-STARTTLS\r\n"
            await end.write(b"250-smtp.lab.example\r\n" + offer + b"250 SIZE 1000000\r\n", 5)
        elif verb.startswith(b"STARTTLS"):
            await end.write(b"220 2.0.0 go ahead\r\n", 5)
            end = await end.start_tls(server_context(HOST), None, 5)
            buf.clear()
            tls = True
        elif verb.startswith(b"QUIT"):
            await end.write(b"221 bye\r\n", 5)
            return
        else:
            await end.write(b"502 not here\r\n", 5)


def _probe(serve, **kw: object):  # type: ignore[no-untyped-def]
    o = ProbeOptions.create(HOST, 587, timeout=2, **kw)  # type: ignore[arg-type]
    o = dataclasses.replace(o, cadata=ca_pem())
    return asyncio.run(run_probe(o, MemoryNetwork(serve)))


def test_a_probe_over_the_in_memory_transport_opens_no_socket(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_network(*args: object, **kw: object) -> None:
        raise AssertionError("the in-memory probe touched the network")

    monkeypatch.setattr(asyncio.BaseEventLoop, "create_connection", no_network)
    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", no_network)
    r = _probe(submission_server)
    assert r.outcome == "open" and r.tls_mode == "starttls", (r.error, r.transcript)
    assert r.tls_version == "TLSv1.3" and r.cert_verified is True
    assert r.auth_before_tls == () and r.auth_after_tls == ("PLAIN", "LOGIN")
    assert r.cert_subject is not None and HOST in r.cert_san
    assert differences(r, replay(r)) == []  # and it records like any probe


def test_in_memory_tls_rejects_a_certificate_for_another_name() -> None:
    async def wrong_name(end: MemoryStream) -> None:
        await end.write(b"220 other.example ESMTP\r\n", 5)
        buf = bytearray()
        await _line(end, buf)
        await end.write(b"250-other.example\r\n250 STARTTLS\r\n", 5)
        await _line(end, buf)
        await end.write(b"220 go ahead\r\n", 5)
        await end.start_tls(server_context("other.lab.example"), None, 5)

    r = _probe(wrong_name, mode="starttls")
    assert r.cert_verified is False and r.cert_error, (r.error, r.transcript)
    assert any(x.kind == "tls_rejected" for x in r.transcript)


def test_memory_streams_are_streams() -> None:
    assert isinstance(MemoryNetwork(submission_server), Network)
    assert isinstance(MemoryStream.__new__(MemoryStream), Stream)
