"""Nothing but results reaches a learner's screen: no warning, traceback or file path.

A dependency's new release can start warning (cryptography 51 deprecated DSA, and a warning with
an absolute path was printed above every probe). Each command a learner types first runs here in
a fresh interpreter with warnings as errors (``-W error``, which also turns off the command's
own quieting), so such a release fails this test in ``scripts/newest`` before it reaches a
learner, and stderr must stay empty.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RECORDING = ROOT / "data" / "recordings" / "hotel-wifi.jsonl"

COMMANDS = {
    "probe": ["probe", "smtp.lab.example", "--lab", "home-isp", "--timeout", "1"],
    "probe --json": ["probe", "smtp.lab.example", "--lab", "home-isp", "--timeout", "1", "--json"],
    "doctor": ["doctor", "smtp.lab.example", "--lab", "hotel-wifi", "--timeout", "1"],
    "show": ["show", str(RECORDING)],
    "show --summary": ["show", "--summary", str(RECORDING)],
    "lab --list": ["lab", "--list"],
}

#: What a warning, a traceback or a path on this machine looks like on screen.
_NOISE = re.compile(r"Warning\b|Traceback|File \"|/site-packages/|" + re.escape(str(ROOT)))


def _run(*args: str, warnings: str | None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "100"}
    env.pop("PYTHONWARNINGS", None)
    env.pop("SMTPLAB_DEBUG", None)
    flags = ["-W", warnings] if warnings else []
    return subprocess.run(
        [sys.executable, *flags, "-m", "smtplab", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_learners_command_raises_no_warning(name: str) -> None:
    done = _run(*COMMANDS[name], warnings="error")
    assert done.returncode == 0, f"smtplab {name} exited {done.returncode}:\n{done.stderr[-3000:]}"
    assert done.stderr == "", f"smtplab {name} printed to stderr:\n{done.stderr[-3000:]}"
    assert done.stdout.strip(), f"smtplab {name} printed nothing"


def test_the_command_keeps_a_librarys_warning_off_the_screen(tmp_path: Path) -> None:
    """A dependency that warns anyway (simulated by a ``sitecustomize`` that makes the command
    warn as it starts) does not reach the screen in a normal run, and does with ``-W``."""
    (tmp_path / "sitecustomize.py").write_text(
        "import warnings\n"
        "import smtplab.cli as _cli\n"
        "_main = _cli.main\n"
        "def main(argv=None):\n"
        "    warnings.warn('dsa is deprecated', UserWarning, stacklevel=1)\n"
        "    return _main(argv)\n"
        "_cli.main = main\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    env.pop("PYTHONWARNINGS", None)
    env.pop("SMTPLAB_DEBUG", None)
    argv = [sys.executable, "-m", "smtplab", "lab", "--list"]
    quiet = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env, check=False)
    assert quiet.returncode == 0 and quiet.stdout.strip()
    assert not _NOISE.search(quiet.stderr), quiet.stderr
    loud = subprocess.run(
        [sys.executable, "-W", "default", *argv[1:]],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert "dsa is deprecated" in loud.stderr  # the simulated warning was really raised


@pytest.mark.notebooks
def test_notebook_00_runs_with_warnings_as_errors(tmp_path: Path) -> None:
    """The course's first notebook, with every warning turned into an error in its kernel: a
    deprecation anywhere on a learner's first path fails here, whatever filters Python's defaults
    would have applied to it."""
    import shutil

    import nbformat
    from nbclient import NotebookClient

    course = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", course, ignore=shutil.ignore_patterns(".*"))
    path = course / "00_start_here.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell("import warnings\nwarnings.simplefilter('error')"))
    client = NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(course)}}
    )
    client.execute()  # a warning raised in any cell is a CellExecutionError here
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert out.get("name") != "stderr", out.get("text")
