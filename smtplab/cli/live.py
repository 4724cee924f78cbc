"""A live line per port while probes run (stderr, only on a terminal).

Each line shows the target, what it is waiting for and how long until that step gives up (the
step's ``--timeout``, never past the probe's overall deadline of ``3 × timeout + 2`` s, see
:func:`smtplab.probe`), then the outcome once it is known. The lines vanish when the table is
printed. A countdown that said "26 s left" for an 8 s wait was counting to the overall deadline.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from smtplab.cli.render import OUTCOME_STYLE
from smtplab.rules import deadline_for
from smtplab.safe_text import safe_text

__all__ = ["LiveProbes", "probe_deadline"]

_FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


def probe_deadline(timeout: float) -> float:
    """The probe's overall deadline for a per-step ``timeout`` (its documented default)."""
    return deadline_for(timeout)


#: What a probe waits for in each phase, in a learner's words.
WAITING_FOR: dict[str, str] = {
    "queued": "its turn",
    "connect": "the TCP connection",
    "greeting": "the 220 greeting",
    "ehlo": "the EHLO reply",
    "starttls": "the answer to STARTTLS",
    "tls": "the TLS handshake",
    "auth": "the login",
    "tls-required": "the answer to MAIL before TLS",
    "relay": "the relay check's answer",
    "quit": "the goodbye",
}


class LiveProbes:
    """Shows ``targets`` while ``run`` probes them; ``run`` gets a progress callback."""

    def __init__(
        self, targets: Sequence[tuple[str, int]], timeout: float, console: Console
    ) -> None:
        self.targets = list(targets)
        self.timeout = timeout
        self.deadline = probe_deadline(timeout)
        self.console = console
        self.done: list[Any] = [None] * len(self.targets)
        self.phases: list[str] = ["queued"] * len(self.targets)
        self.lock = threading.Lock()
        self.started = time.monotonic()
        self.phase_started: list[float] = [self.started] * len(self.targets)
        #: When each probe left the queue: its overall deadline counts from there.
        self.began: list[float | None] = [None] * len(self.targets)
        #: host -> seconds a connect to it may take now, when connects adapt to the round trips
        #: seen (``smtplab doctor``); None: the step's ``timeout``.
        self.connect_wait: Callable[[str], float] | None = None

    def progress(self, done: int, total: int, result: Any) -> None:
        """The ``progress`` callable of :func:`smtplab.probe_many`: one result has arrived."""
        with self.lock:
            for i, (host, port) in enumerate(self.targets):
                if self.done[i] is None and (host, port) == (result.host, result.port):
                    self.done[i] = result
                    return

    def phase(self, index: int, phase: str) -> None:
        """The ``on_phase`` callable of :func:`smtplab.probe_many`: target ``index`` now waits
        for ``phase``."""
        with self.lock:
            now = time.monotonic()
            self.phases[index] = phase
            self.phase_started[index] = now
            if phase != "queued" and self.began[index] is None:
                self.began[index] = now

    def _status(
        self,
        result: Any,
        now: float,
        phase: str = "connect",
        since: float | None = None,
        began: float | None = None,
        host: str = "",
    ) -> Text:
        if result is not None:
            outcome = str(result.outcome)
            text = Text(f"{safe_text(outcome)}", style=OUTCOME_STYLE.get(outcome, ""))
            if result.total_ms is not None:
                text.append(f"  {result.total_ms:.0f} ms", style="dim")
            return text
        waiting = WAITING_FOR.get(phase, phase)
        if phase == "queued":
            return Text(f"waiting for {waiting}", style="dim")
        limit, each = self.timeout, f"≤ {self.timeout:g} s each step"
        if phase == "connect" and self.connect_wait is not None:
            limit = self.connect_wait(host)
            if limit < self.timeout:
                each = f"adaptive, ≤ {limit:.1f} s"
        overall = self.deadline - (now - (self.started if began is None else began))
        step = limit - (now - (self.started if since is None else since))
        left = max(0.0, min(overall, step))
        shown = f"{left:3.1f}" if limit < self.timeout else f"{left:3.0f}"
        return Text(
            f"{shown} s left · waiting for {waiting} ({each})",
            style="yellow" if left < 1.5 else "",
        )

    def renderable(self) -> Group:
        """One line per target: a spinner or a tick, the target, its state; cut to the width."""
        now = time.monotonic()
        frame = _FRAMES[int(now * 10) % len(_FRAMES)]
        with self.lock:
            rows = list(
                zip(
                    self.targets,
                    self.done,
                    self.phases,
                    self.phase_started,
                    self.began,
                    strict=True,
                )
            )
        names = [f"{safe_text(host)}:{port}" for host, port in self.targets]
        pad = max(map(len, names), default=0) + 2
        lines = []
        for name, (target, result, phase, since, began) in zip(names, rows, strict=True):
            line = Text(f"{frame} " if result is None else "✓ ", style="green" if result else "")
            line.append(name.ljust(pad))
            line.append_text(self._status(result, now, phase, since, began, target[0]))
            line.truncate(max(10, self.console.width - 1), overflow="ellipsis")
            lines.append(line)
        return Group(*lines)

    def run(
        self,
        probe: Callable[[LiveProbes], list[Any]],
        tick: Callable[[], None] | None = None,
    ) -> list[Any]:
        """Call ``probe(self)`` on a worker thread while the lines update (``probe`` passes
        :meth:`progress` and :meth:`phase` to :func:`smtplab.probe_many`); return its result.
        ``tick()`` runs on this thread at each update: what it prints on :attr:`console` goes
        above the live lines (``smtplab doctor`` prints each port's line as it resolves)."""
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                box["results"] = probe(self)
            except BaseException as exc:  # handed back to the caller's thread below
                box["error"] = exc

        worker = threading.Thread(target=work, name="smtplab-cli-probe", daemon=True)
        worker.start()
        with Live(
            self.renderable(), console=self.console, transient=True, refresh_per_second=8
        ) as live:
            while worker.is_alive():
                worker.join(0.125)
                if tick is not None:
                    tick()
                live.update(self.renderable())
        if "error" in box:
            raise box["error"]
        return box["results"]  # type: ignore[no-any-return]
