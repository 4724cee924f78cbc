"""The dataset explorer's memory on a small Parquet file that expands hugely (issue 23).

Run:  python benchmarks/explorer_memory.py [--rows 20000,2000000] [--keep DIR]

A review found the explorer taking 2 GB on a 2.2 MB Parquet file of 2 million rows: Parquet
stores a run of equal values in a few bytes, and the explorer copied every row of its dozen
fields into DuckDB's memory (~400 bytes a row), copied them again for the summary table and
built a pandas table of every probe for the timing chart.

Here a file of N rows is written from a few distinct synthetic records repeated (with
:mod:`pyarrow`, in 10,000-row row groups, so writing it never holds the N rows), and each file is
opened in a fresh child process (peak = ``VmHWM``, see ``peak_memory.py``) that first imports
everything the explorer uses (ipywidgets, DuckDB, pyarrow, pandas, matplotlib), then builds
``dataset_explorer(path)`` and waits for its charts.  Printed per file: its size, the peak before
and after the explorer, and the growth: what the explorer itself cost.  ``--long-host 2000``
makes the other small file that expands: one 2,000-character host name in every row (stored
once per row group) and a different connect time in each, so no two rows are equal.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

#: Rows per row group of the written file, and of the block repeated to write it.
BLOCK = 10_000


def write_repeated_parquet(path: Path, rows: int, *, distinct: int = 4, long_host: int = 0) -> Path:
    """A Parquet record file of ``rows`` rows, each one of ``distinct`` synthetic records
    (open ones with timings first): tiny on disk, ``rows`` probes once read.

    ``long_host``: every host name is this many characters long (one name, which Parquet
    stores once per row group) and every connect time differs, so no two rows are equal."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    sys.path.insert(0, str(REPO))
    from smtplab.synthetic import synthetic_table

    table = synthetic_table(200, seed=7)
    opened = pc.equal(table.column("outcome"), "open").to_numpy(zero_copy_only=False)
    order = np.concatenate([np.flatnonzero(opened), np.flatnonzero(~opened)])
    picked = table.take(pa.array(order[:distinct]))
    block = picked.take(pa.array(np.arange(min(BLOCK, rows)) % distinct))
    if long_host:
        host = "h" * (long_host - len(".example")) + ".example"
        i = block.schema.get_field_index("host")
        block = block.set_column(i, "host", pa.array([host] * block.num_rows))
    rng = np.random.default_rng(7)
    connect = block.schema.get_field_index("connect_ms")
    with pq.ParquetWriter(path, block.schema) as writer:
        left = rows
        while left > 0:
            part = block if left >= block.num_rows else block.slice(0, left)
            if long_host:
                times = pa.array(rng.random(part.num_rows) * 100.0)
                part = part.set_column(connect, "connect_ms", times)
            writer.write_table(part, row_group_size=BLOCK)
            left -= part.num_rows
    return path


def child(path: str, charts: bool) -> dict[str, Any]:
    """Build the explorer over ``path`` and report its memory (runs in a fresh process)."""
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import duckdb  # noqa: F401
    import ipywidgets  # noqa: F401
    import matplotlib  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow  # noqa: F401
    from peak_memory import peak_mb

    from smtplab import charts as _charts  # noqa: F401
    from smtplab.widgets import dataset_explorer

    before = peak_mb()
    began = time.perf_counter()
    explorer = dataset_explorer(path, charts=charts)
    explorer.wait_for_charts()
    took = time.perf_counter() - began
    counts = explorer.counts.value
    drawn = bool(explorer.times_html.value) if charts else None
    explorer.close()
    after = peak_mb()
    return {
        "rows": explorer.total,
        "file_mb": os.path.getsize(path) / 2**20,
        "before_mb": before,
        "peak_mb": after,
        "growth_mb": after - before,
        "seconds": took,
        "counts": counts,
        "charts_drawn": drawn,
    }


def measure(path: Path, *, charts: bool = True) -> dict[str, Any]:
    """Run :func:`child` in a new interpreter and return what it reports."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    args = [sys.executable, str(Path(__file__).resolve()), "--child", str(path)]
    out = subprocess.run(
        [*args, *([] if charts else ["--no-charts"])],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=600,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="20000,2000000", help="comma-separated row counts")
    parser.add_argument("--keep", type=Path, help="write the files here (default: a temp dir)")
    parser.add_argument(
        "--long-host", type=int, default=0, help="host names this long, timings all different"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--no-charts", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, charts=not args.no_charts)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        print(f"{'rows':>10} {'file MB':>8} {'before MB':>10} {'peak MB':>8} {'growth MB':>10}")
        for rows in (int(x) for x in args.rows.split(",")):
            name = f"repeated-{rows}-{args.long_host}.parquet"
            path = write_repeated_parquet(folder / name, rows, long_host=args.long_host)
            r = measure(path)
            print(
                f"{r['rows']:>10,} {r['file_mb']:>8.2f} {r['before_mb']:>10.0f} "
                f"{r['peak_mb']:>8.0f} {r['growth_mb']:>10.1f}  ({r['seconds']:.1f} s)"
            )


if __name__ == "__main__":
    main()
