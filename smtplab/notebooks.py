"""The learner's copy of the course: made, refreshed, and reset one notebook at a time.

The shipped notebooks stay pristine (an installed package may live in a read-only place); the
learner works on a copy in ``~/smtplab-notebooks``. An existing copy is never overwritten unless
a reset is asked for, and then only the notebooks the learner *edited* (a notebook that was only
run, its cells' sources unchanged, is left as it is), each first kept in a visible dated backup
folder beside them (``backup-2026-11-30T153012/``), so nobody loses their answers; notebooks
added by a newer smtplab are copied in beside them. :func:`open_in_jupyterlab` tells which
notebooks a running JupyterLab has open, so a reset never writes under an open tab.

The copy is written only into real files and folders: a symbolic link planted where a notebook
goes (dangling or not) is refused, never written through. This module prints nothing: the
``smtplab notebooks`` command (:mod:`smtplab.cli.notebooks_cmd`) is its face.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import filecmp
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from smtplab._paths import notebooks_dir
from smtplab.errors import SmtplabError

__all__ = [
    "START_PAGE",
    "CopyReport",
    "NotebooksError",
    "edited",
    "find_running_server",
    "jupyter_command",
    "open_in_jupyterlab",
    "prepare",
    "prepare_copy",
    "resolve_names",
]

#: The course's start page, opened first.
START_PAGE = "00_start_here.ipynb"

#: The backup folder's name before its date: visible in JupyterLab's file browser, on purpose.
BACKUP_PREFIX = "backup-"


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


def _cells(path: Path) -> list[tuple[str, str]] | None:
    """A notebook's cells as (type, source): what a learner edits, without outputs, counts
    and metadata that running it changes. None for a file that is not a readable notebook."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
        cells = nb["cells"]
        return [
            (str(c.get("cell_type")), "".join(c.get("source", "")) if isinstance(
                c.get("source"), list) else str(c.get("source", "")))
            for c in cells
        ]  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def edited(shipped: Path, copy: Path) -> bool:
    """Whether the learner's ``copy`` differs from the ``shipped`` file in what a learner
    writes: for a notebook its cells' types and sources (running it changes neither), for any
    other file its bytes."""
    if shipped.suffix == ".ipynb":
        mine = _cells(copy)
        return mine is None or mine != _cells(shipped)
    return not filecmp.cmp(shipped, copy, shallow=False)


def resolve_names(names: Iterable[str]) -> set[str]:
    """The course files meant by ``names`` as a learner types them (``05``, ``05_tls``,
    ``05_tls_starttls_vs_implicit.ipynb``). Raises :class:`NotebooksError` for a name that
    matches no notebook, or more than one."""
    shipped = sorted(p.name for p in notebooks_dir().glob("*.ipynb"))
    chosen: set[str] = set()
    for name in names:
        key = Path(name).name
        hits = [n for n in shipped if n == key or n.startswith(key.removesuffix(".ipynb"))]
        if len(hits) != 1:
            some = ", ".join(n.split("_")[0] for n in shipped)
            why = "matches no notebook" if not hits else f"matches {len(hits)} notebooks"
            raise NotebooksError(f"{name!r} {why}: name one by its number ({some})")
        chosen.add(hits[0])
    return chosen


def prepare_copy(
    directory: str | os.PathLike[str] | None = None,
    *,
    reset: bool | Iterable[str] = False,
    now: dt.datetime | None = None,
    dry_run: bool = False,
) -> CopyReport:
    """Copy the course into ``directory`` (default ``~/smtplab-notebooks``) and say what was done.

    New notebooks are always copied in. ``reset`` replaces the notebooks the learner edited
    (:func:`edited`): ``True`` for every one, or the names of some (:func:`resolve_names`);
    each replaced file is first kept in ``backup-<date and time>/``. With ``dry_run`` nothing is
    written and the report says what would be. Raises :class:`NotebooksError` (nothing written)
    for a folder that is a file, cannot be written, or holds a symbolic link where a notebook
    goes.
    """
    target = Path(directory).expanduser() if directory else _default_target()
    if reset is True:
        chosen: set[str] | None = None
    elif reset is False:
        chosen = set()
    else:
        chosen = resolve_names(reset)
    if not dry_run:
        _check_target(target)
    plan = list(_plan(notebooks_dir(), target))
    copied: list[str] = []
    replaced: list[str] = []
    backup: Path | None = None
    try:
        for src, dest in plan:
            rel = dest.relative_to(target)
            if dest.exists():
                wanted = chosen is None or str(rel) in chosen
                if not wanted or not edited(src, dest):
                    continue
                replaced.append(str(rel))
                if dry_run:
                    continue
                if backup is None:
                    backup = _backup_dir(target, now)
                    backup.mkdir()
                (backup / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(dest, backup / rel)
            if not dry_run:
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
    if _kernel_sockets_fit():
        cmd.append("--KernelManager.transport=ipc")
    return cmd


#: The longest Unix socket path (``sun_path``, with its NUL: 108 bytes on Linux, 104 on macOS),
#: less a margin; a kernel's IPC sockets are ``<runtime>/kernel-<uuid>-ipc-<n>``.
_SOCKET_PATH_MAX: Final = 100
_KERNEL_SOCKET_NAME: Final = len("/kernel-00000000-0000-0000-0000-000000000000-ipc-5")


def _kernel_sockets_fit() -> bool:
    """Whether kernels can talk to JupyterLab over Unix sockets in its runtime folder.

    Over TCP (Jupyter's default) ipykernel 7 warns on the learner's terminal that "Kernel is
    running over TCP without encryption", and any local user may knock on its ports; Unix
    sockets in the user's own runtime folder are private and say nothing. Not on Windows, and
    not where the folder's path is too long for a socket's name (the kernel would not start)."""
    if os.name != "posix":
        return False
    from jupyter_core.paths import jupyter_runtime_dir

    runtime = os.path.abspath(jupyter_runtime_dir())
    return len(os.fsencode(runtime)) + _KERNEL_SOCKET_NAME <= _SOCKET_PATH_MAX


def open_in_jupyterlab(server: dict[str, Any], *, timeout: float = 3.0) -> set[str] | None:
    """The notebooks (paths relative to the served folder) that the running JupyterLab
    ``server`` (from :func:`find_running_server`) has open with a kernel, from its sessions API
    on loopback; None when it cannot be asked (then assume any could be open)."""
    import urllib.request

    url = str(server.get("url") or "")
    if not url.startswith(("http://127.", "http://localhost", "http://[::1]")):
        return None  # only ever a server on this machine
    if not url.endswith("/"):
        url += "/"
    request = urllib.request.Request(f"{url}api/sessions")
    if server.get("token"):
        request.add_header("Authorization", f"token {server['token']}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            sessions = json.loads(reply.read(1_000_000))
    except (OSError, ValueError):
        return None
    if not isinstance(sessions, list):
        return None
    return {str(s.get("path", "")) for s in sessions if isinstance(s, dict)}
