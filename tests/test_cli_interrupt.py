"""Ctrl-C keeps what finished: ``smtplab probe --record`` and ``smtplab record -o``, run for real
in a subprocess against the lab, interrupted with SIGINT while one port is still filtered.

In the ``home-isp`` scenario port 25 drops packets, so with ``--timeout 60`` its probe waits a
minute while 465, 587 and 2525 answer at once: the moment to press Ctrl-C.
"""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ptyio import read_available

from smtplab.records import load_records

FAST = {465, 587, 2525}
TICK = "✓".encode()


def _drain(fd: int) -> bytes:
    got = b""
    while chunk := read_available(fd, 0.3):
        got += chunk
    return got


def _interrupt_on_a_terminal(*args: str) -> tuple[int, str, str, float]:
    """Run ``smtplab ARGS`` with stderr on a pseudo-terminal (so the live lines show), press
    Ctrl-C once three ports show their tick, and return (status, stdout, stderr, seconds the
    command took to end after Ctrl-C)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "smtplab", *args], stdout=subprocess.PIPE, stderr=slave
    )
    os.close(slave)
    try:
        seen, deadline = b"", time.monotonic() + 60
        while seen.count(TICK) < len(FAST) and time.monotonic() < deadline:
            seen += read_available(master, 0.5)
        assert seen.count(TICK) >= len(FAST), seen.decode(errors="replace")[-2000:]
        proc.send_signal(signal.SIGINT)
        pressed = time.monotonic()
        out, _ = proc.communicate(timeout=30)
        took = time.monotonic() - pressed
        err = seen + _drain(master)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        os.close(master)
    return proc.returncode, out.decode(), err.decode(errors="replace"), took


def _last_line(err: str) -> str:
    """The last line the terminal shows (the live lines' cursor moves taken out)."""
    err = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", err)
    lines = [line.strip() for line in err.replace("\r", "\n").splitlines() if line.strip()]
    return lines[-1]


@pytest.mark.parametrize("command", ["record", "probe"])
def test_ctrl_c_on_a_terminal_saves_the_finished_probes(tmp_path: Path, command: str) -> None:
    out_file = tmp_path / "probes.jsonl"
    where = ["--vantage", "lab:home-isp", "-o"] if command == "record" else ["--record"]
    args = [command, "smtp.lab.example", "--lab", "home-isp", "--timeout", "60"]
    code, out, err, took = _interrupt_on_a_terminal(*args, *where, str(out_file))
    assert code == 130
    assert took < 15  # it stops at once; it does not wait for port 25's minute
    df = load_records(out_file)
    assert set(df["port"]) == FAST and len(df) == 3  # every finished result, nothing else
    assert set(df["outcome"]) == {"open"}
    said = _last_line(err)
    assert said == (
        f"smtplab: interrupted (Ctrl-C): saved 3 finished results to {out_file}; "
        "1 of 4 probes did not finish"
    )
    assert "smtp.lab.example   465" in out  # the finished ones are shown too
    assert "Traceback" not in out + err


def test_ctrl_c_without_a_terminal_saves_and_prints_the_finished_probes(tmp_path: Path) -> None:
    """The same with ``--json`` into a pipe: no live lines to wait for, so the wait is measured
    first: a whole run with a 1 s timeout (its fast probes end before its filtered one)."""
    base = [sys.executable, "-m", "smtplab", "probe", "smtp.lab.example", "--lab", "home-isp"]
    started = time.monotonic()
    calm = subprocess.run(
        [*base, "--timeout", "1", "--json"], capture_output=True, timeout=120, check=False
    )
    enough = time.monotonic() - started + 2
    assert calm.returncode == 0 and len(calm.stdout.splitlines()) == 4
    out_file = tmp_path / "probes.jsonl"
    proc = subprocess.Popen(
        [*base, "--timeout", "60", "--json", "--record", str(out_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(enough)
        assert proc.poll() is None  # port 25 still waits
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130
    printed = [json.loads(line) for line in out.splitlines()]
    assert {r["port"] for r in printed} == FAST
    assert set(load_records(out_file)["port"]) == FAST
    assert err.strip() == (
        f"smtplab: interrupted (Ctrl-C): saved 3 finished results to {out_file}; "
        "1 of 4 probes did not finish"
    )
