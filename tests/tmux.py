"""The real CLI in a real terminal: ``smtplab`` run inside a detached tmux session of a fixed
size, its screen read back with ``capture-pane``.

    with terminal(server, smtplab_command("probe smtp.lab.example --lab home-isp"), rows=60):
        screen = tmux(server, "capture-pane", "-p")

Each test names its own tmux server (``-L``), so sessions never meet and the server goes
away with the test.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Marks a test that needs tmux.
needs_tmux = pytest.mark.skipif(
    shutil.which("tmux") is None, reason="needs tmux (apt-get install tmux)"
)

#: What a live per-port line says while a TCP connection is still being waited for.
LIVE = "s left · waiting for the TCP connection"


def tmux(server: str, *args: str) -> str:
    """One tmux command on tmux server ``server``; its stdout."""
    return subprocess.run(
        ["tmux", "-L", server, *args], capture_output=True, text=True, check=True, timeout=30
    ).stdout


def smtplab_command(args: str, env: str = "") -> str:
    """A shell line that runs ``smtplab args`` from this checkout in colour (``env``: more
    ``NAME=value`` settings), then prints ``__DONE__ <exit code>`` and stays open."""
    settings = f"env -u NO_COLOR TERM=xterm-256color{' ' + env if env else ''}"
    return (
        f"cd {ROOT} && {settings} PYTHONPATH={ROOT} {sys.executable} -m smtplab {args}; "
        "echo __DONE__ $?; sleep 120"
    )


@contextmanager
def terminal(server: str, command: str, rows: int, columns: int = 80) -> Iterator[None]:
    """``command`` running in a detached session ``columns`` wide and ``rows`` high; the tmux
    server is killed on the way out."""
    tmux(server, "new-session", "-d", "-x", str(columns), "-y", str(rows), command)
    try:
        yield
    finally:
        subprocess.run(["tmux", "-L", server, "kill-server"], check=False, timeout=30)


def run_to_the_end(server: str, command: str, rows: int, poll: float) -> tuple[bool, str, str]:
    """Run ``command`` (from :func:`smtplab_command`) in an 80-column terminal until it prints
    ``__DONE__`` (90 s at most), looking at the screen every ``poll`` seconds. Returns whether
    a :data:`LIVE` line was seen on the way, the whole scrollback with wrapped lines joined, and
    the same with its colour codes."""
    with terminal(server, command, rows):
        saw_live = False
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            screen = tmux(server, "capture-pane", "-p", "-J")
            saw_live = saw_live or LIVE in screen
            if "__DONE__" in screen:
                break
            time.sleep(poll)
        joined = tmux(server, "capture-pane", "-p", "-J", "-S", "-200")
        coloured = tmux(server, "capture-pane", "-p", "-e", "-S", "-200")
    return saw_live, joined, coloured
