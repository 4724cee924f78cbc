"""The probe engine against real servers on loopback: aiosmtpd and scripted raw peers."""

from __future__ import annotations

import asyncio
import json
import smtplib
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from leaks import starttls_server
from servers import Certs, RawHandler, ServerThread

import smtplab
from smtplab import schema
from smtplab.engine import ProbeInputError, ProbeResult
from smtplab.tls import HANDS_OVER_CHAIN


def codes(r: ProbeResult) -> set[str]:
    return {f.code for f in r.findings}


@pytest.fixture(scope="module")
def smtp_ports(servers: ServerThread, certs: Certs) -> dict[str, int]:
    return {
        "plain": servers.smtp(),
        "starttls": servers.smtp(ssl_ctx=certs.server_context()),
        "implicit": servers.smtp(ssl_ctx=certs.server_context(), implicit=True),
        "legacy": servers.smtp(auth_require_tls=False),
        "expired": servers.smtp(ssl_ctx=certs.expired_context(), implicit=True),
    }


@pytest.fixture(scope="module")
def cafile(certs: Certs, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    path.write_text(certs.ca_pem)
    return str(path)


@pytest.fixture
def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))  # bound, never listening: a connect gets a TCP reset
    port = int(s.getsockname()[1])
    yield port
    s.close()


@pytest.fixture
def filtered_port() -> Iterator[int]:
    """A listener whose accept queue is full: further connects time out, exactly like DROP."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(0)
    port = int(ls.getsockname()[1])
    filler = socket.create_connection(("127.0.0.1", port))
    yield port
    filler.close()
    ls.close()


@pytest.fixture
def silent_port() -> Iterator[int]:
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    yield int(ls.getsockname()[1])
    ls.close()


def test_open_plain_matches_smtplib(smtp_ports: dict[str, int]) -> None:
    port = smtp_ports["plain"]
    r = smtplab.probe("127.0.0.1", port, timeout=3)
    assert r.outcome == "open" and r.banner_code == 220
    with smtplib.SMTP("127.0.0.1", port, timeout=3) as s:
        s.ehlo()
        assert set(r.extension_keywords) == {k.upper() for k in s.esmtp_features}
    assert r.tls_mode == "none" and r.auth_before_tls == () and r.auth_after_tls is None
    assert r.role == "relay"
    assert r.connect_ms is not None and r.banner_ms is not None and r.ehlo_ms is not None
    dirs = [line.dir for line in r.transcript]
    assert dirs[:3] == ["event", "event", "server"]  # connecting, connected, greeting
    assert any(line.text.startswith("EHLO [127.0.0.1]") for line in r.transcript)


def test_starttls_capabilities_before_and_after_tls(
    smtp_ports: dict[str, int], cafile: str
) -> None:
    port = smtp_ports["starttls"]
    r = smtplab.probe("localhost", port, cafile=cafile, timeout=3)
    assert r.outcome == "open" and r.tls_mode == "starttls"
    assert r.starttls_offered is True
    assert r.auth_before_tls == () and set(r.auth_after_tls or ()) == {"LOGIN", "PLAIN"}
    assert r.cert_verified is True and r.cert_error is None
    assert r.tls_version in ("TLSv1.2", "TLSv1.3") and r.tls_cipher
    assert "localhost" in r.cert_san and r.cert_not_after
    assert r.role == "submission-starttls"
    assert "tls_ok" in codes(r)
    # the same as smtplib sees after its own STARTTLS
    ctx = ssl.create_default_context(cafile=cafile)
    with smtplib.SMTP("localhost", port, timeout=3) as s:
        s.starttls(context=ctx)
        s.ehlo()
        assert set(r.extension_keywords) == {k.upper() for k in s.esmtp_features}


def test_untrusted_certificate_is_reported_not_fatal(smtp_ports: dict[str, int]) -> None:
    r = smtplab.probe("localhost", smtp_ports["starttls"], timeout=3)  # system CAs only
    assert r.outcome == "open" and r.tls_mode == "starttls", (r.error, r.transcript)
    assert r.cert_verified is False and "issuer" in (r.cert_error or "")
    assert "cert_untrusted" in codes(r)
    assert r.auth_after_tls  # facts still read on the unverified reconnection


def test_implicit_tls_modes(smtp_ports: dict[str, int], cafile: str) -> None:
    port = smtp_ports["implicit"]
    r = smtplab.probe("localhost", port, mode="tls", cafile=cafile, timeout=3)
    assert r.outcome == "open" and r.tls_mode == "implicit" and r.cert_verified
    assert r.auth_before_tls is None and set(r.auth_after_tls or ()) == {"LOGIN", "PLAIN"}
    assert r.role == "submission-implicit"
    # auto on a port other than 465: cleartext stays silent, then implicit TLS is tried
    r2 = smtplab.probe("localhost", port, cafile=cafile, timeout=1)
    assert r2.outcome == "open" and r2.tls_mode == "implicit"
    assert "implicit_tls_detected" in codes(r2)


def test_implicit_tls_against_cleartext_names_the_mixup(smtp_ports: dict[str, int]) -> None:
    r = smtplab.probe("127.0.0.1", smtp_ports["starttls"], mode="tls", timeout=3)
    assert r.outcome == "tls_failed"
    assert "wrong_tls_mode" in codes(r)
    assert "STARTTLS" in (r.error or "")


def test_expired_certificate(smtp_ports: dict[str, int], cafile: str) -> None:
    r = smtplab.probe("localhost", smtp_ports["expired"], mode="tls", cafile=cafile, timeout=3)
    assert r.outcome == "open" and r.cert_verified is False
    assert "cert_expired" in codes(r)
    assert r.cert_not_after and r.cert_not_after.startswith("2021-01-01")
    # every problem, from the certificate itself, whichever Python (one look or a reconnect)
    assert r.cert_problems is not None and "expired" in r.cert_problems
    reconnects = sum("reconnecting" in x.text for x in r.transcript)
    assert reconnects == (0 if HANDS_OVER_CHAIN else 1)
    verified = smtplab.probe("localhost", smtp_ports["implicit"], mode="tls", cafile=cafile)
    assert verified.cert_verified is True and verified.cert_problems == ()


def test_auth_before_tls(smtp_ports: dict[str, int]) -> None:
    r = smtplab.probe("127.0.0.1", smtp_ports["legacy"], timeout=3)
    assert r.outcome == "open" and set(r.auth_before_tls or ()) == {"LOGIN", "PLAIN"}
    assert "auth_before_tls" in codes(r)
    assert r.findings[0].severity == "high"


def test_plain_mode_never_upgrades(smtp_ports: dict[str, int]) -> None:
    r = smtplab.probe("localhost", smtp_ports["starttls"], mode="plain", timeout=3)
    assert r.tls_mode == "none" and r.starttls_offered is True
    assert not any(line.text == "STARTTLS" for line in r.transcript)


def test_refused(closed_port: int) -> None:
    r = smtplab.probe("127.0.0.1", closed_port, timeout=2)
    assert r.outcome == "refused" and r.error == "connection refused"


def test_filtered_within_connect_timeout(filtered_port: int) -> None:
    t = time.monotonic()
    r = smtplab.probe("127.0.0.1", filtered_port, timeout=1)
    assert r.outcome == "filtered"
    assert time.monotonic() - t < 3
    assert "filtered" in codes(r)


def test_silent(silent_port: int) -> None:
    r = smtplab.probe("127.0.0.1", silent_port, mode="plain", timeout=1)
    assert r.outcome == "silent"


def test_not_smtp_http(servers: ServerThread) -> None:
    async def http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        await reader.read(100)

    r = smtplab.probe("127.0.0.1", servers.raw(http), timeout=2)
    assert r.outcome == "not_smtp" and "HTTP" in (r.error or "")


def test_rejected_greeting(servers: ServerThread) -> None:
    async def busy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"554 5.7.1 mx.example: your address is on a blocklist\r\n")
        await writer.drain()

    r = smtplab.probe("127.0.0.1", servers.raw(busy), timeout=2)
    assert r.outcome == "rejected" and r.banner_code == 554
    assert "greeting_refused" in codes(r)


def test_an_address_is_probed_without_a_lookup_and_a_name_with_one(
    smtp_ports: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An address needs no name lookup (a worker thread's hop); ``::1`` keeps its form."""
    looked_up: list[object] = []
    real = asyncio.base_events.BaseEventLoop.getaddrinfo

    async def watched(self: Any, host: Any, *args: Any, **kwargs: Any) -> Any:
        looked_up.append(host)
        return await real(self, host, *args, **kwargs)

    monkeypatch.setattr(asyncio.base_events.BaseEventLoop, "getaddrinfo", watched)
    r = smtplab.probe("127.0.0.1", smtp_ports["plain"], timeout=3)
    assert r.outcome == "open" and r.address == "127.0.0.1" and looked_up == []
    smtplab.probe("localhost", smtp_ports["plain"], timeout=3)  # ::1 or 127.0.0.1 first
    assert looked_up == ["localhost"]


def test_dns_failed_is_a_result() -> None:
    r = smtplab.probe("no-such-host.invalid", 25, timeout=2)
    assert r.outcome == "dns_failed"


def test_drip_feed_is_bounded_by_the_deadline(servers: ServerThread) -> None:
    async def drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for ch in b"220 " + b"x" * 1000:
            writer.write(bytes([ch]))
            await writer.drain()
            await asyncio.sleep(0.5)

    t = time.monotonic()
    r = smtplab.probe("127.0.0.1", servers.raw(drip), mode="plain", timeout=1, deadline=2)
    assert time.monotonic() - t < 4
    assert r.outcome in ("not_smtp", "silent")


def test_sync_probe_inside_a_running_event_loop(smtp_ports: dict[str, int]) -> None:
    async def cell() -> ProbeResult:  # what a Jupyter cell is: code inside a running loop
        return smtplab.probe("127.0.0.1", smtp_ports["plain"], timeout=3)

    assert asyncio.run(cell()).outcome == "open"


def test_aprobe(smtp_ports: dict[str, int]) -> None:
    r = asyncio.run(smtplab.aprobe("127.0.0.1", smtp_ports["plain"], timeout=3))
    assert r.outcome == "open"


def test_probe_many_keeps_order_and_a_filtered_port_costs_once(
    smtp_ports: dict[str, int], filtered_port: int, closed_port: int
) -> None:
    targets = [("127.0.0.1", filtered_port)] * 4 + [
        ("127.0.0.1", smtp_ports["plain"]),
        ("127.0.0.1", closed_port),
    ]
    seen: list[tuple[int, int]] = []
    t = time.monotonic()
    rs = smtplab.probe_many(
        targets, timeout=1.5, per_host=8, rate=1000, progress=lambda d, n, r: seen.append((d, n))
    )
    elapsed = time.monotonic() - t
    assert [r.outcome for r in rs] == ["filtered"] * 4 + ["open", "refused"]
    assert elapsed < 4.5  # one after another would take 4 x 1.5 s
    assert seen[-1] == (6, 6)


def test_probe_many_rejects_bad_targets() -> None:
    with pytest.raises(ProbeInputError):
        smtplab.probe_many([("127.0.0.1",)])
    with pytest.raises(ProbeInputError):
        smtplab.probe_many([("127.0.0.1", 25)], concurrency=0)


@pytest.mark.parametrize(
    "host,port,message",
    [
        ("", 25, "empty"),
        ("smtp.example.org\r\nQUIT", 25, "control"),
        ("smtp example.org", 25, "spaces"),
        ("a" * 300, 25, "253"),
        ("127.0.0.1", 0, "out of range"),
        ("127.0.0.1", 65536, "out of range"),
        ("127.0.0.1", "smtp", "number"),
        ("127.0.0.1", True, "number"),
    ],
)
def test_bad_input_raises_one_clear_error_and_sends_nothing(
    host: str, port: object, message: str
) -> None:
    with pytest.raises(ProbeInputError, match=message):
        smtplab.probe(host, port)  # type: ignore[arg-type]


def test_bad_ehlo_name_and_mode() -> None:
    with pytest.raises(ProbeInputError, match="EHLO"):
        smtplab.probe("127.0.0.1", 25, ehlo_name="x\r\nRCPT TO:<a@b>")
    with pytest.raises(ProbeInputError, match="mode"):
        smtplab.probe("127.0.0.1", 25, mode="ssl")


def test_host_forms_accepted(smtp_ports: dict[str, int]) -> None:
    assert smtplab.probe(" 127.0.0.1 ", smtp_ports["plain"], timeout=2).outcome == "open"
    assert smtplab.probe("[127.0.0.1]", smtp_ports["plain"], timeout=2).host == "127.0.0.1"
    r = smtplab.probe("bücher.invalid", 25, timeout=2)
    assert r.outcome == "dns_failed"


def test_record_has_every_schema_field(smtp_ports: dict[str, int], tmp_path: Path) -> None:
    r = smtplab.probe("localhost", smtp_ports["starttls"], timeout=3)
    rec = r.to_record()
    assert list(rec) == list(schema.FIELD_NAMES)
    assert rec["schema_version"] == schema.SCHEMA_VERSION
    json.dumps(rec)
    for name, values in schema.ENUMS.items():
        assert rec[name] in values
    for t in rec["transcript"]:  # an event says what happened as data too (schema 3)
        if t["dir"] == "event":
            assert {"t", "dir", "text", "kind"} <= set(t) <= {"t", "dir", "text", "kind", "data"}
            assert t["kind"] in schema.EVENT_KINDS
            assert set(t.get("data", {})) <= set(schema.EVENT_FIELDS)
        else:
            assert set(t) == {"t", "dir", "text"}
    assert ProbeResult.from_record(rec) == r


def test_certificate_facts_read_the_same_verified_or_not(
    smtp_ports: dict[str, int], cafile: str
) -> None:
    verified = smtplab.probe("localhost", smtp_ports["starttls"], cafile=cafile, timeout=3)
    unverified = smtplab.probe("localhost", smtp_ports["starttls"], timeout=3)
    assert verified.cert_verified is True and unverified.cert_verified is False
    for name in ("cert_subject", "cert_issuer", "cert_not_after", "cert_san"):
        assert getattr(verified, name) == getattr(unverified, name), name
    assert "127.0.0.1" in verified.cert_san


def test_tls_required_check(servers: ServerThread, certs: Certs) -> None:
    from smtplab.replaying import differences, replay

    lax = servers.smtp(ssl_ctx=certs.server_context())
    strict = servers.smtp(ssl_ctx=certs.server_context(), require_starttls=True)
    r_lax = smtplab.probe("localhost", lax, timeout=3, tls_required_check=True)
    r_strict = smtplab.probe("localhost", strict, timeout=3, tls_required_check=True)
    assert "mail_before_tls_accepted" in codes(r_lax)
    assert "tls_required" in codes(r_strict)
    for r in (r_lax, r_strict):
        sent = [x.text.split(" ")[0] for x in r.transcript if x.dir == "client"]
        assert "MAIL" in sent and "RCPT" not in sent and "DATA" not in sent
        assert sent.index("MAIL") < sent.index("STARTTLS")  # asked before any TLS
        assert r.tls_mode == "starttls"  # and the probe still went on to TLS
        assert differences(r, replay(r)) == []
    plain = smtplab.probe("localhost", lax, timeout=3)
    assert not any(x.text.startswith("MAIL") for x in plain.transcript)  # only when asked


def test_tls_required_check_on_the_lab() -> None:
    with smtplab.Lab() as lab:
        sub = smtplab.probe("smtp.lab.example", 587, lab=lab, timeout=3, tls_required_check=True)
        legacy = smtplab.probe(
            "legacy.lab.example", 587, lab=lab, timeout=3, tls_required_check=True
        )
    assert "tls_required" in codes(sub)
    legacy_findings = {f.code: f.severity for f in legacy.findings}
    assert legacy_findings["mail_before_tls_accepted"] == "high"


# --- what a deadline or a tiny timeout must not erase (issue 11 #4) ---------------------------


@pytest.mark.parametrize("tiny", [1e-300, 0.001, 0.049])
def test_absurdly_short_timeouts_are_refused(tiny: float, silent_port: int) -> None:
    """Below 0.05 s not even loopback connects: an open port would be called filtered."""
    with pytest.raises(ProbeInputError, match=r"between 0\.05 and 600"):
        smtplab.probe("127.0.0.1", silent_port, timeout=tiny)
    with pytest.raises(ProbeInputError, match="deadline"):
        smtplab.probe("127.0.0.1", silent_port, timeout=1, deadline=tiny)


def test_cli_refuses_a_tiny_timeout_instead_of_saying_filtered(
    smtp_ports: dict[str, int],
) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [
            *(sys.executable, "-m", "smtplab", "probe", "127.0.0.1"),
            *("-p", str(smtp_ports["plain"]), "--json", "--timeout", "1e-300"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parent.parent,
        check=False,
    )
    assert done.returncode == 2 and "filtered" not in done.stdout, (done.stdout, done.stderr)
    assert "0.05" in done.stderr


@pytest.fixture(scope="module")
def tls_then_silent_port(servers: ServerThread, certs: Certs) -> int:
    """Implicit TLS with an expired certificate, then no greeting ever."""

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await writer.start_tls(certs.expired_context())  # type: ignore[attr-defined]
        await asyncio.wait_for(reader.read(1), 8)

    return servers.raw(run)


def test_a_deadline_keeps_the_certificate_rejection(tls_then_silent_port: int, cafile: str) -> None:
    """The certificate was rejected, the reconnect read it, then the deadline passed while
    waiting for the greeting: what was learnt before the deadline stays in the record."""
    if not hasattr(asyncio.StreamWriter, "start_tls"):
        pytest.skip("StreamWriter.start_tls needs Python 3.11")
    r = smtplab.probe(
        "localhost", tls_then_silent_port, mode="tls", cafile=cafile, timeout=3, deadline=1.5
    )
    assert "deadline" in (r.error or ""), r.error
    assert r.outcome == "silent", r.outcome  # connected and TLS came up: never "filtered"
    assert r.cert_verified is False and "expired" in (r.cert_error or "").lower()
    assert "cert_expired" in codes(r), codes(r)
    from smtplab.replaying import differences, replay

    assert differences(r, replay(r)) == []


@pytest.fixture(scope="module")
def slow_handshake_port(servers: ServerThread) -> int:
    """Reads the ClientHello, answers with the first bytes of a TLS record, then stalls."""

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if await asyncio.wait_for(reader.read(5), 8):
            writer.write(b"\x16\x03\x03")
            await writer.drain()
        await asyncio.wait_for(reader.read(1 << 16), 8)
        await asyncio.wait_for(reader.read(1), 8)

    return servers.raw(run)


@pytest.mark.parametrize("mode", ["tls", "auto"])
def test_a_slow_tls_handshake_is_not_silent(slow_handshake_port: int, mode: str) -> None:
    r = smtplab.probe("127.0.0.1", slow_handshake_port, mode=mode, timeout=1, deadline=5)
    assert r.outcome == "tls_failed", (r.outcome, r.error, [x.text for x in r.transcript])
    assert "TLS handshake timed out" in (r.error or ""), r.error
    from smtplab.replaying import differences, replay

    assert differences(r, replay(r)) == []


def test_a_tls_port_that_never_answers_is_still_silent(silent_port: int) -> None:
    r = smtplab.probe("127.0.0.1", silent_port, mode="tls", timeout=1)
    assert r.outcome == "silent", (r.outcome, r.error)


# --- one options object, validated once (issue 10) --------------------------------------------


def test_options_are_built_once_and_frozen(smtp_ports: dict[str, int]) -> None:
    import dataclasses

    opts = smtplab.ProbeOptions.create("127.0.0.1", smtp_ports["plain"], timeout=2)
    assert smtplab.make_options == smtplab.ProbeOptions.create
    assert opts.timeout == 2 and opts.deadline == 8 and opts.literal and opts.loopback
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.port = 25  # type: ignore[misc]
    r = smtplab.probe(opts)
    assert r.outcome == "open" and r.port == smtp_ports["plain"]
    many = smtplab.probe_many([opts, ("127.0.0.1", smtp_ports["plain"])], timeout=2)
    assert [x.outcome for x in many] == ["open", "open"]
    assert asyncio.run(smtplab.aprobe(opts)).outcome == "open"


def test_options_hide_secrets_from_repr(smtp_ports: dict[str, int]) -> None:
    opts = smtplab.make_options("127.0.0.1", 25, auth=("alice", "s3cret-PW"))
    assert "s3cret-PW" not in repr(opts) and "alice" not in repr(opts)


def test_each_input_is_checked_once(
    smtp_ports: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The host is parsed once, when the options are made, and never again on the way."""
    import importlib

    engine = importlib.import_module("smtplab.engine.options")

    calls: list[object] = []
    real = engine._check_host
    monkeypatch.setattr(engine, "_check_host", lambda h: calls.append(h) or real(h))
    opts = smtplab.make_options("127.0.0.1", smtp_ports["plain"], timeout=2)
    assert calls == ["127.0.0.1"]
    smtplab.probe(opts)
    smtplab.probe_many([opts] * 3)
    assert calls == ["127.0.0.1"]
    smtplab.probe_many([("127.0.0.1", smtp_ports["plain"])] * 3, timeout=2)
    assert len(calls) == 4  # one per target


def test_one_error_base_for_the_package(silent_port: int) -> None:
    from smtplab.errors import SmtplabError

    assert smtplab.SmtplabError is SmtplabError
    with pytest.raises(SmtplabError):
        smtplab.probe("127.0.0.1", 70000)
    with pytest.raises(ValueError):  # and still what it always was
        smtplab.probe("127.0.0.1", 70000)


def test_unknown_options_are_refused_before_any_target_is_checked() -> None:
    with pytest.raises(ProbeInputError, match="unknown option"):
        smtplab.probe_many([("no such host!", 1)], colour="blue")


# --- why MAIL was refused: encryption or a login (issue 15 #3) ---------------------------------


def _mail_refusing_server(certs: Certs, after_tls: bytes, seen: list[bytes]) -> RawHandler:
    """STARTTLS with a trusted certificate; MAIL before TLS gets Haraka's 550 Authentication
    required, MAIL after TLS gets ``after_tls``. Records every command it receives."""

    def answer(line: bytes, tls: bool) -> bytes:
        if line.split(b" ", 1)[0].strip().upper() == b"MAIL":
            return after_tls if tls else b"550 5.7.1 Authentication required\r\n"
        return b"250 OK\r\n"

    return starttls_server(
        certs,
        b"haraka.test",
        answer,
        mechanisms=b"PLAIN LOGIN",
        go_ahead=b"220 go ahead\r\n",
        seen=seen,
        wait=8,
    )


@pytest.mark.parametrize(
    ("after_tls", "code", "words"),
    [
        (b"550 5.7.1 Authentication required\r\n", "mail_needs_login", "needs a login"),
        (b"250 2.1.0 OK\r\n", "tls_required", "encryption first, and only that"),
        (b"530 5.7.0 Authentication required\r\n", "tls_required", "and then on a login"),
    ],
)
def test_the_reason_mail_was_refused_is_asked_after_starttls(
    servers: ServerThread, certs: Certs, cafile: str, after_tls: bytes, code: str, words: str
) -> None:
    if not hasattr(asyncio.StreamWriter, "start_tls"):
        pytest.skip("StreamWriter.start_tls needs Python 3.11")
    seen: list[bytes] = []
    port = servers.raw(_mail_refusing_server(certs, after_tls, seen))
    r = smtplab.probe("localhost", port, cafile=cafile, timeout=2, tls_required_check=True)
    assert code in codes(r), (codes(r), r.error)
    message = next(f.message for f in r.findings if f.code == code)
    assert words in message, message
    other = {"mail_needs_login", "tls_required"} - {code}
    assert not other & codes(r)
    verbs = [c.split(b" ")[0].upper() for c in seen]
    assert verbs.count(b"MAIL") == 2 and b"RCPT" not in verbs and b"DATA" not in verbs, verbs
    assert (
        verbs.index(b"MAIL")
        < verbs.index(b"STARTTLS")
        < len(verbs) - 1 - verbs[::-1].index(b"MAIL")
    )
    from smtplab.replaying import differences, replay

    assert differences(r, replay(r)) == []


def test_a_deadline_during_a_reconnect_is_not_filtered() -> None:
    """The first connection was accepted (and stayed silent); auto mode's implicit-TLS retry
    then waits on a full accept queue when the deadline passes. The port was reached: it is
    `silent`, with the first connection's timing, never `filtered`."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(0)  # room for the probe's first connection, then SYNs are dropped
    port = int(ls.getsockname()[1])
    try:
        r = smtplab.probe("127.0.0.1", port, timeout=1, deadline=1.6)
    finally:
        ls.close()
    events = [x.text for x in r.transcript if x.dir == "event"]
    assert events.count("connected") == 1 and "retrying with implicit TLS" in " ".join(events)
    assert r.outcome == "silent", (r.outcome, r.error, events)
    assert r.connect_ms is not None and "deadline" in (r.error or "")
    from smtplab.replaying import differences, replay

    assert differences(r, replay(r)) == []


def test_auto_mode_tries_implicit_tls_after_a_short_grace(
    smtp_ports: dict[str, int], cafile: str
) -> None:
    """Issue 15 #5: a port silent in cleartext has implicit TLS tried on a second connection
    after a grace of a few connect times, not after the whole timeout; TLS answers first and
    its session follows. The recording replays the race as it went."""
    from smtplab.engine.conversation import GRACE_MIN_S
    from smtplab.replaying import differences, replay

    r = smtplab.probe("localhost", smtp_ports["implicit"], cafile=cafile, timeout=3)
    assert r.outcome == "open" and r.tls_mode == "implicit", (r.error, r.transcript)
    assert "implicit_tls_detected" in codes(r) and r.cert_verified is True
    events = {x.kind: x for x in r.transcript if x.dir == "event"}
    assert float(events["tls_race"].data["seconds"]) >= GRACE_MIN_S
    assert events["race_tls_first"].t < 3000 / 2  # long before the 3 s cleartext timeout
    assert differences(r, replay(r)) == []


def test_a_slow_cleartext_greeting_still_wins_the_race(servers: ServerThread) -> None:
    """A greeting that comes after the grace but within the timeout is still the answer: the
    TLS attempt beside it fails (the server greets it in cleartext) and is dropped."""
    from smtplab.replaying import differences, replay

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.8)
        writer.write(b"220 slow.example ESMTP\r\n")
        while line := await reader.readline():
            verb = line[:4].upper()
            writer.write(b"250 slow.example\r\n" if verb == b"EHLO" else b"221 bye\r\n")
            await writer.drain()
            if verb == b"QUIT":
                break

    r = smtplab.probe("127.0.0.1", servers.raw(slow), timeout=3)
    kinds = [x.kind for x in r.transcript if x.dir == "event"]
    assert r.outcome == "open" and r.tls_mode == "none", (r.error, kinds)
    assert "tls_race" in kinds and "race_cleartext_first" in kinds
    assert "implicit_tls_detected" not in codes(r)
    assert differences(r, replay(r)) == []
