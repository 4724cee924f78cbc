"""What the real-MTA tests share: the plumbing of ``tests/postfix.py`` and ``tests/exim.py``
(free ports, a self-signed certificate, waiting for every service to answer) and the smtplib
helpers and the CLI run of ``test_postfix.py`` and ``test_exim.py``."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import smtplib
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

from smtplab.engine import ProbeResult

# --- the servers -------------------------------------------------------------------------------


def free_ports(n: int) -> list[int]:
    """``n`` distinct TCP ports free on 127.0.0.1 right now (the kernel picks them)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def service_ports(ports: Mapping[str, int] | None, services: Collection[str]) -> dict[str, int]:
    """``ports`` (service -> 127.0.0.1 port), which must name exactly ``services``; or, if None,
    a free port for each."""
    if ports is None:
        ports = dict(zip(services, free_ports(len(services)), strict=False))
    if set(ports) != set(services):
        raise ValueError(f"ports must name exactly these services: {', '.join(services)}")
    return dict(ports)


def write_self_signed(
    cert_file: Path,
    key_file: Path,
    *,
    common_name: str,
    organisation: str,
    names: Sequence[str],
    rsa: bool = False,
    valid: tuple[dt.datetime, dt.datetime] | None = None,
) -> None:
    """A fresh self-signed certificate for ``names`` (host names and IP addresses), with an EC
    P-256 key (or RSA 2048, ``rsa``), valid from an hour ago for 30 days unless ``valid`` says
    otherwise; the key is written as PKCS#8, readable by its owner only."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric import rsa as rsa_keys
    from cryptography.x509.oid import NameOID

    key: ec.EllipticCurvePrivateKey | rsa_keys.RSAPrivateKey = (
        rsa_keys.generate_private_key(public_exponent=65537, key_size=2048)
        if rsa
        else ec.generate_private_key(ec.SECP256R1())
    )
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
        ]
    )
    if valid is None:
        now = dt.datetime.now(dt.timezone.utc)
        valid = (now - dt.timedelta(hours=1), now + dt.timedelta(days=30))
    san: list[x509.GeneralName] = []
    for n in names:
        try:
            san.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            san.append(x509.DNSName(n))
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_file.chmod(0o600)


def wait_listening(
    server: str,
    ports: Mapping[str, int],
    limit: float,
    log: Callable[[], str],
    error: Callable[[str], Exception],
    still_running: Callable[[], None] = lambda: None,
) -> None:
    """Wait (``limit`` seconds in all) until each service of ``server`` accepts a connection on
    its 127.0.0.1 port; else raise ``error(...)`` with the server's ``log()``.
    ``still_running()`` is called before each try and raises if the server has exited."""
    deadline = time.monotonic() + limit
    for service, port in ports.items():
        while True:
            still_running()
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise error(
                        f"{server}'s {service} service on 127.0.0.1:{port} never accepted a "
                        f"connection\n{log()}"
                    ) from None
                time.sleep(0.05)


class _Server(Protocol):
    def stop(self) -> None: ...


S = TypeVar("S", bound=_Server)


def running(reason: str | None, start: Callable[[], S]) -> Iterator[S]:
    """The body of a session fixture: skip for ``reason``, else the started server, stopped
    at the end of the session."""
    if reason:
        import pytest

        pytest.skip(reason)
    server = start()
    try:
        yield server
    finally:
        server.stop()


# --- the tests' view, through stdlib smtplib ----------------------------------------------------


def unverified() -> ssl.SSLContext:
    """What stdlib smtplib uses when given no context: encryption without authentication."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def features(s: smtplib.SMTP) -> set[str]:
    return {k.upper() for k in s.esmtp_features}


def auth_of(s: smtplib.SMTP) -> tuple[str, ...]:
    return tuple(s.esmtp_features.get("auth", "").upper().split())


def codes(r: ProbeResult) -> set[str]:
    return {f.code for f in r.findings}


def probe_cli_json(ports: Sequence[int]) -> list[dict[str, Any]]:
    """``smtplab probe 127.0.0.1 -p PORTS --json --timeout 1`` as a learner would run it: the
    records it prints, one a line (it must exit 0)."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "smtplab",
            "probe",
            "127.0.0.1",
            "-p",
            ",".join(map(str, ports)),
            "--json",
            "--timeout",
            "1",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]
