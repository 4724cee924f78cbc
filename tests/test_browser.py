"""The course in a real browser: JupyterLab headless on loopback, Chromium driven by Playwright,
at a laptop's size (1400×900) and a projector's (1024×768).

One JupyterLab and one Chromium serve the whole session. Per screen size: the probe panel runs
once against the embedded lab and its outcome words, chart (alt text in the DOM, as wide as the
panel), finding column (not clipped) and EHLO explanations (one per line) are checked in the
page; so are a chart shown with ``charts.show`` and a chart that ends a cell. Screenshots are
saved in the test's tmp dir (the first one of 1400×900 also at /tmp/smtplab-browser.png).

Uses Debian's chromium (``executable_path``): no browser is ever downloaded. Everything stays on
127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from labserver import CHROMIUM, CHROMIUM_ARGS, JupyterLab, code_cell, open_notebook

pytestmark = pytest.mark.browser

SCREENSHOT_COPY = Path("/tmp/smtplab-browser.png")


NOTEBOOK = {
    "cells": [
        code_cell(
            "probe-panel",
            "import smtplab.widgets as w",
            "panel = w.probe_panel(timeout=2)",
            "panel",
        ),
        code_cell(
            "chart-show",
            "from smtplab import charts",
            "charts.show(charts.provider_matrix())",
        ),
        code_cell("chart-repr", "charts.timeline()"),
        code_cell(
            "heatmap",
            "import pandas as pd",
            "outcomes = ['open', 'filtered', 'filtered']",
            "charts.outcome_heatmap(pd.DataFrame(",
            "    [{'host': 'mx.lab.example', 'port': 25, 'outcome': o} for o in outcomes]",
            "))",
        ),
        code_cell(
            "player",
            "record = {'host': 'mx.example', 'port': 587, 'outcome': 'open', 'transcript': [",
            "    {'t': i * 0.5, 'dir': ('server', 'client')[i % 2],",
            "     'text': f'line {i} <img src=x onerror=alert(1)>'} for i in range(12)]}",
            "player = w.transcript_player(record, speed='instant')",
            "player.slider.value = 4",
            "player",
        ),
        code_cell(
            "explorer",
            "from smtplab._paths import data_dir",
            "w.dataset_explorer(str(data_dir() / 'classroom.jsonl'), charts=False)",
        ),
    ],
    "metadata": {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    },
    "nbformat": 4,
    "nbformat_minor": 5,
}

#: The two screens the course is taught on: a laptop and a projector.
VIEWPORTS = {"1400x900": (1400, 900), "1024x768": (1024, 768)}


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    """One JupyterLab for this module; one notebook (and kernel) per viewport."""
    if not CHROMIUM.exists():
        pytest.skip(f"needs Debian's chromium at {CHROMIUM} (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="needs playwright from PyPI")
    root = tmp_path_factory.mktemp("jupyterlab")
    for name in VIEWPORTS:
        (root / f"panel-{name}.ipynb").write_text(json.dumps(NOTEBOOK, indent=1))
    lab = JupyterLab(root)
    try:
        lab.wait_ready()
        yield lab
    finally:
        lab.stop()


@pytest.fixture(scope="module")
def browser(jupyterlab: JupyterLab) -> Iterator[Any]:
    """One headless Chromium for this module (Debian's, never a downloaded one). Module scope,
    not session: Playwright's sync API keeps an event loop running in the main thread while it
    is open, which would break every later test that starts a loop of its own."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()


def _open_and_run(page: Any, lab: JupyterLab, notebook: str) -> None:
    """Open ``notebook`` in a fresh workspace of its own, wait for its kernel, Run All."""
    open_notebook(page, lab, notebook)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")


_FILLS_JS = """(img) => {
    const area = img.closest('.jp-OutputArea-output');
    const style = getComputedStyle(area);
    const inner = area.clientWidth - parseFloat(style.paddingLeft)
        - parseFloat(style.paddingRight);
    return {img: img.getBoundingClientRect().width, area: inner,
            natural: img.naturalWidth};
}"""

_CLIPPED_JS = """(els) => els.map((el) => {
    const r = el.getBoundingClientRect();
    let clip = {left: 0, right: window.innerWidth};
    for (let p = el.parentElement; p; p = p.parentElement) {
        const s = getComputedStyle(p);
        if (s.overflowX !== 'visible') {
            const q = p.getBoundingClientRect();
            clip = {left: Math.max(clip.left, q.left), right: Math.min(clip.right, q.right)};
        }
    }
    return {left: r.left, right: r.right, width: r.width,
            clipLeft: clip.left, clipRight: clip.right, text: el.innerText};
})"""

_SHOWN_JS = "(rows) => rows.map((row) => row.getClientRects().length > 0)"

_BACKGROUND_JS = "(row) => getComputedStyle(row).backgroundColor"

_BOX_JS = """(el) => {
    const r = el.getBoundingClientRect();
    return {left: r.left, right: r.right, viewport: window.innerWidth,
            scrollWidth: el.scrollWidth, clientWidth: el.clientWidth,
            overflowX: getComputedStyle(el).overflowX};
}"""

_EHLO_NOTES_JS = """(rows) => rows.map((row) => ({
    line: row.children[2].innerText,
    note: row.querySelector('.smtplab-note') ? row.querySelector('.smtplab-note').innerText : ''
}))"""


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_the_course_reads_well_in_jupyterlab(
    viewport: str, jupyterlab: JupyterLab, browser: Any, tmp_path: Path
) -> None:
    """The probe panel, a shown chart and a chart that ends a cell, at a laptop's and a
    projector's size: alt text in the page, charts as wide as their output, the finding column
    on screen, one explanation per EHLO line. Screenshots go to the test's tmp dir."""
    from playwright.sync_api import expect

    started = time.monotonic()
    width, height = VIEWPORTS[viewport]
    page = browser.new_page(viewport={"width": width, "height": height})
    shots: list[Path] = []

    def shot(name: str) -> None:
        shots.append(tmp_path / f"{viewport}-{name}.png")
        page.screenshot(path=str(shots[-1]))

    try:
        _open_and_run(page, jupyterlab, f"panel-{viewport}.ipynb")
        panel = page.locator(".smtplab-probe-panel")
        run = panel.locator("button", has_text="Run probe")
        expect(run).to_be_visible(timeout=60_000)
        run.click()
        # the default scenario (open-internet): 25 refused, 465/587/2525 open
        expect(panel.locator(".smtplab-outcome-refused")).to_have_count(1, timeout=60_000)
        expect(panel.locator(".smtplab-outcome-open")).to_have_count(3, timeout=60_000)
        text = panel.inner_text()
        assert "refused" in text and "open" in text and "TLSv1.3 (STARTTLS)" in text

        # the top finding column is on screen, not cut off, at both sizes
        table = panel.locator(".smtplab-table").first
        table.scroll_into_view_if_needed()
        shot("results")
        findings = page.locator(".smtplab-probe-panel .smtplab-finding")
        expect(findings).to_have_count(4)
        for cell in findings.evaluate_all(_CLIPPED_JS):
            assert cell["width"] > 50, cell
            assert cell["clipLeft"] - 1 <= cell["left"], cell
            assert cell["right"] <= cell["clipRight"] + 1, cell

        # the panel's chart: an <img> whose alt text is in the page, as wide as the panel
        img = panel.locator("figure.smtplab-chart img")
        expect(img).to_have_count(1)
        assert len(img.get_attribute("alt") or "") > 40
        img.scroll_into_view_if_needed()
        shot("panel-chart")
        box = img.bounding_box()
        html_box = panel.bounding_box()
        assert box is not None and html_box is not None
        assert box["width"] >= 0.9 * min(html_box["width"], 1200), (box, html_box)

        # the first open port's transcript: the TLS rule, and every EHLO line explained apart
        expect(panel.get_by_text("TLS starts here").first).to_be_visible()
        rows = panel.locator(".smtplab-transcript tr.smtplab-server")
        lines = [r for r in rows.evaluate_all(_EHLO_NOTES_JS) if r["line"].startswith("250")]
        assert len(lines) >= 6, lines
        notes = {r["line"]: r["note"] for r in lines}
        assert len(set(notes.values())) == len(notes), notes
        assert any("RFC 3207" in n for n in notes.values())  # STARTTLS
        assert any("RFC 4954" in n and "RFC 4616" in n for n in notes.values())  # AUTH PLAIN
        panel.get_by_text("TLS starts here").first.scroll_into_view_if_needed()
        shot("transcript")

        # charts outside widgets: charts.show() and a chart that ends a cell
        captions = []
        for i in (1, 2, 3):
            figure = page.locator(".jp-Notebook .jp-CodeCell").nth(i).locator("figure")
            expect(figure).to_have_count(1, timeout=60_000)
            figure.scroll_into_view_if_needed()
            shot(f"chart-{i}")
            chart = figure.locator("img")
            alt = chart.get_attribute("alt") or ""
            assert len(alt) > 40, alt
            caption = figure.locator("figcaption").inner_text()
            assert len(caption) > 40
            captions.append(caption)
            size = chart.evaluate(_FILLS_JS)
            assert size["img"] >= 0.97 * min(size["area"], size["natural"]), size
            assert size["img"] >= 0.97 * size["area"] or size["img"] >= size["natural"], size
        # the heat map's caption says what "k of n probes" in a cell counts
        assert "of the 6 probes in that cell, 2 got that far" in captions[2]
        alt = page.locator(".jp-Notebook .jp-CodeCell").nth(3).locator("img").get_attribute("alt")
        assert "(probes: 2 filtered, 1 open of 3)" in (alt or ""), alt

        # the transcript player: every line is in the page once, its style shows the first
        # four (the fourth highlighted); ▶ plays the rest; hostile text stays text
        player = page.locator(".smtplab-transcript-player")
        expect(player).to_have_count(1, timeout=60_000)
        player.scroll_into_view_if_needed()
        rows = player.locator("tr.smtplab-line")
        expect(rows).to_have_count(12)
        expect(rows.nth(3)).to_be_visible()
        assert rows.evaluate_all(_SHOWN_JS) == [True] * 4 + [False] * 8
        assert rows.nth(3).evaluate(_BACKGROUND_JS) == "rgb(255, 243, 196)"
        assert rows.nth(2).evaluate(_BACKGROUND_JS) != "rgb(255, 243, 196)"
        expect(player.locator(".smtplab-hint")).to_be_hidden()
        assert player.locator("img").count() == 0
        assert "line 3 <img src=x onerror=alert(1)>" in rows.nth(3).inner_text()
        shot("player")
        player.locator(".widget-play button").first.click()
        expect(rows.nth(11)).to_be_visible(timeout=30_000)
        assert rows.evaluate_all(_SHOWN_JS) == [True] * 12
        assert rows.nth(11).evaluate(_BACKGROUND_JS) == "rgb(255, 243, 196)"

        # the dataset explorer: its table scrolls sideways in its own box, on screen, and the
        # widget itself never needs a scrollbar of its own (a projector once saw 5 of 10 columns)
        explorer = page.locator(".smtplab-dataset-explorer")
        expect(explorer).to_have_count(1, timeout=60_000)
        explorer.scroll_into_view_if_needed()
        shot("explorer")
        box = explorer.locator(".smtplab-scroll").first.evaluate(_BOX_JS)
        whole = explorer.evaluate(_BOX_JS)
        assert box["right"] <= min(box["viewport"], whole["right"]) + 1, (box, whole)
        assert box["left"] >= whole["left"] - 1, (box, whole)
        assert whole["overflowX"] == "hidden" or whole["scrollWidth"] <= whole["clientWidth"]
    finally:
        page.close()
    assert all(p.stat().st_size > 10_000 for p in shots)
    if viewport == "1400x900":
        with contextlib.suppress(OSError):
            shutil.copyfile(shots[0], SCREENSHOT_COPY)
    assert time.monotonic() - started < 120
