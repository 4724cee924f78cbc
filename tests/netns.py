"""A network namespace of the test's own, with SMTP servers on the real port numbers.

``smtplab doctor`` probes 25, 465, 587 and 2525 and nothing else, so a hostile or odd server for
it must listen on those very ports. A fresh namespace has its own loopback on which any port is
free, and nothing in it can reach another address, so the doctor runs there for real::

    with namespace({"25": "impostor", "465": "tls10"}) as ns:
        done = ns.run([sys.executable, "-m", "smtplab", "doctor", NAME, "--cafile", ns.cafile])

Inside, :data:`NAME` resolves (through ``/etc/netns/<ns>/hosts``) to ``127.0.0.1``, where
``netns_servers.py`` serves each port with one of its behaviours. Needs root on Linux with
``ip``; :func:`skip_reason` says why not otherwise.
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


def skip_reason() -> str | None:
    if sys.platform != "linux" or os.geteuid() != 0:
        return "needs root on Linux (network namespaces)"
    if shutil.which("ip") is None:
        return "ip is not installed (Debian: apt-get install -y iproute2)"
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@dataclass(frozen=True)
class Namespace:
    name: str
    #: the CA (PEM) that signed the servers' good certificates
    cafile: str
    env: Mapping[str, str]

    def command(self, cmd: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.name, *cmd]

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
    hosts_dir = Path("/etc/netns") / name
    proc: subprocess.Popen[str] | None = None
    created = False
    try:
        try:
            _ip("netns", "add", name)
            created = True
            _ip("-n", name, "link", "set", "lo", "up")
        except subprocess.CalledProcessError as exc:
            import pytest

            pytest.skip(f"cannot create a network namespace here: {exc.stderr!r}")
        hosts_dir.mkdir(parents=True, exist_ok=True)
        (hosts_dir / "hosts").write_text(f"127.0.0.1 {NAME} localhost\n")
        cafile = tmp / "netns-ca.pem"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        serve_env = {**env, "NETNS_AUTH_LOG": str(auth_log) if auth_log is not None else ""}
        serve = [sys.executable, str(SERVERS), json.dumps(dict(ports)), str(cafile), NAME]
        proc = subprocess.Popen(
            ["ip", "netns", "exec", name, *serve],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=serve_env,
        )
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        line = proc.stdout.readline()
        if line.strip() != "ready" or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"the servers did not start: {line!r} {proc.communicate()[1]}")
        yield Namespace(name, str(cafile), env)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate(timeout=10)
        if created:
            subprocess.run(["ip", "netns", "delete", name], check=False, capture_output=True)
        shutil.rmtree(hosts_dir, ignore_errors=True)
