"""``smtplab lab``: list the scenarios, or run one until Ctrl-C with a table of its endpoints."""

from __future__ import annotations

import argparse
import re
import time
from typing import Any

from rich.console import Console
from rich.padding import Padding

from smtplab.cli.errors import UsageError
from smtplab.cli.lab_view import behaviour_table, lab_advice, point_line
from smtplab.cli.render import OUTCOME_STYLE, Column, Row, make_console, rows_block, styled
from smtplab.outcome_words import LAB_WORDS
from smtplab.safe_text import safe_text

__all__ = ["add_lab_arguments", "endpoint_block", "run_lab"]


def add_lab_arguments(lab: argparse.ArgumentParser) -> None:
    g = lab.add_mutually_exclusive_group()
    g.add_argument("--scenario", default="open-internet")
    g.add_argument("--list", action="store_true", help="list the scenarios")
    lab.add_argument(
        "--dir",
        metavar="FOLDER",
        help="the lab folder, which keeps the password (the same on every run) and the CA file "
        "(default: ~/.cache/smtplab/lab)",
    )
    lab.add_argument(
        "--inbox",
        metavar="PORT",
        type=int,
        default=0,
        help="serve the inbox page (the mail the lab received) on this loopback port "
        "(default: any free port)",
    )


def endpoint_block(endpoints: Any, width: int) -> Any:
    """The lab's endpoints: what answers where, and what a probe will say."""
    columns = [
        Column("HOST", flexible=True, min_width=10),
        Column("PORT", justify="right"),
        Column("SERVER"),
        Column("CERTIFICATE"),
        Column("PROBE SAYS"),
    ]
    rows = []
    for e in endpoints:
        ip, port = e.address
        sock = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
        # what a probe shows there: an intercepting network is never "open" (outcome_words)
        expected = LAB_WORDS.get(e.behaviour, str(e.expected))
        rows.append(
            Row(
                (
                    styled(e.host),
                    styled(e.port),
                    styled(e.profile or "-"),
                    styled(e.certificate or "-"),
                    styled(expected, OUTCOME_STYLE.get(expected, "")),
                ),
                (
                    styled(
                        f"{safe_text(e.behaviour)} · real socket {safe_text(sock)} · "
                        f"{safe_text(e.description)}",
                        "dim",
                    ),
                ),
            )
        )
    return rows_block(columns, rows, width)


def _list() -> int:
    from smtplab.lab import scenarios

    console = make_console()
    for name, text in scenarios().items():
        console.print(styled(name, "bold"))
        console.print(Padding(styled(text), (0, 0, 1, 4)))
    return 0


def _height(console: Console, text: str) -> int:
    return len(styled(text).wrap(console, console.width))


def _paragraph(console: Console, paragraph: str, room: int | None) -> str:
    """The scenario's paragraph, or as many of its first sentences as fit in ``room`` lines
    (None: no limit), then a pointer to the rest."""
    if room is None or _height(console, paragraph) <= room:
        return paragraph
    more = " (All of it: smtplab lab --list.)"
    sentences = re.split(r"(?<=[.!?])\s+", paragraph)
    shown = ""
    for sentence in sentences:
        candidate = f"{shown} {sentence}".strip()
        if _height(console, candidate + more) > room:
            break
        shown = candidate
    return (shown or sentences[0]) + more


def _start(args: argparse.Namespace) -> tuple[Any, Any]:
    from smtplab.lab import Lab
    from smtplab.lab.folder import default_folder
    from smtplab.lab.inbox_page import InboxServer

    folder = args.dir if args.dir is not None else default_folder()
    try:
        lab = Lab(args.scenario, folder=folder)
    except OSError as e:
        raise UsageError(
            f"cannot keep the lab's password in {safe_text(folder)}: {safe_text(e.strerror)}; "
            "name another folder with --dir"
        ) from None
    lab.start()
    try:
        inbox = InboxServer(lambda: lab.outbox, port=args.inbox).start()
    except (OSError, OverflowError) as e:
        lab.stop()
        raise UsageError(
            f"cannot serve the inbox page on port {args.inbox}: "
            f"{safe_text(getattr(e, 'strerror', None) or e)}; try another --inbox PORT"
        ) from None
    return lab, inbox


def _show(console: Console, lab: Any, inbox: Any) -> None:
    """The teacher's screen: it fits an 80x24 terminal (the paragraph gives way if need be)."""
    title = f"smtplab lab: scenario {lab.scenario} · Ctrl-C stops it"
    point = point_line(lab, lab_advice(lab))
    ca = f"CA: {lab.ca_path} (trust it, or accept the certificate once)"
    mail = f"Inbox: {inbox.url} (the mail the lab received)"
    table = behaviour_table(lab.endpoints)
    fixed = sum(_height(console, x) for x in (title, point, ca, mail))
    fixed += table.row_count + 1 + 2  # header row, two blank lines
    room = max(1, console.height - 1 - fixed) if console.is_terminal else None
    console.print(styled(title, "bold"))
    console.print(styled(_paragraph(console, lab.paragraph, room)))
    console.print()
    console.print(table)
    console.print()
    console.print(styled(point, "bold"))
    console.print(styled(safe_text(ca)))
    console.print(styled(mail))
    console.file.flush()


def run_lab(args: argparse.Namespace) -> int:
    from smtplab.lab import scenarios

    if args.list:
        return _list()
    if args.scenario not in scenarios():
        raise UsageError(
            f"unknown lab scenario {safe_text(args.scenario)!r}; try: {', '.join(scenarios())}"
        )
    console = make_console()
    lab, inbox = _start(args)
    try:
        _show(console, lab, inbox)
        while lab.running:
            time.sleep(0.5)
    except KeyboardInterrupt:  # Ctrl-C, whenever it comes, is the normal way out
        pass
    finally:
        inbox.stop()
        lab.stop()
    console.print("Lab stopped.")
    return 0
