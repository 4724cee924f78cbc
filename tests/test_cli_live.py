"""The probe command's live lines: an honest countdown on a terminal, and none in a notebook.

The countdown is checked on :class:`LiveProbes` itself with chosen clock readings; the notebook
case runs the real command on a real pseudo-terminal, as IPython's ``!`` does, with the
environment a Jupyter kernel gives its children.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time

from rich.console import Console

from smtplab.cli.live import LiveProbes


def _live(timeout: float) -> LiveProbes:
    return LiveProbes([("smtp.lab.example", 587)], timeout, Console(width=100))


def test_the_countdown_is_the_steps_time_left_not_the_overall_deadline() -> None:
    live = _live(8.0)
    began = live.started
    # 2 s into the TCP connect of an 8 s step: 6 s left (it said 26 s: 3 × 8 + 2 - 2)
    text = live._status(None, began + 2.0, "connect", since=began, began=began).plain
    assert text.startswith("  6 s left · waiting for the TCP connection"), text
    # a later step counts from its own start
    text = live._status(None, began + 10.0, "greeting", since=began + 9.0, began=began).plain
    assert text.startswith("  7 s left · waiting for the 220 greeting"), text
    # never past the probe's overall deadline (3 × 8 + 2 = 26 s from the probe's start)
    text = live._status(None, began + 24.0, "tls", since=began + 23.0, began=began).plain
    assert text.startswith("  2 s left"), text


def test_a_queued_probe_shows_no_countdown() -> None:
    live = _live(8.0)
    assert live._status(None, live.started + 30, "queued").plain == "waiting for its turn"


def test_phase_changes_restart_the_steps_clock() -> None:
    live = _live(5.0)
    live.phase(0, "connect")
    first = live.phase_started[0]
    time.sleep(0.02)
    live.phase(0, "greeting")
    assert live.phase_started[0] > first
    assert live.began[0] == first  # the overall deadline still counts from the first step


_ESC = re.compile(r"\x1b|[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]")


def test_under_a_notebook_no_live_lines_and_no_colour_codes() -> None:
    """``!smtplab probe …`` in a notebook: a pseudo-terminal, FORCE_COLOR, JPY_PARENT_PID."""
    controller, terminal = pty.openpty()
    env = {
        **os.environ,
        "JPY_PARENT_PID": str(os.getpid()),
        "FORCE_COLOR": "1",
        "CLICOLOR_FORCE": "1",
        "TERM": "xterm-color",
        "COLUMNS": "80",
    }
    env.pop("NO_COLOR", None)
    command = [sys.executable, "-m", "smtplab", "probe", "smtp.lab.example", "--lab", "home-isp"]
    proc = subprocess.Popen(
        [*command, "-p", "25,587", "--timeout", "1.5"],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=env,
        close_fds=True,
    )
    os.close(terminal)
    chunks = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], 0.5)
        if ready:
            try:
                data = os.read(controller, 65536)
            except OSError:  # the terminal closed: the command ended
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    proc.wait(timeout=30)
    os.close(controller)
    screen = b"".join(chunks).decode("utf-8", "replace")
    assert proc.returncode == 0, screen
    assert "filtered" in screen and "open" in screen, screen  # the results are there
    assert not _ESC.search(screen), repr(screen[:2000])
