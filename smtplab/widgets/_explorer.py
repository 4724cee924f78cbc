"""The dataset explorer: filter a table of probe records and watch the summary and charts follow."""

from __future__ import annotations

from typing import Any, Final

import ipywidgets as W

from smtplab.widgets._render import (
    chart_html,
    close_parts,
    esc,
    message_html,
    outcome_badge,
    table_html,
)

__all__ = ["ALL", "DatasetExplorer", "count_line", "dataset_explorer", "filter_records"]

#: The filter value that keeps everything.
ALL: Final = "all"


def _frame(data: Any) -> Any:
    import pandas as pd

    from smtplab.records import load_records, records_to_frame

    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, (str, bytes)) or hasattr(data, "__fspath__"):
        return load_records(data)  # type: ignore[arg-type]
    return records_to_frame(data)


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


def count_line(df: Any) -> str:
    """``"312 probes from 6 vantages, 8 hosts, 4 ports"``."""
    if len(df) == 0:
        return "0 probes"
    return (
        f"{_plural(len(df), 'probe')} from {_plural(df['vantage'].nunique(), 'vantage')}, "
        f"{_plural(df['host'].nunique(), 'host')}, {_plural(df['port'].nunique(), 'port')}"
    )


def summary_html(df: Any, *, max_rows: int = 25) -> str:
    """The summary table (:func:`smtplab.records.summarize`) as HTML, outcomes as badges."""
    from smtplab.records import summarize

    table = summarize(df)
    if table.empty:
        return message_html("No probes match these filters.", "info")
    rows = []
    for r in table.head(max_rows).itertuples(index=False):
        rows.append(
            [
                esc(r.vantage),
                esc(r.host),
                f"<b>{esc(r.port)}</b>",
                esc(r.probes),
                outcome_badge(str(r.outcome)),
                esc(r.outcomes),
                esc(r.tls_mode),
                esc(r.auth_before_tls),
                esc(r.auth_after_tls),
                esc(r.top_finding),
            ]
        )
    more = len(table) - max_rows
    caption = "Summary by vantage × host × port" + (
        f" (first {max_rows} of {len(table)} rows)" if more > 0 else ""
    )
    return table_html(
        [
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
        ],
        rows,
        caption=caption,
    )


class DatasetExplorer(W.VBox):
    """The widget returned by :func:`dataset_explorer`; its parts are attributes.

    Filters (Dropdowns whose first option is ``"all"``): ``vantage``, ``host``, ``port``,
    ``outcome``. Outputs: ``counts`` (HTML: "312 probes from 6 vantages, …"), ``summary_html``
    (HTML table), ``heatmap_html`` and ``times_html`` (HTML with a chart each). ``filtered`` is
    the DataFrame the filters leave. ``df`` is the whole dataset.
    """

    def __init__(self, df: Any, *, charts: bool = True) -> None:
        self.df = _frame(df)
        self.show_charts = charts

        def choices(column: str) -> list[Any]:
            values = self.df[column].dropna().unique().tolist() if len(self.df) else []
            if column == "port":
                values = sorted(int(v) for v in values)
            else:
                values = sorted(str(v) for v in values)
            return [ALL, *values]

        layout = W.Layout(width="300px")
        self.vantage = W.Dropdown(
            options=choices("vantage"), value=ALL, description="Vantage", layout=layout
        )
        self.host = W.Dropdown(
            options=choices("host"), value=ALL, description="Host", layout=layout
        )
        self.port = W.Dropdown(
            options=choices("port"), value=ALL, description="Port", layout=W.Layout(width="200px")
        )
        self.outcome = W.Dropdown(
            options=choices("outcome"),
            value=ALL,
            description="Outcome",
            layout=W.Layout(width="240px"),
        )
        self.counts = W.HTML()
        self.summary_html = W.HTML()
        self.heatmap_html = W.HTML()
        self.times_html = W.HTML()
        self.filtered = self.df
        for w in (self.vantage, self.host, self.port, self.outcome):
            w.observe(lambda _c: self.update(), names="value")
        super().__init__(
            [
                W.HTML('<div style="font-size:20px;font-weight:bold">Explore probe records</div>'),
                W.HBox([self.vantage, self.host], layout=W.Layout(flex_flow="row wrap")),
                W.HBox([self.port, self.outcome], layout=W.Layout(flex_flow="row wrap")),
                self.counts,
                self.summary_html,
                self.heatmap_html,
                self.times_html,
            ]
        )
        self.add_class("smtplab-dataset-explorer")
        self.update()

    def update(self) -> None:
        """Apply the filters and redraw the counts, the summary and the charts."""
        self.filtered = filter_records(
            self.df,
            vantage=self.vantage.value,
            host=self.host.value,
            port=self.port.value,
            outcome=self.outcome.value,
        )
        f = self.filtered
        self.counts.value = (
            f'<div style="font-size:17px;margin:6px 0"><b>{esc(count_line(f))}</b>'
            + (f" (of {len(self.df)} in the dataset)" if len(f) != len(self.df) else "")
            + "</div>"
        )
        self.summary_html.value = summary_html(f)
        if not self.show_charts:
            return
        from smtplab import charts

        try:
            rows = "vantage" if f["vantage"].nunique() > 1 else "host"
            self.heatmap_html.value = chart_html(charts.outcome_heatmap(f, rows=rows))
            self.times_html.value = chart_html(charts.phase_times(f, by="port"))
        except Exception as exc:
            self.heatmap_html.value = message_html(f"(the charts could not be drawn: {exc})")
            self.times_html.value = ""

    def close(self) -> None:
        close_parts(self)
        super().close()


def dataset_explorer(df: Any, *, charts: bool = True) -> DatasetExplorer:
    """Explore probe records: filter by vantage, host, port and outcome; summary and charts follow.

    ``df`` is a DataFrame from :func:`smtplab.load_records`, a path to a record file, or a list
    of records / ProbeResults. Returned, not displayed; see :class:`DatasetExplorer`.
    """
    return DatasetExplorer(df, charts=charts)
