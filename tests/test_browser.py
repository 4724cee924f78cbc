"""The course in a real browser: JupyterLab headless on loopback, Chromium driven by Playwright,
at a laptop's size (1400×900) and a projector's (1024×768).

Every widget is also rendered in JupyterLab Light and JupyterLab Dark at 1024×768 (file
browser open and closed), with the WCAG AA contrast of each text and its clipping measured in
the page; and a notebook reopened without its kernel must say how to bring its widget back.

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
    (root / "themes.ipynb").write_text(json.dumps(THEMES_NOTEBOOK, indent=1))
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


# --- every widget, light and dark, at a projector's size ------------------------------------

THEMES_NOTEBOOK = {
    **NOTEBOOK,
    "cells": [
        code_cell(
            "setup",
            "import json",
            "import smtplab",
            "import smtplab.widgets as w",
            "from smtplab._paths import data_dir",
            "hotel_path = str(data_dir() / 'recordings' / 'hotel-wifi.jsonl')",
            "hotel = smtplab.load_records(hotel_path)",
            "None",
        ),
        code_cell("panel", "panel = w.probe_panel(timeout=2)", "panel"),
        code_cell("player", "w.transcript_player(hotel.iloc[5], speed='instant')"),
        code_cell("explorer", "w.dataset_explorer(hotel_path)"),
        code_cell("chooser", "w.port_chooser(hotel)"),
        code_cell(
            "quiz",
            "spec = json.loads((data_dir().parent / 'notebooks' / 'closing_quiz.json')"
            ".read_text())",
            "q = w.quiz(spec['questions'][:3], title=spec['title'])",
            "q.questions[0].answer.value = q.questions[0].answer.options[0]",
            "q.questions[0].check()",
            "q.questions[1].answer.value = 'IANA'",
            "q.questions[1].check()",
            "q.questions[2].check()",
            "q",
        ),
    ],
}

#: The root element of each widget, by the class its factory gives it.
WIDGETS = {
    "probe panel": ".smtplab-probe-panel",
    "transcript player": ".smtplab-transcript-player",
    "dataset explorer": ".smtplab-dataset-explorer",
    "port chooser": ".smtplab-port-chooser",
    "quiz": ".smtplab-quiz",
}

#: WCAG 2.1 contrast of every visible text in a widget against what is behind it, and what
#: is clipped. Backgrounds are composited (a 15% tint over the page), as is a text colour
#: with alpha (JupyterLab Dark's secondary text is white at 70%). Large text (24 px, or bold
#: from 18.66 px) needs 3:1, the rest 4.5:1 (WCAG 1.4.3). Clipped: an element hiding its
#: overflow that has more than it shows, or a text outside the widget's output area with no
#: sideways-scrolling box to reach it (WCAG 1.4.10).
_AUDIT_JS = r"""(root) => {
    const parse = (c) => {
        const m = c.match(/rgba?\(([^)]+)\)/);
        if (!m) return null;
        const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
        return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
    };
    const over = (top, bottom) => {
        const a = top[3];
        return [0, 1, 2].map((i) => top[i] * a + bottom[i] * (1 - a)).concat([1]);
    };
    const behind = (el) => {
        const layers = [];
        for (let e = el; e; e = e.parentElement) {
            const c = parse(getComputedStyle(e).backgroundColor);
            if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
        }
        let bg = [255, 255, 255, 1];
        for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
        return bg;
    };
    const lum = (c) => {
        const f = (v) => {
            v /= 255;
            return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
        };
        return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
    };
    const ratio = (a, b) => {
        const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
        return (hi + 0.05) / (lo + 0.05);
    };
    const area = root.closest('.jp-OutputArea-output') || root;
    const box = area.getBoundingClientRect();
    const low = [], clipped = [], seen = new Set();
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let n; (n = walker.nextNode());) {
        const text = n.textContent.trim();
        const el = n.parentElement;
        if (!text || seen.has(el)) continue;
        seen.add(el);
        const s = getComputedStyle(el);
        const r = el.getBoundingClientRect();
        if (s.visibility === 'hidden' || r.width === 0 || r.height === 0) continue;
        if (el.closest('option, :disabled, [aria-hidden="true"] svg')) continue;
        const bg = behind(el);
        const fg = over(parse(s.color), bg);
        const size = parseFloat(s.fontSize), bold = parseInt(s.fontWeight) >= 700;
        const need = (size >= 24 || (bold && size >= 18.66)) ? 3.0 : 4.5;
        const c = ratio(fg, bg);
        if (c < need) low.push({text: text.slice(0, 50), color: s.color,
                                bg: bg.slice(0, 3).map(Math.round).join(','),
                                ratio: Math.round(c * 100) / 100, need});
        // Only our own sideways-scrolling boxes (.smtplab-scroll: a wide table) may hold
        // more than they show; any other box that does (an ipywidgets box is overflow:auto)
        // hides it or makes the whole widget scroll.
        let scroller = false, cut = false;
        for (let p = el; p && p !== area.parentElement; p = p.parentElement) {
            if (p.classList.contains('smtplab-scroll')) { scroller = true; break; }
            const ps = getComputedStyle(p);
            if (ps.overflowX !== 'visible' && p.scrollWidth > p.clientWidth + 1) {
                clipped.push({text: text.slice(0, 50), why: 'overflow ' + ps.overflowX,
                              cls: String(p.className).slice(0, 60),
                              scrollWidth: p.scrollWidth, clientWidth: p.clientWidth});
                cut = true;
                break;
            }
        }
        if (!scroller && !cut && (r.right > Math.min(box.right, window.innerWidth) + 1
                                  || r.left < box.left - 1)) {
            clipped.push({text: text.slice(0, 50), why: 'outside the output area',
                          left: r.left, right: r.right, areaRight: box.right});
        }
    }
    return {low, clipped, texts: seen.size, width: box.width};
}"""


def _audit(page: Any, theme: str) -> dict[str, Any]:
    """Contrast and clipping of each widget in the page, as the JS above measures them."""
    found = {}
    for name, css in WIDGETS.items():
        root = page.locator(css).first
        root.scroll_into_view_if_needed()
        found[name] = root.evaluate(_AUDIT_JS)
        assert found[name]["texts"] > 3, (theme, name, found[name])
    return found


_PLANTED_JS = """(root) => {
    const bad = document.createElement('div');
    bad.className = 'smtplab-planted';
    bad.innerHTML = '<div style="color:#777;background:#888">grey on grey</div>'
        + '<div style="overflow:hidden;width:60px;white-space:nowrap">a line cut short here</div>'
        + '<div style="width:4000px">a line past the edge</div>';
    root.appendChild(bad);
}"""


def _audit_finds_what_it_should(page: Any) -> None:
    """The audit itself, on planted faults: low contrast, hidden overflow, off the edge."""
    root = page.locator(WIDGETS["quiz"]).first
    root.evaluate(_PLANTED_JS)
    try:
        found = root.evaluate(_AUDIT_JS)
    finally:
        root.evaluate("(root) => root.querySelector('.smtplab-planted').remove()")
    assert "grey on grey" in [x["text"] for x in found["low"]], found
    why = {x["text"]: x["why"] for x in found["clipped"]}
    # (the wide line makes the quiz's box overflow, so its other texts are flagged too)
    assert {"a line cut short here", "a line past the edge"} <= why.keys(), found
    assert why["a line cut short here"] == "overflow hidden", found


def _set_theme(page: Any, theme: str, light: bool) -> None:
    page.evaluate(
        f"window.jupyterapp.commands.execute('apputils:change-theme', {{theme: '{theme}'}})"
    )
    page.wait_for_function(
        "(light) => document.body.dataset.jpThemeLight === String(light)", arg=light
    )
    # the theme's stylesheet is in when JupyterLab's own page colour follows it
    page.wait_for_function(
        r"""(light) => {
            const probe = document.createElement('div');
            probe.style.background = 'var(--jp-layout-color0)';
            document.body.appendChild(probe);
            const c = getComputedStyle(probe).backgroundColor.match(/\d+/g).map(Number);
            probe.remove();
            return (c[0] + c[1] + c[2] > 3 * 128) === light;
        }""",
        arg=light,
    )
    page.wait_for_timeout(500)


def test_every_widget_reads_in_light_and_dark_at_1024x768(
    jupyterlab: JupyterLab, browser: Any, tmp_path: Path
) -> None:
    """The probe panel (with the lab's results), the transcript player, the dataset explorer on
    the hotel recording, the port chooser and the quiz (answered right and wrong), in
    JupyterLab Light and JupyterLab Dark at 1024x768: every text at WCAG AA contrast, nothing
    clipped. One page and one kernel; the theme changes under the same widgets."""
    from playwright.sync_api import expect

    started = time.monotonic()
    page = browser.new_page(viewport={"width": 1024, "height": 768})
    problems: dict[str, Any] = {}
    try:
        _open_and_run(page, jupyterlab, "themes.ipynb")
        panel = page.locator(".smtplab-probe-panel")
        run = panel.locator("button", has_text="Run probe")
        expect(run).to_be_visible(timeout=60_000)
        run.click()
        expect(panel.locator(".smtplab-outcome-open")).to_have_count(3, timeout=60_000)
        for css in WIDGETS.values():
            expect(page.locator(css)).to_have_count(1, timeout=60_000)
        expect(page.locator(".smtplab-dataset-explorer figure img")).to_have_count(
            2, timeout=60_000
        )
        # each widget's "run this cell again" note is there, hidden while the widget lives
        notes = page.locator(".smtplab-reopen-note")
        expect(notes).to_have_count(len(WIDGETS))
        for i in range(len(WIDGETS)):
            expect(notes.nth(i)).to_be_hidden()
        _audit_finds_what_it_should(page)
        for theme, light in (("JupyterLab Light", True), ("JupyterLab Dark", False)):
            _set_theme(page, theme, light)
            # with the file browser open (how a class first sees it: the notebook is ~700 px
            # wide at 1024x768) and closed
            for sidebar in ("expandLeft", "collapseLeft"):
                page.evaluate(f"window.jupyterapp.shell.{sidebar}()")
                page.wait_for_timeout(400)
                for name, found in _audit(page, theme).items():
                    if found["low"] or found["clipped"]:
                        problems[f"{theme}, {sidebar}: {name}"] = {
                            "low contrast": found["low"][:8],
                            "clipped": found["clipped"][:8],
                        }
                page.locator(".smtplab-probe-panel").first.scroll_into_view_if_needed()
                page.screenshot(path=str(tmp_path / f"{theme.replace(' ', '-')}-{sidebar}.png"))
    finally:
        with contextlib.suppress(Exception):
            _set_theme(page, "JupyterLab Light", True)
        page.close()
    assert not problems, json.dumps(problems, indent=1, ensure_ascii=False)
    assert time.monotonic() - started < 150


def test_a_reopened_notebook_says_how_to_bring_its_widgets_back(
    jupyterlab: JupyterLab, browser: Any
) -> None:
    """A notebook saved with a widget and reopened without the kernel that drew it: where
    the widget was, a note says to run the cell again (JupyterLab itself only says "Error
    displaying widget: model not found"); once the cell runs, the widget is back and the
    note hidden."""
    import nbformat
    from nbclient import NotebookClient
    from playwright.sync_api import expect

    from smtplab.widgets._html import REOPEN_TEXT

    nb = nbformat.from_dict(
        {
            **NOTEBOOK,
            "cells": [
                code_cell(
                    "quiz",
                    "import smtplab.widgets as w",
                    "w.quiz([{'question': 'Which port is for submission?', "
                    "'options': ['25', '587'], 'answer': '587'}])",
                )
            ],
        }
    )
    for cell in nb.cells:
        cell.source = "".join(cell.source)
    # executed elsewhere and saved without the widgets' state, as a notebook closed and
    # reopened later is
    NotebookClient(nb, timeout=60, kernel_name="python3", store_widget_state=False).execute()
    (jupyterlab.root / "reopened.ipynb").write_text(nbformat.writes(nb))
    page = browser.new_page(viewport={"width": 1024, "height": 768})
    try:
        open_notebook(page, jupyterlab, "reopened.ipynb")
        note = page.locator(".jp-OutputArea .smtplab-reopen-note")
        expect(note).to_be_visible(timeout=30_000)
        assert REOPEN_TEXT in note.inner_text()
        expect(page.locator(".smtplab-quiz")).to_have_count(0)
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        expect(page.locator(".smtplab-quiz")).to_be_visible(timeout=60_000)
        expect(note).to_be_hidden()
    finally:
        page.close()
