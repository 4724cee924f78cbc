"""The provider matrix: which ports each mail provider documents, and with which security."""

from __future__ import annotations

import textwrap
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Final

import matplotlib as mpl
import pandas as pd
from matplotlib.patches import Patch

from smtplab import reference
from smtplab.charts._data import clean, port_order
from smtplab.charts._draw import GridCell, draw_grid, legend_patch
from smtplab.charts._figure import Chart, new_chart, no_data
from smtplab.charts._style import OKABE_ITO, RC, TITLE_PAD
from smtplab.charts._words import join

__all__ = ["SECURITY_STYLE", "provider_matrix"]

#: provider_ports.csv "security" -> (label, colour, hatch)
SECURITY_STYLE: Final = {
    "implicit_tls": ("implicit TLS", OKABE_ITO["blue"], ""),
    "starttls": ("STARTTLS", OKABE_ITO["sky_blue"], "//"),
    "either": ("plain or TLS", OKABE_ITO["yellow"], ".."),
    "none": ("no TLS", OKABE_ITO["vermillion"], "xx"),
}
_EMPTY: Final = "#F6F6F6"


def _grid_cell(sec: str, relay: bool) -> GridCell:
    label, fill, hatch = SECURITY_STYLE.get(sec.split("/")[0], (sec, "#FFFFFF", "O."))
    if "/" in sec:
        label = " / ".join(SECURITY_STYLE.get(s, (s,))[0] for s in sec.split("/"))
    return GridCell(fill, hatch, label + ("\n(relay)" if relay else ""), fontsize=13)


def provider_matrix(
    providers: pd.DataFrame | None = None,
    *,
    ports: Sequence[int] | None = reference.FOUR_PORTS,
    title: str | None = None,
) -> Chart:
    """Which ports each mail provider documents, and with which security, as a grid.

    Cells are coloured and hatched by security (implicit TLS, STARTTLS, plain or TLS, no TLS)
    and say it in words; a blank cell means the provider's page does not list that port.
    ``providers`` defaults to :func:`smtplab.reference.providers`; ``ports=None`` shows every
    port any provider lists.
    """
    title = title or "Which ports mail providers document"
    description = (
        "For each mail provider (rows) and port (columns), the security its "
        "documentation gives: implicit TLS, STARTTLS, plain or TLS, or no TLS; "
        "blank where the port is not listed."
    )
    pv = reference.providers() if providers is None else providers.copy()
    pv = clean(pv, ["provider", "port"])
    cols = port_order(pv["port"]) if ports is None else list(ports)
    pv = pv[pv["port"].isin(cols)]
    if pv.empty:
        return no_data(title, "no provider facts", description)
    names = list(dict.fromkeys(pv["provider"].astype(str)))
    shown_names = [textwrap.fill(n, 26) for n in names]
    cell: dict[tuple[str, int], tuple[str, bool]] = {}
    for (prov, port), grp in pv.groupby(["provider", "port"], sort=False):
        secs = list(dict.fromkeys(grp["security"].astype(str))) if "security" in grp else ["?"]
        relay = "purpose" in grp and (grp["purpose"].astype(str) == "relay").all()
        cell[(str(prov), int(port))] = ("/".join(secs), bool(relay))

    cw, ch = 1.95, 0.62
    longest = max(len(line) for n in shown_names for line in n.splitlines())
    label_w = min(4.2, 0.6 + 0.13 * longest)
    width = label_w + cw * len(cols) + 0.4
    height = 2.5 + ch * len(names)
    fig = new_chart(width, height, _provider_alt(cell, names, cols), description)
    grid = {
        (i, j): _grid_cell(*c)
        for i, prov in enumerate(names)
        for j, port in enumerate(cols)
        if (c := cell.get((prov, port))) is not None
    }
    with mpl.rc_context(RC):
        ax = fig.add_axes(
            (
                label_w / width,
                1.35 / height,
                (width - label_w - 0.3) / width,
                (height - 2.45) / height,
            )
        )
        draw_grid(ax, shown_names, cols, grid, empty_fill=_EMPTY, row_fontsize=13)
        ax.set_title(title, loc="left", pad=TITLE_PAD)
        present = {s for sec, _ in cell.values() for s in sec.split("/")}
        handles = [
            legend_patch(f, h, label=lab)
            for key, (lab, f, h) in SECURITY_STYLE.items()
            if key in present
        ]
        handles.append(Patch(facecolor=_EMPTY, edgecolor="#DDDDDD", label="not listed"))
        fig.legend(
            handles=handles,
            loc="lower left",
            ncols=len(handles),
            frameon=False,
            bbox_to_anchor=(0.0, 0.35 / height),
            handleheight=1.3,
            fontsize=12,
            columnspacing=1.0,
        )
        fig.text(
            0.99,
            0.08 / height,
            "Sources: each provider's documentation, as listed in "
            "data/reference/provider_ports.csv",
            ha="right",
            va="bottom",
            fontsize=10,
            color="#555555",
        )
    return fig


def _provider_alt(
    cell: Mapping[tuple[str, int], tuple[str, bool]], names: Sequence[str], cols: Sequence[int]
) -> str:
    text = (
        f"Grid of {len(names)} mail providers by {len(cols)} ports "
        f"({join([str(p) for p in cols])}), from each provider's documentation."
    )
    for port in cols:
        secs = [sec for (prov, p), (sec, _) in cell.items() if p == port]
        if not secs:
            text += f" No provider lists port {port}."
            continue
        c = Counter(secs)
        how = ", ".join(f"{n} {SECURITY_STYLE.get(s, (s,))[0]}" for s, n in c.most_common())
        text += f" Port {port}: listed by {len(secs)} ({how})."
    return text
