"""How far do smtplab record files scale?  Measured directly, on realistic synthetic records.

Run:  python benchmarks/records_scale.py [--rows 100000] [--keep DIR] [--skip load,...]

``--rows`` is any size from 1,000 to 10,000,000 (default 100,000).  Nothing is extrapolated:
every figure is measured at that size, on records from :mod:`smtplab.synthetic` (varied hosts,
ports, vantages, outcomes, TLS versions, findings, transcripts of 2 to 40 lines, log-normal
timings; ``source="synthetic"``), written once to a JSON Lines file in a temporary folder.

Each step runs in its own child process, so its peak resident memory (``ru_maxrss``) belongs to
it alone (a bare child with pandas, pyarrow and duckdb imported is measured too, as the floor).
Each smtplab step is paired with the best plain alternative on the same file, measured in the
same run, and the ratio printed:

=====================================  ==========================================================
smtplab                                baseline
=====================================  ==========================================================
``load_records(jsonl)``                pyarrow ``json.read_json`` (declared schema) + to_pandas
``load_records(parquet)``              pyarrow ``parquet.read_table`` + to_pandas
``show --summary`` from JSONL          DuckDB ``read_json`` GROUP BY vantage, port, outcome
  (``port_summary_for_file`` +
  ``format_summary``: outcome by
  vantage and port)
``show FILE`` from JSONL (per          the same DuckDB GROUP BY
  vantage × host × port:
  ``summary_for_file``): its first
  100 rows, as the command prints
  them, and every row (``--limit 0``)
the same two from Parquet (the         DuckDB ``read_parquet`` (hive) GROUP BY vantage, port,
  partitioned folder)                  outcome
JSONL -> partitioned Parquet           DuckDB ``COPY … TO … (PARTITION_BY (vantage, port))``
  (``jsonl_to_parquet``: every line
  checked, batch by batch)
explorer first view / filter change    (a target: under 1 s at 100,000 records)
=====================================  ==========================================================

``load_records`` is skipped above 1,000,000 rows (its own default bound, ``MAX_LOAD_ROWS``:
a pandas table of every field would not fit); the explorer is measured on the first 100,000
records at most.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

EXPLORER_ROWS = 100_000
STEPS = (
    "floor",
    "load_jsonl",
    "base_load_jsonl",
    "summary_jsonl",
    "summary_all_jsonl",
    "port_summary_jsonl",
    "base_summary_jsonl",
    "import_parquet",
    "base_import_parquet",
    "summary_parquet",
    "summary_all_parquet",
    "port_summary_parquet",
    "base_summary_parquet",
    "load_parquet",
    "base_load_parquet",
    "explorer",
)


def _peak_mb() -> float:
    from peak_memory import peak_mb  # benchmarks/, beside this script

    return peak_mb()


# ---- the steps, each run in a child process ------------------------------------------------------


def _duckdb() -> Any:
    import duckdb

    return duckdb.connect()


def _arrow_json_schema() -> Any:
    """The record schema for pyarrow's JSON reader (timestamps read as text, as on disk)."""
    import pyarrow as pa

    from smtplab.records import arrow_schema

    fields = [
        pa.field(f.name, pa.string()) if pa.types.is_timestamp(f.type) else f
        for f in arrow_schema()
    ]
    return pa.schema(fields)


def step(name: str, files: dict[str, str], rows: int) -> dict[str, Any]:
    """Run one step; return what it measured (seconds, and facts to cross-check)."""
    import duckdb  # noqa: F401 - imported in every step, so the floor is the same
    import pandas as pd  # noqa: F401
    import pyarrow  # noqa: F401

    from smtplab import records

    jsonl, folder, parquet = files["jsonl"], files["folder"], files["parquet"]
    if name != "import_parquet" and not Path(folder).exists():
        folder += ".duckdb"  # --skip import_parquet: the Parquet steps read DuckDB's folder
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    if name == "floor":
        pass
    elif name == "load_jsonl":
        df = records.load_records(jsonl, max_rows=None)
        out["rows"] = len(df)
    elif name == "base_load_jsonl":
        import pyarrow.json as pj

        table = pj.read_json(
            jsonl, parse_options=pj.ParseOptions(explicit_schema=_arrow_json_schema())
        )
        out["rows"] = len(table.to_pandas())
    elif name == "load_parquet":
        df = records.load_records(parquet, max_rows=None)
        out["rows"] = len(df)
    elif name == "base_load_parquet":
        import pyarrow.parquet as pq

        out["rows"] = len(pq.read_table(parquet).to_pandas())
    elif name in ("summary_jsonl", "summary_parquet"):  # what `smtplab show FILE` prints
        from smtplab.cli.records_cmd import SHOW_ROWS

        source = jsonl if name.endswith("jsonl") else folder
        summary = records.summary_for_file(source, limit=SHOW_ROWS)
        text = records.format_summary(summary)
        out["groups"] = summary.attrs["groups"]
        out["lines"] = text.count("\n") + 1
    elif name in ("summary_all_jsonl", "summary_all_parquet"):  # show FILE --limit 0
        summary = records.summary_for_file(jsonl if name.endswith("jsonl") else folder)
        text = records.format_summary(summary)
        out["rows"] = int(summary["probes"].sum())
        out["groups"] = len(summary)
        out["lines"] = text.count("\n") + 1
    elif name in ("port_summary_jsonl", "port_summary_parquet"):
        summary = records.port_summary_for_file(jsonl if name.endswith("jsonl") else folder)
        text = records.format_summary(summary)
        out["rows"] = int(summary["probes"].sum())
        out["lines"] = text.count("\n") + 1
    elif name in ("base_summary_jsonl", "base_summary_parquet"):
        src = (
            f"read_json('{jsonl}', format='newline_delimited')"
            if name == "base_summary_jsonl"
            else f"read_parquet('{folder}/**/*.parquet', hive_partitioning=true)"
        )
        res = _duckdb().execute(
            f"SELECT vantage, port, outcome, count(*) AS n FROM {src} GROUP BY ALL"
        )
        out["rows"] = int(sum(r[3] for r in res.fetchall()))
    elif name == "import_parquet":
        report = records.jsonl_to_parquet(jsonl, folder)
        out["rows"] = report.rows
    elif name == "base_import_parquet":
        target = files["folder"] + ".duckdb"
        con = _duckdb()
        con.execute(
            f"COPY (SELECT * FROM read_json('{jsonl}', format='newline_delimited')) "
            f"TO '{target}' (FORMAT parquet, PARTITION_BY (vantage, port))"
        )
        out["rows"] = int(
            con.execute(f"SELECT count(*) FROM read_parquet('{target}/**/*.parquet')").fetchone()[0]
        )
    elif name == "explorer":
        out.update(_explorer(files["explorer"]))
    else:
        raise SystemExit(f"unknown step {name}")
    out["seconds"] = time.perf_counter() - t0
    out["peak_mb"] = _peak_mb()
    return out


def _explorer(path: str) -> dict[str, Any]:
    """First view and five filter changes, without and with the two charts (PNG each).

    The explorer answers a filter with its counts and summary, then draws the charts on a worker
    thread: ``first_view_s``/``filter_changes_s`` time the answer, ``charts_s`` the time until
    the charts of the same view are on screen (from the start of the view or the change)."""
    from smtplab.widgets import dataset_explorer

    out: dict[str, Any] = {"rows": EXPLORER_ROWS}
    parquet = path + ".parquet"
    if not Path(parquet).exists():  # the same records as one Parquet file (not timed)
        _duckdb().execute(
            f"COPY (SELECT * FROM read_json('{path}', format='newline_delimited')) "
            f"TO '{parquet}' (FORMAT parquet)"
        )
    for source, charts in ((path, False), (path, True), (parquet, False), (parquet, True)):
        t0 = time.perf_counter()
        ex = dataset_explorer(source, charts=charts)
        first = time.perf_counter() - t0
        ex.wait_for_charts()
        drawn = [time.perf_counter() - t0]
        changes = []
        for attr, value in (
            ("port", 25),
            ("vantage", ex.vantage.options[1]),
            ("outcome", "open"),
            ("port", "all"),
            ("host", ex.host.options[1]),
        ):
            t1 = time.perf_counter()
            getattr(ex, attr).value = value
            changes.append(time.perf_counter() - t1)
            ex.wait_for_charts()
            drawn.append(time.perf_counter() - t1)
        ex.close()
        suffix = ("" if charts else "_no_charts") + ("_parquet" if source == parquet else "")
        out[f"first_view_s{suffix}"] = first
        out[f"filter_changes_s{suffix}"] = changes
        out[f"charts_s{suffix}"] = drawn
    return out


# ---- the parent --------------------------------------------------------------------------------


def run_child(name: str, files: dict[str, str], rows: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", name, "--files", json.dumps(files)]
    cmd += ["--rows", str(rows)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"}
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def make_files(base: Path, rows: int) -> dict[str, str]:
    from smtplab.synthetic import write_synthetic_jsonl

    jsonl = base / f"synthetic-{rows}.jsonl"
    explorer = base / f"synthetic-{min(rows, EXPLORER_ROWS)}.jsonl"
    if not jsonl.exists():
        t0 = time.perf_counter()
        write_synthetic_jsonl(jsonl, rows, seed=1)
        print(
            f"generated {rows:,} records, {jsonl.stat().st_size / 1e6:,.0f} MB of JSON Lines "
            f"in {time.perf_counter() - t0:.0f} s",
            flush=True,
        )
    if not explorer.exists():
        write_synthetic_jsonl(explorer, min(rows, EXPLORER_ROWS), seed=1)
    return {
        "jsonl": str(jsonl),
        "explorer": str(explorer),
        "folder": str(base / f"partitioned-{rows}"),
        "parquet": str(base / f"synthetic-{rows}.parquet"),
    }


def _write_single_parquet(files: dict[str, str]) -> None:
    """One Parquet file for the load_records(parquet) pair (DuckDB, from the partitions)."""
    import duckdb

    folder = files["folder"]
    if not Path(folder).exists():
        folder += ".duckdb"
    if not Path(files["parquet"]).exists():
        duckdb.execute(
            f"COPY (SELECT * EXCLUDE (vantage, port), vantage, port FROM "
            f"read_parquet('{folder}/**/*.parquet', hive_partitioning=true)) "
            f"TO '{files['parquet']}' (FORMAT parquet)"
        )


def _line(label: str, ours: dict[str, Any], base: dict[str, Any] | None) -> str:
    if "error" in ours:
        return f"{label:<34} failed: {ours['error']}"
    text = f"{label:<34} {ours['seconds']:8.2f} s {ours['peak_mb']:8.0f} MB"
    if base and "error" not in base:
        text += (
            f"   | baseline {base['seconds']:7.2f} s {base['peak_mb']:7.0f} MB"
            f"   | ratio {ours['seconds'] / base['seconds']:5.2f}x time"
            f" {ours['peak_mb'] / base['peak_mb']:5.2f}x memory"
        )
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="1,000 to 10,000,000")
    parser.add_argument("--keep", type=Path, help="folder to keep (and reuse) the files in")
    parser.add_argument("--skip", default="", help="comma-separated steps to leave out")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--files", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(step(args.child, json.loads(args.files), args.rows)))
        return 0
    if not 1_000 <= args.rows <= 10_000_000:
        parser.error("--rows must be between 1,000 and 10,000,000")
    skip = {s for s in args.skip.split(",") if s}
    if args.rows > 1_000_000:
        skip |= {"load_jsonl", "base_load_jsonl", "load_parquet", "base_load_parquet"}
    print(
        f"records_scale: {args.rows:,} synthetic records; Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, {platform.machine()}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="smtplab-scale-") as tmp:
        base = args.keep or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        files = make_files(base, args.rows)
        results: dict[str, dict[str, Any]] = {}
        for name in STEPS:
            if name in skip or (
                name.removeprefix("base_") in skip and name != "base_import_parquet"
            ):
                continue
            if name == "load_parquet":
                _write_single_parquet(files)
            results[name] = run_child(name, files, args.rows)
            print(f"  {name}: {results[name]}", flush=True)
        report(results, args.rows)
    return 0


def report(results: dict[str, dict[str, Any]], rows: int) -> None:
    print(f"\n== {rows:,} records (peak RSS per step; floor = a child that only imports) ==")
    if "floor" in results:
        print(_line("floor (imports only)", results["floor"], None))
    pairs = (
        ("load_records(jsonl)", "load_jsonl"),
        ("show FILE, 100 rows (JSONL)", "summary_jsonl"),
        ("show FILE --limit 0 (JSONL)", "summary_all_jsonl"),
        ("show --summary, by port (JSONL)", "port_summary_jsonl"),
        ("JSONL -> partitioned Parquet", "import_parquet"),
        ("show FILE, 100 rows (Parquet dir)", "summary_parquet"),
        ("show FILE --limit 0 (Parquet dir)", "summary_all_parquet"),
        ("show --summary, by port (Parquet)", "port_summary_parquet"),
        ("load_records(parquet)", "load_parquet"),
    )
    for label, key in pairs:
        if key in results:
            base_key = "base_" + key.removeprefix("port_").replace("summary_all_", "summary_")
            print(_line(label, results[key], results.get(base_key)))
    ex = results.get("explorer")
    if ex and "error" not in ex:
        for suffix, what in (
            ("_no_charts", "JSONL file, counts + summary"),
            ("", "JSONL file, with both charts"),
            ("_no_charts_parquet", "Parquet file, counts + summary"),
            ("_parquet", "Parquet file, with both charts"),
        ):
            changes = ", ".join(f"{s:.2f}" for s in ex[f"filter_changes_s{suffix}"])
            print(
                f"explorer, {min(rows, EXPLORER_ROWS):,}-record {what}: "
                f"first view {ex[f'first_view_s{suffix}']:.2f} s, "
                f"filter changes {changes} s (target < 1 s each)"
            )
            if suffix in ("", "_parquet"):
                drawn = ", ".join(f"{s:.2f}" for s in ex[f"charts_s{suffix}"])
                print(f"  charts on screen after {drawn} s (first view, then each change)")
        print(f"explorer peak {ex['peak_mb']:.0f} MB")
    elif ex:
        print(f"explorer failed: {ex['error']}")
    counts = {k: v.get("rows") for k, v in results.items() if "rows" in v and k != "explorer"}
    if len(set(counts.values())) > 1:
        print(f"WARNING: the steps saw different row counts: {counts}")


if __name__ == "__main__":
    sys.exit(main())
