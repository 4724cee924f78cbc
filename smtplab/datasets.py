"""Make the shipped datasets: recordings of every lab scenario, and a pooled classroom set.

Rerun it any time (it takes about a minute, offline)::

    python -m smtplab.datasets            # writes data/recordings/*.jsonl and data/classroom.jsonl

Each scenario is probed on all its hosts and the four ports, from the vantage ``lab:<scenario>``
with ``source="lab"``, exactly as a learner's own probes of the lab would be recorded. The
pooled ``classroom.jsonl`` is what a class gets when everyone records from a different network
and merges the files with ``smtplab merge``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from smtplab._paths import data_dir

#: Per-phase timeout for the recordings: above the lab's slow greeting, short enough that the
#: filtered ports (which cost exactly this) keep a full rerun near a minute.
RECORDING_TIMEOUT = 3.0


def record_scenario(scenario: str, path: Path, *, timeout: float = RECORDING_TIMEOUT) -> int:
    """Probe every endpoint of one lab scenario and write the records to ``path`` (replacing it)."""
    from smtplab.engine import probe_many
    from smtplab.lab import Lab
    from smtplab.records import save_records

    with Lab(scenario=scenario) as lab:
        targets = [(e.host, e.port) for e in lab.endpoints]
        results = probe_many(targets, lab=lab, timeout=timeout)
    tmp = path.with_suffix(".jsonl.tmp")
    tmp.unlink(missing_ok=True)
    save_records(results, tmp)
    tmp.replace(path)
    return len(results)


def record_all(out: Path | None = None, *, timeout: float = RECORDING_TIMEOUT) -> list[Path]:
    """Record every scenario into ``out/recordings`` and pool them into ``out/classroom.jsonl``."""
    from smtplab.lab import scenarios
    from smtplab.records import merge_records

    base = out or data_dir()
    rec_dir = base / "recordings"
    rec_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in scenarios():
        path = rec_dir / f"{name}.jsonl"
        n = record_scenario(name, path, timeout=timeout)
        print(f"{name}: {n} probes -> {path}", file=sys.stderr)
        written.append(path)
    pooled = base / "classroom.jsonl"
    pooled.unlink(missing_ok=True)
    merge_records([str(p) for p in written], str(pooled))
    return [*written, pooled]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m smtplab.datasets", description=__doc__)
    parser.add_argument("--out", type=Path, default=None, help="folder (default: smtplab's data/)")
    args = parser.parse_args(argv)
    record_all(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
