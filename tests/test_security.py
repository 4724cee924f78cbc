"""Security and politeness: bad input sends nothing, secrets stay secret, live probing is polite.

Everything here talks to loopback only. Where a test needs a host *name* (IDNA, the politeness
default for hosts that are not this machine) a fake resolver maps that one name to 127.0.0.1 and
refuses every other name, so no DNS query can leave the machine either.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import ipaddress
import itertools
import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest
from hostile import has_stream_start_tls
from leaks import answer_auth, assert_absent, shown_texts, starttls_server
from servers import PASSWORD, USER, Certs, ServerThread, Sink

import smtplab
from smtplab.cli import main as cli_main
from smtplab.engine import RELAY_CHECK_RCPT, ProbeInputError, ProbeResult

ROOT = Path(__file__).parent.parent


def codes(r: ProbeResult) -> set[str]:
    return {f.code for f in r.findings}


def client_lines(r: ProbeResult) -> list[str]:
    return [x.text for x in r.transcript if x.dir == "client"]


# --- helpers: a listener that counts, a server that records, a resolver that stays home -------


class CountingListener:
    """A listening socket that never accepts: every connection anyone made waits in its queue,
    so :meth:`connections` can count them afterwards, exactly."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = int(self.sock.getsockname()[1])

    def connections(self) -> int:
        self.sock.setblocking(False)
        n = 0
        while True:
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                return n
            conn.close()
            n += 1

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[CountingListener]:
    ls = CountingListener()
    yield ls
    ls.close()


@dataclass
class Tally:
    """What the recording server saw: connection times, concurrency, every command line."""

    hold: float = 0.0
    active: int = 0
    max_active: int = 0
    accepted_at: list[float] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)

    def reset(self, hold: float = 0.0) -> None:
        self.hold, self.active, self.max_active = hold, 0, 0
        self.accepted_at.clear()
        self.commands.clear()

    def verbs(self) -> list[str]:
        return [c.split(" ", 1)[0].upper() for c in self.commands]

    def settled_verbs(self, timeout: float = 3.0) -> list[str]:
        """The verbs once every connection has ended: the probe sends QUIT and closes without
        waiting for the 221, so the server may read the QUIT after the probe has returned."""
        deadline = time.monotonic() + timeout
        while self.active and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.verbs()


def recording_handler(tally: Tally) -> Any:
    """An open relay that records: accepts any MAIL and RCPT, answers DATA (never expected)."""

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tally.accepted_at.append(time.monotonic())
        tally.active += 1
        tally.max_active = max(tally.max_active, tally.active)
        done = False
        try:
            await asyncio.sleep(tally.hold)  # a slow greeting keeps connections overlapping
            writer.write(b"220 polite.test ESMTP\r\n")
            await writer.drain()
            while line := await asyncio.wait_for(reader.readline(), 5):
                text = line.decode("utf-8", "replace").rstrip("\r\n")
                tally.commands.append(text)
                verb = text.split(" ", 1)[0].upper()
                if verb == "QUIT":
                    tally.active -= 1  # before the 221, so the client cannot race ahead of us
                    done = True
                    writer.write(b"221 bye\r\n")
                    await writer.drain()
                    return
                reply = {
                    "EHLO": b"250-polite.test\r\n250 SIZE 1000000\r\n",
                    "DATA": b"354 go ahead\r\n",
                }.get(verb, b"250 OK\r\n")
                writer.write(reply)
                await writer.drain()
        finally:
            if not done:
                tally.active -= 1

    return run


@pytest.fixture(scope="module")
def tally() -> Tally:
    return Tally()


@pytest.fixture(scope="module")
def recorder_port(servers: ServerThread, tally: Tally) -> int:
    return servers.raw(recording_handler(tally))


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """``socket.getaddrinfo`` that knows only the names put in ``table`` (-> 127.0.0.1) and
    loopback addresses; any other lookup fails, so nothing here can reach real DNS."""
    real = socket.getaddrinfo
    state: dict[str, Any] = {"table": {}, "asked": []}

    def getaddrinfo(host: Any, port: Any, *args: Any, **kw: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        state["asked"].append(name)
        try:
            if ipaddress.ip_address(name).is_loopback:
                return real(name, port, *args, **kw)
        except ValueError:
            pass
        key = name.encode("idna").decode("ascii").lower()
        if key in state["table"]:
            return real(state["table"][key], port, *args, **kw)
        raise socket.gaierror(socket.EAI_NONAME, f"{name} is not in the test's resolver")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return state


def has_ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


# ==============================================================================================
# 2. Input: one clear line, and nothing sent
# ==============================================================================================

BAD_HOSTS = [
    ("", "empty"),
    ("   ", "empty"),
    ("smtp example.org", "spaces"),
    ("smtp.example.org\r\nQUIT", "control"),
    ("smtp.example.org\rX", "control"),
    ("\r\n", "empty"),
    ("a\x00b.example", "control"),
    ("tab\there.example", "control"),
    ("a" * 300, "253"),
    (("a" * 70) + ".example", "not a valid domain"),
    ("-bad-.example", "not a valid domain"),
    ("under_score!.example", "cannot have"),
]


@pytest.mark.parametrize("host,words", BAD_HOSTS)
def test_bad_host_is_one_clear_line_and_nothing_is_sent(
    host: str, words: str, listener: CountingListener
) -> None:
    with pytest.raises(ProbeInputError, match=words) as info:
        smtplab.probe(host, listener.port, timeout=1)
    assert "\n" not in str(info.value) and str(info.value)
    with pytest.raises(ProbeInputError):  # in a batch, one bad target stops all before any send
        smtplab.probe_many([("127.0.0.1", listener.port), (host, listener.port)], timeout=1)
    assert listener.connections() == 0


BAD_PORTS: list[tuple[Any, str]] = [
    (0, "out of range"),
    (65536, "out of range"),
    (-1, "out of range"),
    (70000, "out of range"),
    ("smtp", "number"),
    ("25a", "number"),
    (25.0, "number"),
    (587.5, "number"),
    (None, "number"),
    (True, "number"),
    ("", "number"),
]


@pytest.mark.parametrize("port,words", BAD_PORTS)
def test_bad_port_is_one_clear_line(port: Any, words: str, listener: CountingListener) -> None:
    with pytest.raises(ProbeInputError, match=words) as info:
        smtplab.probe("127.0.0.1", port, timeout=1)
    assert "\n" not in str(info.value)
    assert listener.connections() == 0


BAD_EHLO = [
    "x\r\nRCPT TO:<a@b>",
    "client.example\r\nMAIL FROM:<a@b>",
    "x\nQUIT",
    "nul\x00.example",
    "has space.example",
    "",
    "[999.1.1.1]",
    "a" * 300,
]


@pytest.mark.parametrize("name", BAD_EHLO)
def test_ehlo_injection_is_refused_before_connecting(name: str, listener: CountingListener) -> None:
    with pytest.raises(ProbeInputError, match=r"EHLO|domain|address literal") as info:
        smtplab.probe("127.0.0.1", listener.port, ehlo_name=name, timeout=1)
    assert "\n" not in str(info.value) and "\r" not in str(info.value)
    assert listener.connections() == 0  # not even a TCP connection was opened


def test_bad_auth_argument_names_no_secret(listener: CountingListener) -> None:
    for auth in [("user", "pa\r\nss-SECRET"), ("user",), ("", "SECRET-1"), ("user", None)]:
        with pytest.raises(ProbeInputError) as info:
            smtplab.probe("127.0.0.1", listener.port, auth=auth, timeout=1)  # type: ignore[arg-type]
        assert "SECRET" not in str(info.value) and "\n" not in str(info.value)
    assert listener.connections() == 0


AMBIGUOUS_NUMBERS = [
    ("127.0.0.010", "127.0.0.8"),  # octal: 010 is 8
    ("0x7f.1", "127.0.0.1"),  # hex, and a short form
    ("127.1", "127.0.0.1"),  # two-part form
    ("2130706433", "127.0.0.1"),  # one 32-bit number
    ("0177.0.0.1", "127.0.0.1"),
]


@pytest.mark.parametrize(("host", "meant"), AMBIGUOUS_NUMBERS)
def test_ambiguous_numeric_addresses_are_refused(
    host: str, meant: str, listener: CountingListener
) -> None:
    """Issue 11 #12: inet_aton reads these as addresses (octal and hex included), other tools
    differently: refuse rather than guess, and say what the C library would have dialled."""
    with pytest.raises(ProbeInputError, match="ambiguous numeric address") as info:
        smtplab.probe(host, listener.port, timeout=1)
    assert meant in str(info.value)
    with pytest.raises(ProbeInputError):
        smtplab.probe_many([(host, listener.port)], timeout=1)
    assert listener.connections() == 0


@pytest.mark.parametrize("host", ["mail.1example.org", "1e100.net", "0x.example", "127.0.0.8"])
def test_names_with_digits_are_still_names(host: str) -> None:
    from smtplab.engine.options import _check_host

    assert _check_host(host) == host


@pytest.mark.parametrize(
    "auth", [("user", "p" * 9300), ("u" * 9300, "secret-SECRET"), ("user", "é" * 4700)]
)
def test_credentials_too_long_for_an_auth_line_are_refused(
    auth: tuple[str, str], listener: CountingListener
) -> None:
    """Issue 11 #13: credentials too long to send made the probe end in `error` after
    connecting; now they are refused before, with the reason, and without the secret in the
    message. The bound is RFC 4954 §4's 12288 octets for a line of the AUTH exchange."""
    with pytest.raises(ProbeInputError, match=r"too long.*12288") as info:
        smtplab.probe("127.0.0.1", listener.port, auth=auth, timeout=1)
    assert "SECRET" not in str(info.value) and "ppppp" not in str(info.value)
    assert listener.connections() == 0


@pytest.mark.parametrize("length", [300, 3000, 9000])
def test_long_passwords_go_after_the_auth_command(lab: smtplab.Lab, length: int) -> None:
    """A password whose AUTH PLAIN line would pass 512 octets is sent as RFC 4954 §4 says: the
    AUTH command alone, the response after the server's empty 334. A wrong one is refused by the
    server, never by the probe, and appears nowhere in the record."""
    user = lab.credentials[0]
    secret = ("wrong-" + "p" * length)[:length]
    r = smtplab.probe("smtp.lab.example", 587, lab=lab, auth=(user, secret), timeout=2)
    assert r.outcome == "open" and r.error is None and "auth_failed" in codes(r), r.error
    sent = [x.text for x in r.transcript if x.dir == "client"]
    payload = base64.b64encode(("\0" + user + "\0" + secret).encode()).decode()
    one_line = len("AUTH PLAIN " + payload + "\r\n")
    assert ("AUTH PLAIN" in sent) == (one_line > 512), sent
    assert any(s.endswith("[redacted]") for s in sent), sent
    assert length < 3000 or "AUTH PLAIN" in sent  # the long ones took the RFC 4954 way
    assert "pppppppp" not in json.dumps(r.to_record(), default=str)


CLI_BAD = [
    (["probe", "", "-p", "{port}"], "empty"),
    (["probe", "smtp example.org", "-p", "{port}"], "spaces"),
    (["probe", "smtp.example.org\r\nQUIT", "-p", "{port}"], "control"),
    (["probe", "a" * 300, "-p", "{port}"], "253"),
    (["probe", "127.0.0.1", "-p", "0"], "out of range"),
    (["probe", "127.0.0.1", "-p", "65536"], "out of range"),
    (["probe", "127.0.0.1", "-p", "smtp"], "not a number"),
    (["probe", "127.0.0.1", "-p", "-1"], "not a number"),
    (["probe", "127.0.0.1", "-p", "25.5"], "not a number"),
    (["probe", "127.0.0.1", "-p", "{port}", "--ehlo", "x\r\nRCPT TO:<a@b>"], "EHLO"),
    (["probe", "127.0.0.1", "-p", "{port}", "--ehlo", "nul\x00x"], "EHLO"),
    (["probe", "127.0.0.1", "-p", "{port}", "--ehlo", "two words"], "EHLO"),
    (["probe", "127.0.0.1", "-p", "{port}", "--timeout", "soon"], "timeout"),
]


@pytest.mark.parametrize("argv,words", CLI_BAD)
def test_cli_bad_input_exits_2_with_one_line(
    argv: list[str], words: str, listener: CountingListener, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli_main([a.replace("{port}", str(listener.port)) for a in argv])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("smtplab: ") and words in err, err
    assert listener.connections() == 0


def test_cli_bad_input_as_a_real_process(listener: CountingListener) -> None:
    """The same through ``python -m smtplab``: exit status 2, one stderr line, nothing sent."""
    for argv in (
        ["probe", "smtp.example.org\r\nQUIT", "-p", str(listener.port)],
        ["probe", "127.0.0.1", "-p", str(listener.port), "--ehlo", "x\r\nRCPT TO:<a@b>"],
        ["probe", "127.0.0.1", "-p", "65536", "--json"],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "smtplab", *argv],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            cwd=ROOT,
        )
        assert done.returncode == 2 and done.stdout == ""
        assert len(done.stderr.splitlines()) == 1, done.stderr
    assert listener.connections() == 0


def test_idna_name_is_accepted_and_resolved_encoded(
    fake_dns: dict[str, Any], recorder_port: int, tally: Tally
) -> None:
    fake_dns["table"]["xn--bcher-kva.example"] = "127.0.0.1"
    tally.reset()
    r = smtplab.probe("bücher.example", recorder_port, timeout=2)
    assert r.outcome == "open" and r.address == "127.0.0.1", r.error
    assert r.host == "bücher.example"  # the record keeps the name as the learner wrote it
    asked = [a for a in fake_dns["asked"] if a != "127.0.0.1"]
    assert asked and {a.encode("idna") for a in asked} == {b"xn--bcher-kva.example"}
    assert smtplab.probe("xn--bcher-kva.example", recorder_port, timeout=2).outcome == "open"


def test_idna_name_in_the_lab_is_a_result_not_a_crash() -> None:
    with smtplab.Lab() as lab:
        r = smtplab.probe("bücher.lab.example", 587, lab=lab, timeout=1)
    assert r.outcome == "dns_failed" and r.host == "bücher.lab.example"


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback on this machine")
@pytest.mark.parametrize("host", ["::1", "[::1]"])
def test_ipv6_literals_are_probed_on_loopback(host: str, servers: ServerThread) -> None:
    seen: list[str] = []

    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(b"220 v6.test ESMTP\r\n")
            while line := await asyncio.wait_for(reader.readline(), 5):
                seen.append(line.decode().rstrip())
                if line.upper().startswith(b"QUIT"):
                    writer.write(b"221 bye\r\n")
                    await writer.drain()
                    return
                writer.write(b"250-v6.test\r\n250 SIZE 1000\r\n")
                await writer.drain()
        finally:
            writer.close()

    async def start() -> int:
        server = await asyncio.start_server(greet, "::1", 0)
        servers.servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    port = servers.call(start())
    r = smtplab.probe(host, port, timeout=2)
    assert r.outcome == "open" and r.host == "::1" and r.address == "::1", r.error
    assert seen[0] == "EHLO [IPv6:::1]"  # an honest RFC 5321 IPv6 address literal


# ==============================================================================================
# 3. Credentials: used only over TLS, never shown anywhere
# ==============================================================================================


@pytest.fixture(scope="module")
def lab() -> Iterator[smtplab.Lab]:
    with smtplab.Lab() as running:
        yield running


def secrets_of(user: str, password: str) -> list[str]:
    """Every form a secret takes on the wire: the password, AUTH PLAIN's payload, AUTH LOGIN's
    two lines."""
    plain = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
    return [
        password,
        plain,
        base64.b64encode(password.encode()).decode(),
        base64.b64encode(user.encode()).decode(),
        f"\0{user}\0{password}",
    ]


def assert_nothing_leaks(
    r: ProbeResult, secrets: list[str], caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    saved = tmp_path / "records.jsonl"
    texts = shown_texts(r, saved)
    texts["summary"] = r.summary()
    texts["logs"] = caplog.text + "\n".join(
        f"{rec.getMessage()} {rec.args!r} {rec.exc_text or ''}" for rec in caplog.records
    )
    assert_absent(texts, secrets)
    assert smtplab.load_records(saved).iloc[0]["outcome"] == r.outcome


@pytest.mark.parametrize("port", [587, 2525, 465])
def test_lab_login_over_tls_is_redacted_everywhere(
    lab: smtplab.Lab, port: int, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, the lab's aiosmtpd servers included
    user, password = lab.credentials
    ok = smtplab.probe("smtp.lab.example", port, lab=lab, auth=(user, password), timeout=2)
    assert ok.outcome == "open" and "auth_ok" in codes(ok), (ok.error, codes(ok))
    assert ok.tls_version and ok.cert_verified
    assert "AUTH PLAIN [redacted]" in client_lines(ok)
    bad = smtplab.probe("smtp.lab.example", port, lab=lab, auth=(user, password + "x"), timeout=2)
    assert "auth_failed" in codes(bad) and "auth_ok" not in codes(bad)
    assert caplog.records  # the capture really ran (the lab's servers log at DEBUG)
    for r, pw in ((ok, password), (bad, password + "x")):
        assert_nothing_leaks(r, secrets_of(user, pw), caplog, tmp_path)


def test_cleartext_login_is_not_attempted(lab: smtplab.Lab) -> None:
    user, password = lab.credentials
    r = smtplab.probe("legacy.lab.example", 587, lab=lab, auth=(user, password), timeout=2)
    assert r.outcome == "open" and r.tls_mode == "none"
    assert "auth_not_attempted" in codes(r) and "auth_ok" not in codes(r)
    assert not [c for c in client_lines(r) if c.upper().startswith("AUTH")]


def _auth_lines_received(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The command lines the lab's aiosmtpd servers logged as received (``peer >> line``) that
    start an AUTH exchange: the server's own account of what arrived."""
    return [
        rec.getMessage()
        for rec in caplog.records
        if rec.name == "mail.log" and ">> b'auth" in rec.getMessage().lower()
    ]


@pytest.mark.parametrize(
    ("host", "port", "why"),
    [
        ("selfsigned.lab.example", 587, "self-signed"),
        ("selfsigned.lab.example", 465, "self-signed"),
        ("wronghost.lab.example", 587, "name"),
        ("expired.lab.example", 587, "expired"),
    ],
)
def test_no_login_over_a_certificate_that_failed_verification(
    lab: smtplab.Lab, caplog: pytest.LogCaptureFixture, host: str, port: int, why: str
) -> None:
    """Issue 11 #1: credentials cross only a session whose certificate was verified for the name
    dialled. The lab's servers themselves (aiosmtpd logs every line it receives) prove no AUTH
    arrived, while the same capture does see the login to the lab's verified host."""
    caplog.set_level(logging.INFO, logger="mail.log")
    r = smtplab.probe(host, port, lab=lab, auth=lab.credentials, timeout=2)
    assert r.cert_verified is False and r.tls_version, (r.outcome, r.error)
    assert "auth_skipped_unverified" in codes(r) and "auth_ok" not in codes(r), codes(r)
    skipped = next(f for f in r.findings if f.code == "auth_skipped_unverified")
    assert host in skipped.message and why in skipped.message.lower(), skipped.message
    assert not [c for c in client_lines(r) if c.upper().startswith("AUTH")]
    assert _auth_lines_received(caplog) == []
    from smtplab.replaying import differences, replay

    assert differences(r, replay(r)) == []  # the skip replays from the record too
    ok = smtplab.probe("smtp.lab.example", port, lab=lab, auth=lab.credentials, timeout=2)
    assert "auth_ok" in codes(ok) and ok.cert_verified is True
    assert len(_auth_lines_received(caplog)) == 1  # the capture would have seen it


def test_no_login_when_verification_is_turned_off(
    lab: smtplab.Lab, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mail.log")
    r = smtplab.probe("smtp.lab.example", 587, lab=lab, auth=lab.credentials, verify=False)
    assert r.tls_version and r.cert_verified is not True
    assert "auth_skipped_unverified" in codes(r) and "auth_ok" not in codes(r)
    assert _auth_lines_received(caplog) == []


def test_cleartext_login_needs_the_legacy_lab(lab: smtplab.Lab, listener: CountingListener) -> None:
    user, password = lab.credentials
    with pytest.raises(ProbeInputError, match="legacy"):
        smtplab.probe(
            "smtp.lab.example", 587, lab=lab, auth=(user, password), allow_cleartext_auth=True
        )
    with pytest.raises(ProbeInputError, match="legacy"):
        smtplab.probe("127.0.0.1", listener.port, auth=(user, password), allow_cleartext_auth=True)
    with pytest.raises(ProbeInputError, match="legacy"):
        smtplab.probe_many(
            [("127.0.0.1", listener.port)], auth=(user, password), allow_cleartext_auth=True
        )
    assert listener.connections() == 0


def test_cleartext_login_to_the_legacy_lab_is_still_redacted(
    lab: smtplab.Lab, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    user, password = lab.credentials
    r = smtplab.probe(
        "legacy.lab.example",
        587,
        lab=lab,
        auth=(user, password),
        allow_cleartext_auth=True,
        timeout=2,
    )
    assert "auth_ok" in codes(r) and r.tls_mode == "none"
    assert any("CLEARTEXT" in f.message for f in r.findings if f.code == "auth_ok")
    assert "AUTH PLAIN [redacted]" in client_lines(r)
    assert_nothing_leaks(r, secrets_of(user, password), caplog, tmp_path)


@pytest.fixture(scope="module")
def login_only_port(servers: ServerThread, certs: Certs) -> int:
    """aiosmtpd with STARTTLS that offers AUTH LOGIN only (PLAIN excluded)."""
    return servers.smtp(ssl_ctx=certs.server_context(), auth_exclude_mechanism=["PLAIN"])


@pytest.fixture(scope="module")
def cafile(certs: Certs, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("sec-ca") / "ca.pem"
    path.write_text(certs.ca_pem)
    return str(path)


def test_auth_login_continuation_lines_are_redacted(
    login_only_port: int, cafile: str, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    r = smtplab.probe("127.0.0.1", login_only_port, auth=(USER, PASSWORD), cafile=cafile, timeout=2)
    assert r.auth_after_tls == ("LOGIN",) and "auth_ok" in codes(r), (r.error, codes(r))
    lines = client_lines(r)
    i = lines.index("AUTH LOGIN")
    assert lines[i + 1 : i + 3] == ["[redacted]", "[redacted]"] and lines[i + 3] == "QUIT"
    assert_nothing_leaks(r, secrets_of(USER, PASSWORD), caplog, tmp_path)
    bad = smtplab.probe(
        "127.0.0.1", login_only_port, auth=(USER, "nope-" + PASSWORD), cafile=cafile, timeout=2
    )
    assert "auth_failed" in codes(bad)
    assert_nothing_leaks(bad, secrets_of(USER, "nope-" + PASSWORD), caplog, tmp_path)


def test_secret_sent_really_is_the_one_redacted(
    servers: ServerThread,
    certs: Certs,
    cafile: str,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    """A server that drops the connection on AUTH: the probe's error names AUTH, not the
    payload, while the server proves the real payload went out (over TLS)."""
    if not has_stream_start_tls():
        pytest.skip("StreamWriter.start_tls needs Python 3.11")
    got: list[bytes] = []

    drop_on_auth = starttls_server(certs, b"drop.test", answer_auth(got, lambda: None))
    caplog.set_level(logging.DEBUG)
    port = servers.raw(drop_on_auth)
    r = smtplab.probe("127.0.0.1", port, auth=(USER, PASSWORD), cafile=cafile, timeout=2)
    payload = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode()
    assert got == [f"AUTH PLAIN {payload}".encode()]
    assert r.outcome == "reset" and "AUTH" in (r.error or ""), r.error
    assert_nothing_leaks(r, secrets_of(USER, PASSWORD), caplog, tmp_path)


def test_no_credentials_are_sent_unless_asked(lab: smtplab.Lab) -> None:
    results = smtplab.probe_many([(e.host, e.port) for e in lab.endpoints], lab=lab, timeout=1)
    assert any(r.auth_before_tls or r.auth_after_tls for r in results)  # AUTH was on offer
    for r in results:
        assert not [c for c in client_lines(r) if c.upper().startswith("AUTH")], r.host
        assert not {"auth_ok", "auth_failed", "auth_not_attempted"} & codes(r)
    # (test_hostile checks the same for every hostile server, AUTH offered or not)


# ==============================================================================================
# 5. Politeness: concurrency per host, rate, honest EHLO, relay check only when asked, never DATA
# ==============================================================================================


def test_per_host_limit(recorder_port: int, tally: Tally) -> None:
    tally.reset(hold=0.15)
    rs = smtplab.probe_many(
        [("127.0.0.1", recorder_port)] * 8, per_host=2, concurrency=64, timeout=2
    )
    assert [r.outcome for r in rs] == ["open"] * 8
    assert len(tally.accepted_at) == 8
    assert tally.max_active == 2  # never more, and the limit really allowed two side by side


def test_concurrency_is_used_without_a_per_host_limit(recorder_port: int, tally: Tally) -> None:
    """The counter-check: the same batch with per_host=8 overlaps more (so the test above can
    fail)."""
    tally.reset(hold=0.15)
    smtplab.probe_many([("127.0.0.1", recorder_port)] * 8, per_host=8, timeout=2)
    assert tally.max_active > 2


def test_rate_limit_spaces_new_connections(recorder_port: int, tally: Tally) -> None:
    """What is promised is the spacing of new connections: each probe starts (its record's
    ``started_at``, stamped as the limiter lets it go) at least 1/rate after the one before.
    That is the limiter's own clock, so a busy runner can only make the gaps longer; the
    server's accept times, which a loaded scheduler can bunch up, only count the connections."""
    from datetime import datetime

    tally.reset()
    rs = smtplab.probe_many([("127.0.0.1", recorder_port)] * 10, rate=5, per_host=10, timeout=2)
    assert [r.outcome for r in rs] == ["open"] * 10
    assert len(tally.accepted_at) == 10
    starts = sorted(datetime.fromisoformat(r.started_at).timestamp() for r in rs)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= 0.2 - 0.005, gaps  # 1/5 s apart (5 ms for wall vs monotonic clock)


def test_rate_limit_leaves_loopback_unspaced(recorder_port: int, tally: Tally) -> None:
    """The counter-check: without a rate the same batch starts at once (so the test above can
    fail)."""
    from datetime import datetime

    rs = smtplab.probe_many([("127.0.0.1", recorder_port)] * 10, per_host=10, timeout=2)
    starts = sorted(datetime.fromisoformat(r.started_at).timestamp() for r in rs)
    assert min(b - a for a, b in itertools.pairwise(starts)) < 0.1


@pytest.fixture
def tripwire(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The real connect and name lookup behind conftest's guard, replaced for one test by a
    tripwire that records the call and sends nothing: a guard that let an address through would
    fail the test without a packet leaving the machine."""
    guard = next(
        m for m in sys.modules.values()
        if getattr(m, "__file__", "") and m.__file__.endswith(os.path.join("tests", "conftest.py"))
    )  # fmt: skip
    reached: list[object] = []

    def trip(*args: object, **kwargs: object) -> NoReturn:
        reached.append(args)
        raise OSError(errno.EHOSTUNREACH, "tripwire: the guard let this through")

    for name in ("_real_connect", "_real_connect_ex", "_real_getaddrinfo"):
        monkeypatch.setattr(guard, name, trip)
    return reached


# Documentation addresses only (RFC 5737, RFC 3849): nothing real is ever named, let alone dialled.
@pytest.mark.parametrize("address", ["192.0.2.1", "203.0.113.7", "2001:db8::25"])
def test_the_suite_never_leaves_loopback_even_for_address_literals(
    address: str, tripwire: list[object]
) -> None:
    """conftest's guard: an address literal skips name lookup (asyncio connects to it
    directly), so connect itself refuses anything beyond loopback."""
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo(address, 25)
    with pytest.raises(OSError, match="beyond loopback"):
        socket.create_connection((address, 25), timeout=0.5)
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family) as s, pytest.raises(OSError, match="beyond loopback"):
        s.connect((address, 25))  # no lookup at all: connect itself refuses
    with pytest.raises(OSError, match="beyond loopback"):  # asyncio skips getaddrinfo for literals
        asyncio.run(asyncio.wait_for(asyncio.open_connection(address, 25), 2))
    r = smtplab.probe(address, 25, timeout=1)
    assert r.outcome in ("dns_failed", "unreachable") and "loopback" in (r.error or ""), r.error
    assert r.connect_ms is None
    assert tripwire == []  # the guard refused every one before the real call


def test_default_rate_for_hosts_that_are_not_this_machine(
    fake_dns: dict[str, Any], recorder_port: int, tally: Tally
) -> None:
    """A host name that is not loopback (resolved here, by the fake resolver, to 127.0.0.1)
    gets the default politeness of 10 new connections per second."""
    fake_dns["table"]["mx.polite.test"] = "127.0.0.1"
    tally.reset()
    rs = smtplab.probe_many([("mx.polite.test", recorder_port)] * 5, per_host=5, timeout=2)
    assert [r.outcome for r in rs] == ["open"] * 5
    at = sorted(tally.accepted_at)
    assert min(b - a for a, b in itertools.pairwise(at)) >= 0.04 and at[-1] - at[0] >= 0.33


def test_honest_ehlo_and_no_relay_check_unless_asked(recorder_port: int, tally: Tally) -> None:
    tally.reset()
    r = smtplab.probe("127.0.0.1", recorder_port, timeout=2)
    assert r.outcome == "open" and r.relay_check == "not_run"
    assert tally.settled_verbs() == ["EHLO", "QUIT"]
    assert tally.commands[0] == "EHLO [127.0.0.1]"  # our own address, as an address literal


def test_relay_check_sends_mail_rcpt_rset_and_never_data(recorder_port: int, tally: Tally) -> None:
    tally.reset()
    r = smtplab.probe("127.0.0.1", recorder_port, relay_check=True, timeout=2)
    assert r.relay_check == "accepted" and "open_relay" in codes(r)
    assert tally.settled_verbs() == ["EHLO", "MAIL", "RCPT", "RSET", "QUIT"]
    assert tally.commands[2] == f"RCPT TO:<{RELAY_CHECK_RCPT}>"
    assert RELAY_CHECK_RCPT.endswith("@example.net")  # RFC 2606: can never be delivered


def test_relay_check_against_aiosmtpd_open_relay_delivers_nothing(servers: ServerThread) -> None:
    sink = Sink()
    port = servers.smtp(handler=sink)  # aiosmtpd's default: any RCPT is accepted
    r = smtplab.probe("127.0.0.1", port, relay_check=True, timeout=2)
    assert r.relay_check == "accepted"
    assert not [c for c in client_lines(r) if c.upper().startswith(("DATA", "BDAT"))]
    assert sink.messages == []


def test_lab_relay_is_denied(lab: smtplab.Lab) -> None:
    r = smtplab.probe("mx.lab.example", 25, lab=lab, relay_check=True, timeout=2)
    assert r.outcome == "open" and r.relay_check == "denied"
    assert not [c for c in client_lines(r) if c.upper().startswith("DATA")]
    assert not [m for m in lab.outbox if RELAY_CHECK_RCPT in m.rcpt_tos]


# ==============================================================================================
# 6. The lab's safe defaults (a cross-check; tests/test_lab.py tests each limit in depth)
# ==============================================================================================


def test_lab_defaults_are_loopback_and_bounded(lab: smtplab.Lab) -> None:
    assert all(ipaddress.ip_address(e.address[0]).is_loopback for e in lab.endpoints)
    assert 0 < lab.max_message_size <= 50_000_000
    assert 0 < lab.max_connections <= 1000
    with smtplab.Lab() as other:  # credentials are random per lab, not a shared default
        assert other.credentials[1] != lab.credentials[1]
