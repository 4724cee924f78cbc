"""How far do smtplab record files scale?  Parquet beside JSON Lines, with times and peak memory.

Run:  python benchmarks/records_scale.py [--rows 1000000] [--jsonl-rows 100000]

What it does, each step in its own child process so that each peak-memory figure (ru_maxrss:
the most resident memory the process ever used) belongs to that step alone:

1. Build N synthetic records *column by column* with numpy and pyarrow (not a million dicts),
   and write them with ``smtplab.records.write_parquet`` (which checks every row first).
2. ``load_records`` the Parquet file into pandas (every column, lists as Python lists), then
   compute the outcome-by-port crosstab.  Also the same with only the two columns needed
   (``load_records(path, columns=["port", "outcome"])``), the way to work with big sets.
3. Write M records as JSON Lines with ``save_records`` (every record checked, then appended).
4. ``load_records`` the JSON Lines file and compute the same crosstab.

JSON Lines times are also scaled to N rows (linear extrapolation, stated as such) so the two
formats can be compared at the same size.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PORTS = [25, 465, 587, 2525]
OUTCOMES_BY_PORT = {  # plausible mixes: home networks block 25, most submission ports answer
    25: (["filtered", "open", "refused", "rejected"], [0.55, 0.3, 0.1, 0.05]),
    465: (["open", "refused", "filtered", "tls_failed"], [0.7, 0.15, 0.1, 0.05]),
    587: (["open", "refused", "filtered", "silent"], [0.75, 0.1, 0.1, 0.05]),
    2525: (["refused", "open", "filtered", "silent"], [0.5, 0.35, 0.1, 0.05]),
}


def synthetic_table(n: int, seed: int = 1) -> Any:
    """N records in smtplab's Arrow schema, built from numpy columns."""
    import numpy as np
    import pyarrow as pa

    from smtplab.records import arrow_schema
    from smtplab.schema import FIELDS, SCHEMA_VERSION

    rng = np.random.default_rng(seed)
    schema = arrow_schema()
    port = rng.choice(PORTS, size=n)
    outcome = np.empty(n, dtype=object)
    for p, (words, weights) in OUTCOMES_BY_PORT.items():
        mask = port == p
        outcome[mask] = rng.choice(words, size=int(mask.sum()), p=weights)
    is_open = outcome == "open"
    tls_mode = np.where(port == 465, "implicit", np.where(is_open, "starttls", "none"))
    start = np.datetime64("2026-11-01T00:00:00", "us") + rng.integers(
        0, 30 * 86400 * 10**6, n
    ).astype("timedelta64[us]")
    hosts = np.array([f"mx{i}.example.org" for i in range(2000)], dtype=object)
    vantages = np.array([f"student-{i:02d}" for i in range(40)], dtype=object)

    def opt_float(values: Any, present: Any) -> Any:
        return pa.array(values, type=pa.float64(), mask=~present)

    def list_col(choices: list[list[Any]], which: Any, typ: Any) -> Any:
        # Build a ListArray from a few distinct lists: offsets from the chosen list lengths.
        lengths = np.array([len(c) for c in choices])[which]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
        # The values: for each row, the items of its chosen list, gathered by index (no loop).
        pool = pa.array([item for c in choices for item in c], type=typ.value_type)
        starts = np.concatenate([[0], np.cumsum([len(c) for c in choices])[:-1]])
        idx = np.repeat(starts[which], lengths) + (
            np.arange(offsets[-1]) - np.repeat(offsets[:-1], lengths)
        )
        return pa.ListArray.from_arrays(pa.array(offsets), pool.take(pa.array(idx)), type=typ)

    ext_choices = [
        [],
        ["PIPELINING", "SIZE 52428800", "STARTTLS", "8BITMIME", "ENHANCEDSTATUSCODES"],
        ["SIZE 35882577", "8BITMIME", "AUTH PLAIN LOGIN", "PIPELINING", "CHUNKING", "SMTPUTF8"],
    ]
    ext_which = np.where(is_open, np.where(port == 465, 2, 1), 0)
    finding_choices = [
        [],
        [
            {
                "code": "port25-blocked",
                "severity": "info",
                "message": "Port 25 is filtered from this network.",
            }
        ],
        [
            {"code": "starttls-offered", "severity": "info", "message": "STARTTLS is offered."},
            {
                "code": "auth-before-tls",
                "severity": "high",
                "message": "AUTH is offered before TLS.",
            },
        ],
    ]
    find_which = np.where(
        (port == 25) & (outcome == "filtered"), 1, np.where(is_open & (port == 587), 2, 0)
    )
    transcript_choices = [
        [{"t": 0.0, "dir": "event", "text": "connect"}],
        [
            {"t": 0.0, "dir": "event", "text": "connect"},
            {"t": 1.2, "dir": "server", "text": "220 mx.example.org ESMTP"},
            {"t": 1.3, "dir": "client", "text": "EHLO probe.smtplab.invalid"},
        ],
    ]
    tr_which = is_open.astype(np.int64)

    cols: dict[str, Any] = {
        "schema_version": pa.array(np.full(n, SCHEMA_VERSION)),
        "probe_id": pa.array([f"{i:032x}" for i in range(n)]),
        "started_at": pa.array(start).cast(pa.timestamp("us", tz="UTC")),
        "vantage": pa.array(vantages[rng.integers(0, len(vantages), n)]),
        "source": pa.array(np.full(n, "live", dtype=object)),
        "host": pa.array(hosts[rng.integers(0, len(hosts), n)]),
        "address": pa.array(np.full(n, "192.0.2.1", dtype=object)),
        "port": pa.array(port.astype(np.int64)),
        "mode": pa.array(np.full(n, "auto", dtype=object)),
        "tls_mode": pa.array(tls_mode.astype(object)),
        "outcome": pa.array(outcome),
        "role": pa.array(np.full(n, "unknown", dtype=object)),
        "connect_ms": opt_float(rng.gamma(2.0, 15.0, n), outcome != "filtered"),
        "banner_ms": opt_float(rng.gamma(2.0, 40.0, n), is_open),
        "ehlo_ms": opt_float(rng.gamma(2.0, 5.0, n), is_open),
        "tls_ms": opt_float(rng.gamma(2.0, 30.0, n), is_open),
        "total_ms": pa.array(rng.gamma(2.0, 100.0, n)),
        "banner_code": pa.array(np.where(is_open, 220, 0), mask=~is_open, type=pa.int64()),
        "banner": pa.array(np.where(is_open, "220 mx.example.org ESMTP", None)),
        "esmtp": pa.array(is_open, mask=~is_open),
        "extensions": list_col(ext_choices, ext_which, schema.field("extensions").type),
        "starttls_offered": pa.array(port != 465, mask=~is_open),
        "auth_before_tls": list_col(
            [[], ["PLAIN"]],
            (port == 2525).astype(np.int64) & is_open,
            schema.field("auth_before_tls").type,
        ),
        "tls_version": pa.array(np.where(is_open, "TLSv1.3", None)),
        "cert_san": list_col(
            [[], ["mx.example.org"]], is_open.astype(np.int64), schema.field("cert_san").type
        ),
        "relay_check": pa.array(np.full(n, "not_run", dtype=object)),
        "findings": list_col(finding_choices, find_which, schema.field("findings").type),
        "transcript": list_col(transcript_choices, tr_which, schema.field("transcript").type),
    }
    arrays = [cols[f.name] if f.name in cols else pa.nulls(n, f.type) for f in schema]
    assert set(cols) <= set(FIELDS)
    return pa.Table.from_arrays(
        [a.cast(f.type) for a, f in zip(arrays, schema, strict=False)], schema=schema
    )


def _peak_mb() -> float:
    # Linux reports ru_maxrss in KiB, macOS in bytes.
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024 if sys.platform != "darwin" else rss / 1024 / 1024


def _step(name: str, args: tuple[Any, ...], queue: Any) -> None:
    from smtplab import records

    result: dict[str, Any] = {"step": name}
    t0 = time.perf_counter()
    if name == "write_parquet":
        n, path = args
        table = synthetic_table(n)
        result["build_s"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        records.write_parquet(table, path)
        result["write_s"] = time.perf_counter() - t1
        result["bytes"] = os.path.getsize(path)
    elif name == "write_jsonl":
        n, path = args
        table = synthetic_table(n)
        rows = table.to_pylist()  # what a recorder has in hand: one dict per probe
        for r in rows:
            r["started_at"] = r["started_at"].isoformat()
        result["build_s"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        records.save_records(rows, path)
        result["write_s"] = time.perf_counter() - t1
        result["bytes"] = os.path.getsize(path)
    elif name in ("load", "load_columns"):
        (path,) = args
        import pandas as pd

        if name == "load":
            df = records.load_records(path)
        else:
            df = records.load_records(path, columns=["port", "outcome"])
        result["load_s"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        xtab = pd.crosstab(df["outcome"], df["port"])
        result["crosstab_s"] = time.perf_counter() - t1
        result["rows"] = len(df)
        result["crosstab"] = xtab.to_string()
    result["peak_mb"] = _peak_mb()
    queue.put(result)


def run_step(name: str, *args: Any) -> dict[str, Any]:
    ctx = mp.get_context("spawn")  # a fresh interpreter: its peak memory is this step's alone
    queue = ctx.Queue()
    proc = ctx.Process(target=_step, args=(name, args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="Parquet rows (default 1,000,000)")
    ap.add_argument(
        "--jsonl-rows", type=int, default=100_000, help="JSON Lines rows (default 100,000)"
    )
    args = ap.parse_args()
    n, m = args.rows, args.jsonl_rows
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        pq_path, jl_path = os.path.join(tmp, "probes.parquet"), os.path.join(tmp, "probes.jsonl")
        w = run_step("write_parquet", n, pq_path)
        l = run_step("load", pq_path)
        c = run_step("load_columns", pq_path)
        wj = run_step("write_jsonl", m, jl_path)
        lj = run_step("load", jl_path)
    scale = n / m
    print()
    print(f"Parquet, {n:,} rows ({w['bytes'] / 1e6:.1f} MB on disk)")
    print(f"  build columns      {w['build_s']:7.2f} s")
    print(f"  check + write      {w['write_s']:7.2f} s   peak {w['peak_mb']:7.0f} MB")
    print(
        f"  load_records       {l['load_s']:7.2f} s   peak {l['peak_mb']:7.0f} MB   (all columns, lists as Python lists)"
    )
    print(f"  crosstab           {l['crosstab_s']:7.2f} s")
    print(
        f"  read 2 columns     {c['load_s']:7.2f} s   peak {c['peak_mb']:7.0f} MB   (load_records(columns=['port', 'outcome']))"
    )
    print()
    print(
        f"JSON Lines, {m:,} rows ({wj['bytes'] / 1e6:.1f} MB on disk; x{scale:g} = {wj['bytes'] * scale / 1e6:.0f} MB at {n:,})"
    )
    print(
        f"  save_records       {wj['write_s']:7.2f} s   peak {wj['peak_mb']:7.0f} MB   -> {wj['write_s'] * scale:7.1f} s at {n:,} (extrapolated)"
    )
    print(
        f"  load_records       {lj['load_s']:7.2f} s   peak {lj['peak_mb']:7.0f} MB   -> {lj['load_s'] * scale:7.1f} s at {n:,} (extrapolated)"
    )
    print(f"  crosstab           {lj['crosstab_s']:7.2f} s")
    print()
    print(f"ratio at {n:,} rows (JSON Lines extrapolated / Parquet):")
    print(
        f"  write  {wj['write_s'] * scale / w['write_s']:6.1f}x   load  {lj['load_s'] * scale / l['load_s']:6.1f}x"
        f"   size  {wj['bytes'] * scale / w['bytes']:6.1f}x"
    )
    print()
    print("outcome by port (Parquet):")
    print(l["crosstab"])


if __name__ == "__main__":
    main()
