"""``smtplab notebooks``: the course in JupyterLab, on the learner's own copy."""

from __future__ import annotations

import argparse

from smtplab.cli.errors import UsageError
from smtplab.cli.options import port_number

__all__ = ["add_notebooks_arguments", "run_notebooks"]


def add_notebooks_arguments(nb: argparse.ArgumentParser) -> None:
    nb.add_argument("--dir", help="where to keep your copy (default ~/smtplab-notebooks)")
    nb.add_argument(
        "--reset",
        action="store_true",
        help="replace your copy with fresh notebooks (the old ones are kept in a dated backup)",
    )
    nb.add_argument("--no-browser", action="store_true")
    nb.add_argument("--port", type=port_number, default=None)


def run_notebooks(args: argparse.Namespace) -> int:
    from smtplab.notebooks import NotebooksError, launch

    try:
        return launch(
            directory=args.dir, reset=args.reset, open_browser=not args.no_browser, port=args.port
        )
    except NotebooksError as exc:
        raise UsageError(str(exc)) from None
