"""The dataset explorer over DuckDB: same answers from a file, a folder or a DataFrame.

Real files in ``tmp_path`` written from generated records (``source="synthetic"``).
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from smtplab import charts
from smtplab.records import jsonl_to_parquet, load_records, summarize
from smtplab.synthetic import write_synthetic_jsonl
from smtplab.widgets import dataset_explorer
from smtplab.widgets._explorer import count_line, filter_records
from smtplab.widgets._render import SCROLL_STYLE, esc


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("explorer")
    jsonl = write_synthetic_jsonl(base / "scan.jsonl", 1500, seed=3, hosts=40)
    folder = base / "parts"
    jsonl_to_parquet(jsonl, folder)
    return {"jsonl": jsonl, "folder": folder}


def shown_rows(html: str) -> int:
    return html.count("<tr>") - 1  # minus the header row


@pytest.mark.parametrize("source", ["jsonl", "folder", "frame"])
def test_explorer_answers_match_pandas(scan: dict[str, Path], source: str) -> None:
    df = load_records(scan["jsonl"])
    data = df if source == "frame" else scan[source]
    ex = dataset_explorer(data, charts=False)
    try:
        assert ex.port.options == ("all", 25, 465, 587, 2525)
        assert ex.vantage.options[1:] == tuple(sorted(df["vantage"].unique()))
        assert count_line(df) in ex.counts.value
        ex.port.value = 587
        ex.outcome.value = "open"
        want = filter_records(df, port=587, outcome="open")
        assert f"<b>{count_line(want)}</b>" in ex.counts.value
        assert f"(of {len(df)} in the dataset)" in ex.counts.value
        summary = summarize(want)
        assert shown_rows(ex.summary_html.value) == min(25, len(summary))
        assert f"first 25 of {len(summary)} rows" in ex.summary_html.value
        first = summary.iloc[0]
        assert f">{first['host']}<" in ex.summary_html.value
        got = ex.filtered.sort_values("probe_id").reset_index(drop=True)
        assert got["probe_id"].tolist() == sorted(want["probe_id"])
    finally:
        ex.close()


def test_many_hosts_get_a_box_to_type_one_in(
    scan: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past HOST_LIST_MAX hosts the host filter is a Combobox offering the first
    HOST_SUGGESTIONS hosts that contain what was typed: empty or partial text keeps every
    host, a host's name keeps that host.  Below, a Dropdown of every host, as before."""
    import ipywidgets as W

    from smtplab.widgets import _explorer

    df = load_records(scan["jsonl"])
    hosts = sorted(df["host"].unique())
    assert 10 < len(hosts) <= _explorer.HOST_LIST_MAX
    ex = dataset_explorer(scan["jsonl"], charts=False)
    try:
        assert isinstance(ex.host, W.Dropdown) and ex.host.options == ("all", *hosts)
    finally:
        ex.close()
    monkeypatch.setattr(_explorer, "HOST_LIST_MAX", 10)
    monkeypatch.setattr(_explorer, "HOST_SUGGESTIONS", 5)
    ex = dataset_explorer(scan["jsonl"], charts=False)
    everything = f"<b>{count_line(df)}</b>"
    try:
        assert isinstance(ex.host, W.Combobox)
        assert ex.host.options == tuple(hosts[:5]) and ex.host.value == ""
        assert f"all {len(hosts)} hosts" in ex.host.placeholder
        assert ex.filters["host"] == "all" and everything in ex.counts.value
        target = hosts[len(hosts) // 2]
        partial = target[: len(target) - 2].upper()  # typed, not yet a host; any case
        ex.host.value = partial
        want = [h for h in hosts if partial.lower() in h.lower()][:5]
        assert target in want and ex.host.options == tuple(want)
        assert ex.filters["host"] == "all" and everything in ex.counts.value
        ex.host.value = target
        chosen = filter_records(df, host=target)
        assert f"<b>{count_line(chosen)}</b>" in ex.counts.value
        assert len(ex.filtered) == len(chosen)
        ex.host.value = "no-such-host.example"
        assert ex.host.options == () and everything in ex.counts.value
        ex.host.value = ""
        assert ex.host.options == tuple(hosts[:5]) and everything in ex.counts.value
    finally:
        ex.close()


def test_summary_table_scrolls_in_its_own_box(scan: dict[str, Path]) -> None:
    ex = dataset_explorer(scan["folder"], charts=False)
    try:
        html = ex.summary_html.value
        match = re.match(r'<div class="smtplab-scroll" style="([^"]*)"><table', html)
        assert match and "overflow-x:auto" in match.group(1) and match.group(1) == SCROLL_STYLE
        assert html.endswith("</table></div>")
        assert ex.layout.max_width == "100%" and ex.summary_html.layout.width == "100%"
    finally:
        ex.close()


def test_explorer_draws_both_charts_from_a_file(scan: dict[str, Path]) -> None:
    ex = dataset_explorer(scan["jsonl"])
    try:
        ex.wait_for_charts()
        assert "<img" in ex.heatmap_html.value and "<img" in ex.times_html.value
        before = ex.heatmap_html.value
        ex.vantage.value = ex.vantage.options[1]
        ex.wait_for_charts()
        assert ex.heatmap_html.value != before and "<img" in ex.heatmap_html.value
    finally:
        ex.close()


def test_explorer_with_no_match_says_so(scan: dict[str, Path]) -> None:
    df = load_records(scan["jsonl"]).head(50)
    empty = [
        (v, p)
        for v in sorted(df["vantage"].unique())
        for p in (25, 465, 587, 2525)
        if len(filter_records(df, vantage=v, port=p, outcome="open")) == 0
        and len(filter_records(df, vantage=v)) > 0
        and p in set(df["port"])
    ]
    assert empty
    ex = dataset_explorer(df, charts=False)
    try:
        ex.outcome.value = "open"
        ex.vantage.value, ex.port.value = empty[0]
        assert "0 probes" in ex.counts.value and "No probes match" in ex.summary_html.value
        assert isinstance(ex.filtered, pd.DataFrame) and len(ex.filtered) == 0
    finally:
        ex.close()


@pytest.mark.parametrize("source", ["jsonl", "frame"])
def test_explorer_charts_are_the_charts_of_the_filtered_records(
    scan: dict[str, Path], source: str
) -> None:
    """Drawn from DuckDB's counts on the drawing thread, as SVG: the same chart (alt text) as
    the chart of every matching record."""
    df = load_records(scan["jsonl"])
    ex = dataset_explorer(df if source == "frame" else scan["jsonl"])
    try:
        for change in ({}, {"port": 25}, {"vantage": ex.vantage.options[1]}):
            for name, value in change.items():
                getattr(ex, name).value = value
            ex.wait_for_charts()
            want = filter_records(df, **ex.filters)
            rows = "vantage" if want["vantage"].nunique() > 1 else "host"
            for html, fig in (
                (ex.heatmap_html.value, charts.outcome_heatmap(want, rows=rows)),
                (ex.times_html.value, charts.phase_times(want, by="port")),
            ):
                assert html.count('<img src="data:image/svg+xml;base64,') == 1
                assert f'alt="{esc(fig.alt_text)}"' in html
                svg = base64.b64decode(re.search(r"base64,([^\"]+)", html).group(1)).decode()
                assert svg.lstrip().startswith("<?xml") and "<text" in svg  # words as text
    finally:
        ex.close()


def test_a_files_first_view_does_not_need_pandas(scan: dict[str, Path]) -> None:
    """Counts, dropdowns and the summary page come straight from DuckDB: a fresh kernel opening
    a file does not wait for pandas (the charts, drawn later on their thread, do use it)."""
    code = (
        "import sys\n"
        "from smtplab.widgets import dataset_explorer\n"
        f"ex = dataset_explorer({str(scan['jsonl'])!r}, charts=False)\n"
        "assert 'probes from' in ex.counts.value and '<table' in ex.summary_html.value\n"
        "ex.port.value = 25\n"
        "print(sorted(m for m in ('pandas', 'numpy', 'matplotlib') if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip() == "[]"


def _explorer_memory() -> Any:
    """benchmarks/explorer_memory.py, imported from its file."""
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "explorer_memory.py"
    spec = importlib.util.spec_from_file_location("explorer_memory", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_small_file_that_expands_keeps_the_explorer_small(tmp_path: Path) -> None:
    """2 million rows in a 2.2 MB Parquet file took the explorer to 2 GB (issue 23): every
    row of its fields copied into DuckDB (~400 bytes a row), copied again for the summary, and
    a pandas row per probe for the timing chart.

    Scaled down, same shape, each file opened with its charts in a fresh process that
    imported everything first (growth of the peak resident memory, VmHWM):

    * 20,000 and 200,000 rows of 4 distinct records (0.1 and 0.94 MB on disk).  Before the
      fix the explorer grew by 87 and 258 MB (170 MB more for 180,000 more rows; at
      2,000,000 rows, 1,777 MB); after, by 68 and 74 MB (6 MB more; 109 MB at 2,000,000).
      Bound: 30 MB more (170 bytes a row), a sixth of the old cost, five times the new.
    * 200,000 rows with one 2,000-character host name and a different connect time in each
      (2.95 MB): no two rows equal.  Before, 1,173 MB; after, 89 MB (21 MB over the small
      file: the exact median keeps each distinct connect time once).  Bound: 60 MB over the
      small file."""
    bench = _explorer_memory()
    small = bench.measure(bench.write_repeated_parquet(tmp_path / "small.parquet", 20_000))
    big = bench.measure(bench.write_repeated_parquet(tmp_path / "big.parquet", 200_000))
    long = bench.measure(
        bench.write_repeated_parquet(tmp_path / "long.parquet", 200_000, long_host=2000)
    )
    assert small["rows"] == 20_000 and big["rows"] == long["rows"] == 200_000
    # small files (schema 3 records carry typed events, so a little larger than before; the
    # certificate chain's two columns and two event fields added about 0.1 MB to the long one)
    assert big["file_mb"] < 4 and long["file_mb"] < 5.5 and big["charts_drawn"]
    assert "200000 probes" in big["counts"] and "200000 probes" in long["counts"]
    assert big["growth_mb"] - small["growth_mb"] < 30, (small, big)
    assert long["growth_mb"] - small["growth_mb"] < 60, (small, long)
    assert max(big["growth_mb"], long["growth_mb"]) < 150, (big, long)


def test_many_equal_rows_give_the_same_answers_as_pandas(tmp_path: Path) -> None:
    """From Parquet the explorer keeps equal rows once with their number, and the timing
    chart gets medians, not probes: its counts, summary page and charts are still those of
    every record."""
    from smtplab.widgets._explorer import summary_html

    bench = _explorer_memory()
    path = bench.write_repeated_parquet(tmp_path / "equal.parquet", 12_345, distinct=7)
    df = load_records(path)
    ex = dataset_explorer(path)
    try:
        for change in ({}, {"outcome": "open"}):
            for name, value in change.items():
                getattr(ex, name).value = value
            ex.wait_for_charts()
            want = filter_records(df, **ex.filters)
            assert f"<b>{count_line(want)}</b>" in ex.counts.value
            assert ex.summary_html.value == summary_html(want)
            rows = "vantage" if want["vantage"].nunique() > 1 else "host"
            for html, fig in (
                (ex.heatmap_html.value, charts.outcome_heatmap(want, rows=rows)),
                (ex.times_html.value, charts.phase_times(want, by="port")),
            ):
                assert f'alt="{esc(fig.alt_text)}"' in html
        assert len(ex.dataset.phase_rows("port")) <= 7  # never a row per probe
    finally:
        ex.close()
