"""``python3 start.py``, the README's first command: it reuses a virtual environment that is up to
date and opens JupyterLab on notebook 00; it refuses a Python that is too old in one line.

The first run's download is checked by hand (it needs the package index, and tests stay on
loopback); what the download weighs is measured in start.py's ``DOWNLOAD``.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import start  # noqa: E402  (the script at the repository's top, not a package module)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_start_reuses_an_environment_and_opens_notebook_00(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    # An environment that already has smtplab (this checkout's, through the system packages)
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    (env_dir / "smtplab-installed").write_text(start.wanted_stamp())
    port = _free_port()
    course = tmp_path / "course"
    env = {
        **os.environ,
        "SMTPLAB_VENV": str(env_dir),
        "PYTHONPATH": str(ROOT),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
    }
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "start.py"), "--no-browser", "--port", str(port),
         "--dir", str(course)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        status = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api", timeout=2) as r:
                    status = r.status
                    break
            except OSError:
                time.sleep(0.5)
        assert status == 200, "JupyterLab did not answer on loopback"
        assert (course / "00_start_here.ipynb").exists()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
    assert "installing" not in out  # up to date: nothing downloaded
    assert "starting JupyterLab on notebook 00" in out
    assert re.search(r"/lab/tree/00_start_here\.ipynb", out), out[-2000:]


def test_start_says_in_one_line_that_python_is_too_old(tmp_path: Path) -> None:
    code = (
        "import sys, runpy; sys.version_info = (3, 9, 0, 'final', 0); "
        f"sys.argv = ['start.py']; runpy.run_path({str(ROOT / 'start.py')!r}, run_name='__main__')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"smtplab: smtplab needs Python 3.10 or newer; this is {sys.version.split()[0]}"
    ]
