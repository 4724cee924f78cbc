"""``smtplab doctor``'s speed: this tree against an older one, in the same run.

    sudo python benchmarks/doctor_speed.py [--old REF] [--repeat N] [--no-real]

Each doctor runs as a whole process (``python -m smtplab doctor ...``, stdout a pipe, as a
learner's terminal sees it without the live lines), and the time each line arrives is kept:

- **total**: until the process ended;
- **first line**: the first line printed;
- **answer**: the line that names the port to use (``  Port    465``), or "No port is safe".

Three doctors: the older tree (``--old REF``, checked out with ``git worktree`` into a
temporary folder; default ``fea8a47``, the doctor before adaptive connects), this tree, and
this tree with ``--patient`` (every connect waits the whole ``--timeout``, as before).

1. **The lab**: every scenario, ``smtp.lab.example``, ``--timeout 5``. The verdicts (``--json``)
   of this tree's adaptive and patient doctors must be equal in every scenario, and every
   port's outcome equal to the older tree's.
2. **A real network** (root; skipped with ``--no-real``): two network namespaces of the
   benchmark's own joined by a user-space link (two TUN devices and a relay that holds every
   packet for half the round trip, since this kernel may lack ``netem``), 200 ms round trips;
   the server's namespace runs aiosmtpd on 25, 465 (implicit TLS) and 587, with iptables rules
   that DROP 587 and REJECT (TCP reset) 2525. The addresses exist only inside the namespaces.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import heapq
import json
import os
import select
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OLD_DEFAULT = "fea8a47"
SCENARIOS = (
    "open-internet",
    "home-isp",
    "cloud-vm",
    "strict-firewall",
    "hotel-wifi",
    "campus-dpi",
    "hosting-provider",
    "classroom",
)


# --------------------------------------------------------------------------- timing a doctor


def timed(cmd: Sequence[str], pythonpath: Path, timeout: float = 120) -> dict[str, Any]:
    """Run ``cmd`` with stdout a pipe: total seconds, first line, answer line, the text."""
    env = {**os.environ, "PYTHONPATH": str(pythonpath), "NO_COLOR": "1"}
    start = time.monotonic()
    lines: list[tuple[float, str]] = []
    # cwd is the tree itself: ``python -m`` puts the working folder first on sys.path
    with subprocess.Popen(
        list(cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=pythonpath
    ) as p:
        assert p.stdout is not None and p.stderr is not None
        buffer = b""
        while True:
            ready, _, _ = select.select([p.stdout], [], [], timeout)
            if not ready:
                p.kill()
                raise RuntimeError(f"{cmd}: nothing for {timeout} s")
            chunk = os.read(p.stdout.fileno(), 65536)
            if not chunk:
                break
            buffer += chunk
            *done, buffer = buffer.split(b"\n")
            lines += [(time.monotonic() - start, line.decode()) for line in done]
        err = p.stderr.read().decode()
        if p.wait(30) != 0:
            raise RuntimeError(f"{cmd} failed: {err}")
    total = time.monotonic() - start
    answer = next(
        (t for t, s in lines if s.startswith("  Port  ") or "No port is safe" in s), total
    )
    return {
        "total": total,
        "first": lines[0][0] if lines else total,
        "answer": answer,
        "text": "\n".join(s for _, s in lines),
    }


def verdicts(text: str) -> dict[str, Any]:
    d = json.loads(text)
    rec = d["recommended"]
    return {
        "recommended": None if rec is None else (rec["port"], rec["security"]),
        "ports": {p["port"]: (p["outcome"], p["verdict"]) for p in d["ports"]},
    }


@contextlib.contextmanager
def old_tree(ref: str) -> Iterator[Path]:
    """The older tree at ``ref``, checked out with ``git worktree`` into a temporary folder."""
    folder = Path(tempfile.mkdtemp(prefix="smtplab-old-doctor-"))
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-f", str(folder), ref],
        check=True,
        capture_output=True,
    )
    try:
        yield folder
    finally:
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(folder)],
            check=False,
            capture_output=True,
        )


def _row(name: str, runs: list[dict[str, Any]]) -> str:
    def med(key: str) -> str:
        return f"{statistics.median(r[key] for r in runs):6.2f} s"

    return f"| {name:<28} | {med('total')} | {med('first')} | {med('answer')} |"


HEAD = (
    "| doctor (median)              |  total   |  first   |  answer  |\n"
    "|------------------------------|----------|----------|----------|"
)


def lab(old: Path, repeat: int, scenarios: Sequence[str] = SCENARIOS) -> bool:
    same = True
    print("## The lab: smtp.lab.example, --timeout 5\n")
    for scenario in scenarios:
        base = [sys.executable, "-m", "smtplab", "doctor", "smtp.lab.example"]
        base += ["--lab", scenario, "--timeout", "5"]
        runs: dict[str, list[dict[str, Any]]] = {"old": [], "new": [], "patient": []}
        for _ in range(repeat):  # interleaved, so a busy moment hits all three alike
            runs["old"].append(timed(base, old))
            runs["new"].append(timed(base, ROOT))
            runs["patient"].append(timed([*base, "--patient"], ROOT))
        old_v = verdicts(timed([*base, "--json"], old)["text"])
        new_v = verdicts(timed([*base, "--json"], ROOT)["text"])
        pat_v = verdicts(timed([*base, "--json", "--patient"], ROOT)["text"])
        outcomes_equal = {p: o for p, (o, _) in old_v["ports"].items()} == {
            p: o for p, (o, _) in new_v["ports"].items()
        }
        equal = new_v == pat_v and outcomes_equal and old_v["recommended"] == new_v["recommended"]
        same = same and equal
        print(f"### {scenario}: verdicts adaptive == patient, outcomes == old: {equal}\n")
        print(HEAD)
        print(_row("old tree", runs["old"]))
        print(_row("this tree", runs["new"]))
        print(_row("this tree --patient", runs["patient"]))
        print()
    return same


# --------------------------------------------------------------------------- a real network

CLONE_NEWNET = 0x40000000
TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000


def _enter(ns: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/var/run/netns/{ns}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {ns}")
    finally:
        os.close(fd)


def _tun(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def relay(ns_a: str, ns_b: str, rtt: float) -> None:
    """The link: a TUN device in each namespace, every packet held half a round trip."""
    _enter(ns_a)
    a = _tun("tunlink")
    _enter(ns_b)
    b = _tun("tunlink")
    print("ready", flush=True)
    other = {a: b, b: a}
    queue: list[tuple[float, int, int, bytes]] = []
    n = 0
    while True:
        wait = max(0.0, queue[0][0] - time.monotonic()) if queue else None
        ready, _, _ = select.select([a, b], [], [], wait)
        for fd in ready:
            packet = os.read(fd, 65536)
            n += 1
            heapq.heappush(queue, (time.monotonic() + rtt / 2, n, other[fd], packet))
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            _, _, fd, packet = heapq.heappop(queue)
            os.write(fd, packet)


SERVER = r"""
import asyncio, sys
from aiosmtpd.smtp import SMTP, AuthResult
from smtplab.lab import certs

ADDR, NAME = sys.argv[2], "mail.test.example"
with open(sys.argv[1], "w") as f:
    f.write(certs.ca_pem())

class Handler:
    pass

def smtp(ctx, implicit=False):
    return lambda: SMTP(Handler(), hostname=NAME, tls_context=None if implicit else ctx,
                        auth_require_tls=not implicit,
                        authenticator=lambda *a: AuthResult(success=False, handled=False))

async def main():
    loop = asyncio.get_running_loop()
    ctx = certs.server_context(NAME)
    for port in (25, 587, 2525):
        await loop.create_server(smtp(ctx), ADDR, port)
    await loop.create_server(smtp(ctx, implicit=True), ADDR, 465, ssl=ctx)
    print("ready", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@contextlib.contextmanager
def real_network(rtt: float) -> Iterator[dict[str, Any]]:
    tag = uuid.uuid4().hex[:6]
    laptop, server = f"sbl{tag}", f"sbs{tag}"
    hosts_dir = Path("/etc/netns") / laptop
    procs: list[subprocess.Popen[str]] = []
    made: list[str] = []
    tmp = Path(tempfile.mkdtemp(prefix="smtplab-doctor-net-"))
    try:
        for ns in (laptop, server):
            _ip("netns", "add", ns)
            made.append(ns)
            _ip("-n", ns, "link", "set", "lo", "up")
        link = subprocess.Popen(
            [sys.executable, __file__, "--relay", laptop, server, str(rtt)],
            stdout=subprocess.PIPE,
            text=True,
        )
        procs.append(link)
        assert link.stdout is not None and link.stdout.readline().strip() == "ready"
        for ns, mine, peer in (
            (laptop, "10.77.0.1", "10.77.0.2"),
            (server, "10.77.0.2", "10.77.0.1"),
        ):
            _ip("-n", ns, "addr", "add", mine, "peer", peer, "dev", "tunlink")
            _ip("-n", ns, "link", "set", "tunlink", "up")
        ipt = ["ip", "netns", "exec", server, "iptables"]
        subprocess.run(
            [*ipt, "-A", "INPUT", "-p", "tcp", "--dport", "587", "-j", "DROP"], check=True
        )
        subprocess.run(
            [*ipt, "-A", "INPUT", "-p", "tcp", "--dport", "2525", "-j", "REJECT",
             "--reject-with", "tcp-reset"],
            check=True,
        )  # fmt: skip
        hosts_dir.mkdir(parents=True, exist_ok=True)
        (hosts_dir / "hosts").write_text("10.77.0.2 mail.test.example\n127.0.0.1 localhost\n")
        ca = tmp / "ca.pem"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        srv = subprocess.Popen(
            ["ip", "netns", "exec", server, sys.executable, "-c", SERVER, str(ca), "10.77.0.2"],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        procs.append(srv)
        assert srv.stdout is not None and srv.stdout.readline().strip() == "ready"
        yield {"laptop": laptop, "ca": str(ca)}
    finally:
        for p in procs:
            p.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(10)
        for ns in made:
            subprocess.run(["ip", "netns", "delete", ns], check=False, capture_output=True)
        subprocess.run(["rm", "-rf", str(hosts_dir), str(tmp)], check=False)


def real(old: Path, repeat: int, rtt: float) -> bool:
    print(f"## A real network: {rtt * 1000:.0f} ms round trips, 587 DROP, 2525 REJECT\n")
    with real_network(rtt) as net:
        base = ["ip", "netns", "exec", net["laptop"], sys.executable, "-m", "smtplab", "doctor"]
        base += ["mail.test.example", "--timeout", "5", "--cafile", net["ca"]]
        runs: dict[str, list[dict[str, Any]]] = {"old": [], "new": [], "patient": []}
        for _ in range(repeat):
            runs["old"].append(timed(base, old))
            runs["new"].append(timed(base, ROOT))
            runs["patient"].append(timed([*base, "--patient"], ROOT))
        old_v = verdicts(timed([*base, "--json"], old)["text"])
        new_v = verdicts(timed([*base, "--json"], ROOT)["text"])
        pat_v = verdicts(timed([*base, "--json", "--patient"], ROOT)["text"])
    equal = new_v == pat_v and {p: o for p, (o, _) in old_v["ports"].items()} == {
        p: o for p, (o, _) in new_v["ports"].items()
    }
    print(f"verdicts adaptive == patient, outcomes == old: {equal}")
    print(f"outcomes: {', '.join(f'{p} {o}' for p, (o, _) in sorted(new_v['ports'].items()))}\n")
    print(HEAD)
    print(_row("old tree", runs["old"]))
    print(_row("this tree", runs["new"]))
    print(_row("this tree --patient", runs["patient"]))
    print()
    return equal


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", default=OLD_DEFAULT, help="the older tree's git ref")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rtt", type=float, default=0.2, help="round trip, seconds (real)")
    parser.add_argument("--no-real", action="store_true", help="the lab only (no root)")
    parser.add_argument(
        "--scenario", action="append", choices=SCENARIOS, help="only these lab scenarios"
    )
    parser.add_argument("--relay", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.relay:
        relay(args.relay[0], args.relay[1], float(args.relay[2]))
        return 0
    print(f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores\n")
    with old_tree(args.old) as old:
        same = lab(old, args.repeat, args.scenario or SCENARIOS)
        if not args.no_real:
            same = real(old, args.repeat, args.rtt) and same
    print("same verdicts everywhere:", same)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
