"""A network namespace of the test's own, with SMTP servers on the real port numbers.

``smtplab doctor`` probes 25, 465, 587 and 2525 and nothing else, so a hostile or odd server for
it must listen on those very ports. A fresh namespace has its own loopback on which any port is
free, and nothing in it can reach another address, so the doctor runs there for real::

    with namespace({"25": "impostor", "465": "tls10"}) as ns:
        done = ns.run([sys.executable, "-m", "smtplab", "doctor", NAME, "--cafile", ns.cafile])

Inside, :data:`NAME` resolves (through ``/etc/netns/<ns>/hosts``) to ``127.0.0.1``, where
``netns_servers.py`` serves each port with one of its behaviours. Needs root on Linux with
``ip``; :func:`skip_reason` says why not otherwise.

Tests that build a network of several namespaces (veth cables, iptables rules, hosts files,
servers in one of them) use the same parts: :func:`namespaces`, :func:`veth`, :func:`hosts`,
:func:`process` and :func:`wait_ready`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVERS = Path(__file__).resolve().parent / "netns_servers.py"

#: The mail server's name inside the namespace.
NAME = "mail.test.example"


def skip_reason(*, iptables: bool = False) -> str | None:
    """Why namespaces (and, with ``iptables``, firewall rules in them) cannot be made here."""
    needs = "network namespaces and iptables" if iptables else "network namespaces"
    if sys.platform != "linux" or os.geteuid() != 0:
        return f"needs root on Linux ({needs})"
    packages = "iproute2 iptables" if iptables else "iproute2"
    for tool in ("ip", "iptables") if iptables else ("ip",):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (Debian: apt-get install -y {packages})"
    return None


def run(*cmd: str) -> None:
    """Run a setup command (``ip``, ``iptables``); its failure fails the test."""
    subprocess.run(cmd, check=True, capture_output=True, timeout=30)


def inside(ns: str, *cmd: str) -> list[str]:
    """``cmd`` as run inside namespace ``ns``."""
    return ["ip", "netns", "exec", ns, *cmd]


@contextmanager
def namespaces(*names: str, or_skip: bool = True) -> Iterator[None]:
    """Namespaces ``names``, each with its loopback up; on the way out they are deleted with
    their ``/etc/netns`` folders. Where the kernel refuses them the test is skipped
    (``or_skip``) or fails."""
    created: list[str] = []
    try:
        try:
            for name in names:
                run("ip", "netns", "add", name)
                created.append(name)
                run("ip", "-n", name, "link", "set", "lo", "up")
        except subprocess.CalledProcessError as exc:
            if not or_skip:
                raise
            import pytest

            pytest.skip(f"cannot create network namespaces here: {exc.stderr!r}")
        yield
    finally:
        for name in created:
            subprocess.run(
                ["ip", "netns", "delete", name], check=False, capture_output=True, timeout=30
            )
        for name in names:
            shutil.rmtree(Path("/etc/netns") / name, ignore_errors=True)


def veth(a: str, a_dev: str, a_addr: str, b: str, b_dev: str, b_addr: str) -> None:
    """A cable from namespace ``a`` to ``b``: device ``a_dev`` with ``a_addr``/24 at one end,
    ``b_dev`` with ``b_addr``/24 at the other, both up."""
    run("ip", "link", "add", a_dev, "netns", a, "type", "veth", "peer", "name", b_dev, "netns", b)
    for ns, dev, addr in ((a, a_dev, a_addr), (b, b_dev, b_addr)):
        run("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
        run("ip", "-n", ns, "link", "set", dev, "up")


def hosts(ns: str, text: str) -> None:
    """Namespace ``ns``'s ``/etc/hosts`` (``ip netns exec`` binds ``/etc/netns/<ns>/hosts`` over
    it); :func:`namespaces` removes it."""
    folder = Path("/etc/netns") / ns
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "hosts").write_text(text)


@contextmanager
def process(cmd: Sequence[str], env: Mapping[str, str]) -> Iterator[subprocess.Popen[str]]:
    """``cmd`` running with its output piped as text, stopped on the way out."""
    proc = subprocess.Popen(
        list(cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(env)
    )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate(timeout=10)


def wait_ready(proc: subprocess.Popen[str], seconds: float | None = 30) -> None:
    """Wait for the servers' first line, ``ready`` (within ``seconds``, if given)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + seconds if seconds is not None else None
    line = proc.stdout.readline()
    if line.strip() != "ready" or (deadline is not None and time.monotonic() > deadline):
        proc.kill()
        raise AssertionError(f"the servers did not start: {line!r} {proc.communicate()[1]}")


@dataclass(frozen=True)
class Namespace:
    name: str
    #: the CA (PEM) that signed the servers' good certificates
    cafile: str
    env: Mapping[str, str]

    def command(self, cmd: Sequence[str]) -> list[str]:
        return inside(self.name, *cmd)

    def run(self, cmd: Sequence[str], timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
        """Run ``cmd`` inside the namespace; stdout and stderr kept as bytes."""
        return subprocess.run(
            self.command(cmd), check=False, capture_output=True, timeout=timeout, env=dict(self.env)
        )


@contextmanager
def namespace(
    ports: Mapping[str, str], tmp: Path, auth_log: Path | None = None
) -> Iterator[Namespace]:
    """A namespace whose loopback serves ``ports`` (port number -> behaviour of
    ``netns_servers.py``); everything is removed on the way out. ``auth_log``: the file where
    the servers note each AUTH command they receive."""
    reason = skip_reason()
    if reason:
        import pytest

        pytest.skip(reason)
    name = f"sld{uuid.uuid4().hex[:8]}"
    cafile = tmp / "netns-ca.pem"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    serve_env = {**env, "NETNS_AUTH_LOG": str(auth_log) if auth_log is not None else ""}
    serve = [sys.executable, str(SERVERS), json.dumps(dict(ports)), str(cafile), NAME]
    with namespaces(name):
        hosts(name, f"127.0.0.1 {NAME} localhost\n")
        with process(inside(name, *serve), serve_env) as proc:
            wait_ready(proc)
            yield Namespace(name, str(cafile), env)
