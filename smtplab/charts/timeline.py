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


# Vertical layout in inches: y data units are inches, so label levels have a fixed spacing.
_FIRST, _STEP, _MARGIN = 0.42, 0.32, 0.3
_WIDTH, _LEFT_IN, _TOP_IN, _BOTTOM_IN = 14.0, 1.75, 1.25, 0.9

#: (lane index, event row, its label, level: 1, -1, 2, -2, … above and below the lane)
_Placed = tuple[int, Any, Any, int]


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
    ev = _events(events, milestones_only)
    if ev is None:
        return no_data(title, "no timeline events", description)
    lanes = port_order(ev["port"])
    x0 = math.floor(ev["year"].min() / 5) * 5 - 1
    x1 = math.ceil(ev["year"].max() / 5) * 5 + 0.5
    fig = new_chart(_WIDTH, 8.0, _timeline_alt(ev, lanes), description)
    with mpl.rc_context(RC):
        ax = fig.add_axes((_LEFT_IN / _WIDTH, 0.1, (_WIDTH - _LEFT_IN - 0.2) / _WIDTH, 0.8))
        ax.set_xlim(x0, x1)
        placed = _place_labels(fig, ax, ev, lanes, x1)
        centers, total = _lane_centres(placed, len(lanes))
        height = total + _TOP_IN + _BOTTOM_IN
        fig.set_size_inches(_WIDTH, height)
        ax.set_position(
            (
                _LEFT_IN / _WIDTH,
                _BOTTOM_IN / height,
                (_WIDTH - _LEFT_IN - 0.2) / _WIDTH,
                total / height,
            )
        )
        ax.set_ylim(0, total)
        _draw_lanes(ax, lanes, centers, x0)
        _draw_events(ax, placed, centers)
        _frame_and_legend(ax, ev, title)
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


def _events(events: pd.DataFrame | None, milestones_only: bool) -> pd.DataFrame | None:
    """The events to draw, with year, label, milestone and kind columns; None when empty."""
    ev = reference.timeline() if events is None else events.copy()
    if milestones_only and "milestone" in ev.columns:
        ev = ev[ev["milestone"].astype(bool)]
    if ev.empty or "port" not in ev.columns:
        return None
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
    return ev.sort_values("year", kind="stable")


def _place_labels(
    fig: Chart, ax: Any, ev: pd.DataFrame, lanes: Sequence[int], x1: float
) -> list[_Placed]:
    """Measure every label and give it the first level of its lane where it overlaps nothing."""
    renderer = cast(FigureCanvasAgg, fig.canvas).get_renderer()
    to_data = ax.transData.inverted()
    placed: list[_Placed] = []
    for li, port in enumerate(lanes):
        occupied: dict[int, list[tuple[float, float]]] = {}
        for r in ev[ev["port"] == port].itertuples():
            milestone = bool(r.milestone)
            t = ax.text(
                r.year,
                0,
                str(r.label),
                fontsize=13.5 if milestone else 12,
                fontweight="bold" if milestone else "normal",
                ha="left" if r.year < x1 - 7 else "right",
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
    return placed


def _lane_centres(placed: Sequence[_Placed], n_lanes: int) -> tuple[list[float], float]:
    """Size each lane for the levels it uses, top lane first: (lane centres, total height)."""

    def reach(n: int) -> float:
        return _FIRST + (n - 1) * _STEP + 0.2 if n else 0.3

    ups = [
        max([lv for li, _, _, lv in placed if li == i and lv > 0], default=0)
        for i in range(n_lanes)
    ]
    downs = [
        max([-lv for li, _, _, lv in placed if li == i and lv < 0], default=0)
        for i in range(n_lanes)
    ]
    total = sum(reach(u) + reach(d) + _MARGIN for u, d in zip(ups, downs, strict=False))
    centers, y = [], total
    for u, d in zip(ups, downs, strict=False):
        y -= reach(u) + _MARGIN / 2
        centers.append(y)
        y -= reach(d) + _MARGIN / 2
    return centers, total


def _draw_lanes(ax: Any, lanes: Sequence[int], centers: Sequence[float], x0: float) -> None:
    services = {int(r.port): str(r.iana_service) for r in reference.ports().itertuples()}
    for port, yc in zip(lanes, centers, strict=True):
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


def _draw_events(ax: Any, placed: Sequence[_Placed], centers: Sequence[float]) -> None:
    """Markers and leader lines; each label moved to its level."""
    for li, r, t, level in placed:
        yc = centers[li]
        _kind, colour, marker = _KIND_STYLE.get(str(r.kind), (str(r.kind), DARK_GREY, "P"))
        ty = yc + math.copysign(_FIRST + (abs(level) - 1) * _STEP, level)
        t.set_y(ty)
        ax.plot([r.year, r.year], [yc, ty], color=colour, linewidth=1, zorder=2)
        ax.plot(
            r.year, yc, marker=marker, ms=13, color=colour, mec="white", mew=1.2, zorder=4, ls=""
        )


def _frame_and_legend(ax: Any, ev: pd.DataFrame, title: str) -> None:
    ax.set_yticks([])
    ax.spines["left"].set_visible(False)
    ax.xaxis.set_major_locator(MultipleLocator(5))
    ax.xaxis.set_minor_locator(MultipleLocator(1))
    ax.grid(axis="x", color="#E4E4E4", linewidth=1)
    ax.set_axisbelow(True)
    ax.set_title(title, loc="left", pad=44)
    kinds = [k for k in _KIND_STYLE if (ev["kind"].astype(str) == k).any()]
    handles = [
        Line2D([], [], ls="", marker=marker, ms=12, color=colour, label=label)
        for label, colour, marker in (_KIND_STYLE[k] for k in kinds)
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
