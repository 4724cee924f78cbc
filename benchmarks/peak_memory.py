"""Peak resident memory of the running process, for the benchmarks' child processes.

On Linux this is ``VmHWM`` from ``/proc/self/status``: it belongs to the process's own memory
map, which ``exec`` replaces. ``ru_maxrss`` is not reset by ``exec``, so a child started from a
bigger parent (pytest after many tests, a benchmark that generated its data in memory) would
report the parent's peak. Elsewhere ``ru_maxrss`` is the best there is.
"""

from __future__ import annotations

import resource
import sys


def peak_mb() -> float:
    """This process's peak resident memory in MiB."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1]) / 1024
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return rss / 1024 if sys.platform != "darwin" else rss / 1024 / 1024
