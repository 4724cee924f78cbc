"""``smtplab lab``: list the scenarios, or run one until Ctrl-C with a table of its endpoints."""

from __future__ import annotations

import argparse
import time
from typing import Any

from rich.padding import Padding
from rich.text import Text

from smtplab.cli.errors import UsageError
from smtplab.cli.render import OUTCOME_STYLE, Column, Row, make_console, rows_block, styled
from smtplab.cli.text import safe_text
from smtplab.outcome_words import LAB_WORDS

__all__ = ["add_lab_arguments", "endpoint_block", "run_lab"]


def add_lab_arguments(lab: argparse.ArgumentParser) -> None:
    g = lab.add_mutually_exclusive_group()
    g.add_argument("--scenario", default="open-internet")
    g.add_argument("--list", action="store_true", help="list the scenarios")


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


def run_lab(args: argparse.Namespace) -> int:
    from smtplab.lab import Lab, scenarios

    if args.list:
        return _list()
    if args.scenario not in scenarios():
        raise UsageError(
            f"unknown lab scenario {safe_text(args.scenario)!r}; try: {', '.join(scenarios())}"
        )
    console = make_console()
    lab = Lab(args.scenario)
    try:
        lab.start()
        console.print(
            styled(f"smtplab lab: scenario {lab.scenario} (vantage {lab.vantage})", "bold")
        )
        console.print(styled(scenarios()[args.scenario]))
        console.print()
        console.print(endpoint_block(lab.endpoints, console.width))
        user, password = lab.credentials
        console.print()
        console.print(
            styled(
                f"Credentials (every password submission server): user {user!r}, "
                f"password {password!r}"
            )
        )
        console.print(
            "AUTH PLAIN or LOGIN: after STARTTLS on 587 and 2525, at once on 465 "
            "(oauth.lab.example, where the scenario has it, takes OAuth tokens only). Mail to "
            "anyone@lab.example is accepted on port 25."
        )
        console.print("\nThe lab CA (save as lab-ca.pem to verify the lab's certificates):")
        console.print(Text(lab.ca_pem.rstrip()))
        console.print("Serving until Ctrl-C.")
        console.file.flush()
        while lab.running:
            time.sleep(0.5)
    except KeyboardInterrupt:  # Ctrl-C, whenever it comes, is the normal way out
        pass
    finally:
        lab.stop()
    console.print("Lab stopped.")
    return 0
