"""Does the lab hold its limits under continuous classroom probing? (issue 23)

Run on demand (not part of the tests; it takes minutes):

    python benchmarks/lab_soak.py [--minutes 10] [--students 20] [--sample 15]

One process starts the classroom lab (every host: the relay, submission, legacy, the three bad
certificates, the tarpit and the slow host) and lets ``--students`` simulated learners probe it
without a pause, each one probe at a time, each probe a random host and port. The tarpit and the
slow host get the classroom lesson's short timeout (0.5 s: the slow host then counts as
silent), every other endpoint a patient one. A student holds at most two connections at once
(auto mode's cleartext try and its implicit-TLS try), so the class never needs more than
``2 × students`` of the lab's ``max_connections`` slots: any ``421 Too many connections`` is a
421 below the limit, a slot the lab failed to give back (target 0).

Printed, one row per sample: probes so far, the lab's connections now and at peak, 421s, the
process's memory (VmRSS) and open file descriptors, and sockets in CLOSE-WAIT on the lab's ports
(a client gone, the lab not). The baseline is the same process measured in the same run, once
the warm-up (the first tenth of the run, at least a minute) is over for memory (flat: the end
within 10 % of it), and the idle lab before the class for descriptors (flat: the idle lab after
the class within 8 of it). After the run the
students stop and, after ``--idle`` seconds, the lab's connections and CLOSE-WAIT sockets are
counted again (target 0 and 0).

Everything talks to loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path

from smtplab.engine import aprobe
from smtplab.lab import SLOW_GREETING_DELAY, Lab

#: The classroom lesson's hasty timeout, and the patient one for every other endpoint.
SHORT_TIMEOUT = 0.5
PATIENT_TIMEOUT = 5.0
HASTY_HOSTS = ("slow.lab.example", "tarpit.lab.example")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def close_wait(ports: set[int]) -> int:
    """Sockets in CLOSE-WAIT whose local port is one of the lab's (from the kernel's tables)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if cols[3] == "08" and int(cols[1].rsplit(":", 1)[1], 16) in ports:
                count += 1
    return count


@dataclass
class Tally:
    probes: int = 0
    rejected: int = 0  # outcome "rejected" with a 421: the lab's limit, seen from a probe
    wrong: collections.Counter[str] = field(default_factory=collections.Counter)


def expected_outcome(lab: Lab, host: str, port: int, timeout: float) -> str:
    ep = lab.endpoint(host, port)
    if ep.behaviour == "slow" and timeout < SLOW_GREETING_DELAY:
        return "silent"  # the lesson: a hasty client calls a slow server silent
    return ep.expected


async def student(lab: Lab, rng: random.Random, until: float, tally: Tally) -> None:
    targets = [(e.host, e.port) for e in lab.endpoints]
    loop = asyncio.get_running_loop()
    while loop.time() < until:
        host, port = rng.choice(targets)
        timeout = SHORT_TIMEOUT if host in HASTY_HOSTS else PATIENT_TIMEOUT
        r = await aprobe(host, port, lab=lab, timeout=timeout)
        tally.probes += 1
        if r.outcome == "rejected" and r.banner_code == 421:
            tally.rejected += 1
        want = expected_outcome(lab, host, port, timeout)
        if r.outcome != want:
            tally.wrong[f"{host}:{port} {want} -> {r.outcome}"] += 1


async def soak(args: argparse.Namespace, lab: Lab) -> int:
    loop = asyncio.get_running_loop()
    ports = {e.address[1] for e in lab.endpoints}
    start = loop.time()
    until = start + args.minutes * 60
    warm_up = max(60.0, args.minutes * 6)  # the first tenth of the run, at least a minute
    idle_mem, idle_fds = rss_mb(), open_fds()  # the lab started, nobody probing yet
    tally = Tally()
    rng = random.Random(args.seed)
    tasks = [
        asyncio.ensure_future(student(lab, random.Random(rng.random()), until, tally))
        for _ in range(args.students)
    ]
    print(
        f"lab soak: classroom, {args.students} students for {args.minutes:g} min, "
        f"max_connections {lab.max_connections}, slow host greets after {SLOW_GREETING_DELAY:g} s"
    )
    print(
        f"{'time':>6} {'probes':>7} {'/s':>5} {'active':>6} {'peak':>5} {'421':>4} "
        f"{'RSS MB':>7} {'fds':>5} {'CLOSE-WAIT':>10}"
    )
    baseline: tuple[float, int] | None = None
    samples: list[tuple[float, float, int]] = []
    last_probes, last_t = 0, start
    while not all(t.done() for t in tasks):
        await asyncio.wait(tasks, timeout=args.sample)
        now = loop.time()
        stats = lab.connection_stats()
        mem, fds, cw = rss_mb(), open_fds(), close_wait(ports)
        rate = (tally.probes - last_probes) / max(now - last_t, 1e-9)
        last_probes, last_t = tally.probes, now
        samples.append((now - start, mem, fds))
        if baseline is None and now - start >= warm_up:
            baseline = (mem, fds)
        print(
            f"{now - start:6.0f} {tally.probes:7d} {rate:5.1f} {stats.active:6d} {stats.peak:5d} "
            f"{stats.turned_away:4d} {mem:7.1f} {fds:5d} {cw:10d}",
            flush=True,
        )
    for t in tasks:
        t.result()  # a bug in the benchmark must not pass silently

    await asyncio.sleep(args.idle)
    stats = lab.connection_stats()
    idle_cw = close_wait(ports)
    end_mem, end_fds = rss_mb(), open_fds()
    base_mem = baseline[0] if baseline else samples[0][1]
    peak_mem = max(m for t, m, _ in samples if t >= warm_up) if baseline else end_mem
    print()
    print(
        f"probes: {tally.probes:,} in {args.minutes:g} min "
        f"({tally.probes / (args.minutes * 60):.1f}/s)"
    )
    print(
        f"421 below the limit: {stats.turned_away} turned away by the lab, {tally.rejected} "
        f"probes 'rejected' (target 0; the class needs at most {2 * args.students} of "
        f"{lab.max_connections} slots, the lab's peak was {stats.peak})"
    )
    wrong = sum(tally.wrong.values())
    print(f"outcomes not the scenario's: {wrong} of {tally.probes:,}")
    for what, n in tally.wrong.most_common(8):
        print(f"  {n:5d}  {what}")
    print(
        f"memory: baseline {base_mem:.1f} MB (after {warm_up:g} s warm-up), end {end_mem:.1f} MB "
        f"(x{end_mem / base_mem:.3f}), highest after warm-up {peak_mem:.1f} MB "
        f"(x{peak_mem / base_mem:.3f})"
    )
    print(
        f"memory idle before the class: {idle_mem:.1f} MB; descriptors idle before the class "
        f"{idle_fds}, idle after it {end_fds} ({end_fds - idle_fds:+d})"
    )
    print(
        f"after {args.idle:g} s idle: lab connections {stats.active}, CLOSE-WAIT sockets {idle_cw} "
        "(target 0 and 0)"
    )
    flat = end_mem <= 1.10 * base_mem and end_fds - idle_fds <= 8
    ok = stats.turned_away == 0 and tally.rejected == 0 and not stats.active and not idle_cw
    print(
        f"verdict: {'held' if ok and flat else 'NOT held'} "
        f"(421s, idle connections and CLOSE-WAIT {'0' if ok else 'not 0'}; "
        f"memory and descriptors {'flat' if flat else 'grew'})"
    )
    return 0 if ok and flat else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="how long to probe (default 10)")
    ap.add_argument("--students", type=int, default=20, help="learners probing at once")
    ap.add_argument("--sample", type=float, default=15.0, help="seconds between samples")
    ap.add_argument(
        "--idle", type=float, default=5.0, help="seconds of quiet before the last count"
    )
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if not Path("/proc/self/status").exists():
        print("this benchmark reads Linux's /proc", file=sys.stderr)
        return 2
    with Lab("classroom") as lab:
        if 2 * args.students >= lab.max_connections:
            print("--students must keep 2 x students below the lab's limit", file=sys.stderr)
            return 2
        return asyncio.run(soak(args, lab))


if __name__ == "__main__":
    sys.exit(main())
