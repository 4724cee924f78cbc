"""``smtplab doctor HOST``: probe a mail server's ports from here and say what to type into a
mail program, port by port, with the evidence.

    smtplab doctor HOST [--provider NAME] [--purpose P] [--lab SCENARIO] [--json]
                        [--timeout S] [--compare FILE ...] [--vantage LABEL] [--cafile FILE]

It probes 25, 465, 587 and 2525 plus the ports the provider documents (2465, 2587, ...), runs
:func:`smtplab.advise`, and prints the settings, the fallbacks, a verdict per port and what to
try when nothing works. ``--compare`` takes record files from other networks and answers "is it
the server or my network?". Exit status 0 whenever it ran, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from collections.abc import Sequence
from typing import IO, Any

from smtplab.advice import PURPOSES, Advice, advise, as_records, guess_provider, provider_facts
from smtplab.advice.facts import STANDARDS, ProviderFacts

__all__ = ["FOUR_PORTS", "add_arguments", "report_json", "report_text", "run"]

FOUR_PORTS = (25, 465, 587, 2525)
DEFAULT_TIMEOUT = 5.0


_TITLES = {
    "mail-client": "Type this into your mail program:",
    "website-plugin": "Type this into the plugin's SMTP settings:",
    "mail-server": "Configure your mail server to send this way:",
}


class _BadArgs(Exception):
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
        "--compare",
        metavar="FILE",
        action="append",
        default=[],
        help="records of the same host from other networks (JSON Lines; repeatable)",
    )
    parser.add_argument("--vantage", help="a label for the network you are on (default: here)")
    parser.add_argument("--cafile", metavar="FILE", help="also trust this CA (PEM)")


def _check(args: argparse.Namespace) -> tuple[float, ProviderFacts | None]:
    if args.purpose not in PURPOSES:
        raise _BadArgs(f"--purpose must be one of {', '.join(PURPOSES)}, not {args.purpose!r}")
    try:
        timeout = float(args.timeout)
    except ValueError:
        raise _BadArgs(f"--timeout {args.timeout!r} is not a number of seconds") from None
    if not 0 < timeout <= 600:
        raise _BadArgs("--timeout must be between 0 and 600 seconds")
    for path in [*args.compare, *([args.cafile] if args.cafile else [])]:
        if not os.path.isfile(path):
            raise _BadArgs(f"{path}: no such file")
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


def _compare_records(paths: Sequence[str], host: str) -> list[dict[str, Any]]:
    if not paths:
        return []
    from smtplab.records import load_records

    df = load_records(list(paths) if len(paths) > 1 else paths[0])
    return [r for r in as_records(df) if str(r.get("host")).lower() == host.lower()]


def run(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    """Run the doctor for parsed ``args``; 0 whenever it ran, 2 for bad arguments."""
    out = sys.stdout if out is None else out
    try:
        timeout, facts = _check(args)
        if args.lab:
            from smtplab.lab.catalog import HOSTS

            if args.host.lower().rstrip(".") not in HOSTS:
                raise _BadArgs(f"{args.host!r} is not a lab host; try smtp.lab.example")
        compare = _compare_records(args.compare, args.host)
    except _BadArgs as exc:
        print(f"smtplab: {exc}", file=sys.stderr)
        return 2
    here = _probe(args, _ports(facts), timeout)
    vantage = str(here[0].get("vantage")) if here else "here"
    advice = advise(
        here + compare,
        provider=facts,
        purpose=args.purpose,
        host=args.host,
        vantage=vantage,
    )
    if args.json:
        print(json.dumps(report_json(advice, vantage)), file=out)
    else:
        print(report_text(advice, vantage, facts, guessed=not args.provider), file=out)
    return 0


def report_json(advice: Advice, vantage: str) -> dict[str, Any]:
    """The advice as one JSON-ready object (see the module docstring for the keys)."""

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
            }
            for v in advice.ports
        ],
        "confidence": advice.confidence,
        "confidence_reason": advice.confidence_reason,
        "next_steps": list(advice.next_steps),
    }


def _wrap(text: str, indent: str) -> list[str]:
    return textwrap.wrap(text, width=96, initial_indent=indent, subsequent_indent=indent + "  ")


def report_text(
    advice: Advice, vantage: str, facts: ProviderFacts | None, *, guessed: bool = False
) -> str:
    """The advice for people: the settings first, then port by port, then what to try."""
    lines = [f"smtplab doctor: {advice.host} ({advice.purpose}), probed from {vantage}"]
    if facts is None or facts is STANDARDS:
        lines.append("Provider: unknown; advising from the standards (RFC 8314, RFC 6409).")
    else:
        how = " (guessed from the host name)" if guessed else ""
        lines.append(f"Provider: {facts.name}{how}.")
    lines.append("")
    rec = advice.recommended
    if rec is None:
        lines.append("No port is safe to use from here.")
    else:
        lines += [
            _TITLES[advice.purpose],
            f"  Server (outgoing, SMTP)  {rec.host}",
            f"  Port                     {rec.port}",
            f"  Security                 {rec.security_words}",
            *(
                [
                    f"  User name                {rec.user_name}",
                    f"  Log in with              {rec.auth}",
                ]
                if rec.auth != "none"
                else ["  Log in with              no login (relay between servers)"]
            ),
            *_wrap(f"Why: {rec.reason}.", "  "),
        ]
    lines += _wrap(f"How sure: {advice.confidence}. {advice.confidence_reason}", "  ")
    if advice.fallbacks:
        lines += ["", "If that fails, try:"]
        for f in advice.fallbacks:
            flag = " (last resort)" if f.last_resort else ""
            lines += _wrap(f"{f.port} with {f.security_words}{flag}: {f.reason}.", "  ")
    lines += ["", "Port by port:"]
    hang = " " * 21  # under the evidence column
    for v in advice.ports:
        lines += textwrap.wrap(
            f"{v.port:<5} {v.verdict:<13}{v.evidence}",
            width=100,
            initial_indent="  ",
            subsequent_indent=hang,
        )
        if v.elsewhere:
            lines += textwrap.wrap(
                f"Elsewhere: {v.elsewhere}", width=100, initial_indent=hang, subsequent_indent=hang
            )
    if advice.next_steps:
        title = "What to try now:" if rec is None else "To be surer:"
        lines += ["", title]
        for step in advice.next_steps:
            lines += _wrap(f"- {step}", "  ")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m smtplab.doctor HOST ...``, the same as ``smtplab doctor``."""
    parser = argparse.ArgumentParser(prog="smtplab doctor")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
