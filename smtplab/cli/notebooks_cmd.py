"""``smtplab notebooks``: the course in JupyterLab, on the learner's own copy.

    smtplab notebooks                     # make or refresh the copy, open JupyterLab on 00
    smtplab notebooks --reset 05          # put notebook 05 back as shipped (asks first)
    smtplab notebooks --reset --yes       # every notebook you edited, without asking

A reset does only that (JupyterLab, if it is running, shows the fresh notebook when it is opened
again); ``smtplab notebooks`` starts the course.

A reset touches only the notebooks the learner edited, keeps each in a visible dated backup
folder first, asks before it writes, and refuses a notebook that a running JupyterLab has open
(its next save would undo the reset, or offer to overwrite it).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from smtplab.cli.errors import UsageError
from smtplab.cli.options import port_number
from smtplab.safe_text import safe_text

__all__ = ["add_notebooks_arguments", "launch", "run_notebooks"]


def add_notebooks_arguments(nb: argparse.ArgumentParser) -> None:
    nb.add_argument("--dir", help="where to keep your copy (default ~/smtplab-notebooks)")
    nb.add_argument(
        "--reset",
        nargs="*",
        metavar="NOTEBOOK",
        default=None,
        help="put back the notebooks you edited (all, or those named: 05 09) as shipped; "
        "yours are kept in a dated backup folder first",
    )
    nb.add_argument("--yes", action="store_true", help="reset without asking first")
    nb.add_argument("--no-browser", action="store_true")
    nb.add_argument("--port", type=port_number, default=None)


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        raise UsageError(
            "--reset replaces notebooks you edited; add --yes to do it without being asked"
        )
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def _reset(directory: str | None, names: list[str], *, yes: bool) -> None:
    from smtplab.notebooks import find_running_server, open_in_jupyterlab, prepare_copy

    reset: bool | list[str] = names or True
    plan = prepare_copy(directory, reset=reset, dry_run=True)
    if not plan.replaced:
        which = "those notebooks" if names else "your notebooks"
        print(
            f"Nothing to reset: {which} match the course as shipped "
            "(a notebook you only ran is left as it is)."
        )
        return
    listed = ", ".join(safe_text(n) for n in plan.replaced)
    running = find_running_server(plan.target) if plan.target.exists() else None
    if running is not None:
        open_now = open_in_jupyterlab(running)
        busy = sorted(set(plan.replaced) & open_now) if open_now is not None else []
        if open_now is None or busy:
            what = ", ".join(safe_text(n) for n in busy) if busy else "some notebooks"
            raise UsageError(
                f"JupyterLab has {what} open: close {'them' if len(busy) != 1 else 'it'} "
                "(File > Close and Shut Down Notebook), then reset, or its next save undoes it"
            )
        print(
            "JupyterLab is running on this folder: if one of these notebooks is open in a tab "
            "without a kernel, close that tab without saving."
        )
    if not yes and not _confirm(
        f"Reset {len(plan.replaced)} notebook(s) you edited ({listed})? Your versions are kept "
        f"in a backup folder in {safe_text(plan.target)}."
    ):
        print("Nothing reset.")
        return
    done = prepare_copy(directory, reset=reset)
    print(
        f"Reset {len(done.replaced)} notebook(s): {', '.join(safe_text(n) for n in done.replaced)}."
        f" Your previous versions are in {safe_text(done.backup)}"
    )


def launch(
    directory: str | None = None,
    *,
    open_browser: bool = True,
    port: int | None = None,
) -> int:
    """Make or refresh the copy and run JupyterLab on it, opening notebook 00."""
    from smtplab.notebooks import find_running_server, jupyter_command, prepare_copy

    report = prepare_copy(directory)
    target: Path = report.target
    print(f"Your copy of the course is in {safe_text(target)}")
    running = find_running_server(target)
    if running is not None:
        print(
            f"JupyterLab is already serving this folder (process "
            f"{safe_text(running.get('pid'))}): {safe_text(running['start_url'])}"
        )
        if open_browser:
            import webbrowser

            webbrowser.open(running["start_url"])
        return 0
    try:
        return subprocess.call(jupyter_command(target, open_browser=open_browser, port=port))
    except KeyboardInterrupt:
        return 0


def run_notebooks(args: argparse.Namespace) -> int:
    from smtplab.notebooks import NotebooksError

    try:
        if args.reset is not None:
            _reset(args.dir, args.reset, yes=args.yes)
            return 0
        return launch(directory=args.dir, open_browser=not args.no_browser, port=args.port)
    except NotebooksError as exc:
        raise UsageError(str(exc)) from None
