"""The probe panel in a real browser: JupyterLab headless on loopback, Chromium driven by
Playwright, one click on Run against the embedded lab, outcome words rendered in the page.

Uses Debian's chromium (``executable_path``): no browser is ever downloaded. Everything stays on
127.0.0.1. A screenshot is saved in the test's tmp dir and copied to /tmp/smtplab-browser.png.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOT_COPY = Path("/tmp/smtplab-browser.png")

NOTEBOOK = {
    "cells": [
        {
            "cell_type": "code",
            "execution_count": None,
            "id": "probe-panel",
            "metadata": {},
            "outputs": [],
            "source": [
                "import smtplab.widgets as w\n",
                "panel = w.probe_panel(timeout=2)\n",
                "panel",
            ],
        }
    ],
    "metadata": {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    },
    "nbformat": 4,
    "nbformat_minor": 5,
}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, timeout: float = 2.0) -> int:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        resp.read()
        return int(resp.status)


class JupyterLab:
    """A JupyterLab server on 127.0.0.1 with a private config, runtime and settings."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = _free_port()
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
                if _get(f"{self.base}/api/status?token={self.token}") == 200:
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


@pytest.fixture
def jupyterlab(tmp_path: Path) -> Iterator[JupyterLab]:
    if not CHROMIUM.exists():
        pytest.skip(f"needs Debian's chromium at {CHROMIUM} (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="needs playwright from PyPI")
    (tmp_path / "test.ipynb").write_text(json.dumps(NOTEBOOK, indent=1))
    lab = JupyterLab(tmp_path)
    try:
        lab.wait_ready()
        yield lab
    finally:
        lab.stop()


def test_probe_panel_runs_in_jupyterlab(jupyterlab: JupyterLab, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    started = time.monotonic()
    shot = tmp_path / "probe-panel.png"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2300})
            page.set_default_timeout(60_000)
            page.goto(f"{jupyterlab.base}/lab/tree/test.ipynb?token={jupyterlab.token}")
            page.wait_for_selector(".jp-Notebook .jp-Cell .jp-InputArea", timeout=60_000)
            page.wait_for_function("() => window.jupyterapp !== undefined", timeout=60_000)
            # the kernel must be up before Run All; the notebook's kernel status goes idle
            page.wait_for_function(
                """() => {
                    const w = window.jupyterapp.shell.currentWidget;
                    const k = w && w.sessionContext && w.sessionContext.session
                        && w.sessionContext.session.kernel;
                    return k && k.status === 'idle';
                }""",
                timeout=60_000,
            )
            page.evaluate("window.jupyterapp.shell.collapseLeft()")  # room for the panel
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
            panel = page.locator(".smtplab-probe-panel")
            run = panel.locator("button", has_text="Run probe")
            expect(run).to_be_visible(timeout=60_000)
            run.click()
            # the default scenario (open-internet): 25 refused, 465/587/2525 open
            expect(panel.locator(".smtplab-outcome-refused")).to_have_count(1, timeout=60_000)
            expect(panel.locator(".smtplab-outcome-open")).to_have_count(3, timeout=60_000)
            text = panel.inner_text()
            assert "refused" in text and "open" in text and "TLSv1.3 (STARTTLS)" in text
            # the first open port's transcript is expanded: C:/S: lines and the TLS rule
            expect(panel.get_by_text("TLS starts here").first).to_be_visible()
            assert "EHLO" in panel.inner_text()
            expect(panel.locator("img[alt]")).to_have_count(1)
            panel.locator(".smtplab-outcome-refused").scroll_into_view_if_needed()
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
    with contextlib.suppress(OSError):
        shutil.copyfile(shot, SCREENSHOT_COPY)
    assert time.monotonic() - started < 100
