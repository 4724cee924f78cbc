"""How long does ``smtplab probe`` take, next to plain stdlib smtplib, on a real Postfix?

Starts the test Postfix of ``tests/postfix.py`` (four services: 25-, 465-, 587- and 2525-style)
on 127.0.0.1, then times whole processes, several times each, interleaved so that both sides
see the same machine:

* **smtplab**: ``python -m smtplab probe 127.0.0.1 -p <the four ports> --json``
* **baseline**: a Python process using stdlib ``smtplib`` one port after another — EHLO,
  STARTTLS, EHLO on the STARTTLS ports and ``SMTP_SSL`` + EHLO on the implicit-TLS port (it is
  *told* which port is which; smtplab in auto mode works that out itself).

It prints both medians and their ratio (the target: smtplab ≤ baseline). ``--diagnose`` also
times variants that show where smtplab's time goes: interpreter start and imports, the CA store
and ``cryptography`` that a verifying probe loads, the second connection made to read a
certificate that failed verification, the politeness rate limit of ``probe_many`` (10 new
connections per second for live targets; loopback is exempt) and a missing bytecode cache.

Ports: with ``--ports real`` (the default when running as root and the numbers are free) the
services listen on 127.0.0.1:25, 465, 587 and 2525 — exactly what ``smtplab probe HOST`` probes
by default. With ``--ports high`` they get free unprivileged ports; then the implicit-TLS service
is not on 465, and smtplab's auto mode must wait ``--timeout`` seconds of cleartext silence
before it tries TLS there, which this benchmark reports rather than hides.

Needs root and Debian's postfix (as the Postfix tests do). Only loopback is ever contacted.

    sudo python benchmarks/probe_speed.py [--repeat 9] [--ports auto|real|high] [--diagnose]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from postfix import SERVICES, Postfix, skip_reason  # noqa: E402  (tests/ is put on the path above)

#: The baseline client: stdlib smtplib as people call it, one port after another. Given no SSL
#: context, smtplib encrypts without checking the certificate (and so never loads the CA store).
BASELINE = r"""
import smtplib, sys
timeout = float(sys.argv[1])
for arg in sys.argv[2:]:
    port, kind = arg.split(":")
    if kind == "implicit":
        with smtplib.SMTP_SSL("127.0.0.1", int(port), timeout=timeout) as s:
            s.ehlo()
            print(port, "implicit", s.esmtp_features.get("auth", "-"))
    else:
        with smtplib.SMTP("127.0.0.1", int(port), timeout=timeout) as s:
            s.ehlo()
            s.starttls()
            s.ehlo()
            print(port, "starttls", s.esmtp_features.get("auth", "-"))
"""

#: The verifying baseline (issue 25, item 9): the same client with the context Python's docs
#: recommend, ``ssl.create_default_context()``, so it checks the chain and the name as smtplab
#: does. Run with ``SSL_CERT_FILE`` = the Postfix certificate, it is trusted.
BASELINE_VERIFYING = r"""
import smtplib, ssl, sys
ctx = ssl.create_default_context()
timeout = float(sys.argv[1])
for arg in sys.argv[2:]:
    port, kind = arg.split(":")
    if kind == "implicit":
        with smtplib.SMTP_SSL("127.0.0.1", int(port), timeout=timeout, context=ctx) as s:
            s.ehlo()
            print(port, "implicit", s.esmtp_features.get("auth", "-"))
    else:
        with smtplib.SMTP("127.0.0.1", int(port), timeout=timeout) as s:
            s.ehlo()
            s.starttls(context=ctx)
            s.ehlo()
            print(port, "starttls", s.esmtp_features.get("auth", "-"))
"""

#: smtplab's CLI with probe_many's politeness limit for live targets (10 new connections per
#: second) forced on, as it was before loopback targets were exempted (diagnosis only).
RATE_LIMITED = r"""
import sys
import importlib
P = importlib.import_module("smtplab.engine.run")  # where probe_many finds its rate limiter
class _Limit(P._RateLimiter):
    def __init__(self, rate):
        super().__init__(10.0)
P._RateLimiter = _Limit
from smtplab.cli import main
sys.exit(main(sys.argv[1:]))
"""


#: smtplab's CLI with the quick acknowledgement of TLS reads turned off (diagnosis only): the
#: greeting on 465 then waits for Linux's delayed ACK of Postfix's session tickets.
NO_QUICKACK = r"""
import sys
import smtplab.engine.wire as W
W._QUICKACK = None
from smtplab.cli import main
sys.exit(main(sys.argv[1:]))
"""


TRUSTED = "smtplab, certificate trusted (SSL_CERT_FILE)"
VERIFYING = "baseline: smtplib verifying (create_default_context), certificate trusted"


def _ports_free(ports: list[int]) -> bool:
    for p in ports:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME-WAIT of a last run
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                return False
    return True


def choose_ports(kind: str) -> dict[str, int] | None:
    """The real numbers 25/465/587/2525 when asked for or possible, else None (free ports)."""
    real = dict(SERVICES)
    if kind == "high":
        return None
    possible = os.geteuid() == 0 and _ports_free(list(real.values()))
    if kind == "real" and not possible:
        sys.exit("--ports real needs root and free ports 25, 465, 587 and 2525 on 127.0.0.1")
    return real if possible else None


def child_env(pycache: str, **extra: str) -> dict[str, str]:
    """The environment of every timed process: bytecode cached, as in any installed package.

    With ``PYTHONDONTWRITEBYTECODE`` set (some containers and CI images do), every run would
    compile smtplab's sources again (tens of milliseconds) while the standard library's are
    precompiled — not what a user who ran ``pip install`` sees. The cache goes to a temp dir.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPYCACHEPREFIX": pycache, **extra}


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    """Wall-clock seconds of one whole process, and its stdout (it must succeed)."""
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=120, env=env)
    elapsed = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"{cmd[:4]}… failed ({out.returncode}): {out.stderr.strip()}")
    return elapsed, out.stdout


def check_smtplab_output(stdout: str, ports: list[int], verified: bool = False) -> None:
    records = [json.loads(line) for line in stdout.splitlines()]
    got = [(r["port"], r["outcome"]) for r in records]
    if got != [(p, "open") for p in ports]:
        raise SystemExit(f"smtplab did not see four open ports: {got}")
    if verified and not all(r["cert_verified"] is True for r in records):
        raise SystemExit("smtplab did not verify the trusted certificate")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=9, help="timed runs per command (default 9)")
    ap.add_argument("--ports", choices=["auto", "real", "high"], default="auto")
    ap.add_argument(
        "--timeout",
        type=float,
        default=2.0,
        help="--timeout given to smtplab (and to smtplib); default 2 s",
    )
    ap.add_argument("--diagnose", action="store_true", help="also time the variants")
    args = ap.parse_args(argv)
    reason = skip_reason()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 1

    with (
        Postfix(ports=choose_ports(args.ports)) as pf,
        tempfile.TemporaryDirectory(prefix="smtplab-pycache-") as pycache,
    ):
        env = child_env(pycache)
        order = ["smtp", "submissions", "submission", "alt"]
        ports = [pf.ports[s] for s in order]
        real = ports == [25, 465, 587, 2525]
        py = sys.executable
        plist = ",".join(map(str, ports))
        smtplab_cmd = [
            py,
            "-m",
            "smtplab",
            "probe",
            "127.0.0.1",
            "-p",
            plist,
            "--json",
            "--timeout",
            str(args.timeout),
        ]
        baseline_cmd = [
            py,
            "-c",
            BASELINE,
            str(args.timeout),
            *(f"{pf.ports[s]}:{'implicit' if s == 'submissions' else 'starttls'}" for s in order),
        ]
        trusted = child_env(pycache, SSL_CERT_FILE=str(pf.cert_file))
        verifying_cmd = [py, "-c", BASELINE_VERIFYING, *baseline_cmd[3:]]
        commands: dict[str, tuple[list[str], dict[str, str] | None]] = {
            "smtplab probe (as typed)": (smtplab_cmd, env),
            "baseline: stdlib smtplib, one port after another": (baseline_cmd, env),
            TRUSTED: (smtplab_cmd, trusted),
            VERIFYING: (verifying_cmd, trusted),
        }
        if args.diagnose:
            no_cache = {k: v for k, v in os.environ.items() if k != "PYTHONPYCACHEPREFIX"}
            no_cache["PYTHONDONTWRITEBYTECODE"] = "1"  # stdlib precompiled, smtplab compiled
            commands.update(
                {
                    "smtplab, rate limit 10/s forced on": (
                        [py, "-c", RATE_LIMITED, *smtplab_cmd[3:]],
                        env,
                    ),
                    "smtplab, trusted, without the quick ACK of TLS reads": (
                        [py, "-c", NO_QUICKACK, *smtplab_cmd[3:]],
                        trusted,
                    ),
                    "smtplab, sources compiled every run (no bytecode cache)": (
                        smtplab_cmd,
                        no_cache,
                    ),
                    "start-up only: python -m smtplab --help": (
                        [py, "-m", "smtplab", "--help"],
                        env,
                    ),
                    "start-up + CA store + cryptography.x509 (what a TLS probe adds)": (
                        [
                            py,
                            "-c",
                            (
                                "import smtplab.cli, ssl; ssl.create_default_context(); "
                                "from cryptography import x509"
                            ),
                        ],
                        env,
                    ),
                    "start-up only: python -c 'import smtplib'": (
                        [py, "-c", "import smtplib"],
                        env,
                    ),
                    "start-up only: python -c pass": ([py, "-c", "pass"], env),
                }
            )

        # warm up: Postfix forks its smtpd processes and both sides fill the page cache
        for cmd, cmd_env in commands.values():
            timed(cmd, cmd_env)
        _, first = timed(smtplab_cmd, env)
        check_smtplab_output(first, ports)
        _, first = timed(smtplab_cmd, trusted)
        check_smtplab_output(first, ports, verified=True)
        timed(verifying_cmd, trusted)  # the verifying baseline must succeed: it checks too

        samples: dict[str, list[float]] = {name: [] for name in commands}
        greetings: list[float] = []  # ms from TLS up to the greeting on the implicit-TLS port
        for _ in range(args.repeat):
            for name, (cmd, cmd_env) in commands.items():  # interleaved: same conditions for all
                elapsed, stdout = timed(cmd, cmd_env)
                samples[name].append(elapsed)
                if name == TRUSTED:
                    greetings += [
                        float(r["banner_ms"])
                        for r in map(json.loads, stdout.splitlines())
                        if r["tls_mode"] == "implicit" and r["banner_ms"] is not None
                    ]

    med = {name: statistics.median(s) for name, s in samples.items()}
    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU(s), Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}"
    )
    print(
        f"Postfix services on 127.0.0.1 ports {plist}"
        f" ({'the real numbers' if real else 'unprivileged numbers'}); "
        f"{args.repeat} runs each, median wall-clock time of the whole process"
    )
    if not real:
        print(
            f"note: the implicit-TLS service is on {pf_port(ports)}, not 465, so smtplab's auto "
            f"mode waits --timeout {args.timeout:g} s of silence there before trying TLS"
        )
    width = max(map(len, med))
    for name, m in med.items():
        spread = f"min {min(samples[name]) * 1000:.0f}, max {max(samples[name]) * 1000:.0f}"
        print(f"  {name:<{width}}  {m * 1000:7.0f} ms   ({spread})")
    if greetings:
        print(
            f"  (implicit TLS, smtplab trusted: greeting {statistics.median(greetings):.1f}"
            f" ms after the handshake, median; max {max(greetings):.1f} ms)"
        )
    base = med["baseline: stdlib smtplib, one port after another"]
    ours = med["smtplab probe (as typed)"]
    ratio = ours / base
    verdict = "meets the target (≤ 1)" if ratio <= 1 else "misses the target (> 1)"
    print(f"ratio smtplab / baseline = {ratio:.2f} — {verdict}")
    ratio = med[TRUSTED] / med[VERIFYING]
    verdict = "meets the target (≤ 1)" if ratio <= 1 else "misses the target (> 1)"
    print(f"certificate trusted: ratio smtplab / verifying smtplib = {ratio:.2f} — {verdict}")
    return 0


def pf_port(ports: list[int]) -> int:
    return ports[1]


if __name__ == "__main__":
    sys.exit(main())
