"""``smtplab explain "REPLY"``: an SMTP reply pasted from a mail program, a plug-in's log or a
bounce, explained: what the code means, whose side the problem is on, what to do, the sources.

    smtplab explain "535 5.7.139 Authentication unsuccessful, basic authentication is disabled."
    smtplab explain --provider gmail "534-5.7.9 Application-specific password required"
    pbpaste | smtplab explain -            # a multi-line reply, from standard input
    smtplab explain --json "421 4.7.0 Try again later"

Exit status 0 when the reply was explained; 2 when the text holds no reply, is too long, or the
provider is unknown (one line saying which).
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap

from smtplab.cli.errors import UsageError
from smtplab.safe_text import safe_json_line, safe_text

__all__ = ["add_explain_arguments", "run_explain"]


def add_explain_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "reply",
        nargs="*",
        help="the reply (quote it); several words or lines are read as one; '-' or none: "
        "read standard input",
    )
    p.add_argument("--provider", metavar="NAME", help="the provider you send through (any alias)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _read_stdin(limit: int) -> str:
    """At most ``limit`` + 1 characters of standard input: enough to tell "too long"."""
    stream = sys.stdin
    if stream is None or stream.isatty():
        raise UsageError('give the reply to explain, e.g. smtplab explain "535 5.7.8 ..."')
    try:
        return stream.read(limit + 1)
    except UnicodeDecodeError:
        raise UsageError("standard input is not text (UTF-8)") from None


def run_explain(args: argparse.Namespace) -> int:
    from smtplab.advice.explainer import MAX_INPUT, ExplainError, explain

    words = list(args.reply)
    text = _read_stdin(MAX_INPUT) if not words or words == ["-"] else " ".join(words)
    try:
        result = explain(text, provider=args.provider)
    except ExplainError as exc:
        raise UsageError(str(exc)) from None
    except ValueError as exc:  # an unknown provider
        raise UsageError(str(exc).splitlines()[0]) from None
    if args.json:
        print(safe_json_line(json.dumps(result.to_dict(), ensure_ascii=False)))
        return 0
    for line in result.lines():
        indent = "    " if line.startswith("  ") else "  "
        wrapped_lines = textwrap.wrap(
            safe_text(line),
            width=100,
            subsequent_indent=indent,
            break_long_words=False,  # a URL stays whole, so it can be copied
            break_on_hyphens=False,
        )
        for wrapped in wrapped_lines or [""]:
            print(wrapped)
    return 0
