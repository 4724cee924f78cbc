"""The dataset explorer's first view and a filter change as a learner sees them: in JupyterLab,
in a real browser.

Run:  python benchmarks/explorer_browser.py [--rows 100000] [--keep DIR] [--repeat 3]

``records_scale.py`` times the explorer inside one Python process; this times it on screen. A
private JupyterLab on 127.0.0.1 and Debian's headless Chromium (Playwright) open a notebook
whose first cell imports ``smtplab.widgets``, as the course's notebooks do. Each later cell
builds an explorer over the same synthetic records (``smtplab.synthetic``, seed 1, the file
``records_scale.py`` writes), from JSON Lines, then from Parquet, ``--repeat`` times each. A
view is on screen when its count line is in the page; the time runs from the command that
runs the cell. The cell also prints how long the explorer took in the kernel.

Baseline, measured in the same run: a cell that shows one small widget (a box with a line of
HTML): what any widget costs to reach the screen in this JupyterLab. A filter change (port 25)
is timed from choosing the option in the page to the new count line.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

IDLE_JS = """() => {
    const w = window.jupyterapp.shell.currentWidget;
    const k = w && w.sessionContext && w.sessionContext.session
        && w.sessionContext.session.kernel;
    return k && k.status === 'idle';
}"""
RUN_NEXT = "window.jupyterapp.commands.execute('notebook:run-cell-and-select-next')"


def notebook(views: list[tuple[str, str]]) -> dict[str, Any]:
    from labserver import code_cell

    cells = [
        code_cell(
            "imports", "import time", "import ipywidgets as W", "import smtplab.widgets as w"
        ),
        code_cell(
            "baseline",
            "t0 = time.perf_counter()",
            "box = W.VBox([W.HTML('<b>a widget</b>')])",
            "box.add_class('mark-baseline')",
            "print(f'kernel {time.perf_counter() - t0:.3f} s')",
            "box",
        ),
    ]
    for mark, path in views:
        cells.append(
            code_cell(
                mark,
                "t0 = time.perf_counter()",
                f"ex = w.dataset_explorer({path!r}, charts=False)",
                f"ex.add_class({mark!r})",
                "print(f'kernel {time.perf_counter() - t0:.3f} s')",
                "ex",
            )
        )
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def run_cell(page: Any, selector: str) -> tuple[float, float]:
    """Run the selected cell; (seconds until ``selector`` is in the page, kernel seconds)."""
    t0 = time.perf_counter()
    page.evaluate(RUN_NEXT)
    page.wait_for_selector(selector, state="attached")
    shown = time.perf_counter() - t0
    page.wait_for_function(IDLE_JS)
    time.sleep(1.0)  # let the output settle before the next cell
    text = page.locator(".jp-OutputArea-output pre").last.inner_text()
    match = re.search(r"kernel ([0-9.]+) s", text)
    return shown, float(match.group(1)) if match else float("nan")


def filter_change(page: Any, mark: str) -> float:
    count = page.locator(f".{mark} b").first
    before = count.inner_text()
    t0 = time.perf_counter()
    page.locator(f".{mark} select").nth(2).select_option(label="25")
    page.wait_for_function(
        "([sel, before]) => document.querySelector(sel).innerText !== before",
        arg=[f".{mark} b", before],
    )
    return time.perf_counter() - t0


def measure(jsonl: Path, parquet: Path, repeat: int, root: Path) -> dict[str, Any]:
    from labserver import CHROMIUM, CHROMIUM_ARGS, JupyterLab, open_notebook
    from playwright.sync_api import sync_playwright

    views = [(f"mark-jsonl-{i}", str(jsonl)) for i in range(repeat)]
    views += [(f"mark-parquet-{i}", str(parquet)) for i in range(repeat)]
    (root / "explorer.ipynb").write_text(json.dumps(notebook(views)))
    lab = JupyterLab(root)
    out: dict[str, Any] = {"jsonl": [], "parquet": []}
    try:
        lab.wait_ready()
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
            )
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            open_notebook(page, lab, "explorer.ipynb")
            page.set_default_timeout(180_000)
            page.evaluate(RUN_NEXT)  # the imports
            page.wait_for_function(IDLE_JS)
            time.sleep(1.0)
            out["baseline"] = run_cell(page, ".mark-baseline b")
            for mark, path in views:
                kind = "jsonl" if path == str(jsonl) else "parquet"
                out[kind].append(run_cell(page, f".{mark} b"))
                print(f"  {kind}: on screen {out[kind][-1][0]:.2f} s", flush=True)
            out["filter_change"] = [filter_change(page, views[-1][0])]
            browser.close()
    finally:
        lab.stop()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, help="folder to keep (and reuse) the files in")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    import duckdb

    from smtplab.synthetic import write_synthetic_jsonl

    with tempfile.TemporaryDirectory(prefix="smtplab-explorer-") as tmp:
        base = args.keep or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        jsonl = base / f"synthetic-{args.rows}.jsonl"
        if not jsonl.exists():
            write_synthetic_jsonl(jsonl, args.rows, seed=1)
        parquet = Path(str(jsonl) + ".parquet")
        if not parquet.exists():
            duckdb.connect().execute(
                f"COPY (SELECT * FROM read_json('{jsonl}', format='newline_delimited')) "
                f"TO '{parquet}' (FORMAT parquet)"
            )
        root = Path(tmp) / "lab"
        root.mkdir()
        res = measure(jsonl, parquet, args.repeat, root)
    base_shown, base_kernel = res["baseline"]
    print(f"\n== explorer on screen, {args.rows:,} records, JupyterLab + headless Chromium ==")
    print(f"baseline (one small widget): on screen {base_shown:.2f} s, kernel {base_kernel:.3f} s")
    for kind in ("jsonl", "parquet"):
        shown = [s for s, _ in res[kind]]
        kernel = [k for _, k in res[kind]]
        print(
            f"{kind:<8} first view on screen {', '.join(f'{s:.2f}' for s in shown)} s "
            f"(median {statistics.median(shown):.2f}, {statistics.median(shown) / base_shown:.1f}x "
            f"the baseline); in the kernel {', '.join(f'{k:.2f}' for k in kernel)} s"
        )
    print(f"filter change (port 25) on screen: {res['filter_change'][0]:.2f} s")
    print("(the first JSONL view also imports DuckDB in the kernel)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
