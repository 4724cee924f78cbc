"""Shared fixtures: real servers on loopback, and the rule that tests never leave it."""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from servers import Certs, ServerThread


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("SMTPLAB_LIVE") == "1":
        return
    skip = pytest.mark.skip(reason="talks to hosts beyond loopback; set SMTPLAB_LIVE=1 to run")
    for item in items:
        if "live" in item.keywords:
            item.add_marker(skip)


_real_getaddrinfo = socket.getaddrinfo
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_loopback_literal(text: str) -> bool:
    try:
        return ipaddress.ip_address(text.split("%")[0]).is_loopback
    except ValueError:
        return False


def _loopback_getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
    """Tests never leave loopback, and that includes DNS: any name but localhost fails here the
    way an unknown name fails (EAI_NONAME) instead of being sent to the machine's resolver, and
    so does any address literal that is not loopback."""
    if host is None or host in ("localhost", b"localhost", "localhost.localdomain"):
        return _real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]
    text = host.decode() if isinstance(host, bytes) else str(host)
    if not _is_loopback_literal(text):
        raise socket.gaierror(
            socket.EAI_NONAME, f"{text}: tests resolve nothing beyond loopback"
        ) from None
    return _real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]


def _refuse_beyond_loopback(sock: socket.socket, address: object) -> None:
    """An IP literal skips getaddrinfo (asyncio connects to it directly), so connect itself
    refuses any IPv4/IPv6 destination that is not loopback, as an unreachable network would."""
    if sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
        host = address[0].decode() if isinstance(address[0], bytes) else str(address[0])
        if not _is_loopback_literal(host):
            raise OSError(errno.ENETUNREACH, f"tests never connect beyond loopback ({host})")


def _loopback_connect(sock: socket.socket, address: object) -> None:
    _refuse_beyond_loopback(sock, address)
    _real_connect(sock, address)  # type: ignore[arg-type]


def _loopback_connect_ex(sock: socket.socket, address: object) -> int:
    _refuse_beyond_loopback(sock, address)
    return _real_connect_ex(sock, address)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def loopback_only_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", _loopback_getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", _loopback_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _loopback_connect_ex)


@pytest.fixture(scope="session")
def certs() -> Certs:
    return Certs()


@pytest.fixture(scope="session")
def servers() -> Iterator[ServerThread]:
    st = ServerThread()
    yield st
    st.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Under CI (SMTPLAB_REQUIRE_PEERS=1, after .ci/run has checked every peer) a test that would
    skip for want of an installable peer fails instead: a green run must not hide a missing
    install step."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if os.environ.get("SMTPLAB_REQUIRE_PEERS") != "1" or not report.skipped:
        return
    reason = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else ""
    if "apt-get" in reason or "from PyPI" in reason:
        report.outcome = "failed"
        report.longrepr = f"a peer is missing although .ci/run checked it: {reason}"
