"""Where the time goes: median time of each phase of the conversation, as stacked bars."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any, Final

import matplotlib as mpl
import pandas as pd

from smtplab.charts._data import clean, port_order, to_frame
from smtplab.charts._draw import bar_axes, bar_segment, legend_patch
from smtplab.charts._figure import Chart, new_chart, no_data
from smtplab.charts._style import OKABE_ITO, RC
from smtplab.charts._words import fmt_ms, join
from smtplab.schema import OUTCOMES

__all__ = ["phase_times"]

_PHASES: Final = ("connect", "banner", "ehlo", "tls")
_PHASE_STYLE: Final = {
    "connect": (OKABE_ITO["sky_blue"], ""),
    "banner": (OKABE_ITO["orange"], "//"),
    "ehlo": (OKABE_ITO["green"], ".."),
    "tls": (OKABE_ITO["purple"], "xx"),
}


def phase_times(
    df: Any,
    by: str = "port",
    *,
    title: str | None = None,
    only_open: bool = True,
    count: str | None = None,
) -> Chart:
    """Median time of each phase (connect, banner, ehlo, tls) per port, as stacked bars.

    The bars read like a waterfall: each segment is one phase, in the order it happens (for
    implicit TLS, as on 465, the TLS handshake comes before the greeting). Only probes that got a
    greeting are counted unless ``only_open=False``: a filtered port's "connect time" is just the
    timeout. ``by`` may name another column (e.g. ``"vantage"``).

    ``count`` names a column saying how many probes each row stands for (rows counted already,
    as the dataset explorer sends the probes without timings); by default each row is one.
    """
    title = title or f"Where the time goes, per {by}"
    description = (
        f"Median milliseconds spent in each phase of the SMTP conversation per {by}: "
        "TCP connect, waiting for the greeting, EHLO and the TLS handshake."
    )
    frame = clean(to_frame(df), [by, *([count] if count else [])])
    cols = [f"{p}_ms" for p in _PHASES]
    if frame.empty or not any(c in frame.columns for c in cols):
        return no_data(title, "no probe records with timings", description)
    for c in cols:
        frame[c] = pd.to_numeric(frame[c], errors="coerce") if c in frame.columns else math.nan
    weight = (
        pd.to_numeric(frame[count], errors="coerce").fillna(0).astype("int64")
        if count
        else pd.Series(1, index=frame.index, dtype="int64")
    )
    usable = frame[cols].notna().any(axis=1)
    if only_open and "outcome" in frame.columns:
        usable &= frame["outcome"].astype(str) == "open"
    usable &= weight > 0

    rows = _phase_rows(frame, usable, weight, by)
    if not any(r["n"] for r in rows):
        return no_data(title, "no probe that got a greeting has timings", description)

    label = (lambda g: f"port {g}") if by == "port" else str
    totals = [sum(v for v in r["median"].values() if not math.isnan(v)) for r in rows]
    xmax = max(totals) * 1.28 or 1.0
    width = 12.0
    height = 2.5 + 0.8 * len(rows)
    fig = new_chart(width, height, _phase_alt(rows, totals, by, label), description)
    with mpl.rc_context(RC):
        ax = fig.add_axes(
            (2.0 / width, 1.6 / height, (width - 2.4) / width, (height - 2.4) / height)
        )
        _draw_phase_bars(ax, rows, totals, xmax)
        xlabel = (
            "milliseconds (median of the probes that got a greeting)"
            if only_open
            else "milliseconds (median)"
        )
        bar_axes(ax, [label(r["group"]) for r in rows], xmax, xlabel, title)
        fig.legend(
            handles=[legend_patch(*_PHASE_STYLE[p], label=p) for p in _PHASES],
            loc="lower left",
            bbox_to_anchor=(1.9 / width, 0.0),
            ncols=4,
            frameon=False,
            handleheight=1.3,
            handlelength=2.4,
        )
    return fig


def _phase_rows(
    frame: pd.DataFrame, usable: pd.Series, weight: pd.Series, by: str
) -> list[dict[str, Any]]:
    """Per group: probes counted, median of each phase, phase order, and what the rest saw.

    ``usable``: the rows whose timings count; ``weight``: how many probes each row stands for.
    """
    key = frame[by] if by == "port" else frame[by].astype(str)
    groups = port_order(key.unique()) if by == "port" else sorted(key.unique())
    rows: list[dict[str, Any]] = []
    for g in groups:
        in_group = (key == g).to_numpy()
        take = in_group & usable.to_numpy()
        sub, w = frame[take], weight[take].to_numpy()
        n = int(w.sum())
        implicit = (
            "tls_mode" in sub.columns
            and n > 0
            and float(((sub["tls_mode"].astype(str) == "implicit").to_numpy() * w).sum()) / n > 0.5
        )
        order = ("connect", "tls", "banner", "ehlo") if implicit else _PHASES
        med = {p: _median(sub[f"{p}_ms"], w) if n else math.nan for p in _PHASES}
        other = ""
        if "outcome" in frame.columns and n == 0:
            seen: Counter[str] = Counter()
            everyone = frame[in_group]
            for outcome, k in zip(
                everyone["outcome"].astype(str), weight[in_group].tolist(), strict=True
            ):
                seen[outcome] += k
            common = sorted(seen.items(), key=lambda ok: (-ok[1], _rank(ok[0]), ok[0]))
            other = ", ".join(f"{o} ×{k}" if k > 1 else o for o, k in common if k)
        rows.append({"group": g, "n": n, "median": med, "order": order, "other": other})
    return rows


def _rank(outcome: str) -> int:
    """An outcome's place in the schema's order (ties in counts are listed in this order)."""
    return OUTCOMES.index(outcome) if outcome in OUTCOMES else len(OUTCOMES)


def _median(values: pd.Series, weight: Any) -> float:
    """The median of ``values`` (NaN skipped), each counted ``weight`` times: pandas' median
    of the values repeated, without repeating them (a row may stand for millions of probes)."""
    import numpy as np

    if (weight == 1).all():
        return float(values.median())
    v = values.to_numpy(float)
    w = np.asarray(weight, dtype=np.int64)
    keep = ~np.isnan(v) & (w > 0)
    v, w = v[keep], w[keep]
    if not len(v):
        return math.nan
    order = np.argsort(v, kind="stable")
    v, cum = v[order], np.cumsum(w[order])
    total = int(cum[-1])  # the middle one (odd) or two (even), by 1-based position
    lo = int(np.searchsorted(cum, (total + 1) // 2))
    hi = int(np.searchsorted(cum, total // 2 + 1))
    return float((v[lo] + v[hi]) / 2)


def _draw_phase_bars(
    ax: Any, rows: Sequence[dict[str, Any]], totals: Sequence[float], xmax: float
) -> None:
    for i, (r, total) in enumerate(zip(rows, totals, strict=False)):
        y = len(rows) - 1 - i
        if r["n"] == 0:
            ax.text(
                0,
                y,
                f"  no greeting ({r['other']})" if r["other"] else "  no timings",
                va="center",
                ha="left",
                fontsize=13,
                color="#555555",
                style="italic",
            )
            continue
        left = 0.0
        for p in r["order"]:
            v = r["median"][p]
            if math.isnan(v) or v <= 0:
                continue
            shown = fmt_ms(v) if v >= 0.075 * xmax else None
            bar_segment(ax, y, left, v, *_PHASE_STYLE[p], label=shown, fontsize=12)
            left += v
        ax.text(
            left + 0.01 * xmax,
            y,
            f"{fmt_ms(total)} ms  (n={r['n']})",
            va="center",
            ha="left",
            fontsize=13,
        )


def _phase_alt(rows: Sequence[dict[str, Any]], totals: Sequence[float], by: str, label: Any) -> str:
    timed = [(r, t) for r, t in zip(rows, totals, strict=False) if r["n"]]
    bits = []
    for r, t in timed:
        phases = {p: v for p, v in r["median"].items() if not math.isnan(v)}
        slow = max(phases, key=phases.__getitem__)
        bits.append(
            f"{label(r['group'])} {fmt_ms(t)} ms, most of it {slow} ({fmt_ms(phases[slow])} ms)"
        )
    text = f"Stacked bars of median time per phase for {len(timed)} {by}s: " + "; ".join(bits) + "."
    missing = [label(r["group"]) for r in rows if not r["n"]]
    if missing:
        text += f" No greeting, so no timings, on {join(missing)}."
    if len(timed) > 1:
        slowest = max(timed, key=lambda rt: rt[1])[0]
        text += f" Slowest: {label(slowest['group'])}."
    return text
