"""A private JupyterLab on loopback and a notebook opened in it, for the browser test and the
browser benchmark (``benchmarks/explorer_browser.py``).

Debian's Chromium (:data:`CHROMIUM`), never a downloaded one; everything stays on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def code_cell(cell_id: str, *lines: str) -> dict[str, object]:
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": cell_id,
        "metadata": {},
        "outputs": [],
        "source": [line + "\n" for line in lines[:-1]] + [lines[-1]],
    }


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(url: str, timeout: float = 2.0) -> int:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        resp.read()
        return int(resp.status)


class JupyterLab:
    """A JupyterLab server on 127.0.0.1 with a private config, runtime and settings."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.token = secrets.token_hex(16)
        home = root / ".jupyter-test"
        settings = home / "settings"
        notify = settings / "@jupyterlab" / "apputils-extension"
        notify.mkdir(parents=True)
        # no "would you like news?" toast over the notebook, and no update checks
        (notify / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False})
        )
        env = dict(os.environ)
        # Config and runtime go to the tmp dir; JUPYTER_DATA_DIR is left alone, so the widget
        # extension in <prefix>/share/jupyter/labextensions and the python3 kernel stay found.
        env.update(
            JUPYTER_CONFIG_DIR=str(home / "config"),
            JUPYTER_RUNTIME_DIR=str(home / "runtime"),
            IPYTHONDIR=str(home / "ipython"),
            JUPYTER_PLATFORM_DIRS="1",
            PYTHONWARNINGS="ignore",
        )
        self.log = (home / "jupyterlab.log").open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyterlab",
                "--no-browser",
                "--allow-root",
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={self.port}",
                "--ServerApp.port_retries=0",
                f"--ServerApp.token={self.token}",
                f"--ServerApp.root_dir={root}",
                f"--LabApp.user_settings_dir={settings}",
                f"--LabApp.workspaces_dir={home / 'workspaces'}",
                "--LabApp.news_url=None",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                "--LabApp.extension_manager=readonly",
                "--LabApp.expose_app_in_browser=True",
            ],
            cwd=root,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 45.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited early:\n{self.log_text()}")
            with contextlib.suppress(OSError):
                if http_get(f"{self.base}/api/status?token={self.token}") == 200:
                    return
            time.sleep(0.3)
        raise RuntimeError(f"JupyterLab did not answer within {timeout} s:\n{self.log_text()}")

    def log_text(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        # Ask politely first (this also shuts down the kernel, which runs in its own session),
        # then terminate the process group, then kill it.
        with contextlib.suppress(OSError):
            req = urllib.request.Request(
                f"{self.base}/api/shutdown?token={self.token}", method="POST", data=b""
            )
            with urllib.request.urlopen(req, timeout=5) as resp:
                resp.read()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self.log.close()


def open_notebook(page: Any, lab: JupyterLab, notebook: str) -> None:
    """Open ``notebook`` in a fresh workspace of its own and wait until its kernel is idle."""
    page.set_default_timeout(60_000)
    workspace = notebook.removesuffix(".ipynb")
    page.goto(f"{lab.base}/lab/workspaces/{workspace}/tree/{notebook}?reset&token={lab.token}")
    page.wait_for_selector(".jp-Notebook .jp-Cell .jp-InputArea", timeout=60_000)
    page.wait_for_function("() => window.jupyterapp !== undefined", timeout=60_000)
    # the kernel must be up before any cell runs: the notebook's kernel status goes idle
    page.wait_for_function(
        """(path) => {
            const w = window.jupyterapp.shell.currentWidget;
            const k = w && w.context && w.context.path === path && w.sessionContext
                && w.sessionContext.session && w.sessionContext.session.kernel;
            return k && k.status === 'idle';
        }""",
        arg=notebook,
        timeout=60_000,
    )
    page.evaluate("window.jupyterapp.shell.collapseLeft()")  # room for the panel
