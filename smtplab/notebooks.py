"""``smtplab notebooks``: open the course in JupyterLab, on a copy the learner may change.

The shipped notebooks stay pristine (an installed package may live in a read-only place); the
learner works on a copy in ``~/smtplab-notebooks``. An existing copy is never overwritten unless
asked with ``--reset``, so nobody loses their answers; notebooks added by a newer smtplab are
copied in beside them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from smtplab._paths import notebooks_dir


def prepare(directory: str | os.PathLike[str] | None = None, *, reset: bool = False) -> Path:
    """Copy the course into ``directory`` (default ``~/smtplab-notebooks``); return its path."""
    target = Path(directory).expanduser() if directory else Path.home() / "smtplab-notebooks"
    target.mkdir(parents=True, exist_ok=True)
    source = notebooks_dir()
    for item in sorted(source.iterdir()):
        if item.name.startswith(".") or item.name == "__pycache__":
            continue
        dest = target / item.name
        if dest.exists() and not reset:
            continue
        if item.is_dir():
            shutil.copytree(item, dest, dirs_exist_ok=True)
        else:
            shutil.copy2(item, dest)
    return target


def launch(
    directory: str | None = None,
    *,
    reset: bool = False,
    open_browser: bool = True,
    port: int | None = None,
) -> int:
    """Prepare the copy and run JupyterLab on it (the README's main command)."""
    target = prepare(directory, reset=reset)
    start = target / "00_start_here.ipynb"
    print(f"Your copy of the course is in {target}")
    cmd = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={target}"]
    if not open_browser:
        cmd.append("--no-browser")
    if port is not None:
        cmd.append(f"--port={port}")
    if os.geteuid() == 0 if hasattr(os, "geteuid") else False:
        cmd.append("--allow-root")
    if start.exists():
        cmd.append(str(start))
    try:
        return subprocess.call(cmd, cwd=target)
    except KeyboardInterrupt:
        return 0


class NotebooksError(ValueError):
    """The copy of the course cannot be made where asked: one line for the learner."""
