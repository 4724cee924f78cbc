"""Progress while probes run: which ports are done, which one is waited for, and a countdown.

A filtered port answers nothing: the probe waits out its timeout. So that the screen does not
sit still meanwhile, :class:`Ticker` redraws a line from a background thread a few times a
second (ipywidgets sends trait changes from any thread) with :func:`waiting_text`, a pure
function the tests call directly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Final

__all__ = ["Ticker", "waiting_text"]

TICK_S: Final = 0.25


def waiting_text(
    host: str,
    pending: Sequence[int],
    done: int,
    total: int,
    elapsed: float,
    timeout: float,
    deadline: float,
) -> str:
    """One line: how many ports are done, which are still waited for, and for how much longer.

    ``timeout`` bounds each step of a probe (a filtered port's connect waits all of it);
    ``deadline`` bounds a whole probe. Before ``timeout`` the countdown is to the connect
    timeout; after it, to the deadline.
    """
    if not pending:
        return f"probed {done}/{total} ports of {host}"
    ports = ", ".join(str(p) for p in pending)
    waiting = f"waiting for port{'s' if len(pending) > 1 else ''} {ports}"
    if elapsed < timeout:
        left = f"no answer yet after {elapsed:.1f} s; gives up in {timeout - elapsed:.1f} s"
    else:
        left = (
            f"still waiting after {elapsed:.1f} s; gives up in at most "
            f"{max(0.0, deadline - elapsed):.1f} s"
        )
    return f"⏳ {done}/{total} done · {waiting}: {left}"


class Ticker:
    """Calls ``draw(elapsed_seconds)`` every ``TICK_S`` on a daemon thread until stopped."""

    def __init__(self, draw: Callable[[float], None], interval: float = TICK_S) -> None:
        self._draw = draw
        self._interval = interval
        self._stop = threading.Event()
        self._began = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="smtplab-progress", daemon=True)

    def __enter__(self) -> Ticker:
        self._began = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._draw(time.monotonic() - self._began)
            except Exception:  # a redraw must never break the probe it reports on
                return
