"""``smtplab doctor HOST``: probe a mail server's ports from here and say what to type into a
mail program, port by port, with the evidence.

    smtplab doctor HOST [--provider NAME] [--purpose P] [--lab SCENARIO] [--json]
                        [--timeout S] [--compare FILE ...] [--vantage LABEL] [--cafile FILE]
                        [--login USER [--token] [--password-env NAME] [--send-test ADDRESS]]

It probes 25, 465, 587 and 2525 plus the ports the provider documents (2465, 2587, ...), runs
:func:`smtplab.advise`, and prints the settings, the fallbacks, a verdict per port and what to
try when nothing works. ``--compare`` takes record files from other networks and answers "is it
the server or my network?". ``--login`` then tries the login on the chosen port
(:mod:`smtplab.cli.login_opts`). Exit status 0 whenever it ran (1 when a login check did not
log in), 2 for bad arguments.

Evidence from elsewhere adds, never replaces: records from ``--compare`` files are passed to
:func:`smtplab.advise` as ``elsewhere``, whatever vantage label they carry (a file can copy the
label of this network), so they only add a sentence "From elsewhere (vantage X), not measured
here: ..." under a port; the verdicts and the settings come from what was measured here. Every
text from outside (banners, certificate errors, labels, file names) reaches the terminal through
:func:`smtplab.cli.text.safe_text`; ``--json`` is ASCII with every other character escaped.
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any

from smtplab.advice import PURPOSES, Advice, advise, as_records, guess_provider, provider_facts
from smtplab.advice.facts import STANDARDS, ProviderFacts
from smtplab.cli.login_opts import add_login_arguments, check_login_arguments
from smtplab.cli.text import safe_text
from smtplab.errors import SmtplabError

__all__ = ["FOUR_PORTS", "Compared", "add_arguments", "report_json", "report_text", "run"]

FOUR_PORTS = (25, 465, 587, 2525)
DEFAULT_TIMEOUT = 5.0


_TITLES = {
    "mail-client": "Type this into your mail program:",
    "website-plugin": "Type this into the plugin's SMTP settings:",
    "mail-server": "Configure your mail server to send this way:",
}


class _BadArgs(Exception):
    pass


@dataclass(frozen=True)
class Compared:
    """One ``--compare`` file: its name, and how many records of the host it held from which
    vantages (labels that file gave itself: evidence from elsewhere, not measured here)."""

    path: str
    records: int
    vantages: tuple[str, ...]


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
        "--compare",
        metavar="FILE",
        action="append",
        default=[],
        help="records of the same host from other networks (JSON Lines; repeatable)",
    )
    parser.add_argument("--vantage", help="a label for the network you are on (default: here)")
    parser.add_argument("--cafile", metavar="FILE", help="also trust this CA (PEM)")
    add_login_arguments(parser)


def _check(args: argparse.Namespace) -> tuple[float, ProviderFacts | None]:
    if args.purpose not in PURPOSES:
        raise _BadArgs(f"--purpose must be one of {', '.join(PURPOSES)}, not {args.purpose!r}")
    try:
        timeout = float(args.timeout)
    except ValueError:
        raise _BadArgs(f"--timeout {args.timeout!r} is not a number of seconds") from None
    if not 0 < timeout <= 600:
        raise _BadArgs("--timeout must be between 0 and 600 seconds")
    for path in args.compare:
        _regular_file("--compare", path, "a record file (.jsonl, .jsonl.gz or .parquet)")
    if args.cafile:
        _regular_file("--cafile", args.cafile, "a PEM file of CA certificates")
        from smtplab.engine.options import ProbeInputError, check_cafile

        try:
            check_cafile(args.cafile)
        except ProbeInputError as exc:
            raise _BadArgs(f"--{exc}") from None
    try:
        check_login_arguments(args)
    except ValueError as exc:
        raise _BadArgs(str(exc)) from None
    if args.lab:
        from smtplab.lab import scenarios

        if args.lab not in scenarios():
            raise _BadArgs(f"unknown lab scenario {args.lab!r}; try: {', '.join(scenarios())}")
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


def _probe(args: argparse.Namespace, ports: list[int], timeout: float) -> list[dict[str, Any]]:
    from smtplab.engine import probe_many

    kw: dict[str, Any] = {"timeout": timeout, "cafile": args.cafile, "progress": False}
    targets = [(args.host, p) for p in ports]
    if args.lab:
        from smtplab.lab import Lab

        with Lab(args.lab) as lab:
            if args.vantage:
                kw["vantage"] = args.vantage
            return as_records(probe_many(targets, lab=lab, **kw))
    return as_records(probe_many(targets, vantage=args.vantage or "here", **kw))


def _compare_records(
    paths: Sequence[str], host: str
) -> tuple[list[dict[str, Any]], list[Compared]]:
    """The records of ``host`` in the ``--compare`` files, and what each file held.

    Each is a regular file (checked first); the record reader checks it, bounded line by line,
    and its one-line error names the file, the line and the field."""
    from smtplab.records import load_records

    records: list[dict[str, Any]] = []
    compared: list[Compared] = []
    for path in paths:
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


def run(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    """Run the doctor for parsed ``args``; 0 whenever it ran, 2 for bad arguments."""
    out = sys.stdout if out is None else out
    try:
        timeout, facts = _check(args)
        if args.lab:
            from smtplab.lab.catalog import HOSTS

            if args.host.lower().rstrip(".") not in HOSTS:
                raise _BadArgs(f"{args.host!r} is not a lab host; try smtp.lab.example")
        compare, compared = _compare_records(args.compare, args.host)
    except _BadArgs as exc:
        print(f"smtplab: {safe_text(exc)}", file=sys.stderr)
        return 2
    here = _probe(args, _ports(facts), timeout)
    vantage = str(here[0].get("vantage")) if here else (args.vantage or "here")
    advice = advise(
        here,
        provider=facts,
        purpose=args.purpose,
        host=args.host,
        vantage=vantage,
        elsewhere=compare,  # adds "from elsewhere" sentences; never replaces what was measured
    )
    from smtplab.cli.login_opts import login_json, login_text, run_login

    if args.json:
        login = run_login(args, advice) if args.login else None
        extra = {"login": login_json(login)} if login else {}
        print(json.dumps({**report_json(advice, vantage, compared), **extra}), file=out)
    else:
        text = report_text(advice, vantage, facts, guessed=not args.provider, compared=compared)
        print(text, file=out, flush=True)  # the advice first, then the login's prompt
        login = run_login(args, advice) if args.login else None
        if login:
            print(login_text(login), file=out)
    return 0 if login is None or login.status == "ok" else 1


def report_json(advice: Advice, vantage: str, compared: Sequence[Compared] = ()) -> dict[str, Any]:
    """The advice as one JSON-ready object (see the module docstring for the keys).

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


def _wrap(text: str, indent: str, width: int = 96, hang: str | None = None) -> list[str]:
    """``text`` escaped (:func:`safe_text`: no control or direction-changing character reaches
    the terminal), then wrapped; escaping first keeps a hostile tab or newline visible."""
    return textwrap.wrap(
        safe_text(text),
        width=width,
        initial_indent=indent,
        subsequent_indent=indent + "  " if hang is None else hang,
    )


def _settings_lines(advice: Advice) -> list[str]:
    rec = advice.recommended
    if rec is None:
        return ["No port is safe to use from here."]
    login = (
        [
            f"  User name                {safe_text(rec.user_name)}",
            f"  Log in with              {safe_text(rec.auth)}",
        ]
        if rec.auth != "none"
        else ["  Log in with              no login (relay between servers)"]
    )
    return [
        _TITLES[advice.purpose],
        f"  Server (outgoing, SMTP)  {safe_text(rec.host)}",
        f"  Port                     {rec.port}",
        f"  Security                 {safe_text(rec.security_words)}",
        *login,
        *_wrap(f"Why: {rec.reason}.", "  "),
    ]


def _compared_lines(compared: Sequence[Compared], vantage: str) -> list[str]:
    if not compared:
        return []
    lines = ["", "Compared with records from elsewhere (not measured here):"]
    for c in compared:
        seen = f"vantage {', '.join(c.vantages)}" if c.vantages else "none of this host"
        if vantage in c.vantages:
            seen += f" (a file can copy the label {vantage}: only this run measures here)"
        lines += _wrap(f"- {c.path}: {c.records} record(s), {seen}", "  ")
    return lines


def _login_notes(auth: str, facts: ProviderFacts | None) -> list[str]:
    """Where the credential is made and the dated changes, from the provider knowledge base."""
    if auth == "none" or facts is None or facts is STANDARDS:
        return []
    lines = _wrap(f"Credential: {facts.credential}.", "  ") if facts.credential else []
    for change in facts.changes:
        lines += _wrap(f"Changed: {change}.", "  ")
    return lines


def report_text(
    advice: Advice,
    vantage: str,
    facts: ProviderFacts | None,
    *,
    guessed: bool = False,
    compared: Sequence[Compared] = (),
) -> str:
    """The advice for people: the settings first, then port by port, then what to try.

    Text from outside (host, labels, banners, certificate errors, file names) is escaped."""
    lines = _wrap(
        f"smtplab doctor: {advice.host} ({advice.purpose}), probed from {vantage}", "", 100, ""
    )
    if facts is None or facts is STANDARDS:
        lines.append("Provider: unknown; advising from the standards (RFC 8314, RFC 6409).")
    else:
        how = " (guessed from the host name)" if guessed else ""
        lines.append(f"Provider: {safe_text(facts.name)}{how}.")
    lines.append("")
    lines += _settings_lines(advice)
    if advice.recommended is not None:
        lines += _login_notes(advice.recommended.auth, facts)
    lines += _wrap(f"How sure: {advice.confidence}. {advice.confidence_reason}", "  ")
    if advice.fallbacks:
        lines += ["", "If that fails, try:"]
        for f in advice.fallbacks:
            flag = " (last resort)" if f.last_resort else ""
            lines += _wrap(f"{f.port} with {f.security_words}{flag}: {f.reason}.", "  ")
    lines += ["", "Port by port:"]
    hang = " " * 21  # under the evidence column
    for v in advice.ports:
        lines += _wrap(f"{v.port:<5} {v.verdict:<13}{v.evidence}", "  ", 100, hang)
        if v.elsewhere:
            lines += _wrap(v.elsewhere, hang, 100, hang)
    lines += _compared_lines(compared, vantage)
    if advice.next_steps:
        title = "What to try now:" if advice.recommended is None else "To be surer:"
        lines += ["", title]
        for step in advice.next_steps:
            lines += _wrap(f"- {step}", "  ")
    return "\n".join(safe_text(line) for line in lines)  # a last guard: every line escaped


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m smtplab.doctor HOST ...``, the same as ``smtplab doctor``."""
    parser = argparse.ArgumentParser(prog="smtplab doctor")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
