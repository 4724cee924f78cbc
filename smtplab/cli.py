"""The ``smtplab`` command.

    smtplab probe HOST [-p 25,465,587,2525] [--mode auto|plain|starttls|tls] [--timeout S]
                       [--json] [--record FILE] [--lab SCENARIO] [--vantage LABEL] [--mx]
    smtplab lab [--scenario NAME | --list]
    smtplab record HOST... [-p LIST] --vantage LABEL -o FILE [--lab SCENARIO]
    smtplab show FILE...
    smtplab merge FILE... -o OUT
    smtplab notebooks [--dir DIR]

Exit status: 0 when probes ran, whatever they found; 2 for bad arguments, with one line saying
what was wrong.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from smtplab.probe import DEFAULT_PORTS, DEFAULT_TIMEOUT, ProbeInputError, ProbeResult


class UsageError(Exception):
    """Bad arguments: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def parse_ports(text: str) -> list[int]:
    """``"25,465,587"`` -> ``[25, 465, 587]``; a clear error for anything else."""
    ports: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit():
            raise UsageError(f"port {part!r} is not a number (ports are 1-65535, e.g. -p 25,587)")
        p = int(part)
        if not 1 <= p <= 65535:
            raise UsageError(f"port {p} is out of range: ports run from 1 to 65535")
        if p not in ports:
            ports.append(p)
    if not ports:
        raise UsageError("no ports given (e.g. -p 25,465,587,2525)")
    return ports


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"--timeout {text!r} is not a number of seconds") from None
    if not 0 < value <= 600:
        raise UsageError("--timeout must be between 0 and 600 seconds")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="smtplab", description="Learn and check SMTP ports 25, 465, 587, 2525.")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    def probe_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "-p",
            "--ports",
            default=",".join(map(str, DEFAULT_PORTS)),
            help="comma-separated ports (default 25,465,587,2525)",
        )
        p.add_argument("--mode", default="auto", choices=["auto", "plain", "starttls", "tls"])
        p.add_argument(
            "--timeout",
            type=str,
            default=str(DEFAULT_TIMEOUT),
            help="seconds per phase (connect, greeting, each reply)",
        )
        p.add_argument("--lab", metavar="SCENARIO", help="probe the embedded lab, not the network")
        p.add_argument("--vantage", help="a label for the network you probe from")
        p.add_argument("--ehlo", metavar="NAME", help="the EHLO name (default: your address)")
        p.add_argument(
            "--relay-check",
            action="store_true",
            help="also test relaying with MAIL/RCPT to a reserved domain (never DATA)",
        )
        p.add_argument(
            "--tls-required-check",
            action="store_true",
            help="also check that MAIL is refused before STARTTLS (never RCPT or DATA)",
        )

    p = sub.add_parser("probe", help="probe a host's SMTP ports")
    p.add_argument("host")
    probe_options(p)
    p.add_argument("--json", action="store_true", help="print one JSON record per line")
    p.add_argument("--record", metavar="FILE", help="also append the records to FILE (JSON Lines)")
    p.add_argument(
        "--mx", action="store_true", help="HOST is a mail domain: probe its MX hosts on port 25"
    )

    r = sub.add_parser("record", help="probe hosts and append the records to a file")
    r.add_argument("hosts", nargs="+")
    probe_options(r)
    r.add_argument("-o", "--output", required=True, metavar="FILE")

    lab = sub.add_parser("lab", help="run the embedded mail lab until Ctrl-C")
    g = lab.add_mutually_exclusive_group()
    g.add_argument("--scenario", default="open-internet")
    g.add_argument("--list", action="store_true", help="list the scenarios")

    from smtplab import doctor

    doctor.add_arguments(sub.add_parser("doctor", help="which port and settings to use, and why"))

    show = sub.add_parser("show", help="summarise a record file by host and port")
    show.add_argument("files", nargs="+")
    show.add_argument("--lenient", action="store_true", help="skip bad lines instead of stopping")

    merge = sub.add_parser("merge", help="pool record files, dropping duplicate probes")
    merge.add_argument("files", nargs="+")
    merge.add_argument("-o", "--output", required=True)

    nb = sub.add_parser("notebooks", help="open the course notebooks in JupyterLab")
    nb.add_argument("--dir", help="where to keep your copy (default ~/smtplab-notebooks)")
    nb.add_argument("--reset", action="store_true", help="overwrite your copy with fresh notebooks")
    nb.add_argument("--no-browser", action="store_true")
    nb.add_argument("--port", type=int, default=None)
    return parser


# --- output -----------------------------------------------------------------------------------


def _auth_text(r: ProbeResult) -> str:
    before = "/".join(r.auth_before_tls or ()) or ("none" if r.auth_before_tls is not None else "-")
    after = "/".join(r.auth_after_tls or ()) or ("none" if r.auth_after_tls is not None else "-")
    if r.tls_mode == "implicit":
        return after
    return f"{before} → {after}" if r.auth_after_tls is not None else before


def format_table(results: Sequence[ProbeResult], width: int = 100) -> str:
    """A readable table, one row per probe: outcome, TLS, AUTH (before → after TLS), time, finding."""
    header = ("HOST", "PORT", "OUTCOME", "TLS", "AUTH (before → after TLS)", "TIME", "TOP FINDING")
    rows = []
    for r in results:
        top = r.top_finding
        rows.append(
            (
                r.host,
                str(r.port),
                r.outcome,
                r.tls,
                _auth_text(r),
                "-" if r.total_ms is None else f"{r.total_ms:.0f} ms",
                f"[{top.severity}] {top.message}" if top else "",
            )
        )
    widths = [
        max(len(h), *(len(row[i]) for row in rows)) if rows else len(h)
        for i, h in enumerate(header[:-1])
    ]
    lines = []
    for row in [header, *rows]:
        cells = [c.ljust(w) for c, w in zip(row[:-1], widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def _print_results(results: Sequence[ProbeResult], as_json: bool) -> None:
    if as_json:
        for r in results:
            print(json.dumps(r.to_record(), ensure_ascii=False))
    else:
        print(format_table(results))


# --- commands ---------------------------------------------------------------------------------


def _probe_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "mode": args.mode,
        "timeout": _timeout(args.timeout),
        "vantage": args.vantage,
        "ehlo_name": args.ehlo,
        "relay_check": args.relay_check,
        "tls_required_check": args.tls_required_check,
    }


def _with_lab(scenario: str | None, run: Any) -> Any:
    if scenario is None:
        return run(None)
    from smtplab.lab import Lab, scenarios

    if scenario not in scenarios():
        raise UsageError(f"unknown lab scenario {scenario!r}; try: {', '.join(scenarios())}")
    with Lab(scenario=scenario) as lab:
        return run(lab)


def cmd_probe(args: argparse.Namespace) -> int:
    ports = parse_ports(args.ports)
    kw = _probe_kwargs(args)
    hosts = [args.host]
    if args.mx:
        if args.lab:
            raise UsageError("--mx looks up real DNS and cannot be combined with --lab")
        from smtplab.discover import discover

        found = discover(args.host)
        if not args.json:
            print(found.explain())
        hosts = [mx.host for mx in found.mx]
        if not hosts or found.null_mx:
            # RFC 7505: a null MX says the domain takes no mail; with no MX at all (or a DNS
            # error) there is nothing to probe, and guessing would probe the wrong machine.
            return 0
        ports = [25] if args.ports == ",".join(map(str, DEFAULT_PORTS)) else ports

    def run(lab: Any) -> list[ProbeResult]:
        from smtplab.probe import probe_many

        return probe_many(
            [(h, p) for h in hosts for p in ports], lab=lab, progress=not args.json, **kw
        )

    results = _with_lab(args.lab, run)
    _print_results(results, args.json)
    if args.record:
        from smtplab.records import save_records

        n = save_records(results, args.record)
        if not args.json:
            print(f"appended {n} record(s) to {args.record}")
    return 0


def cmd_record(args: argparse.Namespace) -> int:
    ports = parse_ports(args.ports)
    kw = _probe_kwargs(args)
    if not args.vantage:
        raise UsageError("record needs --vantage LABEL (where you probe from, e.g. home-fiber)")

    def run(lab: Any) -> list[ProbeResult]:
        from smtplab.probe import probe_many

        return probe_many([(h, p) for h in args.hosts for p in ports], lab=lab, progress=True, **kw)

    results = _with_lab(args.lab, run)
    from smtplab.records import save_records

    n = save_records(results, args.output)
    print(format_table(results))
    print(f"appended {n} record(s) to {args.output}")
    return 0


def cmd_lab(args: argparse.Namespace) -> int:
    from smtplab.lab import run_forever, scenarios

    if args.list:
        for name, text in scenarios().items():
            print(f"{name}\n    {text}\n")
        return 0
    if args.scenario not in scenarios():
        raise UsageError(f"unknown lab scenario {args.scenario!r}; try: {', '.join(scenarios())}")
    return int(run_forever(args.scenario))


def cmd_show(args: argparse.Namespace) -> int:
    import warnings

    from smtplab.records import format_summary, load_records, summarize

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = load_records(
            args.files if len(args.files) > 1 else args.files[0], strict=not args.lenient
        )
    print(format_summary(summarize(df)))
    for w in caught:
        print(f"note: {w.message}", file=sys.stderr)
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    from smtplab.records import merge_records

    written, dupes = merge_records(args.files, args.output)
    print(f"wrote {written} record(s) to {args.output}; dropped {dupes} duplicate(s)")
    return 0


def cmd_notebooks(args: argparse.Namespace) -> int:
    from smtplab.notebooks import launch

    return launch(
        directory=args.dir, reset=args.reset, open_browser=not args.no_browser, port=args.port
    )


def cmd_doctor(args: argparse.Namespace) -> int:
    from smtplab import doctor

    return doctor.run(args)


COMMANDS = {
    "probe": cmd_probe,
    "doctor": cmd_doctor,
    "record": cmd_record,
    "lab": cmd_lab,
    "show": cmd_show,
    "merge": cmd_merge,
    "notebooks": cmd_notebooks,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not args.command:
            parser.print_help()
            return 2
        return COMMANDS[args.command](args)
    except (UsageError, ProbeInputError) as exc:
        print(f"smtplab: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"smtplab: {exc.filename or exc}: no such file", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a known error type from records (bad file) gets one line too
        if type(exc).__name__ in ("RecordError",):
            print(f"smtplab: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
