"""``smtplab doctor HOST``: probe a mail server's ports from here and say what to type into a
mail program, port by port, with the evidence.

    smtplab doctor HOST [--provider NAME] [--purpose P] [--lab SCENARIO] [--json]
                        [--timeout S] [--patient] [--compare FILE ...] [--vantage LABEL]
                        [--cafile FILE] [--share ADDRESS --code CODE [--yes]]
                        [--login USER [--token] [--password-env NAME] [--send-test ADDRESS]]

It probes 25, 465, 587 and 2525 plus the ports the provider documents (2465, 2587, ...), runs
:func:`smtplab.advise`, and prints the settings, a verdict per port, the fallbacks and what to
try when nothing works. ``--compare`` takes record files from other networks and answers "is it
the server or my network?". ``--login`` then tries the login on the chosen port
(:mod:`smtplab.cli.login_opts`). Exit status 0 whenever it ran (1 when a login check did not
log in), 2 for bad arguments.

**An answer in about a second.** A port that a firewall drops never answers, and waiting the
whole ``--timeout`` for it made the doctor take 5 s or more wherever one port was dropped. The
connects adapt to the round trips measured on the same host, as nmap's timing does: once one
port of the host has answered (or refused) in ``r``, another port that has not connected after
``max(10 r, floor)`` is being dropped (the floor is 0.5 s on loopback and in the lab, and 1 s
plus two round trips elsewhere, so a lost SYN, resent by the kernel after 1 s, is never taken
for a DROP rule; see :class:`smtplab.engine.options.RoundTrips`). ``--patient`` waits the whole
``--timeout`` for every connect, as before. Only the connect adapts: a slow greeting still gets
the whole timeout.

**Output that streams.** The header comes at once; the settings as soon as the evidence decides
them (no port still probing could be advised before the one found); each port's line once it
is known; the rest when every port has answered. On a terminal a live line per port still
probing shows what it waits for and how long it may still take (never under a notebook or in a
pipe, where the lines simply come as they are known).

Evidence from elsewhere adds, never replaces: records from ``--compare`` files are passed to
:func:`smtplab.advise` as ``elsewhere``, whatever vantage label they carry (a file can copy the
label of this network), so they only add a sentence "From elsewhere (vantage X), not measured
here: ..." under a port; the verdicts and the settings come from what was measured here. Every
text from outside (banners, certificate errors, labels, file names) reaches the terminal through
:func:`smtplab.safe_text.safe_text`; ``--json`` is ASCII with every other character escaped.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import ipaddress
import json
import os
import socket
import stat
import sys
import threading
from collections.abc import Callable, Sequence
from typing import IO, Any

from smtplab.advice import PURPOSES, Advice, advise, as_records, guess_provider, provider_facts
from smtplab.advice.facts import STANDARDS, ProviderFacts
from smtplab.advice.rules import port_kind, rule_for
from smtplab.cli.doctor_text import (
    Compared,
    header_parts,
    port_part,
    print_parts,
    report_text,
    settings_parts,
    tail_parts,
    unresolved_line,
)
from smtplab.cli.errors import UsageError
from smtplab.cli.text import under_notebook
from smtplab.errors import SmtplabError
from smtplab.rules import PORTS, timeout_problem
from smtplab.safe_text import safe_text

__all__ = [
    "DEFAULT_TIMEOUT",
    "FOUR_PORTS",
    "Compared",
    "add_arguments",
    "decided",
    "report_json",
    "report_text",
    "run",
]

FOUR_PORTS = PORTS
DEFAULT_TIMEOUT = 5.0


class _BadArgs(UsageError):
    pass


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The doctor's options, on ``parser`` (the ``doctor`` subcommand's parser)."""
    parser.add_argument("host", help="the mail server you send through, e.g. smtp.gmail.com")
    parser.add_argument(
        "--provider", metavar="NAME", help="provider name (default: guessed from HOST)"
    )
    parser.add_argument(
        "--purpose",
        default="mail-client",
        help=f"what sends the mail: {', '.join(PURPOSES)} (default mail-client)",
    )
    parser.add_argument("--lab", metavar="SCENARIO", help="probe the embedded lab instead")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--timeout", default=str(DEFAULT_TIMEOUT), help="seconds per probe phase (default 5)"
    )
    parser.add_argument(
        "--patient",
        action="store_true",
        help="wait the whole --timeout for every connect (default: a connect that takes far "
        "longer than the other ports' round trips is taken as dropped)",
    )
    parser.add_argument(
        "--compare",
        metavar="FILE",
        action="append",
        default=[],
        help="records of the same host from other networks (JSON Lines; repeatable)",
    )
    parser.add_argument("--vantage", help="a label for the network you are on (default: here)")
    parser.add_argument("--cafile", metavar="FILE", help="also trust this CA (PEM)")
    from smtplab.cli.login_opts import add_login_arguments
    from smtplab.cli.share_cmd import add_share_arguments

    add_login_arguments(parser)
    add_share_arguments(parser)


def _check(args: argparse.Namespace) -> tuple[float, ProviderFacts | None]:
    if args.purpose not in PURPOSES:
        raise _BadArgs(f"--purpose must be one of {', '.join(PURPOSES)}, not {args.purpose!r}")
    problem = timeout_problem(args.timeout, "--timeout", text=True)
    if problem is not None:  # the probe's own rule and wording (smtplab.rules)
        raise _BadArgs(problem)
    timeout = float(args.timeout)
    for path in args.compare:
        _regular_file("--compare", path, "a record file (.jsonl, .jsonl.gz or .parquet)")
    if args.cafile:
        _regular_file("--cafile", args.cafile, "a PEM file of CA certificates")
        from smtplab.engine.options import ProbeInputError, check_cafile

        try:
            check_cafile(args.cafile)
        except ProbeInputError as exc:
            raise _BadArgs(f"--{exc}") from None
    from smtplab.cli.login_opts import check_login_arguments

    try:
        check_login_arguments(args)
    except ValueError as exc:
        raise _BadArgs(str(exc)) from None
    if args.lab:
        from smtplab.labworld import SCENARIOS  # the lab's world as data: the lab starts later

        if args.lab not in SCENARIOS:
            raise _BadArgs(f"unknown lab scenario {args.lab!r}; try: {', '.join(SCENARIOS)}")
    if getattr(args, "share", None):
        if args.json:
            raise _BadArgs("--share shows the records before sending them: leave out --json")
        if not args.vantage:
            raise _BadArgs(
                "--share needs --vantage LABEL: name the network you are on (home, phone, campus)"
            )
        from smtplab.cli.share_cmd import check_share_arguments

        check_share_arguments(args)
    name = args.provider or guess_provider(args.host)
    if not name:
        return timeout, None
    try:
        return timeout, provider_facts(name, args.host)
    except ValueError as exc:
        raise _BadArgs(str(exc)) from None


def _regular_file(option: str, path: str, wanted: str) -> None:
    """``path`` must be a regular file, said in one line before anything is read: a folder
    would be searched through (``--compare /``), and a device such as /dev/zero read for ever."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise _BadArgs(f"{option} {path}: no such file") from None
    except OSError as exc:
        raise _BadArgs(f"{option} {path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(mode):
        raise _BadArgs(f"{option} {path}: is a folder; give {wanted}")
    if not stat.S_ISREG(mode):
        raise _BadArgs(f"{option} {path}: is a device, pipe or socket; give {wanted}")


def _ports(facts: ProviderFacts | None) -> list[int]:
    extra = [p for p in (facts.documented_ports if facts else ()) if p not in FOUR_PORTS]
    return [*FOUR_PORTS, *extra]


def _compare_records(
    paths: Sequence[str], host: str
) -> tuple[list[dict[str, Any]], list[Compared]]:
    """The records of ``host`` in the ``--compare`` files, and what each file held.

    Each is a regular file (checked first); the record reader checks it, bounded line by line,
    and its one-line error names the file, the line and the field."""
    records: list[dict[str, Any]] = []
    compared: list[Compared] = []
    for path in paths:
        from smtplab.records import load_records  # only when there is a file to read

        try:
            df = load_records(path)
        except FileNotFoundError:
            raise _BadArgs(f"--compare {path}: no such file") from None
        except SmtplabError as exc:
            raise _BadArgs(f"--compare: {exc}") from None
        except OSError as exc:
            raise _BadArgs(f"--compare {path}: {exc.strerror or exc}") from None
        mine = [r for r in as_records(df) if str(r.get("host")).lower() == host.lower()]
        vantages = tuple(sorted({str(r.get("vantage")) for r in mine}))
        compared.append(Compared(path, len(mine), vantages))
        records += mine
    return records, compared


def resolves(host: str, timeout: float) -> bool:
    """Whether ``host`` has an address (an address literal always does). A lookup that takes
    longer than ``timeout`` counts as resolving: the probes then say what happened."""
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        pass
    pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="smtplab-doctor-dns")
    lookup = pool.submit(socket.getaddrinfo, host, None, type=socket.SOCK_STREAM)
    pool.shutdown(wait=False)
    try:
        return bool(lookup.result(timeout))
    except concurrent.futures.TimeoutError:
        return True
    except (socket.gaierror, UnicodeError):
        return False
    except OSError:
        return True


def decided(advice: Advice, pending: Sequence[int], facts: ProviderFacts, purpose: str) -> bool:
    """Whether the settings can be said before the ``pending`` ports answer: a port has been
    recommended and no pending port could be advised before it, whatever it turns out to be
    (the advice orders ports by their rule's rank, then number; last resorts come after)."""
    rec = advice.recommended
    if rec is None:
        return not pending
    mine = rule_for(purpose, port_kind(rec.port, facts, purpose))
    for port in pending:
        rule = rule_for(purpose, port_kind(port, facts, purpose))
        if rule.rank is None or rule.last_resort:
            continue
        if (rule.rank, port) < (mine.rank if mine.rank is not None else 99, rec.port):
            return False
    return True


class _Stream:
    """Prints the report as the evidence comes in (on the thread that calls :meth:`tick`)."""

    def __init__(
        self,
        console: Any,
        ports: Sequence[int],
        advise_now: Callable[[list[dict[str, Any]]], Advice],
        facts: ProviderFacts,
        purpose: str,
        tail: Callable[[Advice], list[Any]],
    ) -> None:
        self.console = console
        self.ports = list(ports)
        self.advise_now = advise_now
        self.facts = facts
        self.purpose = purpose
        self.tail = tail
        self.lock = threading.Lock()
        self.results: list[Any] = []
        self.said_settings = False
        self.said: set[int] = set()
        self.seen = 0
        self.also: Callable[[int, int, Any], None] | None = None

    def progress(self, done: int, total: int, result: Any) -> None:
        with self.lock:
            self.results.append(result)
        if self.also is not None:
            self.also(done, total, result)

    def tick(self, final: bool = False) -> None:
        with self.lock:
            got = list(self.results)
        if not got or (len(got) == self.seen and not final):
            return  # nothing new since the last look
        self.seen = len(got)
        records = as_records(got)
        advice = self.advise_now(records)
        seen = {int(r["port"]) for r in records}
        pending = [p for p in self.ports if p not in seen]
        if not self.said_settings:
            if not (final or decided(advice, pending, self.facts, self.purpose)):
                return
            self.said_settings = True
            print_parts(self.console, ["", *settings_parts(advice, self.facts), ""])
            self.console.print("Port by port:", style="bold")
        answered = any(v.outcome == "open" and v.verdict != "intercepted" for v in advice.ports)
        for v in advice.ports:
            if v.port in self.said:
                continue
            # a refused port reads "nothing listens" once another port answers: wait for that
            if not final and v.outcome == "refused" and not answered and pending:
                continue
            self.said.add(v.port)
            self.console.print(port_part(v))
        if final:
            print_parts(self.console, self.tail(advice))


def _drive(stream: _Stream, probe: Callable[[Any], list[Any]], live: Any) -> list[Any]:
    """Run ``probe`` on a worker thread, calling ``stream.tick`` on this one as results come:
    with the live lines on a terminal, plainly in a pipe or under a notebook."""
    if live is not None:
        stream.also = live.progress
        return live.run(probe, tick=stream.tick)  # type: ignore[no-any-return]
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["results"] = probe(None)
        except BaseException as exc:  # handed back to this thread below
            box["error"] = exc

    worker = threading.Thread(target=work, name="smtplab-doctor-probe", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.05)
        stream.tick()
    if "error" in box:
        raise box["error"]
    return box["results"]  # type: ignore[no-any-return]


def _probe(
    args: argparse.Namespace,
    ports: list[int],
    timeout: float,
    stream: _Stream | None,
    show_live: bool,
) -> list[Any]:
    from smtplab.engine import probe_many
    from smtplab.engine.options import RoundTrips

    trips = RoundTrips()
    kw: dict[str, Any] = {"timeout": timeout, "cafile": args.cafile, "adaptive": not args.patient}
    targets = [(args.host, p) for p in ports]
    local = bool(args.lab) or _loopback(args.host)

    def run(lab: Any) -> list[Any]:
        if lab is not None and args.vantage:
            kw["vantage"] = args.vantage
        elif lab is None:
            kw["vantage"] = args.vantage or "here"

        def call(live: Any) -> list[Any]:
            return probe_many(
                targets,
                lab=lab,
                progress=stream.progress if stream else False,
                on_phase=live.phase if live else None,
                round_trips=trips,
                **kw,
            )

        if stream is None:
            return call(None)
        live = None
        if show_live:
            from smtplab.cli.live import LiveProbes

            live = LiveProbes(targets, timeout, stream.console)
            if not args.patient:
                live.connect_wait = lambda host: trips.wait_for(host, timeout, local=local)
        return _drive(stream, call, live)

    if args.lab:
        from smtplab.lab import Lab

        with Lab(args.lab) as lab:
            return run(lab)
    return run(None)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host.lower() in ("localhost", "localhost.localdomain")


def run(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    """Run the doctor for parsed ``args``; 0 whenever it ran, 2 for bad arguments."""
    try:
        timeout, facts = _check(args)
        if args.lab:
            from smtplab.labworld import HOSTS

            if args.host.lower().rstrip(".") not in HOSTS:
                raise _BadArgs(f"{args.host!r} is not a lab host; try smtp.lab.example")
        compare, compared = _compare_records(args.compare, args.host)
    except _BadArgs as exc:
        print(f"smtplab: {safe_text(exc)}", file=sys.stderr)
        return 2
    from smtplab.cli.render import make_console

    vantage = args.vantage or (f"lab:{args.lab}" if args.lab else "here")
    console = make_console(out, plain=args.json)
    if not args.json and not args.lab and not resolves(args.host, timeout):
        console.print(unresolved_line(args.host))  # one line: no port can say more
        return 0
    used = facts or STANDARDS

    def advise_now(records: list[dict[str, Any]]) -> Advice:
        return advise(
            records,
            provider=facts,
            purpose=args.purpose,
            host=args.host,
            vantage=vantage,
            elsewhere=compare,  # adds "from elsewhere" sentences; never replaces what was measured
        )

    stream = None
    if not args.json:
        print_parts(
            console, header_parts(args.host, args.purpose, vantage, facts, not args.provider)
        )

        def tail(advice: Advice) -> list[Any]:
            return tail_parts(advice, compared, vantage)

        stream = _Stream(console, _ports(facts), advise_now, used, args.purpose, tail)
    show_live = stream is not None and console.is_terminal and not under_notebook() and out is None
    here = _probe(args, _ports(facts), timeout, stream, show_live)
    advice = advise_now(as_records(here))
    from smtplab.cli.login_opts import login_json, login_text, run_login

    if stream is not None:
        stream.tick(final=True)
        console.file.flush()  # the advice first, then the login's prompt
        login = run_login(args, advice) if args.login else None
        if login:
            print(login_text(login), file=out or sys.stdout)
    else:
        login = run_login(args, advice) if args.login else None
        extra = {"login": login_json(login)} if login else {}
        report = {**report_json(advice, vantage, compared), **extra}
        print(json.dumps(report), file=out or sys.stdout)
    if getattr(args, "share", None):
        from smtplab.cli.share_cmd import share_results

        share_results(here, args, None)
    return 0 if login is None or login.status == "ok" else 1


def report_json(advice: Advice, vantage: str, compared: Sequence[Compared] = ()) -> dict[str, Any]:
    """The advice as one JSON-ready object.

    ``ports[].elsewhere`` and ``ports[].elsewhere_vantages`` and ``compared`` are evidence from
    elsewhere (the ``--compare`` files), never what was measured here."""

    def setting(s: Any) -> dict[str, Any] | None:
        if s is None:
            return None
        return {
            "host": s.host,
            "port": s.port,
            "security": s.security,
            "auth": s.auth,
            "user_name": s.user_name,
            "reason": s.reason,
            "last_resort": s.last_resort,
        }

    return {
        "host": advice.host,
        "purpose": advice.purpose,
        "provider": advice.provider,
        "vantage": vantage,
        "recommended": setting(advice.recommended),
        "fallbacks": [setting(f) for f in advice.fallbacks],
        "ports": [
            {
                "port": v.port,
                "verdict": v.verdict,
                "evidence": v.evidence,
                "outcome": v.outcome,
                "elsewhere": v.elsewhere,
                "elsewhere_vantages": list(v.elsewhere_vantages),
            }
            for v in advice.ports
        ],
        "compared": [
            {
                "file": c.path,
                "records": c.records,
                "vantages": list(c.vantages),
                "measured_here": False,
            }
            for c in compared
        ],
        "confidence": advice.confidence,
        "confidence_reason": advice.confidence_reason,
        "next_steps": list(advice.next_steps),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m smtplab.cli.doctor_cmd HOST ...``, the same as ``smtplab doctor``."""
    parser = argparse.ArgumentParser(prog="smtplab doctor")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
