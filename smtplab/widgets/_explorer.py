"""The dataset explorer: filter probe records and watch the summary and charts follow.

The explorer asks questions of the data instead of holding it all in pandas: the records go
into a :class:`smtplab.records.Dataset` (DuckDB) once, with only the dozen fields it shows
(:data:`EXPLORER_COLUMNS`; from Parquet, equal records once with their number: 2 million equal
rows in a 2.2 MB file once took 2 GB, ``benchmarks/explorer_memory.py``), and each filter
change is a few queries — the counts, the 25 rows of the summary table (one SQL statement, no
DataFrame: a file's first view never imports pandas), and the counts the two charts draw.  A
record file is read by DuckDB directly (JSON Lines or Parquet, one pass); a DataFrame or a list
of records is handed over as an Arrow table.  ``benchmarks/records_scale.py`` measures the
first view and the filter changes at 100,000 records, and when the charts are on screen.

The counts and the summary table answer at once; the two charts are asked for (through their
own DuckDB cursor: a few hundred counted rows, not every probe) and drawn on a worker thread,
as SVG with the words as text, and replace the previous ones when ready (a newer filter change
supersedes a drawing still under way), so a filter never waits for matplotlib.
:meth:`DatasetExplorer.wait_for_charts` waits for them (scripts and tests).

The summary table sits in its own horizontally scrolling box, so on a 1024-pixel projector the
table scrolls where it is while the filters and charts stay put.
"""

from __future__ import annotations

import base64
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cached_property
from typing import Any, Final

import ipywidgets as W

from smtplab.widgets._html import MUTED, ReopenNote, theme_part
from smtplab.widgets._render import (
    close_parts,
    esc,
    message_html,
    outcome_badge,
    table_html,
)

__all__ = [
    "ALL",
    "DatasetExplorer",
    "count_line",
    "dataset_explorer",
    "filter_records",
    "summary_html",
]

#: The filter value that keeps everything.
ALL: Final = "all"

#: What the explorer filters on, in the order of its dropdowns.
FILTERS: Final = ("vantage", "host", "port", "outcome")

#: Up to this many hosts the host filter is a drop-down list; beyond, a box to type a host name
#: in, offered the first :data:`HOST_SUGGESTIONS` hosts that contain what was typed.  A list of
#: every host costs twice: ipywidgets checks each option in the kernel (0.78 s for the 49,895
#: hosts of 10^6 synthetic records) and the browser builds each one (about 3 s more on screen,
#: ``benchmarks/explorer_browser.py``); and a list that long is no way to find one host.
HOST_LIST_MAX: Final = 1000
HOST_SUGGESTIONS: Final = 50

#: The columns the two charts read (one row per probe, only these).
CHART_COLUMNS: Final = (
    "vantage",
    "host",
    "port",
    "outcome",
    "tls_mode",
    "connect_ms",
    "banner_ms",
    "ehlo_ms",
    "tls_ms",
)

#: The fields the explorer keeps in memory: what its filters, summary and charts read.
EXPLORER_COLUMNS: Final = tuple(
    dict.fromkeys(
        [
            *FILTERS,
            *CHART_COLUMNS,
            "tls_mode",
            "auth_before_tls",
            "auth_after_tls",
            "findings",
            "cert_verified",  # with findings: an intercepted port is never shown "open"
        ]
    )
)

#: SVG settings of the explorer's charts: words stay text (the browser draws them, with the
#: chart's font or a close one) instead of glyphs rasterised by matplotlib, which was most of
#: the drawing time; no date in the metadata, so the same view gives the same image.
_SVG_RC: Final[Any] = {"svg.fonttype": "none", "svg.hashsalt": "smtplab-explorer"}


def _chart_markup(chart: Any) -> str:
    """A chart as a ``<figure>``: an SVG ``<img>`` with its alt text, and its caption.

    SVG, not PNG: no rasterising of the figure or of its words in Python (3-4 times quicker
    for the heat map), smaller, and sharp at any projector size.
    """
    import io

    import matplotlib as mpl

    buf = io.BytesIO()
    with mpl.rc_context(_SVG_RC):
        chart.savefig(buf, format="svg", facecolor="white", metadata={"Date": None})
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    alt = getattr(chart, "alt_text", "") or getattr(chart, "description", "")
    description = getattr(chart, "description", "")
    return (
        '<figure class="smtplab-chart" style="margin:4px 0;width:100%;max-width:100%">'
        f'<img src="data:image/svg+xml;base64,{data}" alt="{esc(alt)}" '
        'style="display:block;width:100%;height:auto"/>'
        f'<figcaption style="{_CAPTION_STYLE}">{esc(description)}</figcaption></figure>'
    )


_CAPTION_STYLE: Final = f"font-size:15px;line-height:1.45;color:{MUTED};margin-top:2px"


def _dataset(data: Any) -> tuple[Any, Any]:
    """(Dataset, the DataFrame if one was given) for a DataFrame, a path or records."""
    from smtplab.records import Dataset, records_to_frame

    pd = sys.modules.get("pandas")  # not imported yet: not a DataFrame (and a file's first
    if pd is not None and isinstance(data, pd.DataFrame):  # view never needs pandas)
        return Dataset.from_frame(data, columns=EXPLORER_COLUMNS), data
    if isinstance(data, (str, bytes)) or hasattr(data, "__fspath__"):
        path = data.decode() if isinstance(data, bytes) else data
        return Dataset.open(path, cache=True, columns=EXPLORER_COLUMNS), None
    frame = records_to_frame(data)
    return Dataset.from_frame(frame, columns=EXPLORER_COLUMNS), frame


def filter_records(df: Any, **filters: Any) -> Any:
    """Rows of ``df`` matching every filter (``vantage=``, ``host=``, ``port=``, ``outcome=``).

    A filter is :data:`ALL` (or None) to keep everything, one value, or a collection of values.
    """
    mask = None
    for column, wanted in filters.items():
        if wanted is None or wanted == ALL or wanted == (ALL,):
            continue
        values = list(wanted) if isinstance(wanted, (list, tuple, set, frozenset)) else [wanted]
        if column == "port":
            m = df["port"].astype("Int64").isin([int(v) for v in values])
        else:
            m = df[column].astype(str).isin([str(v) for v in values])
        mask = m if mask is None else (mask & m)
    return df if mask is None else df[mask.fillna(False).astype(bool)]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _count_words(probes: int, vantages: int, hosts: int, ports: int) -> str:
    if probes == 0:
        return "0 probes"
    return (
        f"{_plural(probes, 'probe')} from {_plural(vantages, 'vantage')}, "
        f"{_plural(hosts, 'host')}, {_plural(ports, 'port')}"
    )


def count_line(df: Any) -> str:
    """``"312 probes from 6 vantages, 8 hosts, 4 ports"``."""
    if len(df) == 0:
        return "0 probes"
    return _count_words(
        len(df), df["vantage"].nunique(), df["host"].nunique(), df["port"].nunique()
    )


_SUMMARY_HEADERS: Final = [
    "vantage",
    "host",
    "port",
    "probes",
    "outcome",
    "all outcomes",
    "TLS",
    "AUTH before TLS",
    "AUTH after TLS",
    "top finding",
]


def summary_table_html(table: Any, *, max_rows: int = 25, total: int | None = None) -> str:
    """A summary table (the columns of :func:`smtplab.records.summarize`) as scrolling HTML.

    ``total`` is how many rows the whole table has, when ``table`` holds only the first ones.
    """
    rows = list(table.head(max_rows).itertuples(index=False, name=None))
    return _summary_rows_html(rows, max_rows=max_rows, total=len(table) if total is None else total)


def _summary_rows_html(rows: list[tuple[Any, ...]], *, max_rows: int, total: int) -> str:
    """The summary table's HTML from its rows as tuples (the summary's column order)."""
    if not rows:
        return message_html("No probes match these filters.", "info")
    cells = [
        [
            esc(vantage),
            esc(host),
            f"<b>{esc(port)}</b>",
            esc(probes),
            outcome_badge(str(outcome)),
            esc(outcomes),
            esc(tls_mode),
            esc(before),
            esc(after),
            esc(top),
        ]
        for vantage, host, port, probes, outcome, outcomes, tls_mode, before, after, top in rows[
            :max_rows
        ]
    ]
    caption = "Summary by vantage × host × port" + (
        f" (first {max_rows} of {total} rows)" if total > max_rows else ""
    )
    return table_html(_SUMMARY_HEADERS, cells, caption=caption)  # scrolls in its own box


def summary_html(df: Any, *, max_rows: int = 25) -> str:
    """The summary table (:func:`smtplab.records.summarize`) as HTML, outcomes as badges."""
    from smtplab.records import summarize

    return summary_table_html(summarize(df), max_rows=max_rows)


class DatasetExplorer(ReopenNote, W.VBox):
    """The widget returned by :func:`dataset_explorer`; its parts are attributes.

    Filters (Dropdowns whose first option is ``"all"``): ``vantage``, ``host``, ``port``,
    ``outcome``. Outputs: ``counts`` (HTML: "312 probes from 6 vantages, …"), ``summary_html``
    (HTML table in its own scrolling box), ``heatmap_html`` and ``times_html`` (HTML with a
    chart each). ``dataset`` is the :class:`smtplab.records.Dataset` the questions go to;
    ``filtered`` the records the filters leave and ``df`` the whole dataset, both as
    DataFrames built only when asked for.
    """

    #: Rows of the summary table shown (the rest are counted in its caption).
    max_rows = 25

    def __init__(self, df: Any, *, charts: bool = True) -> None:
        self.show_charts = charts
        self._drawer = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="smtplab-explorer-charts")
            if charts
            else None
        )
        self._generation = 0
        self._lock = threading.Lock()
        self._pending: Future[Any] | None = None
        # (matplotlib is imported by the first drawing, not ahead on this thread while DuckDB
        # reads the file: on two cores that slowed the first view by ~1 s and the charts
        # came no sooner.)
        self.dataset, self._df = _dataset(df)
        # The charts' questions are asked on the drawing thread, through their own cursor.
        self._chart_data = self.dataset.cursor() if charts else None
        self.total = self.dataset.count()
        self.vantage = self._dropdown("vantage", "Vantage", "300px")
        self.host = self._host_filter()
        self.port = self._dropdown("port", "Port", "200px")
        self.outcome = self._dropdown("outcome", "Outcome", "240px")

        # Full width, no margin, and a block box: as a flex box (the default) an HTML widget grows
        # to its widest content, so the table's scroll box was as wide as the table (1,098 px in
        # an 844 px explorer at 1024x768) and never scrolled; the widget's default 2-pixel
        # margins on top of width 100% also cut off the box's right edge.
        def full() -> W.Layout:
            return W.Layout(width="100%", max_width="100%", margin="0", display="block")

        self.counts = W.HTML(layout=full())
        self.summary_html = W.HTML(layout=full())
        self.heatmap_html = W.HTML(layout=full())
        self.times_html = W.HTML(layout=full())
        for w in (self.vantage, self.port, self.outcome):
            w.observe(lambda _c: self.update(), names="value")
        self.host.observe(self._host_changed, names="value")
        wrap = W.Layout(flex_flow="row wrap", max_width="100%")
        super().__init__(
            [
                W.HTML('<div style="font-size:20px;font-weight:bold">Explore probe records</div>'),
                W.HBox([self.vantage, self.host], layout=wrap),
                W.HBox([self.port, self.outcome], layout=W.Layout(flex_flow="row wrap")),
                self.counts,
                self.summary_html,
                self.heatmap_html,
                self.times_html,
                theme_part(),
            ],
            layout=W.Layout(width="100%", max_width="100%", overflow="hidden"),
        )
        self.add_class("smtplab-dataset-explorer")
        self.add_class("smtplab-widget")
        self.update()

    def _dropdown(self, column: str, label: str, width: str) -> W.Dropdown:
        values = self.dataset.distinct(column)
        values = [int(v) for v in values] if column == "port" else [str(v) for v in values]
        return W.Dropdown(
            options=[ALL, *values], value=ALL, description=label, layout=W.Layout(width=width)
        )

    def _host_filter(self) -> W.Dropdown | W.Combobox:
        """A Dropdown of the hosts or, past :data:`HOST_LIST_MAX` hosts, a Combobox: empty or
        any text that is not a host of the dataset keeps every host."""
        self._hosts = [str(v) for v in self.dataset.distinct("host")]
        self._host_names = frozenset(self._hosts)
        layout = W.Layout(width="300px")
        if len(self._hosts) <= HOST_LIST_MAX:
            return W.Dropdown(
                options=[ALL, *self._hosts], value=ALL, description="Host", layout=layout
            )
        return W.Combobox(
            options=self._hosts[:HOST_SUGGESTIONS],
            value="",
            placeholder=f"all {len(self._hosts):,} hosts; type one",
            description="Host",
            layout=layout,
        )

    def _host_changed(self, change: Any) -> None:
        """Offer the hosts that contain what was typed; filter when it names one (or none)."""
        if isinstance(self.host, W.Combobox):
            text = str(change.new).strip().lower()
            found = [h for h in self._hosts if text in h.lower()] if text else self._hosts
            self.host.options = found[:HOST_SUGGESTIONS]
            if self._host_chosen(change.old) == self._host_chosen(change.new):
                return  # still the same host filter: nothing to ask
        self.update()

    def _host_chosen(self, value: Any) -> Any:
        """The host filter a value of the host widget means (:data:`ALL` unless a host)."""
        return value if value in self._host_names else ALL

    @property
    def filters(self) -> dict[str, Any]:
        """The filter values now chosen (``"all"`` keeps everything; in the box, text that is
        not a host of the dataset too)."""
        return {
            "vantage": self.vantage.value,
            "host": self._host_chosen(self.host.value),
            "port": self.port.value,
            "outcome": self.outcome.value,
        }

    @cached_property
    def df(self) -> Any:
        """The whole dataset as a DataFrame (loaded on first use when given a file)."""
        if self._df is not None:
            return self._df
        from smtplab.records import load_records

        return load_records(self.dataset.paths)

    @property
    def filtered(self) -> Any:
        """The records the filters leave, as a DataFrame (built when asked for)."""
        if self._df is not None:
            return filter_records(self._df, **self.filters)
        return self.dataset.rows(**self.filters)

    def update(self) -> None:
        """Apply the filters and redraw the counts, the summary and the charts."""
        filters = self.filters
        n = self.dataset.counts(**filters)
        line = _count_words(n["probes"], n["vantages"], n["hosts"], n["ports"])
        self.counts.value = (
            f'<div style="font-size:17px;margin:6px 0"><b>{esc(line)}</b>'
            + (f" (of {self.total} in the dataset)" if n["probes"] != self.total else "")
            + "</div>"
        )
        rows, groups = self.dataset.summary_rows(limit=self.max_rows, shown=True, **filters)
        self.summary_html.value = _summary_rows_html(rows, max_rows=self.max_rows, total=groups)
        if self._drawer is None:
            return
        rows = "vantage" if n["vantages"] > 1 else "host"
        with self._lock:
            self._generation += 1
            generation = self._generation
        if not self.heatmap_html.value:
            self.heatmap_html.value = message_html("(drawing the charts…)")
        self._pending = self._drawer.submit(self._draw, generation, filters, rows)

    def _draw(self, generation: int, filters: dict[str, Any], rows: str) -> None:
        """Query and draw both charts (on the worker thread); show them unless newer filters
        came since."""
        from smtplab import charts

        with self._lock:
            if generation != self._generation:
                return  # superseded before it started: draw only the newest
        try:
            data = self._chart_data
            assert data is not None
            # DuckDB counts; the charts get a few hundred rows, not every probe
            cells = data.counted([rows, "port", "outcome"], shown=True, **filters)
            heatmap = _chart_markup(charts.outcome_heatmap(cells, rows=rows, count="probes"))
            timed = data.phase_rows("port", **filters)
            times = _chart_markup(charts.phase_times(timed, by="port", count="probes"))
        except Exception as exc:
            heatmap, times = message_html(f"(the charts could not be drawn: {exc})"), ""
        with self._lock:
            if generation == self._generation:
                self.heatmap_html.value = heatmap
                self.times_html.value = times

    def wait_for_charts(self, timeout: float = 120.0) -> None:
        """Wait until the charts of the filters now chosen are drawn."""
        pending = self._pending
        if pending is not None:
            pending.result(timeout)

    def close(self) -> None:
        if self._drawer is not None:
            with self._lock:
                self._generation += 1  # a drawing under way shows nothing now
            self._drawer.shutdown(wait=True, cancel_futures=True)
        if self._chart_data is not None:
            self._chart_data.close()
        close_parts(self)
        self.dataset.close()
        super().close()


def dataset_explorer(df: Any, *, charts: bool = True) -> DatasetExplorer:
    """Explore probe records: filter by vantage, host, port and outcome; summary and charts follow.

    ``df`` is a DataFrame from :func:`smtplab.load_records`, a path to a record file (JSON
    Lines or Parquet, read lazily by DuckDB), or a list of records / ProbeResults. Returned, not
    displayed; see :class:`DatasetExplorer`.
    """
    return DatasetExplorer(df, charts=charts)
