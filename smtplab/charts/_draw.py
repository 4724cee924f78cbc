"""Drawing shared by the charts: hatched cells, boxed labels, legend patches, bars, the grid.

:func:`draw_grid` is the one grid of the package: rows of names by columns of ports, each cell
coloured, hatched and labelled in words. The outcome heat map and the provider matrix both use it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from matplotlib.collections import PatchCollection
from matplotlib.patches import Patch, Rectangle

from smtplab.charts._style import TITLE_PAD, hatch_colour

__all__ = [
    "GridCell",
    "bar_axes",
    "bar_segment",
    "boxed",
    "cell",
    "draw_grid",
    "legend_patch",
]


def cell(ax: Any, x: float, y: float, w: float, h: float, fill: str, hatch: str) -> None:
    """A filled, hatched rectangle with a white border (the gap between grid cells)."""
    ax.add_patch(
        Rectangle(
            (x, y),
            w,
            h,
            facecolor=fill,
            hatch=hatch or None,
            edgecolor=hatch_colour(fill),
            linewidth=0,
        )
    )
    ax.add_patch(Rectangle((x, y), w, h, facecolor="none", edgecolor="white", linewidth=3))


def boxed(ax: Any, x: float, y: float, text: str, **kw: Any) -> Any:
    """Text on a white rounded box, readable over any fill or hatch."""
    kw.setdefault("ha", "center")
    kw.setdefault("va", "center")
    return ax.text(
        x,
        y,
        text,
        bbox={
            "boxstyle": "round,pad=0.25",
            "facecolor": "white",
            "edgecolor": "none",
            "alpha": 0.9,
        },
        **kw,
    )


def legend_patch(fill: str, hatch: str, label: str) -> Patch:
    """A legend entry drawn like a cell: same fill, same hatch."""
    return Patch(facecolor=fill, hatch=hatch or None, edgecolor=hatch_colour(fill), label=label)


@dataclass(frozen=True)
class GridCell:
    """One drawn cell of a grid: fill colour, hatch and the words written in it."""

    fill: str
    hatch: str
    text: str
    fontsize: float = 14


def draw_grid(
    ax: Any,
    rows: Sequence[str],
    cols: Sequence[Any],
    cells: Mapping[tuple[int, int], GridCell],
    *,
    empty_fill: str,
    empty_text: str = "",
    row_fontsize: float | None = None,
    xlabel: str = "port",
) -> None:
    """Draw ``rows`` × ``cols`` cells on ``ax``, first row at the top, column names above.

    ``cells`` maps (row index, column index) to a :class:`GridCell`; a missing key is drawn as
    a pale ``empty_fill`` cell with ``empty_text`` in small grey letters.
    """
    n = len(rows)
    # One collection per fill and hatch, not two patches per cell: with a 40-row grid the
    # per-patch bookkeeping of matplotlib (transforms, data limits) was most of the drawing.
    fills: dict[tuple[str, str], list[Rectangle]] = {}
    empty: list[Rectangle] = []
    for i in range(n):
        y = n - 1 - i
        for j in range(len(cols)):
            c = cells.get((i, j))
            if c is None:
                empty.append(Rectangle((j, y), 1, 1))
                if empty_text:
                    ax.text(
                        j + 0.5,
                        y + 0.5,
                        empty_text,
                        ha="center",
                        va="center",
                        fontsize=11,
                        color="#888888",
                    )
                continue
            fills.setdefault((c.fill, c.hatch), []).append(Rectangle((j, y), 1, 1))
            boxed(ax, j + 0.5, y + 0.5, c.text, fontsize=c.fontsize)
    for (fill, hatch), rects in fills.items():
        ax.add_collection(
            PatchCollection(
                rects,
                facecolor=fill,
                hatch=hatch or None,
                edgecolor=hatch_colour(fill),
                linewidth=0,
                zorder=1,
            ),
            autolim=False,
        )
    if empty:
        ax.add_collection(
            PatchCollection(empty, facecolor=empty_fill, edgecolor="white", linewidth=3, zorder=1),
            autolim=False,
        )
    borders = [r for rects in fills.values() for r in rects]
    if borders:  # the white gap between cells, over every fill
        ax.add_collection(
            PatchCollection(borders, facecolor="none", edgecolor="white", linewidth=3, zorder=1.01),
            autolim=False,
        )
    ax.set_xlim(0, len(cols))
    ax.set_ylim(0, n)
    ax.set_xticks([j + 0.5 for j in range(len(cols))], [str(c) for c in cols])
    font = {} if row_fontsize is None else {"fontsize": row_fontsize}
    ax.set_yticks([n - 0.5 - i for i in range(n)], list(rows), **font)
    ax.xaxis.tick_top()
    ax.xaxis.set_label_position("top")
    ax.set_xlabel(xlabel)
    ax.tick_params(length=0)
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)


def bar_segment(
    ax: Any,
    y: float,
    left: float,
    width: float,
    fill: str,
    hatch: str,
    *,
    label: str | None = None,
    fontsize: float = 12,
    gap: bool = False,
) -> None:
    """One segment of a stacked horizontal bar: fill, hatch, an optional boxed label in the
    middle, and with ``gap`` a white edge that separates it from its neighbours."""
    ax.barh(
        y,
        width,
        left=left,
        height=0.62,
        color=fill,
        hatch=hatch or None,
        edgecolor=hatch_colour(fill),
        linewidth=0,
    )
    if gap:
        ax.barh(y, width, left=left, height=0.62, color="none", edgecolor="white", linewidth=2)
    if label:
        boxed(ax, left + width / 2, y, label, fontsize=fontsize)


def bar_axes(ax: Any, labels: Sequence[str], xmax: float, xlabel: str, title: str) -> None:
    """The frame of a stacked-bar chart: one labelled row per bar, first at the top."""
    ax.set_yticks(range(len(labels))[::-1], list(labels))
    ax.set_ylim(-0.6, len(labels) - 0.4)
    ax.set_xlim(0, xmax)
    ax.set_xlabel(xlabel)
    ax.tick_params(axis="y", length=0)
    ax.spines["left"].set_visible(False)
    ax.grid(axis="x", color="#DDDDDD", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.set_title(title, loc="left", pad=TITLE_PAD)
