"""``--share ADDRESS --code CODE``: send what was just recorded to the class's collector.

The records are written to the learner's own file first (nothing is lost if the class cannot be
reached), then shown as they will be sent, and sent only after a yes (or ``--yes``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from smtplab.cli.errors import UsageError
from smtplab.safe_text import safe_text

__all__ = ["add_share_arguments", "check_share_arguments", "share_results"]


def add_share_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--share", metavar="ADDRESS", help="also share the records with the class's collector"
    )
    p.add_argument("--code", help="the class's join code (on the teacher's screen)")
    p.add_argument("--yes", action="store_true", help="share without asking first")
    p.add_argument(
        "--class-ca", metavar="FILE", help="the class's CA file, for an https:// collector"
    )


def check_share_arguments(args: argparse.Namespace) -> None:
    """Refuse, before any probe runs, a share that could not go ahead."""
    if not getattr(args, "share", None):
        return
    from smtplab.classroom.share import ShareError, base_url, check_label

    if not args.code:
        raise UsageError("--share needs --code CODE, the join code on the teacher's screen")
    try:
        base_url(args.share)
        check_label(args.vantage or "")
    except ShareError as exc:
        raise UsageError(str(exc)) from None
    if not args.yes and not sys.stdin.isatty():
        raise UsageError("--share asks before sending; add --yes to share without being asked")


def share_results(results: Sequence[Any], args: argparse.Namespace, kept_in: str | None) -> None:
    """Show ``results`` as they will be sent, ask (unless ``--yes``), send. ``kept_in``: the
    file the learner's own copy was written to (None: ``smtplab doctor`` keeps none)."""
    from smtplab.classroom.share import ShareError, preview, send
    from smtplab.records.normalise import as_records

    records = as_records(list(results))
    for line in preview(records, args.vantage, args.share):
        print(safe_text(line))
    if not args.yes:
        try:
            answer = input("Share these with the class? [y/N] ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            kept = f" Your records are kept in {safe_text(kept_in)}." if kept_in else ""
            print(f"Not shared.{kept}")
            return
    try:
        report = send(
            records,
            address=args.share,
            code=args.code,
            label=args.vantage,
            cafile=getattr(args, "class_ca", None),
        )
    except ShareError as exc:
        kept = f"; your records are kept in {kept_in}" if kept_in else ""
        raise UsageError(f"{exc}{kept}") from None
    print(f"Shared {report.accepted} of {report.total} record(s) with the class.")
    for index, why in report.refused[:5]:
        print(f"  record {index + 1} was refused: {safe_text(why)}")
