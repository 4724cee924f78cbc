"""Memory of the transcript player against the length of the transcript (issue 11, item 3).

Run:  python benchmarks/widgets_memory.py [--lines 1000,2500,10000] [--target-mb 300]

Each measurement runs in its own child process, so its peak memory (ru_maxrss: the most resident
memory the process ever used) belongs to it alone. A child builds a record whose transcript has
N lines (a realistic mix: greeting, multi-line EHLO replies, STARTTLS, events), makes
``smtplab.widgets.transcript_player`` of it, shows the last frame, a middle one and the first,
changes the speed once, and reports its peak. The baseline is the same child with a 0-line
transcript (imports, ipywidgets, pandas): the line count's own cost is the peak minus it.

Printed: the peak of each child, the cost over the baseline, the cost per line, the ratio of
the largest peak to the target (below 1 is met), and how the cost grows: cost(N) / cost(N0)
against N / N0 (close to 1 when memory is linear in lines; it was quadratic before: 1,006 lines
took 295 MB, 10,000 lines raised MemoryError).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

_CONVERSATION = [
    ("server", "220 smtp.lab.example ESMTP smtplab ready"),
    ("client", "EHLO [127.0.0.1]"),
    ("server", "250-smtp.lab.example"),
    ("server", "250-SIZE 35882577"),
    ("server", "250-8BITMIME"),
    ("server", "250-PIPELINING"),
    ("server", "250-ENHANCEDSTATUSCODES"),
    ("server", "250-STARTTLS"),
    ("server", "250 SMTPUTF8"),
    ("client", "STARTTLS"),
    ("server", "220 2.0.0 Ready to start TLS"),
    ("event", "TLS handshake (verifying the certificate)"),
    ("event", "TLS established: TLSv1.3 TLS_AES_256_GCM_SHA384"),
    ("client", "EHLO [127.0.0.1]"),
    ("server", "250-smtp.lab.example"),
    ("server", "250-AUTH PLAIN LOGIN XOAUTH2 OAUTHBEARER"),
    ("server", "250-CHUNKING"),
    ("server", "250 DSN"),
    ("client", "NOOP"),
    ("server", "250 2.0.0 OK"),
]


def synthetic_record(lines: int) -> dict[str, Any]:
    """A record of host smtp.lab.example:587 whose transcript has ``lines`` lines."""
    transcript = [
        {
            "t": round(i * 0.37, 3),
            "dir": _CONVERSATION[i % len(_CONVERSATION)][0],
            "text": _CONVERSATION[i % len(_CONVERSATION)][1],
        }
        for i in range(lines)
    ]
    return {
        "host": "smtp.lab.example",
        "port": 587,
        "outcome": "open",
        "total_ms": lines * 0.37,
        "transcript": transcript,
    }


def child(lines: int) -> dict[str, Any]:
    """Build, play and measure one player (runs in a fresh process)."""
    sys.path.insert(0, str(REPO))
    import smtplab.widgets as w

    began = time.perf_counter()
    player = w.transcript_player(synthetic_record(lines), speed="instant")
    n = player.slider.max
    for k in (n, n // 2, 1, n):
        player.slider.value = k
    shown = len(player.screen.value)
    player.speed.value = 2.0
    took = time.perf_counter() - began
    player.close()
    peak_mb = _peak_kb() / 1024
    return {"lines": lines, "peak_mb": peak_mb, "seconds": took, "last_frame_chars": shown}


def _peak_kb() -> float:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from peak_memory import peak_mb

    return peak_mb() * 1024


def measure(lines: int) -> dict[str, Any]:
    """Run :func:`child` in a new interpreter and return what it reports."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", str(lines)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=600,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", default="1000,2500,10000", help="comma-separated line counts")
    parser.add_argument("--target-mb", type=float, default=300.0)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child)))
        return
    counts = [int(x) for x in args.lines.split(",")]
    base = measure(0)
    print(f"baseline (0 lines): peak {base['peak_mb']:.0f} MB")
    print(f"{'lines':>8} {'peak MB':>9} {'cost MB':>9} {'KB/line':>8} {'seconds':>8}")
    results = [measure(n) for n in counts]
    for r in results:
        cost = r["peak_mb"] - base["peak_mb"]
        print(
            f"{r['lines']:>8,} {r['peak_mb']:>9.0f} {cost:>9.1f} "
            f"{cost * 1024 / max(r['lines'], 1):>8.1f} {r['seconds']:>8.2f}"
        )
    top = results[-1]
    print(
        f"\n{top['lines']:,} lines: peak {top['peak_mb']:.0f} MB against a target of "
        f"{args.target_mb:.0f} MB: ratio {top['peak_mb'] / args.target_mb:.2f} "
        f"({'met' if top['peak_mb'] < args.target_mb else 'MISSED'})"
    )
    first = results[0]
    c0 = max(first["peak_mb"] - base["peak_mb"], 0.1)
    c1 = top["peak_mb"] - base["peak_mb"]
    growth = c1 / c0
    lines_ratio = top["lines"] / max(first["lines"], 1)
    print(
        f"growth: cost x{growth:.1f} for lines x{lines_ratio:.1f} "
        f"(linear: about x{lines_ratio:.0f}; quadratic: x{lines_ratio**2:.0f})"
    )


if __name__ == "__main__":
    main()
