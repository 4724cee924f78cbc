"""A CA file that cannot be used is refused in one line, before anything is sent (issue 23).

It used to be left out without a word: the probe then found the server's certificate untrusted,
for a reason the learner had not caused.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

import smtplab
from smtplab.engine import ProbeInputError
from smtplab.engine.options import check_cafile

ROOT = Path(__file__).parent.parent


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A listening socket that never accepts: any connection made waits in its queue."""
    sock = socket.create_server(("127.0.0.1", 0))
    yield sock
    sock.close()


def connections(sock: socket.socket) -> int:
    sock.setblocking(False)
    n = 0
    while True:
        try:
            conn, _ = sock.accept()
        except BlockingIOError:
            return n
        conn.close()
        n += 1


def _bad_files(tmp: Path) -> dict[str, tuple[Path, str]]:
    ca = trustme.CA()
    der = tmp / "ca.der"
    der.write_bytes(_der(ca))
    (tmp / "junk.txt").write_text("not a certificate\n")
    (tmp / "empty.pem").write_bytes(b"")
    (tmp / "broken.pem").write_text(
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    )
    (tmp / "folder").mkdir()
    return {
        "der": (der, "no PEM certificate"),
        "junk": (tmp / "junk.txt", "no PEM certificate"),
        "empty": (tmp / "empty.pem", "no PEM certificate"),
        "broken": (tmp / "broken.pem", "OpenSSL can load"),
        "folder": (tmp / "folder", "is a folder"),
        "missing": (tmp / "missing.pem", "no such file"),
    }


def _der(ca: trustme.CA) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    return x509.load_pem_x509_certificate(ca.cert_pem.bytes()).public_bytes(Encoding.DER)


@pytest.mark.parametrize("kind", ["der", "junk", "empty", "broken", "folder", "missing"])
def test_an_unusable_cafile_is_refused_before_connecting(
    kind: str, tmp_path: Path, listener: socket.socket
) -> None:
    path, words = _bad_files(tmp_path)[kind]
    port = listener.getsockname()[1]
    for call in (
        lambda: smtplab.probe("127.0.0.1", port, cafile=str(path), timeout=1),
        lambda: smtplab.probe_many([("127.0.0.1", port)], cafile=path, timeout=1),
    ):
        with pytest.raises(ProbeInputError) as info:
            call()
        message = str(info.value)
        assert words in message and str(path) in message and "\n" not in message, message
    assert connections(listener) == 0


def test_a_pem_cafile_is_accepted(tmp_path: Path) -> None:
    pem = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(pem))
    assert check_cafile(pem) == str(pem) and check_cafile(str(pem)) == str(pem)
    assert check_cafile(None) is None
    with pytest.raises(ProbeInputError, match="path"):
        check_cafile(42)


def test_doctor_says_so_in_one_line_and_exits_2(tmp_path: Path) -> None:
    path, _ = _bad_files(tmp_path)["junk"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-m", "smtplab", "doctor", "127.0.0.1", "--cafile", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
        check=False,
    )
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--cafile" in lines[0] and "no PEM certificate" in lines[0], lines
    assert "Traceback" not in done.stderr and done.stdout == ""
