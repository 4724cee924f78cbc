"""``smtplab probe`` and ``smtplab record``: probe ports, show the table, keep the records.

Ctrl-C keeps what finished: the probes that had ended are written to the record file (and
printed), one line on standard error says how many were saved where and that the run was
interrupted, and the exit status is 130, as for any command stopped by SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from smtplab.cli import output
from smtplab.cli.errors import UsageError
from smtplab.cli.options import concurrency, parse_ports, timeout_seconds
from smtplab.cli.text import under_notebook
from smtplab.rules import DEFAULT_TIMEOUT, OPTIONS, PORTS_TEXT
from smtplab.safe_text import safe_text

__all__ = ["add_probe_arguments", "add_record_arguments", "run_probe", "run_record"]

DEFAULT_PORTS_TEXT = PORTS_TEXT


def add_option_arguments(p: argparse.ArgumentParser) -> None:
    """The probe options that have a command-line flag, from the one table of
    :data:`smtplab.rules.OPTIONS`: ``dest`` is the probe's keyword, so :func:`_probe_kwargs`
    passes them on by name. A value left out stays ``None``: the probe's default applies."""
    for o in OPTIONS:
        if o.flag is None:
            continue
        if o.kind == "bool":
            p.add_argument(o.flag, dest=o.name, action="store_true", help=o.help)
        elif o.choices:
            p.add_argument(o.flag, dest=o.name, default=o.default, choices=o.choices, help=o.help)
        else:  # text; a number is checked by the probe's own rule (see _probe_kwargs)
            p.add_argument(o.flag, dest=o.name, default=None, metavar=o.metavar, help=o.help)


def _probe_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-p",
        "--ports",
        default=DEFAULT_PORTS_TEXT,
        help=f"comma-separated ports (default {PORTS_TEXT})",
    )
    add_option_arguments(p)
    p.add_argument(
        "-c",
        "--concurrency",
        type=concurrency,
        default=64,
        metavar="N",
        help="at most N probes in flight (default 64)",
    )
    p.add_argument("--lab", metavar="SCENARIO", help="probe the embedded lab, not the network")
    p.add_argument(
        "--cert",
        action="store_true",
        help="show each TLS port's certificate: subject, issuer, names, expiry, chain",
    )
    p.add_argument(
        "--transcript",
        action="store_true",
        help="show each conversation as swaks does (-> sent, <- received, === events)",
    )


def add_probe_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("host")
    _probe_options(p)
    p.add_argument("--json", action="store_true", help="print one JSON record per line")
    p.add_argument("--record", metavar="FILE", help="also append the records to FILE (JSON Lines)")
    p.add_argument(
        "--mx", action="store_true", help="HOST is a mail domain: probe its MX hosts on port 25"
    )


def add_record_arguments(r: argparse.ArgumentParser) -> None:
    r.add_argument("hosts", nargs="+")
    _probe_options(r)
    r.add_argument("-o", "--output", required=True, metavar="FILE")
    from smtplab.cli.share_cmd import add_share_arguments

    add_share_arguments(r)


def _timeout(args: argparse.Namespace) -> float:
    return DEFAULT_TIMEOUT if args.timeout is None else timeout_seconds(args.timeout)


def _probe_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The probe keywords the flags of :func:`add_option_arguments` gave."""
    kw = {o.name: getattr(args, o.name) for o in OPTIONS if o.flag is not None}
    kw["timeout"] = _timeout(args)
    return kw


class Interrupted(Exception):
    """Ctrl-C stopped the probes: ``finished`` holds the results that had ended, in target
    order, out of ``total``."""

    def __init__(self, finished: list[Any], total: int) -> None:
        super().__init__(f"interrupted after {len(finished)} of {total} probes")
        self.finished = finished
        self.total = total


class _Finished:
    """The ``progress`` callable of :func:`smtplab.probe_many` that keeps each result as it
    ends (it is called on the probing thread; Ctrl-C arrives on the main one)."""

    def __init__(self, targets: Sequence[tuple[str, int]], also: Callable[..., Any] | None):
        self.order = {(h.lower(), p): i for i, (h, p) in reversed(list(enumerate(targets)))}
        self.also = also
        self.lock = threading.Lock()
        self.results: list[Any] = []

    def __call__(self, done: int, total: int, result: Any) -> None:
        with self.lock:
            self.results.append(result)
        if self.also is not None:
            self.also(done, total, result)

    def snapshot(self) -> list[Any]:
        with self.lock:
            got = list(self.results)
        last = len(self.order)
        return sorted(got, key=lambda r: self.order.get((str(r.host).lower(), r.port), last))


def _with_lab(scenario: str | None, run: Callable[[Any], Any]) -> Any:
    if scenario is None:
        return run(None)
    from smtplab.lab import Lab, scenarios

    if scenario not in scenarios():
        raise UsageError(
            f"unknown lab scenario {safe_text(scenario)!r}; try: {', '.join(scenarios())}"
        )
    with Lab(scenario=scenario) as lab:
        return run(lab)


def probe_targets(
    targets: Sequence[tuple[str, int]], args: argparse.Namespace, *, live: bool
) -> list[Any]:
    """Probe ``targets`` (in the lab when ``--lab``), with live lines on a terminal's stderr."""
    kw = _probe_kwargs(args)
    show_live = live and sys.stderr.isatty() and not under_notebook()
    kept = _Finished(targets, None)

    def run(lab: Any) -> list[Any]:
        from smtplab.engine import probe_many

        def call(live: Any = None) -> list[Any]:
            kept.also = live.progress if live else None
            return probe_many(
                list(targets),
                lab=lab,
                concurrency=args.concurrency,
                progress=kept,
                on_phase=live.phase if live else None,
                **kw,
            )

        if not show_live:
            return call()
        from smtplab.cli.live import LiveProbes
        from smtplab.cli.render import make_console

        return LiveProbes(targets, kw["timeout"], make_console(sys.stderr)).run(call)

    try:
        return _with_lab(args.lab, run)  # type: ignore[no-any-return]
    except KeyboardInterrupt:
        raise Interrupted(kept.snapshot(), len(targets)) from None


def print_report(results: Sequence[Any], *, transcript: bool, cert: bool = False) -> None:
    """The table, each finding under its row, the per-host checklist, and transcripts if asked."""
    from rich.text import Text

    from smtplab.checklist import checklist
    from smtplab.cli.render import AUTH_LEGEND, make_console, probe_table, transcript_lines

    console = make_console()
    console.print(probe_table(results, console.width, cert=cert))
    console.print(Text(AUTH_LEGEND, style="dim"))
    print_checklist(console, checklist(results))
    if transcript:
        for r in results:
            console.print()
            for line in transcript_lines(r):
                console.print(line)


def print_checklist(console: Any, checks: Sequence[Any]) -> None:
    from rich.padding import Padding
    from rich.text import Text

    last = None
    for c in checks:
        if (c.vantage, c.host) != last:
            last = (c.vantage, c.host)
            console.print()
            console.print(Text(f"Checks for {safe_text(c.host)}", style="bold"))
        line = Text()
        line.append("✓ pass " if c.passed else "✗ FAIL ", style="green" if c.passed else "bold red")
        line.append(safe_text(c.label))
        line.append(f"  ({safe_text(c.detail)})", style="dim")
        console.print(Padding(line, (0, 0, 0, 2)))


@contextmanager
def _no_second_interrupt() -> Iterator[None]:
    """A second Ctrl-C while the finished records are written must not tear the file."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def _interrupted(stop: Interrupted, args: argparse.Namespace, path: str | None, json: bool) -> int:
    """Keep and show what finished, say so in one line, exit 130 (128 + SIGINT)."""
    n, total = len(stop.finished), stop.total
    with _no_second_interrupt():
        try:
            _finish(stop.finished, args, path, json, quiet=True)
            error = None
        except output.RecordWriteError as exc:
            error = exc
        left = total - n
        if path and error is None:
            said = f"saved {n} finished result{'s' if n != 1 else ''} to {safe_text(path)}"
        elif path:
            said = f"{safe_text(error)}"
        else:
            said = f"{n} finished result{'s' if n != 1 else ''} shown above, none saved"
        print(
            f"smtplab: interrupted (Ctrl-C): {said}; {left} of {total} probe"
            f"{'s' if total != 1 else ''} did not finish",
            file=sys.stderr,
            flush=True,
        )
    return 130


def _finish(
    results: list[Any],
    args: argparse.Namespace,
    path: str | None,
    json: bool,
    *,
    quiet: bool = False,
) -> int:
    """Write the records first (a closed pipe must not lose them), then print."""
    written, error = output.write_records(results, path) if path else (0, None)
    if json:
        output.print_json(results)
    else:
        if results or not quiet:
            print_report(results, transcript=args.transcript, cert=getattr(args, "cert", False))
        if path and error is None and not quiet:
            from smtplab.cli.render import make_console

            make_console().print(f"appended {written} record(s) to {safe_text(path)}")
    if error is not None:
        raise error
    return 0


def run_probe(args: argparse.Namespace) -> int:
    ports = parse_ports(args.ports)
    _timeout(args)
    if args.record:
        output.check_record_file(args.record)
    hosts = [args.host]
    if args.mx:
        if args.lab:
            raise UsageError("--mx looks up real DNS and cannot be combined with --lab")
        from smtplab.discovery import discover

        found = discover(args.host)
        if not args.json:
            from smtplab.cli.render import make_console

            console = make_console()
            for line in found.explain().splitlines():
                console.print(safe_text(line))
        hosts = [mx.host for mx in found.mx]
        if not hosts or found.null_mx:
            # RFC 7505: a null MX says the domain takes no mail; with no MX at all (or a DNS
            # error) there is nothing to probe, and guessing would probe the wrong machine.
            return 0
        ports = [25] if args.ports == DEFAULT_PORTS_TEXT else ports
    try:
        results = probe_targets([(h, p) for h in hosts for p in ports], args, live=not args.json)
    except Interrupted as stop:
        return _interrupted(stop, args, args.record, args.json)
    return _finish(results, args, args.record, args.json)


def run_record(args: argparse.Namespace) -> int:
    ports = parse_ports(args.ports)
    _timeout(args)
    if not args.vantage:
        raise UsageError("record needs --vantage LABEL (where you probe from, e.g. home-fiber)")
    output.check_record_file(args.output)
    from smtplab.cli.share_cmd import check_share_arguments, share_results

    check_share_arguments(args)
    try:
        results = probe_targets([(h, p) for h in args.hosts for p in ports], args, live=True)
    except Interrupted as stop:
        return _interrupted(stop, args, args.output, False)
    status = _finish(results, args, args.output, False)
    if args.share:
        share_results(results, args, args.output)
    return status
