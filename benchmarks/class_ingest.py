"""The class collector under a classroom's load, against the store alone in the same run.

    python benchmarks/class_ingest.py                  # 60 learners, 10^5 records, 3 ms RTT
    python benchmarks/class_ingest.py --learners 20 --records 20000 --rtt 0

Sixty learners share at once, each from its own thread, in batches of 500 varied synthetic records
(:mod:`smtplab.synthetic`: 20 servers the class probes, a dozen networks, every outcome, TLS 1.0
to 1.3, transcripts of 2 to 40 lines), over a delaying proxy (``delay_proxy.py``) that adds a
LAN's round trip, to the real collector: ``smtplab class serve`` in its own process (uvicorn,
Starlette, every record checked and scrubbed, DuckDB). Printed:

* **ingest**: records per second through HTTP (target ≥ 1,000), and the **baseline**: the same
  records put straight into the same kind of store (no HTTP, no checks) — the ratio is what the
  service's checking and transport cost;
* **first view**: the live page's data (``/api/summary``) with all records in (target < 1 s with
  10^5), against a DuckDB ``GROUP BY`` of the same table;
* **memory**: the collector process's peak and resident size (bounded: the records live in
  DuckDB, not in Python).
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))

from delay_proxy import DelayProxy  # noqa: E402

from smtplab.classroom.store import ClassStore  # noqa: E402
from smtplab.synthetic import synthetic_records  # noqa: E402

BATCH = 500


def status_mb(pid: int, field: str) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=300) as reply:
        return dict(json.loads(reply.read()))


def start_collector(folder: Path) -> tuple[subprocess.Popen[str], int, str, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    proc = subprocess.Popen(
        [sys.executable, "-m", "smtplab", "class", "serve", "--bind", "127.0.0.1",
         "--port", str(port), "--dir", str(folder)],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    assert proc.stdout is not None
    head = ""
    while "Ctrl-C stops" not in head and proc.poll() is None:
        head += proc.stdout.readline()
    code = re.search(r"Join code: (\w+)", head)
    key = re.search(r"\?key=(\S+)", head)
    assert code and key, head
    return proc, port, code.group(1), key.group(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--learners", type=int, default=60)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--rtt", type=float, default=0.003, help="seconds (a LAN: 1-5 ms)")
    args = parser.parse_args()
    per = -(-args.records // args.learners)
    records = list(synthetic_records(args.records, seed=11, hosts=20))
    print(f"{len(records)} synthetic records, {args.learners} learners, RTT {args.rtt * 1000:g} ms")

    with tempfile.TemporaryDirectory() as tmp:
        proc, port, code, key = start_collector(Path(tmp) / "class")
        try:
            with DelayProxy(("127.0.0.2", port), ("127.0.0.1", port), rtt=args.rtt):
                base = f"http://127.0.0.2:{port}"
                tokens = [
                    post(f"{base}/api/join", {"code": code, "label": f"net {i}"})["learner"]
                    for i in range(args.learners)
                ]
                accepted = [0] * args.learners

                def learner(i: int) -> None:
                    mine = records[i * per : (i + 1) * per]
                    for start in range(0, len(mine), BATCH):
                        body = {"learner": tokens[i], "records": mine[start : start + BATCH]}
                        accepted[i] += post(f"{base}/api/records", body)["accepted"]

                threads = [threading.Thread(target=learner, args=(i,)) for i in range(len(tokens))]
                t0 = time.perf_counter()
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                ingest_s = time.perf_counter() - t0
                t0 = time.perf_counter()
                with urllib.request.urlopen(f"{base}/api/summary?key={key}", timeout=300) as r:
                    summary = json.loads(r.read())
                view_s = time.perf_counter() - t0
            rss, peak = status_mb(proc.pid, "VmRSS"), status_mb(proc.pid, "VmHWM")
        finally:
            proc.terminate()
            proc.wait(30)
        total = sum(accepted)

        store = ClassStore(Path(tmp) / "baseline.duckdb")
        for i in range(args.learners):
            store.add_learner(f"l{i}", f"net {i}")
        t0 = time.perf_counter()
        for i in range(args.learners):
            mine = records[i * per : (i + 1) * per]
            for start in range(0, len(mine), BATCH):
                store.add_records(f"l{i}", mine[start : start + BATCH])
        base_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        sql = "SELECT learner, port, word, count(*) FROM records GROUP BY ALL"
        store._db.execute(sql).fetchall()
        group_s = time.perf_counter() - t0
        store.close()

    rate, base_rate = total / ingest_s, total / base_s
    print(f"ingest     {total} records in {ingest_s:.2f} s = {rate:,.0f} records/s "
          f"(target >= 1,000): {'met' if rate >= 1000 else 'NOT met'}")  # fmt: skip
    print(f"baseline   the same into the store directly: {base_rate:,.0f} records/s; "
          f"ratio service/baseline {rate / base_rate:.2f}")  # fmt: skip
    print(f"first view /api/summary with {summary['records']} records: {view_s:.2f} s "
          f"(target < 1 s): {'met' if view_s < 1 else 'NOT met'}; "
          f"DuckDB GROUP BY alone {group_s:.3f} s")  # fmt: skip
    print(f"memory     the collector: {rss:.0f} MB resident after, peak {peak:.0f} MB")


if __name__ == "__main__":
    main()
