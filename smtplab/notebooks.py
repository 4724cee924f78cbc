"""``smtplab notebooks``: open the course in JupyterLab, on a copy the learner may change.

The shipped notebooks stay pristine (an installed package may live in a read-only place); the
learner works on a copy in ``~/smtplab-notebooks``. An existing copy is never overwritten unless
asked with ``--reset``, and even then the notebooks it replaces are first kept in a dated backup
folder beside them (``.backup-2026-11-30T153012``), so nobody loses their answers; notebooks added
by a newer smtplab are copied in beside them.

The copy is written only into real files and folders: a symbolic link planted where a notebook
goes (dangling or not) is refused, never written through. JupyterLab opens on the course's start
page, notebook 00; when a JupyterLab already serves the same folder, its address is printed and
reused instead of starting a second server.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import filecmp
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smtplab._paths import notebooks_dir
from smtplab.errors import SmtplabError

__all__ = [
    "START_PAGE",
    "CopyReport",
    "NotebooksError",
    "find_running_server",
    "launch",
    "prepare",
    "prepare_copy",
]

#: The course's start page, opened first.
START_PAGE = "00_start_here.ipynb"

BACKUP_PREFIX = ".backup-"


class NotebooksError(SmtplabError, ValueError):
    """The copy of the course cannot be made where asked: one line for the learner."""


@dataclass(frozen=True)
class CopyReport:
    """What :func:`prepare_copy` did."""

    target: Path
    copied: tuple[str, ...] = ()
    #: The folder holding the notebooks ``--reset`` replaced, or None when nothing was replaced.
    backup: Path | None = None
    replaced: tuple[str, ...] = field(default=())


def _default_target() -> Path:
    return Path.home() / "smtplab-notebooks"


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _check_target(target: Path) -> None:
    if target.is_symlink() and not target.exists():
        raise NotebooksError(
            f"{target} is a symbolic link to {os.readlink(target)}, which does not exist: "
            "refusing to write through it"
        )
    if target.exists() and not target.is_dir():
        raise NotebooksError(f"--dir {target} is a file, not a folder: choose a folder")
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NotebooksError(f"cannot create the folder {target}: {_why(exc)}") from None
    try:  # the only sure test of "can I write here" (root ignores modes, not immutable flags)
        fd, probe = tempfile.mkstemp(prefix=".smtplab-write-test-", dir=target)
    except OSError as exc:
        raise NotebooksError(f"cannot write in {target}: {_why(exc)}") from None
    os.close(fd)
    os.unlink(probe)


def _plan(source: Path, target: Path) -> Iterator[tuple[Path, Path]]:
    """(source file, destination) pairs of the course, refusing symlinks on the way."""
    for item in sorted(source.iterdir()):
        if item.name.startswith(".") or item.name == "__pycache__":
            continue
        dest = target / item.name
        if dest.is_symlink():
            raise NotebooksError(
                f"{dest} is a symbolic link (to {os.readlink(dest)}): refusing to write "
                "through it; remove it or choose another --dir"
            )
        if item.is_dir():
            if dest.exists() and not dest.is_dir():
                raise NotebooksError(f"{dest} should be a folder but is a file")
            yield from _plan(item, dest)
        else:
            if dest.is_dir():
                raise NotebooksError(f"{dest} should be a notebook file but is a folder")
            yield item, dest


def _write_copy(src: Path, dest: Path) -> None:
    """Copy ``src`` to ``dest`` through a new temporary file and an atomic rename: a link that
    appears at ``dest`` meanwhile is replaced, never followed."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out, open(src, "rb") as inp:
            shutil.copyfileobj(inp, out)
        shutil.copystat(src, tmp)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _backup_dir(target: Path, now: dt.datetime | None = None) -> Path:
    stamp = (now or dt.datetime.now()).strftime("%Y-%m-%dT%H%M%S")
    path = target / f"{BACKUP_PREFIX}{stamp}"
    n = 1
    while path.exists() or path.is_symlink():
        n += 1
        path = target / f"{BACKUP_PREFIX}{stamp}-{n}"
    return path


def prepare_copy(
    directory: str | os.PathLike[str] | None = None,
    *,
    reset: bool = False,
    now: dt.datetime | None = None,
) -> CopyReport:
    """Copy the course into ``directory`` (default ``~/smtplab-notebooks``) and say what was done.

    New notebooks are always copied in; existing ones are replaced only with ``reset=True``, and
    then those that differ from the fresh copy are first kept in ``.backup-<date and time>/``.
    Raises :class:`NotebooksError` (nothing written) for a folder that is a file, cannot be
    written, or holds a symbolic link where a notebook goes.
    """
    target = Path(directory).expanduser() if directory else _default_target()
    _check_target(target)
    plan = list(_plan(notebooks_dir(), target))
    copied: list[str] = []
    replaced: list[str] = []
    backup: Path | None = None
    try:
        for src, dest in plan:
            rel = dest.relative_to(target)
            if dest.exists():
                if not reset or filecmp.cmp(src, dest, shallow=False):
                    continue
                if backup is None:
                    backup = _backup_dir(target, now)
                    backup.mkdir()
                (backup / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(dest, backup / rel)
                replaced.append(str(rel))
            _write_copy(src, dest)
            copied.append(str(rel))
    except OSError as exc:
        raise NotebooksError(f"cannot write the course into {target}: {_why(exc)}") from None
    return CopyReport(target, tuple(copied), backup, tuple(replaced))


def prepare(directory: str | os.PathLike[str] | None = None, *, reset: bool = False) -> Path:
    """Copy the course into ``directory`` (default ``~/smtplab-notebooks``); return its path."""
    return prepare_copy(directory, reset=reset).target


def _same_dir(a: Any, b: Path) -> bool:
    try:
        return bool(a) and Path(str(a)).expanduser().resolve() == b.resolve()
    except (OSError, RuntimeError):
        return False


def find_running_server(
    directory: str | os.PathLike[str], runtime_dir: str | None = None
) -> dict[str, Any] | None:
    """The info of a running Jupyter server serving ``directory`` (from Jupyter's runtime files,
    ``jpserver-*.json``, whose process is alive), with ``start_url`` added; None if there is none.
    """
    from jupyter_server.serverapp import list_running_servers

    target = Path(directory).expanduser()
    for info in list_running_servers(runtime_dir):
        if _same_dir(info.get("root_dir") or info.get("notebook_dir"), target):
            url = str(info.get("url") or "")
            if not url.endswith("/"):
                url += "/"
            start = f"{url}lab/tree/{START_PAGE}"
            token = info.get("token")
            return {**info, "start_url": f"{start}?token={token}" if token else start}
    return None


def jupyter_command(target: Path, *, open_browser: bool, port: int | None) -> list[str]:
    """The JupyterLab command line: served from ``target``, opening notebook 00."""
    cmd = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={target}"]
    if (target / START_PAGE).exists():
        cmd.append(f"--LabApp.default_url=/lab/tree/{START_PAGE}")
    if not open_browser:
        cmd.append("--no-browser")
    if port is not None:
        cmd.append(f"--port={port}")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    return cmd


def launch(
    directory: str | None = None,
    *,
    reset: bool = False,
    open_browser: bool = True,
    port: int | None = None,
) -> int:
    """Prepare the copy and run JupyterLab on it (the README's main command)."""
    if port is not None and not (isinstance(port, int) and 1 <= port <= 65535):
        raise NotebooksError(f"--port {port} is out of range: ports run from 1 to 65535")
    from smtplab.cli.text import safe_text  # paths and runtime files are printed escaped

    report = prepare_copy(directory, reset=reset)
    target = report.target
    print(f"Your copy of the course is in {safe_text(target)}")
    if report.backup is not None:
        print(
            f"--reset replaced {len(report.replaced)} notebook(s); your previous versions are "
            f"kept in {safe_text(report.backup)}"
        )
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
