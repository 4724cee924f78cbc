"""Start the smtplab course: ``python3 start.py`` in the repository's folder.

One command on a fresh machine (Debian, Ubuntu, macOS, Windows): it makes a virtual environment
in ``.venv`` beside this file the first time (Debian's and Homebrew's Pythons refuse ``pip
install`` outside one), installs smtplab into it, says how much that downloads before it does,
and opens JupyterLab on notebook 00 with the embedded lab as every notebook's target. Later runs
reuse the environment and start at once; the install is redone only when ``pyproject.toml``
changes. Arguments go on to ``smtplab notebooks`` (``--no-browser``, ``--port N``, ``--dir DIR``).

Only the standard library is used here, and Python 3.10 or newer is needed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("SMTPLAB_VENV", ROOT / ".venv"))
STAMP = VENV / "smtplab-installed"
#: Measured for this release: ``pip download`` of smtplab and its dependencies on Linux x86-64
#: and Python 3.11 (2026-12-07): 111 packages, 183 MiB. Other systems differ a little.
DOWNLOAD = "about 190 MB (about 110 packages)"


def say(text: str) -> None:
    print(f"smtplab: {text}", flush=True)


def fail(text: str) -> None:
    print(f"smtplab: {text}", file=sys.stderr, flush=True)
    raise SystemExit(2)


def bin_path(name: str) -> Path:
    folder = "Scripts" if os.name == "nt" else "bin"
    suffix = ".exe" if os.name == "nt" else ""
    return VENV / folder / f"{name}{suffix}"


def wanted_stamp() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def make_venv() -> None:
    try:
        venv.EnvBuilder(with_pip=True, clear=VENV.exists()).create(VENV)
        return
    except (subprocess.CalledProcessError, OSError) as exc:
        problem = str(exc)
    # Debian and Ubuntu ship venv's pip installer (ensurepip) in a package of its own.
    apt = shutil.which("apt-get")
    package = f"python3.{sys.version_info.minor}-venv"
    if apt is None:
        fail(f"could not make a virtual environment in {VENV.name}: {problem}")
    say(f"this Python needs Debian's {package} to make a virtual environment; installing it")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    if subprocess.run([*sudo, apt, "install", "-y", package], check=False).returncode != 0:
        fail(f"could not install {package}: run 'sudo apt install {package}', then this again")
    venv.EnvBuilder(with_pip=True, clear=True).create(VENV)


def install() -> None:
    python = bin_path("python")
    if STAMP.exists() and python.exists() and STAMP.read_text() == wanted_stamp():
        return
    if not python.exists():
        say(f"first run: making a virtual environment in {VENV}")
        make_venv()
    say(f"installing smtplab and what it needs: {DOWNLOAD} to download, once.")
    say("in a classroom sharing one connection, let one machine do this first, or copy its .venv")
    command = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-e", str(ROOT)]
    if subprocess.run(command, check=False).returncode != 0:
        fail("the install failed (see pip's message above); run this command again to retry")
    STAMP.write_text(wanted_stamp())


def main(argv: list[str]) -> int:
    if sys.version_info < (3, 10):  # noqa: UP036 -- said in words to an older Python
        fail(f"smtplab needs Python 3.10 or newer; this is {sys.version.split()[0]}")
    install()
    say("starting JupyterLab on notebook 00 (Ctrl-C here stops it)")
    command = [str(bin_path("python")), "-m", "smtplab", "notebooks", *argv]
    if os.name == "posix":  # become the course's process: Ctrl-C and signals reach it directly
        sys.stdout.flush()
        os.execv(command[0], command)
    return subprocess.call(command)


if __name__ == "__main__":
    try:
        raise SystemExit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        raise SystemExit(130) from None
