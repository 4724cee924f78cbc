"""Reading a pseudo-terminal's output in tests that run a command on a real terminal."""

from __future__ import annotations

import os
import select


def read_available(fd: int, wait: float) -> bytes:
    """What the terminal ``fd`` has to read within ``wait`` seconds (``b""``: nothing, or the
    other end closed, which Linux reports as EIO)."""
    r, _, _ = select.select([fd], [], [], wait)
    if not r:
        return b""
    try:
        return os.read(fd, 65536)
    except OSError:
        return b""
