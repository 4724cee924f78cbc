"""The four-port probe over a real-looking path: 50 ms round trips, through a delaying proxy.

Loopback hides what users feel: across the internet every command a client waits on costs a
round trip. This benchmark starts the test Postfix of ``tests/postfix.py`` (25-, 465-, 587- and
2525-style services on 127.0.0.1), puts a :class:`delay_proxy.DelayProxy` in front of each
service on 127.0.0.2 (same port numbers), and times three whole processes, interleaved:

* **smtplab**: ``python -m smtplab probe 127.0.0.2 -p <ports> --json``;
* **baseline**: stdlib ``smtplib`` one port after another (EHLO, STARTTLS, EHLO; ``SMTP_SSL`` on
  the implicit-TLS port), as people write it;
* **minimum**: what the protocol allows — the four ports at once, each paying only connect,
  greeting, EHLO, STARTTLS, handshake and EHLO, and closing without waiting for QUIT's 221.

It prints the medians, the ratios (targets: smtplab ≤ 0.40× the baseline and ≤ 1.2× the minimum)
and smtplab's phases in round trips, read from its own records. Needs root and Debian's postfix.
Only loopback is contacted.

    sudo python benchmarks/probe_rtt.py [--rtt-ms 50] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from delay_proxy import DelayProxy
from probe_speed import Postfix, child_env, choose_ports, skip_reason, timed

PROXY_HOST = "127.0.0.2"

BASELINE = r"""
import smtplib, sys
host, timeout = sys.argv[1], float(sys.argv[2])
for arg in sys.argv[3:]:
    port, kind = arg.split(":")
    if kind == "implicit":
        with smtplib.SMTP_SSL(host, int(port), timeout=timeout) as s:
            s.ehlo()
    else:
        with smtplib.SMTP(host, int(port), timeout=timeout) as s:
            s.ehlo()
            s.starttls()
            s.ehlo()
"""

#: The fewest round trips a client can spend learning what smtplab learns: all ports at once,
#: each reply read once, no wait for the 221 after QUIT.
MINIMUM = r"""
import socket, ssl, sys, threading
host, timeout = sys.argv[1], float(sys.argv[2])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE

def reply(f):
    while True:
        line = f.readline()
        if not line or line[3:4] != b"-":
            return line

def one(port, kind):
    s = socket.create_connection((host, port), timeout=timeout)
    if kind == "implicit":
        s = ctx.wrap_socket(s, server_hostname=host)
    f = s.makefile("rb")
    reply(f)
    s.sendall(b"EHLO bench.example\r\n"); reply(f)
    if kind == "starttls":
        s.sendall(b"STARTTLS\r\n"); reply(f)
        s = ctx.wrap_socket(s, server_hostname=host)
        f = s.makefile("rb")
        s.sendall(b"EHLO bench.example\r\n"); reply(f)
    s.sendall(b"QUIT\r\n")
    s.close()

threads = []
for arg in sys.argv[3:]:
    port, kind = arg.split(":")
    t = threading.Thread(target=one, args=(int(port), kind))
    t.start()
    threads.append(t)
for t in threads:
    t.join()
"""

PHASES = ("connect_ms", "banner_ms", "ehlo_ms", "tls_ms", "total_ms")


def round_trips(stdout: str, rtt_ms: float) -> list[str]:
    lines = []
    for rec in map(json.loads, stdout.splitlines()):
        parts = []
        for phase in PHASES:
            ms = rec.get(phase)
            if ms is not None:
                parts.append(f"{phase[:-3]} {ms / rtt_ms:4.1f}")
        lines.append(f"  port {rec['port']:>4} ({rec['outcome']}): " + ", ".join(parts))
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rtt-ms", type=float, default=50.0, help="round-trip time (default 50)")
    ap.add_argument("--repeat", type=int, default=5, help="timed runs per command (default 5)")
    ap.add_argument("--timeout", type=float, default=5.0, help="--timeout for the clients")
    args = ap.parse_args(argv)
    reason = skip_reason()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 1
    rtt = args.rtt_ms / 1000
    order = ["smtp", "submissions", "submission", "alt"]
    with ExitStack() as stack:
        pf = stack.enter_context(Postfix(ports=choose_ports("auto")))
        pycache = stack.enter_context(tempfile.TemporaryDirectory(prefix="smtplab-pycache-"))
        for s in order:
            port = pf.ports[s]
            stack.enter_context(DelayProxy((PROXY_HOST, port), ("127.0.0.1", port), rtt=rtt))
        env = child_env(pycache)
        py = sys.executable
        kinds = [f"{pf.ports[s]}:{'implicit' if s == 'submissions' else 'starttls'}" for s in order]
        plist = ",".join(str(pf.ports[s]) for s in order)
        t = str(args.timeout)
        commands = {
            "smtplab probe": [py, "-m", "smtplab", "probe", PROXY_HOST, "-p", plist, "--json",
                              "--timeout", t],
            "baseline: smtplib, one port after another": [py, "-c", BASELINE, PROXY_HOST, t,
                                                          *kinds],
            "minimum: four ports at once, fewest round trips": [py, "-c", MINIMUM, PROXY_HOST, t,
                                                                *kinds],
        }  # fmt: skip
        for cmd in commands.values():  # warm-up: page cache, Postfix's smtpd processes
            timed(cmd, env)
        samples: dict[str, list[float]] = {name: [] for name in commands}
        last = ""
        for _ in range(args.repeat):
            for name, cmd in commands.items():
                elapsed, out = timed(cmd, env)
                samples[name].append(elapsed)
                if name == "smtplab probe":
                    last = out
    med = {name: statistics.median(s) for name, s in samples.items()}
    print(f"{args.rtt_ms:g} ms round trips through a delaying proxy; ports {plist}; "
          f"median of {args.repeat} whole-process runs")  # fmt: skip
    width = max(map(len, med))
    for name, m in med.items():
        print(f"  {name:<{width}}  {m * 1000:7.0f} ms")
    ours = med["smtplab probe"]
    base = med["baseline: smtplib, one port after another"]
    least = med["minimum: four ports at once, fewest round trips"]
    print(f"ratio smtplab / baseline = {ours / base:.2f} (target ≤ 0.40)")
    print(f"ratio smtplab / minimum  = {ours / least:.2f} (target ≤ 1.20)")
    print("smtplab's phases in round trips (from its last run's records):")
    print("\n".join(round_trips(last, args.rtt_ms)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
