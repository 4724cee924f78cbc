"""The history of ports 25, 465, 587 and 2525: one lane per port, one marker per event."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final, cast

import matplotlib as mpl
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.lines import Line2D
from matplotlib.ticker import MultipleLocator

from smtplab import reference
from smtplab.charts._data import port_order, ports_of
from smtplab.charts._figure import Chart, new_chart, no_data
from smtplab.charts._style import DARK_GREY, OKABE_ITO, RC
from smtplab.charts._words import join, plural

__all__ = ["timeline"]

_KIND_STYLE: Final = {  # timeline "kind" -> (label, colour, marker)
    "rfc": ("RFC", OKABE_ITO["blue"], "o"),
    "iana": ("IANA registry", OKABE_ITO["orange"], "s"),
    "practice": ("operators' practice", OKABE_ITO["green"], "^"),
    "security": ("security research", OKABE_ITO["vermillion"], "D"),
}


def timeline(
    events: pd.DataFrame | None = None, *, milestones_only: bool = False, title: str | None = None
) -> Chart:
    """The history of ports 25, 465, 587 and 2525: one lane per port, one marker per event.

    Marker shape and colour give the kind of event (RFC, IANA registry, operators' practice,
    security research); milestones are labelled in bold. Labels stack above and below their
    lane so none overlaps another; busy lanes get more room. ``events`` defaults to
    :func:`smtplab.reference.timeline`; ``milestones_only`` keeps a one-slide version.
    """
    title = title or "A short history of the four SMTP ports"
    description = (
        "Events in the history of ports 25, 465, 587 and 2525, one lane per port, "
        "from RFC 821 (1982) to today, each from an RFC, the IANA registry or a "
        "published source."
    )
    ev = reference.timeline() if events is None else events.copy()
    if milestones_only and "milestone" in ev.columns:
        ev = ev[ev["milestone"].astype(bool)]
    if ev.empty or "port" not in ev.columns:
        return no_data(title, "no timeline events", description)
    if "year" not in ev.columns:
        when = pd.to_datetime(ev["when"] if "when" in ev.columns else ev["date"], format="mixed")
        ev = ev.assign(year=when.dt.year + (when.dt.day_of_year - 1) / 365.25)
    if "label" not in ev.columns:
        ev = ev.assign(label=[reference.short_label(str(e))[0] for e in ev["event"]])
    if "milestone" not in ev.columns:
        ev = ev.assign(milestone=False)
    if "kind" not in ev.columns:
        ev = ev.assign(kind="event")
    ev = ev.assign(port=ports_of(ev["port"]).to_numpy()).dropna(subset=["port", "year"])
    ev = ev.sort_values("year", kind="stable")
    lanes = port_order(ev["port"])
    services = {int(r.port): str(r.iana_service) for r in reference.ports().itertuples()}

    x0 = math.floor(ev["year"].min() / 5) * 5 - 1
    x1 = math.ceil(ev["year"].max() / 5) * 5 + 0.5
    # Vertical layout in inches: y data units are inches, so label levels have a fixed spacing.
    first, step, margin = 0.42, 0.32, 0.3
    width, left_in, top_in, bottom_in = 14.0, 1.75, 1.25, 0.9

    alt = _timeline_alt(ev, lanes)
    fig = new_chart(width, 8.0, alt, description)
    with mpl.rc_context(RC):
        ax = fig.add_axes((left_in / width, 0.1, (width - left_in - 0.2) / width, 0.8))
        ax.set_xlim(x0, x1)
        renderer = cast(FigureCanvasAgg, fig.canvas).get_renderer()
        to_data = ax.transData.inverted()

        # 1. measure every label and give it the first level where it overlaps nothing
        placed: list[tuple[int, Any, Any, int]] = []  # (lane index, row, text, level)
        for li, port in enumerate(lanes):
            occupied: dict[int, list[tuple[float, float]]] = {}
            for r in ev[ev["port"] == port].itertuples():
                milestone = bool(r.milestone)
                ha = "left" if r.year < x1 - 7 else "right"
                t = ax.text(
                    r.year,
                    0,
                    str(r.label),
                    fontsize=13.5 if milestone else 12,
                    fontweight="bold" if milestone else "normal",
                    ha=ha,
                    va="center",
                    zorder=5,
                    bbox={
                        "boxstyle": "square,pad=0.1",
                        "facecolor": "white",
                        "edgecolor": "none",
                        "alpha": 0.85,
                    },
                )
                bb = t.get_window_extent(renderer)
                (bx0, _), (bx1, _) = to_data.transform([(bb.x0, bb.y0), (bb.x1, bb.y1)])
                span = (bx0 - 0.3, bx1 + 0.3)
                level = 1
                for k in range(1, 50):
                    level = k // 2 + 1 if k % 2 else -(k // 2)  # 1, -1, 2, -2, ...
                    if all(span[1] < a or span[0] > b for a, b in occupied.get(level, [])):
                        break
                occupied.setdefault(level, []).append(span)
                placed.append((li, r, t, level))

        # 2. size each lane for the levels it uses, top lane first
        def reach(n: int) -> float:
            return first + (n - 1) * step + 0.2 if n else 0.3

        ups = [
            max([lv for li, _, _, lv in placed if li == i and lv > 0], default=0)
            for i in range(len(lanes))
        ]
        downs = [
            max([-lv for li, _, _, lv in placed if li == i and lv < 0], default=0)
            for i in range(len(lanes))
        ]
        total = sum(reach(u) + reach(d) + margin for u, d in zip(ups, downs, strict=False))
        centers, y = [], total
        for u, d in zip(ups, downs, strict=False):
            y -= reach(u) + margin / 2
            centers.append(y)
            y -= reach(d) + margin / 2
        height = total + top_in + bottom_in
        fig.set_size_inches(width, height)
        ax.set_position(
            (left_in / width, bottom_in / height, (width - left_in - 0.2) / width, total / height)
        )
        ax.set_ylim(0, total)

        # 3. draw lanes, markers, leader lines; move each label to its level
        for li, port in enumerate(lanes):
            yc = centers[li]
            ax.axhline(yc, color="#999999", linewidth=2, zorder=1)
            ax.text(
                x0 - 0.4,
                yc,
                f"port {port}",
                ha="right",
                va="bottom",
                fontsize=17,
                fontweight="bold",
                clip_on=False,
            )
            if port in services:
                ax.text(
                    x0 - 0.4,
                    yc,
                    f"IANA: {services[port]}",
                    ha="right",
                    va="top",
                    fontsize=12,
                    color="#444444",
                    clip_on=False,
                )
        for li, r, t, level in placed:
            yc = centers[li]
            _kind, colour, marker = _KIND_STYLE.get(str(r.kind), (str(r.kind), DARK_GREY, "P"))
            ty = yc + math.copysign(first + (abs(level) - 1) * step, level)
            t.set_y(ty)
            ax.plot([r.year, r.year], [yc, ty], color=colour, linewidth=1, zorder=2)
            ax.plot(
                r.year,
                yc,
                marker=marker,
                ms=13,
                color=colour,
                mec="white",
                mew=1.2,
                zorder=4,
                ls="",
            )

        ax.set_yticks([])
        ax.spines["left"].set_visible(False)
        ax.xaxis.set_major_locator(MultipleLocator(5))
        ax.xaxis.set_minor_locator(MultipleLocator(1))
        ax.grid(axis="x", color="#E4E4E4", linewidth=1)
        ax.set_axisbelow(True)
        ax.set_title(title, loc="left", pad=44)
        kinds = [k for k in _KIND_STYLE if (ev["kind"].astype(str) == k).any()]
        handles = [
            Line2D(
                [],
                [],
                ls="",
                marker=_KIND_STYLE[k][2],
                ms=12,
                color=_KIND_STYLE[k][1],
                label=_KIND_STYLE[k][0],
            )
            for k in kinds
        ]
        if handles:
            ax.legend(
                handles=handles,
                loc="lower left",
                bbox_to_anchor=(0.0, 1.0),
                ncols=len(handles),
                frameon=False,
                borderaxespad=0.1,
            )
        fig.text(
            0.99,
            0.1 / height,
            "Sources: RFCs, the IANA port registry and the other "
            "sources listed in data/reference/port_history.csv",
            ha="right",
            va="bottom",
            fontsize=10,
            color="#555555",
        )
    return fig


def _timeline_alt(ev: pd.DataFrame, lanes: Sequence[int]) -> str:
    y0, y1 = int(ev["year"].min()), int(ev["year"].max())
    text = (
        f"Timeline of {len(ev)} events from {y0} to {y1} in {len(lanes)} lanes, one per port "
        f"({join([str(p) for p in lanes])})."
    )
    for port in lanes:
        sub = ev[ev["port"] == port]
        keys = (
            sub[sub["milestone"].astype(bool)]
            if sub["milestone"].astype(bool).any()
            else sub.head(2)
        )
        bits = [f"{lab} ({int(y)})" for lab, y in zip(keys["label"], keys["year"], strict=False)]
        text += f" Port {port}: {plural(len(sub), 'event')}, including {join(bits)}."
    return text
