"""The class's outcome heat map for the collector's page: notebook 08's chart, drawn from the
class's grid of words (a view, so it lives with the charts; the collector is handed it, see
:func:`smtplab.classroom.app.make_app`)."""

from __future__ import annotations

import io

import pandas as pd

from smtplab.charts.outcomes import outcome_heatmap
from smtplab.classroom.store import ClassStore
from smtplab.classroom.summary import summarise

__all__ = ["class_heatmap"]


def class_heatmap(store: ClassStore) -> tuple[bytes, str]:
    """The outcome-by-network heat map of the class as SVG, and its alt text (cached by the
    store's version, as the summary is), with colour, pattern and word for each outcome."""
    version = store.version()
    cached = store.cache.get("chart")
    if cached is not None and cached[0] == version:
        return cached[1]  # type: ignore[no-any-return]
    summary = summarise(store)
    grid = summary["grid"]
    frame = pd.DataFrame(
        [{"vantage": g["label"], "port": g["port"], "outcome": g["word"], "probes": g["probes"]}
         for g in grid],
        columns=["vantage", "port", "outcome", "probes"],
    )  # fmt: skip
    fig = outcome_heatmap(frame, rows="vantage", count="probes", agg="majority",
                          title="What each network saw, by port")  # fmt: skip
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", facecolor="white", metadata={"Date": None})
    result = (buf.getvalue(), str(summary["chart_alt"]))
    store.cache["chart"] = (version, result)
    return result
