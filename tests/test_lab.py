"""The embedded mail lab: real clients doing real work against it, and its network behaviours.

Everything here talks to loopback only. Module-scoped labs keep the file fast; tests that need
special limits start their own small lab.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import os
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smtplab import labworld
from smtplab.cli.lab_view import lab_advice, point_line
from smtplab.lab import Endpoint, Lab, LabError, certs, scenarios

REQUIRED_SCENARIOS = (
    "open-internet",
    "home-isp",
    "cloud-vm",
    "strict-firewall",
    "hotel-wifi",
    "hosting-provider",
)
SUBJECT = "Hello from the lab tests"


def message(to: str = "friend@example.org", sender: str = "student@lab.example") -> str:
    return f"From: {sender}\r\nTo: {to}\r\nSubject: {SUBJECT}\r\n\r\nHi!\r\n"


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    """The classroom scenario: every profile and every server-side behaviour, on an open network."""
    with Lab("classroom") as lab:
        yield lab


@pytest.fixture(scope="module")
def hotel() -> Iterator[Lab]:
    """hotel-wifi: 25 intercepted, 587 filtered, 465 and 2525 open."""
    with Lab("hotel-wifi") as lab:
        yield lab


class StdlibSMTP(smtplib.SMTP):
    """Plain stdlib smtplib: connect to the real socket, verify TLS against the logical name.

    smtplib hands ``self._host`` to ``ssl.wrap_socket(server_hostname=...)`` in starttls(), so we
    set it to the logical host once the TCP connection to the loopback socket is made.
    """

    def __init__(self, address: tuple[str, int], logical_host: str) -> None:
        self._logical = logical_host
        super().__init__(*address, local_hostname="client.test", timeout=5)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock: socket.socket = super()._get_socket(host, port, timeout)  # type: ignore[misc]
        self._host = self._logical
        return sock


class StdlibSMTP_SSL(smtplib.SMTP_SSL):
    """stdlib SMTP_SSL (implicit TLS) verifying against the logical name."""

    def __init__(
        self, address: tuple[str, int], logical_host: str, context: ssl.SSLContext
    ) -> None:
        self._logical = logical_host
        super().__init__(*address, local_hostname="client.test", timeout=5, context=context)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        self._host = self._logical
        sock: socket.socket = super()._get_socket(host, port, timeout)  # type: ignore[misc]
        return sock


def verifying_context(lab: Lab) -> ssl.SSLContext:
    ctx = ssl.create_default_context()  # verification and host name checks ON
    ctx.load_verify_locations(cadata=lab.ca_pem)
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    return ctx


def outbox_with_subject(lab: Lab, subject: str) -> list:
    return [m for m in lab.outbox if m.subject == subject]


# --------------------------------------------------------------------------- the contract


def test_scenarios_are_listed_with_readable_paragraphs() -> None:
    sc = scenarios()
    assert next(iter(sc)) == labworld.DEFAULT_SCENARIO == "open-internet"
    for name in REQUIRED_SCENARIOS:
        assert name in sc
    for name, paragraph in sc.items():
        assert len(paragraph.split()) > 30, name
        assert paragraph.endswith("."), name
    assert "refused" in sc["hosting-provider"]  # the paragraph says which kind of block it is


def test_endpoint_table(lab: Lab) -> None:
    assert lab.running and lab.scenario == "classroom" and lab.vantage == "lab:classroom"
    assert lab.hosts[:3] == ("mx.lab.example", "smtp.lab.example", "legacy.lab.example")
    eps = lab.endpoints
    assert len(eps) == len(lab.hosts) * 4
    assert {(e.host, e.port) for e in eps} == {
        (h, p) for h in lab.hosts for p in (25, 465, 587, 2525)
    }
    for e in eps:
        assert isinstance(e, Endpoint)
        assert e.address[0] == "127.0.0.1" and e.address[1] > 0
        assert e.description.endswith(".")
        assert lab.address(e.host, e.port) == e.address
    assert len({e.address for e in eps}) == len(eps)  # one real socket per endpoint
    with pytest.raises(dataclasses.FrozenInstanceError):
        eps[0].port = 1  # type: ignore[misc]
    smtp587 = lab.endpoint("smtp.lab.example", 587)
    assert (smtp587.profile, smtp587.behaviour, smtp587.certificate) == (
        "submission",
        "open",
        "lab-ca",
    )


def test_address_lookup_rules(lab: Lab) -> None:
    real = lab.address("smtp.lab.example", 587)
    assert lab.address("SMTP.Lab.Example.", 587) == real
    with pytest.raises(LabError) as info:
        lab.address("smtp.gmail.com", 587)
    assert isinstance(info.value, LookupError)
    assert "mx.lab.example" in str(info.value) and "smtp.lab.example" in str(info.value)
    # A known host on a port the lab does not serve: reserved, nothing listening -> refused.
    for port in (80, 8025):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(lab.address("mx.lab.example", port), timeout=1).close()
    with pytest.raises(ValueError):
        lab.address("mx.lab.example", 70000)
    with pytest.raises(LabError):
        Lab("no-such-network")


def test_credentials_and_ca(lab: Lab) -> None:
    user, password = lab.credentials
    assert user == "student" and len(password) >= 10
    assert Lab().credentials[1] != password  # random per lab
    assert lab.ca_pem.startswith("-----BEGIN CERTIFICATE-----")
    ssl.create_default_context(cadata=lab.ca_pem)  # loads as a trust anchor


def test_describe_tells_how_to_connect(lab: Lab) -> None:
    text = lab.describe()
    ip, port = lab.address("smtp.lab.example", 587)
    assert f"{ip}:{port}" in text
    assert lab.credentials[1] in text
    assert "classroom" in text and "tarpit.lab.example" in text
    assert "not running" in Lab("home-isp").describe()


# --------------------------------------------------------------------------- real clients


@pytest.mark.parametrize("port", [587, 2525])
def test_smtplib_submits_with_starttls_and_auth(lab: Lab, port: int) -> None:
    subject = f"{SUBJECT} via {port}"
    with StdlibSMTP(lab.address("smtp.lab.example", port), "smtp.lab.example") as client:
        client.starttls(context=verifying_context(lab))
        client.login(*lab.credentials)
        client.sendmail(
            "student@lab.example", ["friend@example.org"], message().replace(SUBJECT, subject)
        )
    (msg,) = outbox_with_subject(lab, subject)
    assert (msg.host, msg.port, msg.tls, msg.auth_user) == (
        "smtp.lab.example",
        port,
        True,
        "student",
    )
    assert msg.mail_from == "student@lab.example" and msg.rcpt_tos == ("friend@example.org",)
    assert msg.headers["To"] == "friend@example.org" and msg.size > 0 and msg.received_at.tzinfo


def test_smtplib_submits_with_implicit_tls_on_465(lab: Lab) -> None:
    subject = f"{SUBJECT} via 465"
    address = lab.address("smtp.lab.example", 465)
    with StdlibSMTP_SSL(address, "smtp.lab.example", verifying_context(lab)) as client:
        code, ehlo = client.ehlo()
        assert code == 250 and b"AUTH LOGIN PLAIN" in ehlo  # aiosmtpd #274/#281 worked around
        client.login(*lab.credentials)
        client.sendmail(
            "student@lab.example", ["friend@example.org"], message().replace(SUBJECT, subject)
        )
    (msg,) = outbox_with_subject(lab, subject)
    assert (msg.port, msg.tls, msg.auth_user) == (465, True, "student")


def test_lab_smtp_helper_gives_verified_clients(lab: Lab) -> None:
    with lab.smtp("smtp.lab.example", 465) as client:
        assert isinstance(client, smtplib.SMTP_SSL)
        client.login(*lab.credentials)
    with lab.smtp("smtp.lab.example", 587) as client:
        client.starttls(context=lab.ssl_context())
        client.login(*lab.credentials)


@pytest.mark.parametrize(
    ("host", "error"),
    [
        ("expired.lab.example", "expired"),
        ("selfsigned.lab.example", "self-signed"),
        ("wronghost.lab.example", "mismatch"),
    ],
)
def test_bad_certificates_fail_verification(lab: Lab, host: str, error: str) -> None:
    with pytest.raises(ssl.SSLCertVerificationError, match=error):
        StdlibSMTP_SSL(lab.address(host, 465), host, verifying_context(lab)).close()
    with (
        StdlibSMTP(lab.address(host, 587), host) as client,
        pytest.raises(ssl.SSLCertVerificationError, match=error),
    ):
        client.starttls(context=verifying_context(lab))
    # The good certificate of the same lab verifies (so the failure is the certificate's fault).
    StdlibSMTP_SSL(
        lab.address("smtp.lab.example", 465), "smtp.lab.example", verifying_context(lab)
    ).quit()


SWAKS = shutil.which("swaks")
needs_swaks = pytest.mark.skipif(
    SWAKS is None, reason="Debian's swaks is not installed (apt-get install swaks; CI installs it)"
)


def swaks(
    lab: Lab, host: str, port: int, *args: str, ca_file: Path
) -> subprocess.CompletedProcess[str]:
    ip, real = lab.address(host, port)
    assert SWAKS is not None
    return subprocess.run(
        [
            SWAKS,
            "--server",
            f"{ip}:{real}",
            "--tls-verify",
            "--tls-ca-path",
            str(ca_file),
            "--tls-sni",
            host,
            "--helo",
            "client.test",
            "--timeout",
            "10",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@needs_swaks
@pytest.mark.parametrize(("port", "tls_option"), [(587, "--tls"), (2525, "--tls"), (465, "--tlsc")])
def test_swaks_submits(lab: Lab, tmp_path: Path, port: int, tls_option: str) -> None:
    ca_file = tmp_path / "lab-ca.pem"
    ca_file.write_text(lab.ca_pem)
    user, password = lab.credentials
    subject = f"swaks on {port}"
    done = swaks(
        lab,
        "smtp.lab.example",
        port,
        tls_option,
        "--auth",
        "LOGIN",
        "--auth-user",
        user,
        "--auth-password",
        password,
        "--from",
        "student@lab.example",
        "--to",
        "friend@example.org",
        "--h-Subject",
        subject,
        ca_file=ca_file,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (msg,) = outbox_with_subject(lab, subject)
    assert (msg.port, msg.tls, msg.auth_user, msg.rcpt_tos) == (
        port,
        True,
        "student",
        ("friend@example.org",),
    )


@needs_swaks
def test_swaks_verification_rejects_untrusted_certificate(lab: Lab, tmp_path: Path) -> None:
    # swaks 20201014 verifies the chain (not the host name), so self-signed and expired fail.
    ca_file = tmp_path / "lab-ca.pem"
    ca_file.write_text(lab.ca_pem)
    for host in ("selfsigned.lab.example", "expired.lab.example"):
        done = swaks(lab, host, 465, "--tlsc", "--quit-after", "EHLO", ca_file=ca_file)
        assert done.returncode != 0, host


# --------------------------------------------------------------------------- profile rules


def test_relay_refuses_foreign_domains_and_accepts_its_own(lab: Lab) -> None:
    with StdlibSMTP(lab.address("mx.lab.example", 25), "mx.lab.example") as client:
        code, ehlo = client.ehlo()
        assert b"STARTTLS" in ehlo and b"AUTH" not in ehlo
        assert client.mail("someone@example.net")[0] == 250
        code, text = client.rcpt("friend@example.org")
        assert (code, text.startswith(b"5.7.1")) == (554, True) and b"Relay access denied" in text
        assert client.rcpt("postmaster@lab.example")[0] == 250
        code, _ = client.data(message(to="postmaster@lab.example").replace(SUBJECT, "to the relay"))
        assert code == 250
        client.starttls(context=verifying_context(lab))
        code, ehlo = client.ehlo()
        assert b"AUTH" not in ehlo  # a relay offers no AUTH, not even under TLS
        assert client.docmd("AUTH", "PLAIN AHN0dWRlbnQAeA==")[0] == 504
    (msg,) = outbox_with_subject(lab, "to the relay")
    assert (msg.host, msg.port, msg.tls, msg.auth_user) == ("mx.lab.example", 25, False, None)
    assert msg.rcpt_tos == ("postmaster@lab.example",)


def test_submission_needs_starttls_then_auth(lab: Lab) -> None:
    with StdlibSMTP(lab.address("smtp.lab.example", 587), "smtp.lab.example") as client:
        code, ehlo = client.ehlo()
        assert b"STARTTLS" in ehlo and b"AUTH" not in ehlo  # no AUTH before STARTTLS
        assert client.mail("student@lab.example")[0] == 530
        assert client.docmd("AUTH", "PLAIN AHN0dWRlbnQAeA==")[0] == 530
        client.starttls(context=verifying_context(lab))
        code, ehlo = client.ehlo()
        assert b"AUTH LOGIN PLAIN" in ehlo and b"STARTTLS" not in ehlo
        code, text = client.mail("student@lab.example")
        assert code == 530 and b"Authentication required" in text
        with pytest.raises(smtplib.SMTPAuthenticationError) as info:
            client.login(lab.credentials[0], "wrong password")
        assert info.value.smtp_code == 535


def test_legacy_offers_auth_in_cleartext(lab: Lab) -> None:
    for port in (25, 587):
        with StdlibSMTP(lab.address("legacy.lab.example", port), "legacy.lab.example") as client:
            _, ehlo = client.ehlo()
            assert b"AUTH LOGIN PLAIN" in ehlo and b"STARTTLS" not in ehlo
            client.login(*lab.credentials)  # over cleartext: the lesson
            client.sendmail(
                "student@lab.example",
                ["friend@example.org"],
                message().replace(SUBJECT, f"legacy {port}"),
            )
    (msg,) = outbox_with_subject(lab, "legacy 587")
    assert (msg.tls, msg.auth_user) == (False, "student")


def test_greetings_name_the_logical_host(lab: Lab, hotel: Lab) -> None:
    for host, port in (
        ("mx.lab.example", 25),
        ("smtp.lab.example", 587),
        ("legacy.lab.example", 25),
    ):
        with socket.create_connection(lab.address(host, port), timeout=2) as s:
            assert s.recv(200).startswith(f"220 {host} ".encode())
    for host in hotel.hosts:  # the intercepting proxy answers for every host on 25
        with socket.create_connection(hotel.address(host, 25), timeout=2) as s:
            assert s.recv(200) == b"220 smtp.isp-filter.example ESMTP\r\n"


def test_outbox_is_thread_safe(lab: Lab) -> None:
    def send(i: int) -> None:
        with lab.smtp("smtp.lab.example", 465) as client:
            client.login(*lab.credentials)
            client.sendmail(
                "student@lab.example", ["a@example.org"], message().replace(SUBJECT, f"thread {i}")
            )

    threads = [threading.Thread(target=send, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = {m.subject for m in lab.outbox if (m.subject or "").startswith("thread ")}
    assert got == {f"thread {i}" for i in range(12)}


# --------------------------------------------------------------------------- network behaviours


def test_refused_is_a_tcp_reset(lab: Lab) -> None:
    ep = lab.endpoint("mx.lab.example", 587)
    assert ep.behaviour == "refused" and ep.expected == "refused"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(ep.address, timeout=1).close()


def test_filtered_times_out_like_a_drop_rule(hotel: Lab) -> None:
    ep = hotel.endpoint("smtp.lab.example", 587)
    assert ep.behaviour == "filtered" and ep.expected == "filtered"
    for _ in range(2):  # stays filtered: the queue is still full after a timed-out attempt
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            socket.create_connection(ep.address, timeout=1).close()
        assert time.monotonic() - start >= 0.9


def test_silent_connects_and_never_speaks(lab: Lab) -> None:
    ep = lab.endpoint("tarpit.lab.example", 25)
    assert ep.behaviour == "silent"
    with socket.create_connection(ep.address, timeout=1) as s:
        s.sendall(b"EHLO client.test\r\n")
        with pytest.raises(TimeoutError):
            s.recv(100)


def test_slow_greets_after_the_delay(lab: Lab) -> None:
    ep = lab.endpoint("slow.lab.example", 25)
    assert ep.behaviour == "slow" and ep.expected == "open"
    start = time.monotonic()
    with socket.create_connection(ep.address, timeout=5) as s:
        data = s.recv(200)
    elapsed = time.monotonic() - start
    assert data.startswith(b"220 slow.lab.example ")
    assert 1.9 <= elapsed < 4.5


@pytest.mark.parametrize("name", list(labworld.SCENARIOS))
def test_every_scenario_resolves_the_network_per_port(name: str) -> None:
    sc = labworld.SCENARIOS[name]
    for plan in labworld.plan(sc):
        net = sc.behaviour_on(plan.port)
        served = plan.port in labworld.HOSTS[plan.host]
        if net == "strip" and not served:
            assert plan.behaviour == "refused"  # a middlebox relays to nothing: the port is closed
        elif net != "open":
            assert plan.behaviour == net  # the network applies to every host on that port
    behaviours = {(p.host, p.port): p.behaviour for p in labworld.plan(sc)}
    if name in ("home-isp", "cloud-vm"):
        assert (
            behaviours["mx.lab.example", 25] == behaviours["legacy.lab.example", 25] == "filtered"
        )
    if name == "strict-firewall":
        assert {b for (h, p), b in behaviours.items() if p != 465} == {"filtered"}
        assert behaviours["smtp.lab.example", 465] == "open"
    if name == "hotel-wifi":
        assert behaviours["mx.lab.example", 25] == "intercept"
        assert behaviours["smtp.lab.example", 587] == "filtered"
        assert behaviours["smtp.lab.example", 465] == behaviours["smtp.lab.example", 2525] == "open"
    if name == "campus-dpi":
        assert behaviours["smtp.lab.example", 587] == behaviours["mx.lab.example", 25] == "strip"
        assert behaviours["smtp.lab.example", 465] == "open"


# --------------------------------------------------------------------------- limits and safety


def test_message_size_limit() -> None:
    with Lab(max_message_size=2000) as small:
        with small.smtp("smtp.lab.example", 465) as client:
            client.login(*small.credentials)
            assert "SIZE 2000" in (client.ehlo_resp or b"").decode()
            with pytest.raises(smtplib.SMTPException) as info:
                client.sendmail("student@lab.example", ["a@example.org"], message() + "x" * 5000)
            assert "552" in str(info.value)
        assert small.outbox == []


def test_connection_limit_says_421() -> None:
    with Lab(max_connections=2) as small:
        address = small.address("mx.lab.example", 25)
        held = [socket.create_connection(address, timeout=2) for _ in range(2)]
        try:
            for s in held:
                assert s.recv(100).startswith(b"220 ")
            with socket.create_connection(address, timeout=2) as extra:
                assert extra.recv(100) == b"421 4.7.0 Too many connections\r\n"
        finally:
            for s in held:
                s.close()
        deadline = time.monotonic() + 3
        while True:  # once the held ones are gone, there is room again
            with socket.create_connection(address, timeout=2) as again:
                if again.recv(100).startswith(b"220 "):
                    break
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_binds_loopback_only_by_default(lab: Lab) -> None:
    assert {e.address[0] for e in lab.endpoints} == {"127.0.0.1"}


def test_binds_ipv6_loopback_when_asked() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this system")
    try:
        probe = socket.socket(socket.AF_INET6)
        probe.bind(("::1", 0))
        probe.close()
    except OSError:
        pytest.skip("no IPv6 loopback on this system")
    with Lab("home-isp", bind="::1") as lab6:
        ip, port = lab6.address("smtp.lab.example", 587)
        assert ip == "::1"
        with socket.create_connection((ip, port), timeout=2) as s:
            assert s.recv(100).startswith(b"220 smtp.lab.example")
        with pytest.raises(TimeoutError):
            socket.create_connection(lab6.address("mx.lab.example", 25), timeout=1).close()


def test_real_ports_when_allowed() -> None:
    try:
        with Lab("open-internet", real_ports=True) as real:
            assert real.address("mx.lab.example", 25) == ("127.0.0.25", 25)
            assert real.address("smtp.lab.example", 587) == ("127.0.0.87", 587)
            with real.smtp("smtp.lab.example", 587) as client:
                client.starttls(context=real.ssl_context())
                client.login(*real.credentials)
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(real.address("mx.lab.example", 587), timeout=1).close()
    except PermissionError as e:
        pytest.skip(f"cannot bind low ports here: {e}")
    except OSError as e:  # e.g. port 25 already taken by a local MTA
        pytest.skip(f"real ports unavailable: {e}")


# --------------------------------------------------------------------------- lifecycle


def test_start_and_stop_are_idempotent() -> None:
    lab = Lab("home-isp")
    lab.stop()  # before start: fine
    assert lab.start() is lab
    first = lab.endpoints
    assert lab.start() is lab and lab.endpoints == first  # second start: no-op
    lab.stop()
    lab.stop()
    assert not lab.running and lab.endpoints == []
    with pytest.raises(LabError, match="not running"):
        lab.address("smtp.lab.example", 587)
    with lab, socket.create_connection(lab.address("smtp.lab.example", 587), timeout=2) as s:
        assert s.recv(100).startswith(b"220 ")


def test_lab_starts_inside_a_running_event_loop() -> None:
    async def notebook_cell() -> bytes:
        lab = Lab("cloud-vm").start()  # as in a Jupyter cell: a loop is already running
        try:
            reader, writer = await asyncio.open_connection(*lab.address("smtp.lab.example", 2525))
            greeting = await asyncio.wait_for(reader.readline(), 2)
            writer.close()
            await writer.wait_closed()
            return greeting
        finally:
            lab.stop()

    assert asyncio.run(notebook_cell()).startswith(b"220 smtp.lab.example")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def lab_temp_files() -> set[str]:
    return {n for n in os.listdir(tempfile.gettempdir()) if n.startswith("smtplab")}


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts open files with /proc")
def test_fifty_start_stop_cycles_leave_nothing_behind() -> None:
    Lab("hotel-wifi").start().stop()  # warm the per-process certificate cache
    gc.collect()
    threads, fds, temps = threading.active_count(), open_fds(), lab_temp_files()
    names = list(labworld.SCENARIOS)
    started = time.monotonic()
    for i in range(50):
        lab = Lab(names[i % len(names)]).start()
        if i % 10 == 0:  # with a live client connection now and then
            s = socket.create_connection(lab.address("smtp.lab.example", 465), timeout=2)
            lab.stop()
            s.close()
        else:
            lab.stop()
    gc.collect()
    assert threading.active_count() == threads
    assert open_fds() == fds
    assert lab_temp_files() == temps
    assert time.monotonic() - started < 25  # well under a second each


def test_each_scenario_starts_fast() -> None:
    Lab().start().stop()  # warm the certificate cache
    for name in labworld.SCENARIOS:
        start = time.perf_counter()
        lab = Lab(name).start()
        elapsed = time.perf_counter() - start
        lab.stop()
        assert elapsed < 0.5, (name, elapsed)


def test_failed_start_cleans_up(monkeypatch: pytest.MonkeyPatch) -> None:
    gc.collect()
    threads, fds = threading.active_count(), open_fds()

    def broken(host: str, kind: str = "lab-ca") -> ssl.SSLContext:
        raise RuntimeError("certificate store on fire")

    monkeypatch.setattr(certs, "server_context", broken)
    lab = Lab("open-internet")
    with pytest.raises(RuntimeError, match="on fire"):
        lab.start()
    assert not lab.running
    lab.stop()  # safe after a failed start
    gc.collect()
    assert threading.active_count() == threads and open_fds() == fds
    monkeypatch.undo()
    with lab:  # and the same lab starts fine afterwards
        assert lab.running


def test_forgotten_lab_is_stopped_when_collected() -> None:
    threads = threading.active_count()
    lab = Lab("home-isp").start()
    assert threading.active_count() == threads + 1
    del lab
    gc.collect()
    assert threading.active_count() == threads


def run_python(code: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_lab_left_running_at_exit_is_stopped() -> None:
    # A kernel restart kills the process; the next one must start a lab with no leftovers.
    code = (
        "from smtplab.lab import Lab; lab = Lab('hotel-wifi').start(); "
        "print(lab.address('smtp.lab.example', 587)[1])"
    )
    for _ in range(2):
        p = run_python(code)
        out, err = p.communicate(timeout=30)
        assert p.returncode == 0 and out.strip().isdigit(), err
        assert err == ""


def test_the_lab_command_serves_until_ctrl_c(tmp_path: Path) -> None:
    """``smtplab lab`` in a pipe: the table, the advice's line, the CA as a file (not printed),
    and Ctrl-C stops it cleanly."""
    p = subprocess.Popen(
        [sys.executable, "-m", "smtplab", "lab", "--scenario", "home-isp", "--dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert p.stdout is not None
    lines = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = p.stdout.readline()
        lines.append(line)
        if line.startswith("Inbox:") or not line:
            break
    text = "".join(lines)
    assert "scenario home-isp" in text and "student" in text
    assert "BEGIN CERTIFICATE" not in text  # the CA is a file, named
    assert f"CA: {tmp_path / 'lab-ca.pem'} " in text
    assert (tmp_path / "lab-ca.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert (tmp_path / "password").read_text().strip() in text
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=20)
    assert p.returncode == 0, err
    assert "Lab stopped." in out and err == ""


# --------------------------------------------------------------------------- one source of advice

# What a careful mail administrator would advise in each scenario, written from the scenario's
# network (not from the code): (recommended port or None, fallbacks, verdict per port).
# Mail programs are advised on smtp.lab.example, a mail server on its MX, mx.lab.example.
_CLIENT_OPEN = (465, (587, 2525), {25: "not offered", 465: "works", 587: "works", 2525: "works"})
_SERVER_OPEN = (25, (), {25: "works", 465: "not offered", 587: "not offered", 2525: "not offered"})
_CLIENT_NO_25 = _CLIENT_OPEN


def _server_without_25(verdict: str) -> tuple[None, tuple[int, ...], dict[int, str]]:
    return (None, (), {**_SERVER_OPEN[2], 25: verdict})


EXPECTED_ADVICE: dict[str, dict[str, tuple[int | None, tuple[int, ...], dict[int, str]]]] = {
    "open-internet": {"client": _CLIENT_OPEN, "server": _SERVER_OPEN},
    "home-isp": {"client": _CLIENT_NO_25, "server": _server_without_25("blocked here")},
    "cloud-vm": {"client": _CLIENT_NO_25, "server": _server_without_25("blocked here")},
    "strict-firewall": {
        "client": (
            465,
            (),
            {25: "not offered", 465: "works", 587: "blocked here", 2525: "blocked here"},
        ),
        "server": _server_without_25("blocked here"),
    },
    "hotel-wifi": {
        "client": (
            465,
            (2525,),
            {25: "intercepted", 465: "works", 587: "blocked here", 2525: "works"},
        ),
        "server": _server_without_25("intercepted"),
    },
    "campus-dpi": {
        "client": (465, (), {25: "not offered", 465: "works", 587: "unsafe", 2525: "unsafe"}),
        "server": _server_without_25("unsafe"),
    },
    "hosting-provider": {"client": _CLIENT_NO_25, "server": _server_without_25("blocked here")},
    "classroom": {"client": _CLIENT_OPEN, "server": _SERVER_OPEN},
}

_BLOCKING_WORDS = (
    "drop",
    "time out",
    "times out",
    "timing out",
    "block",
    "filtered",
    "refused",
    "reject",
    "grab",
    "intercept",
    "rewrit",
    "mask",
    "strip",
    "hang",
)


def test_the_expected_advice_table_covers_every_scenario() -> None:
    assert set(EXPECTED_ADVICE) == set(labworld.SCENARIOS)


@pytest.mark.parametrize("name", list(labworld.SCENARIOS))
def test_every_scenario_and_purpose_advised_from_a_live_probe(name: str) -> None:
    from smtplab import advise, probe_many

    with Lab(name) as lab:
        results = probe_many(
            [(h, p) for h in ("smtp.lab.example", "mx.lab.example") for p in labworld.PORTS],
            lab=lab,
            timeout=1,
        )
        point_at = point_line(lab, lab_advice(lab))
    for purpose in ("mail-client", "website-plugin", "mail-server"):
        host = "mx.lab.example" if purpose == "mail-server" else "smtp.lab.example"
        advice = advise(results, purpose=purpose, host=host)
        want = EXPECTED_ADVICE[name]["server" if purpose == "mail-server" else "client"]
        got_port = advice.recommended.port if advice.recommended else None
        got = (
            got_port,
            tuple(f.port for f in advice.fallbacks),
            {v.port: v.verdict for v in advice.ports},
        )
        assert got == want, (name, purpose, [v.evidence for v in advice.ports])
    # the lab's own "point your mail client at" line says what advise says, and never names a
    # port this network blocks
    client = EXPECTED_ADVICE[name]["client"]
    line = point_at
    if client[0] is None:
        assert line.startswith("No port of smtp.lab.example is safe"), line
    else:
        assert line.startswith("Point your mail program at server "), line
        assert f"(smtp.lab.example:{client[0]})" in line and lab.credentials[1] in line
    sc = labworld.SCENARIOS[name]
    for port, behaviour in sc.network.items():
        assert f"(smtp.lab.example:{port})" not in line, (name, port, behaviour)


@pytest.mark.parametrize("name", list(labworld.SCENARIOS))
def test_no_scenario_text_sends_you_to_a_port_it_blocks(name: str) -> None:
    """A sentence of a scenario's text that names a port the scenario blocks must say so."""
    import re

    sc = labworld.SCENARIOS[name]
    sentences = re.split(r"(?<=[.!?])\s+", sc.paragraph)
    for port, behaviour in sc.network.items():
        if behaviour == "open":
            continue
        for sentence in sentences:
            if re.search(rf"\b{port}\b", sentence):
                low = sentence.lower()
                assert any(w in low for w in _BLOCKING_WORDS), (name, port, sentence)


def test_the_middlebox_relays_and_masks_starttls_both_ways() -> None:
    from smtplab.lab.middlebox import mask_client_line, mask_server_line

    assert mask_server_line(b"250-STARTTLS\r\n") == b"250-XXXXXXXA\r\n"
    assert mask_server_line(b"250 starttls\r\n") == b"250 XXXXXXXA\r\n"
    assert mask_server_line(b"250-STARTTLSX\r\n") == b"250-STARTTLSX\r\n"
    assert mask_client_line(b"STARTTLS\r\n") == b"XXXXXXXA\r\n"
    assert mask_client_line(b"MAIL FROM:<a@b>\r\n") == b"MAIL FROM:<a@b>\r\n"
    with Lab("campus-dpi") as lab:
        ep = lab.endpoint("smtp.lab.example", 587)
        assert ep.behaviour == "strip" and ep.expected == "open"
        with lab.smtp("smtp.lab.example", 587) as s:
            code, text = s.ehlo()
            assert code == 250 and b"XXXXXXXA" in text and b"STARTTLS" not in text
            assert not s.has_extn("starttls")
            code, _ = s.docmd("STARTTLS")  # the box masks the command too: TLS never starts
            assert code >= 500
        # the real server behind it still speaks (mail to the lab's domain, no AUTH needed)
        with lab.smtp("mx.lab.example", 25) as s:
            s.ehlo()
            s.sendmail("a@example.org", ["b@lab.example"], b"Subject: through the box\r\n\r\nhi")
        assert [m.subject for m in lab.outbox] == ["through the box"]
        # 465 is untouched: TLS from the first byte leaves nothing to rewrite
        with lab.smtp("smtp.lab.example", 465) as s:
            assert s.ehlo()[0] == 250 and s.has_extn("auth")


# --- a lab that does not run dry (issue 23) --------------------------------------------------


def close_wait_sockets(ports: set[int]) -> int:
    """Sockets in CLOSE-WAIT (the peer hung up, we have not) whose local port is one of
    ``ports``, read from the kernel's own tables."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state = fields[1], fields[3]
            if state == "08" and int(local.rsplit(":", 1)[1], 16) in ports:
                count += 1
    return count


def wait_for_connections(lab: Lab, want: int, within: float) -> int:
    deadline = time.monotonic() + within
    while (n := lab.active_connections()) != want and time.monotonic() < deadline:
        time.sleep(0.02)
    return n


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's socket tables")
@pytest.mark.parametrize(
    ("scenario", "host", "port"),
    [
        ("classroom", "slow.lab.example", 25),  # greeting still being delayed
        ("classroom", "slow.lab.example", 587),
        ("classroom", "tarpit.lab.example", 587),  # never speaks
        ("classroom", "smtp.lab.example", 587),  # greeted, waiting for a command
        ("classroom", "smtp.lab.example", 465),  # TLS handshake not started
        ("campus-dpi", "smtp.lab.example", 587),  # through the middlebox
    ],
)
def test_a_client_that_hangs_up_frees_its_slot_at_once(scenario: str, host: str, port: int) -> None:
    """Each short-timeout probe of slow.lab.example kept 3 of the lab's slots for five minutes
    (CLOSE-WAIT until aiosmtpd's idle timeout): the lab ran dry after a few lessons."""
    with Lab(scenario, slow_delay=5.0) as lab:
        ports = {e.address[1] for e in lab.endpoints}
        address = lab.address(host, port)
        clients = [socket.create_connection(address, timeout=2) for _ in range(3)]
        try:
            assert wait_for_connections(lab, 3, 2.0) == 3
        finally:
            for c in clients:
                c.close()  # FIN, no QUIT: a client that gave up
        assert wait_for_connections(lab, 0, 1.5) == 0
        deadline = time.monotonic() + 1.5
        while close_wait_sockets(ports) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert close_wait_sockets(ports) == 0
        stats = lab.connection_stats()
        assert stats.active == 0 and stats.peak == 3 and stats.turned_away == 0


def test_the_tarpit_hangs_up_on_a_client_that_stays_too_long() -> None:
    from smtplab.lab.servers import Silent

    async def run() -> bytes:
        server = await asyncio.get_running_loop().create_server(
            lambda: Silent(timeout=0.2), "127.0.0.1", 0
        )
        async with server:
            host, port = server.sockets[0].getsockname()[:2]
            reader, writer = await asyncio.open_connection(host, port)
            data = await asyncio.wait_for(reader.read(), 2.0)  # EOF from the tarpit, not silence
            writer.close()
            return data

    assert asyncio.run(run()) == b""


FLOOD = 32_000_000  # bytes one side tries to push through the middlebox
BOX_BOUND = 1_000_000  # what the middlebox may hold: a few of asyncio's 64 KiB buffers


async def through_the_box(upstream_proto: Any, client_sends: bool) -> int:
    """A real middlebox between a real client socket and a real upstream server; one side
    floods for two seconds, the other never reads. Returns the most the middlebox's own
    transports held at once."""
    from smtplab.lab.middlebox import StripStartTLS

    loop = asyncio.get_running_loop()
    served: list[asyncio.Protocol] = []

    def serve() -> asyncio.Protocol:
        served.append(upstream_proto())
        return served[-1]

    upstream = await loop.create_server(serve, "127.0.0.1", 0)
    box_transports: list[asyncio.BaseTransport] = []
    up_address = upstream.sockets[0].getsockname()[:2]
    box = await loop.create_server(
        lambda: StripStartTLS(loop, up_address, box_transports.append), "127.0.0.1", 0
    )
    async with upstream, box:
        _, writer = await asyncio.open_connection(*box.sockets[0].getsockname()[:2])
        writer.transport.pause_reading()  # the client never reads
        most = 0
        deadline = loop.time() + 2.0
        while loop.time() < deadline:
            if client_sends and writer.transport.get_write_buffer_size() < 1_000_000:
                writer.write(b"NOOP " + b"x" * 100_000 + b"\r\n")
            await asyncio.sleep(0.005)
            held = sum(
                t.get_write_buffer_size()  # type: ignore[attr-defined]
                for t in box_transports
                if not t.is_closing()
            )
            most = max(most, held)
        writer.transport.abort()
        for t in box_transports:
            t.abort()  # type: ignore[attr-defined]
        for p in served:
            p.transport.abort()  # type: ignore[attr-defined]
        await asyncio.sleep(0.05)  # let connection_lost run before the loop closes
        return most


class Flooder(asyncio.Protocol):
    """An upstream server that answers at once with far more than anyone reads."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write((b"250-" + b"y" * 994 + b"\r\n") * (FLOOD // 1000))


class Deaf(asyncio.Protocol):
    """An upstream server that never reads what it is sent."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.pause_reading()


@pytest.mark.parametrize("direction", ["server floods a client that never reads", "client floods"])
def test_the_middlebox_buffers_a_bounded_amount(direction: str) -> None:
    """The STARTTLS-stripping middlebox read whatever came, however fast, and kept it for the
    other side: memory grew 42 -> 125 MB in 30 s. Now it stops reading from one side while the
    other side's buffer is full (asyncio's flow control), so kernel buffers, not the lab, hold
    the flood."""
    client_sends = direction == "client floods"
    most = asyncio.run(through_the_box(Deaf if client_sends else Flooder, client_sends))
    assert most < BOX_BOUND, f"the middlebox held {most:,} bytes"


def test_an_ip_address_is_not_called_unresolvable(lab: Lab) -> None:
    with pytest.raises(LabError) as info:
        lab.address("127.0.0.1", 587)
    text = str(info.value)
    assert "resolv" not in text and "127.0.0.1 is an IP address" in text
    assert "smtp.lab.example" in text  # says what to use instead
    with pytest.raises(LabError, match="IP address"):
        lab.address("[::1]", 25)
    with pytest.raises(LabError, match="not a host of the lab"):
        lab.address("nowhere.lab.example", 25)
