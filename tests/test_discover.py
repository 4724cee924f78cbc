"""Discovery against a real DNS server on loopback: Debian's dnsmasq serving a test zone.

The zone ``lab.test`` (RFC 2606 reserves ``.test``) holds every case the lesson talks about:
MX records with equal and different preferences, SRV records for both submission services, a
domain with only an address (implicit MX), a null MX, a name with no mail records at all, and
names that do not exist. dnsmasq answers only from this local data (``--no-resolv``,
``--local=/lab.test/``): no query ever leaves the machine.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import ServerThread

import smtplab
from smtplab.discovery import NAMESERVER_ENV, Discovery, MXHost, SRVTarget, discover
from smtplab.engine import ProbeInputError

DNSMASQ = shutil.which("dnsmasq") or next(
    (p for p in ("/usr/sbin/dnsmasq", "/sbin/dnsmasq") if Path(p).exists()), None
)

ZONE = [
    "--local=/lab.test/",
    "--host-record=mx-a.lab.test,127.0.0.11",
    "--host-record=mx-b.lab.test,127.0.0.12",
    "--host-record=backup.lab.test,127.0.0.13",
    "--host-record=smtp.lab.test,127.0.0.20",
    "--host-record=plain.lab.test,127.0.0.5,::1",
    "--txt-record=nomail.lab.test,nothing here",
    # listed out of order on purpose: discovery must sort by preference
    "--mx-host=lab.test,backup.lab.test,20",
    "--mx-host=lab.test,mx-b.lab.test,10",
    "--mx-host=lab.test,mx-a.lab.test,10",
    "--mx-host=null.lab.test,.,0",
    "--mx-host=cli.lab.test,localhost,10",
    "--srv-host=_submission._tcp.lab.test,smtp.lab.test,2525,20,0",
    "--srv-host=_submission._tcp.lab.test,smtp.lab.test,587,10,5",
    "--srv-host=_submissions._tcp.lab.test,smtp.lab.test,465,0,1",
    "--srv-host=_submission._tcp.null.lab.test",  # no target: SRV "." = not offered
]


def _free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (dnsmasq listens on both)."""
    for _ in range(20):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind(("127.0.0.1", port))
                except OSError:
                    continue
        return int(port)
    raise RuntimeError("no free port on 127.0.0.1")


class DNSServer:
    """dnsmasq in the foreground on 127.0.0.1:<port>, answering only for lab.test."""

    def __init__(self, tmp: Path) -> None:
        assert DNSMASQ is not None
        self.port = _free_port()
        self.log = tmp / "dnsmasq.log"
        args = [
            DNSMASQ,
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            f"--port={self.port}",
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            "--no-resolv",
            "--no-hosts",
            "--no-poll",
            f"--pid-file={tmp / 'dnsmasq.pid'}",
            "--log-facility=-",
            "--cache-size=0",
            *ZONE,
        ]
        import os

        if os.geteuid() == 0:
            args.append("--user=root")  # stay put: no need to drop to a 'dnsmasq' user for tests
        self.log_file = open(self.log, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(args, stdout=self.log_file, stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self) -> None:
        import dns.exception
        import dns.message
        import dns.query

        q = dns.message.make_query("lab.test", "MX")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"dnsmasq exited: {self.log.read_text()}")
            try:
                dns.query.udp(q, "127.0.0.1", port=self.port, timeout=0.2)
                return
            except (dns.exception.Timeout, OSError):
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"dnsmasq did not answer within 10 s: {self.log.read_text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log_file.close()


@pytest.fixture(scope="module")
def dns_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DNSServer]:
    if DNSMASQ is None:
        pytest.skip("dnsmasq is not installed (Debian: apt-get install dnsmasq-base)")
    server = DNSServer(tmp_path_factory.mktemp("dnsmasq"))
    yield server
    server.stop()


def ask(server: DNSServer, domain: str, **kw: object) -> Discovery:
    return discover(domain, nameservers=["127.0.0.1"], port=server.port, **kw)  # type: ignore[arg-type]


def test_mx_sorted_by_preference_and_srv_for_both_services(dns_server: DNSServer) -> None:
    found = ask(dns_server, "lab.test")
    assert found.errors == ()
    assert found.mx == (
        MXHost("mx-a.lab.test", 10),
        MXHost("mx-b.lab.test", 10),
        MXHost("backup.lab.test", 20),
    )
    assert not found.null_mx and not found.implicit_mx
    assert found.submission == (
        SRVTarget("smtp.lab.test", 587, 10, 5),
        SRVTarget("smtp.lab.test", 2525, 20, 0),
    )
    assert found.submissions == (SRVTarget("smtp.lab.test", 465, 0, 1),)
    assert found.targets() == [
        ("mx-a.lab.test", 25),
        ("mx-b.lab.test", 25),
        ("backup.lab.test", 25),
        ("smtp.lab.test", 465),
        ("smtp.lab.test", 587),
        ("smtp.lab.test", 2525),
    ]
    text = found.explain()
    assert "Mail for lab.test is delivered to mx-a.lab.test on port 25 (preference 10)" in text
    assert "backup.lab.test (preference 20)" in text
    assert "smtp.lab.test:465 (implicit TLS, RFC 8314)" in text
    assert "smtp.lab.test:587 (STARTTLS, RFC 6186)" in text
    assert "equal preference" in text
    json.dumps(found.to_dict())  # JSON-ready


def test_no_mx_falls_back_to_the_domains_address(dns_server: DNSServer) -> None:
    found = ask(dns_server, "plain.lab.test")
    assert found.implicit_mx and not found.null_mx
    assert found.mx == (MXHost("plain.lab.test", 0),)
    assert found.submission == found.submissions == ()
    assert found.errors == ()
    assert found.targets() == [("plain.lab.test", 25)]
    assert "implicit MX" in found.explain() and "no submission service" in found.explain()


def test_null_mx_means_no_mail_and_srv_dot_means_not_offered(dns_server: DNSServer) -> None:
    found = ask(dns_server, "null.lab.test.")  # a trailing dot is fine
    assert found.domain == "null.lab.test"
    assert found.null_mx and found.mx == () and not found.implicit_mx
    assert found.submission == () and found.errors == ()
    assert found.targets() == []
    text = found.explain()
    assert "null MX" in text and "RFC 7505" in text
    assert any("offers no STARTTLS submission" in n for n in found.notes)


def test_a_name_with_no_mail_records_and_no_address(dns_server: DNSServer) -> None:
    found = ask(dns_server, "nomail.lab.test")
    assert found.mx == () and not found.implicit_mx and not found.null_mx
    assert found.errors == ()
    assert "no MX record and no address" in found.explain()


def test_nxdomain_is_data_not_an_exception(dns_server: DNSServer) -> None:
    found = ask(dns_server, "nope.lab.test")
    assert found.mx == () and found.submission == () and found.submissions == ()
    assert found.errors == ("nope.lab.test does not exist in DNS (NXDOMAIN)",)
    assert "NXDOMAIN" in found.explain()


def test_refused_outside_the_zone_is_an_error(dns_server: DNSServer) -> None:
    # dnsmasq has no upstream: it answers REFUSED for names outside lab.test, and nothing leaves
    found = ask(dns_server, "example.com")
    assert found.mx == ()
    assert found.errors and all("REFUSED" in e for e in found.errors)


def test_a_dns_server_that_never_answers_costs_the_timeout_once() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        t0 = time.monotonic()
        found = discover("lab.test", nameservers=[f"127.0.0.1:{port}"], timeout=0.5)
        elapsed = time.monotonic() - t0
    assert 0.45 <= elapsed < 1.5, elapsed  # MX and both SRV questions ran side by side
    assert found.mx == () and found.submission == () and found.submissions == ()
    assert len(found.errors) == 1
    assert "timeout" in found.errors[0] and f"127.0.0.1:{port}" in found.errors[0]
    assert "MX" in found.errors[0] and "_submissions" in found.errors[0]


def test_environment_variable_names_the_dns_server(
    dns_server: DNSServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(NAMESERVER_ENV, f"127.0.0.1:{dns_server.port}")
    found = smtplab.discover("lab.test", timeout=2)
    assert found.mx[0] == MXHost("mx-a.lab.test", 10)


@pytest.mark.parametrize(
    "domain,message",
    [
        ("", "empty"),
        ("lab.test\r\nQUIT", "control"),
        ("127.0.0.1", "address"),
        ("bad host", "spaces"),
        (None, "string"),
        (".", "not a mail domain"),
    ],
)
def test_bad_input_raises(domain: object, message: str) -> None:
    with pytest.raises(ProbeInputError, match=message):
        discover(domain, nameservers=["127.0.0.1"], port=9)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "nameservers,message",
    [
        (["dns.example"], "not an IP address"),
        (["127.0.0.1:x"], "number"),
        ([], "empty"),
        (["127.0.0.1:70000"], "out of range"),
    ],
)
def test_bad_nameservers_raise(nameservers: list[str], message: str) -> None:
    with pytest.raises(ProbeInputError, match=message):
        discover("lab.test", nameservers=nameservers)


def test_cli_probe_mx_probes_the_mx_hosts(
    dns_server: DNSServer,
    servers: ServerThread,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``smtplab probe --mx cli.lab.test``: its MX is ``localhost``, served by a test server."""
    first = socket.getaddrinfo("localhost", 25, type=socket.SOCK_STREAM)[0][4][0]
    if first != "127.0.0.1":
        pytest.skip(f"localhost resolves to {first} first here; the test server is on 127.0.0.1")
    from smtplab.cli import main

    port = servers.smtp()
    monkeypatch.setenv(NAMESERVER_ENV, f"127.0.0.1:{dns_server.port}")
    assert main(["probe", "--mx", "cli.lab.test", "-p", str(port), "--timeout", "3"]) == 0
    out = capsys.readouterr().out
    assert "Mail for cli.lab.test is delivered to localhost on port 25" in out
    assert "open" in out
    assert main(["probe", "--mx", "cli.lab.test", "-p", str(port), "--json", "--timeout", "3"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["host"], r["port"], r["outcome"]) for r in records] == [("localhost", port, "open")]
