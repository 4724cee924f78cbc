"""Charts of probe records and reference facts, one call each, each returning the figure.

Every chart is a :class:`Chart`, a matplotlib ``Figure`` made without pyplot (so Jupyter's inline
backend never shows it twice) that carries:

* ``alt_text`` — a sentence or two built from the data: what is shown and the main finding;
* ``description`` — one plain sentence saying what the chart shows (notebooks print it below);
* ``_repr_mimebundle_`` — a PNG with ``alt`` metadata, so a chart that ends a cell shows up in
  Jupyter with its alt text.

Style: the Okabe–Ito colour-blind-safe palette, every category also drawn with a hatch or a
marker, words written on the chart (direct labels), fonts big enough for a projector. Empty data
gives a figure that says "no data" instead of an exception.

>>> from smtplab import charts, reference
>>> fig = charts.timeline()          # doctest: +SKIP
>>> charts.show(fig)                 # doctest: +SKIP
"""

from __future__ import annotations

import io
import math
import textwrap
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, cast

import matplotlib as mpl
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex, to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import MaxNLocator, MultipleLocator

from smtplab import reference
from smtplab.schema import OUTCOME_MEANING, OUTCOMES, progress_rank

__all__ = [
    "OUTCOME_STYLE",
    "Chart",
    "auth_tls",
    "outcome_heatmap",
    "phase_times",
    "port_order",
    "provider_matrix",
    "show",
    "timeline",
    "tls_versions",
]

# Okabe & Ito (2008), "Color Universal Design": eight colours told apart with every common
# colour-vision deficiency.
OKABE_ITO: Final = {
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "black": "#000000",
}
_GREY: Final = "#BBBBBB"
_DARK_GREY: Final = "#777777"

#: outcome -> (fill colour, hatch).  The hatch repeats the information for grey-scale printouts
#: and for readers who cannot tell the colours apart; the word is written in each cell as well.
OUTCOME_STYLE: Final[dict[str, tuple[str, str]]] = {
    "open": (OKABE_ITO["green"], ""),
    "rejected": (OKABE_ITO["purple"], "xx"),
    "refused": (OKABE_ITO["vermillion"], "\\\\"),
    "filtered": (OKABE_ITO["orange"], "//"),
    "silent": (OKABE_ITO["yellow"], ".."),
    "not_smtp": (OKABE_ITO["sky_blue"], "oo"),
    "tls_failed": (OKABE_ITO["blue"], "++"),
    "dns_failed": (_GREY, "--"),
    "unreachable": (_DARK_GREY, "||"),
    "reset": ("#E0C8D8", "**"),
    "error": ("#DDDDDD", "xx"),
}
_UNKNOWN_STYLE: Final = ("#FFFFFF", "O.")  # an outcome word we do not know (newer schema?)

_PHASES: Final = ("connect", "banner", "ehlo", "tls")
_PHASE_STYLE: Final = {
    "connect": (OKABE_ITO["sky_blue"], ""),
    "banner": (OKABE_ITO["orange"], "//"),
    "ehlo": (OKABE_ITO["green"], ".."),
    "tls": (OKABE_ITO["purple"], "xx"),
}

_SECURITY_STYLE: Final = {  # provider_ports.csv "security" -> (label, colour, hatch)
    "implicit_tls": ("implicit TLS", OKABE_ITO["blue"], ""),
    "starttls": ("STARTTLS", OKABE_ITO["sky_blue"], "//"),
    "either": ("plain or TLS", OKABE_ITO["yellow"], ".."),
    "none": ("no TLS", OKABE_ITO["vermillion"], "xx"),
}

_KIND_STYLE: Final = {  # timeline "kind" -> (label, colour, marker)
    "rfc": ("RFC", OKABE_ITO["blue"], "o"),
    "iana": ("IANA registry", OKABE_ITO["orange"], "s"),
    "practice": ("operators' practice", OKABE_ITO["green"], "^"),
    "security": ("security research", OKABE_ITO["vermillion"], "D"),
}

# Sizes for a projector at the back of a classroom: a chart is at most ~12 inches wide, so it is
# shown near its natural size in a notebook and these point sizes stay readable.
_RC: Final[Any] = {  # typed Any: rc_context wants literal keys
    "font.size": 15,
    "axes.titlesize": 19,
    "axes.titleweight": "bold",
    "axes.labelsize": 16,
    "xtick.labelsize": 15,
    "ytick.labelsize": 15,
    "legend.fontsize": 13,
    "legend.title_fontsize": 14,
    "hatch.linewidth": 1.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": 100,
    "savefig.dpi": 100,
}
_TITLE_PAD: Final = 14
_MAX_ROWS: Final = 40


class Chart(Figure):
    """A matplotlib Figure that knows its alt text and shows itself in Jupyter as a PNG.

    It is made without pyplot and has its own Agg canvas: ``fig.savefig(...)`` works, pyplot's
    figure manager never sees it, and it is freed like any Python object.
    """

    def __init__(self, *args: Any, alt_text: str = "", description: str = "", **kwargs: Any):
        super().__init__(*args, **kwargs)
        FigureCanvasAgg(self)
        #: A sentence or two for screen readers: what is shown and the main finding.
        self.alt_text: str = alt_text
        #: One plain sentence saying what the chart shows, printed under it in notebooks.
        self.description: str = description

    def to_png(self, dpi: float | None = None) -> bytes:
        """The chart as PNG bytes."""
        buf = io.BytesIO()
        self.savefig(buf, format="png", dpi=dpi, facecolor="white")
        return buf.getvalue()

    def _repr_mimebundle_(
        self, include: Iterable[str] | None = None, exclude: Iterable[str] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        alt = self.alt_text or self.description
        data: dict[str, Any] = {"image/png": self.to_png(), "text/plain": alt}
        if include is not None:
            data = {k: v for k, v in data.items() if k in set(include)}
        if exclude is not None:
            data = {k: v for k, v in data.items() if k not in set(exclude)}
        return data, {"image/png": {"alt": alt}}


def show(fig: Chart, *, describe: bool = True) -> None:
    """Display ``fig`` in Jupyter (PNG with its alt text), then print its one-sentence description."""
    from IPython.display import display

    display(fig)
    if describe and fig.description:
        print(fig.description)


# --------------------------------------------------------------------------------------------
# helpers


def _new(width: float, height: float, alt: str, description: str) -> Chart:
    with mpl.rc_context(_RC):
        return Chart(figsize=(width, height), alt_text=alt, description=description)


def _no_data(title: str, what: str, description: str) -> Chart:
    fig = _new(9, 3.2, f"{title}: no data to show ({what}).", description)
    with mpl.rc_context(_RC):
        ax = fig.add_axes((0.04, 0.05, 0.92, 0.72))
        ax.set_axis_off()
        ax.set_title(title, loc="left", pad=_TITLE_PAD)
        ax.text(
            0.5,
            0.45,
            f"no data\n({what})",
            ha="center",
            va="center",
            fontsize=20,
            color="#444444",
            transform=ax.transAxes,
        )
    return fig


def _frame(data: Any) -> pd.DataFrame:
    """Accept a DataFrame, records (dicts) or objects with ``to_record()``."""
    if data is None:
        return pd.DataFrame()
    if isinstance(data, pd.DataFrame):
        return data
    rows = [d.to_record() if hasattr(d, "to_record") else dict(d) for d in data]
    return pd.DataFrame(rows)


def _ports_of(values: Iterable[Any]) -> pd.Series:
    return pd.to_numeric(pd.Series(list(values), dtype="object"), errors="coerce")


def port_order(ports: Iterable[Any]) -> list[int]:
    """Ports in teaching order: 25, 465, 587, 2525 first (those present), then the rest sorted."""
    present = {int(p) for p in ports if p is not None and not _isnan(p)}
    first = [p for p in reference.FOUR_PORTS if p in present]
    return first + sorted(present - set(first))


def _isnan(x: Any) -> bool:
    try:
        return bool(pd.isna(x))
    except (TypeError, ValueError):
        return False


def _style(outcome: str) -> tuple[str, str]:
    return OUTCOME_STYLE.get(outcome, _UNKNOWN_STYLE)


def _hatch_colour(fill: str) -> str:
    """A hatch colour that shows on ``fill``: darker on light fills, lighter on dark ones."""
    r, g, b = to_rgb(fill)
    lum = 0.2126 * r + 0.7152 * g + 0.0722 * b
    if lum < 0.45:
        return to_hex((r + (1 - r) * 0.45, g + (1 - g) * 0.45, b + (1 - b) * 0.45))
    return to_hex((r * 0.55, g * 0.55, b * 0.55))


def _cell(ax: Any, x: float, y: float, w: float, h: float, fill: str, hatch: str) -> None:
    ax.add_patch(
        Rectangle(
            (x, y),
            w,
            h,
            facecolor=fill,
            hatch=hatch or None,
            edgecolor=_hatch_colour(fill),
            linewidth=0,
        )
    )
    ax.add_patch(Rectangle((x, y), w, h, facecolor="none", edgecolor="white", linewidth=3))


def _boxed(ax: Any, x: float, y: float, text: str, **kw: Any) -> Any:
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


def _patch(fill: str, hatch: str, label: str) -> Patch:
    return Patch(facecolor=fill, hatch=hatch or None, edgecolor=_hatch_colour(fill), label=label)


def _fmt_ms(ms: float) -> str:
    if ms < 10:
        return f"{ms:.1f}"
    return f"{ms:.0f}"


def _join(words: Sequence[str]) -> str:
    words = list(words)
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _limit(names: Sequence[str], n: int = 3) -> str:
    names = list(names)
    if len(names) <= n:
        return _join(names)
    return ", ".join(names[:n]) + f" and {len(names) - n} more"


def _clean(df: pd.DataFrame, needed: Sequence[str]) -> pd.DataFrame:
    """Rows with the needed columns present; port as int."""
    if df.empty or any(c not in df.columns for c in needed):
        return df.iloc[0:0]
    out = df.copy()
    if "port" in out.columns:
        out["port"] = _ports_of(out["port"]).to_numpy()
    out = out.dropna(subset=list(needed))
    if "port" in out.columns:
        out["port"] = out["port"].astype("int64")
    return out


# --------------------------------------------------------------------------------------------
# outcome heat map


def outcome_heatmap(
    df: Any,
    rows: str = "host",
    *,
    agg: str = "best",
    title: str | None = None,
    max_rows: int = _MAX_ROWS,
) -> Chart:
    """Outcome of each probe as a grid: one row per host (or per vantage), one column per port.

    Each cell is coloured *and* hatched by outcome and has the outcome word written in it.
    ``rows`` is ``"host"`` (default), ``"vantage"`` or any other column of the records.

    When several probes fall in one cell (every host probed from one network, or one host from
    several networks), ``agg="best"`` shows the furthest any of them got — ``open`` if one
    greeting came, so "port 25 gets out of this network" or "this server speaks on 25" — and
    ``agg="majority"`` the commonest outcome; either way with how many probes had it ("open
    2/6").
    """
    if agg not in ("best", "majority"):
        raise ValueError(f"agg must be 'best' or 'majority', not {agg!r}")
    df = _clean(_frame(df), [rows, "port", "outcome"])
    rows_word = rows if rows != "host" else "host"
    title = title or (
        "What each network saw, by port"
        if rows == "vantage"
        else f"Outcome by {rows_word} and port"
    )
    description = (
        f"Outcome of the probes by {rows_word} (rows) and port (columns); colour, "
        'pattern and word name the outcome, and "open 2/6" means 2 of 6 probes '
        + ("got that far." if agg == "best" else "had that outcome.")
    )
    if df.empty:
        return _no_data(title, "no probe records with a host, port and outcome", description)

    df = df.assign(outcome=df["outcome"].astype(str), _row=df[rows].astype(str))
    ports = port_order(df["port"])
    row_names = list(dict.fromkeys(sorted(df["_row"])))
    truncated = len(row_names) > max_rows
    shown_rows = row_names[:max_rows]

    # (row, port) -> (majority outcome, its count, total)
    cells: dict[tuple[str, int], tuple[str, int, int]] = {}
    for (row, port), grp in df.groupby(["_row", "port"], sort=False):
        counts = Counter(grp["outcome"])
        if agg == "best":
            best = min(counts.items(), key=lambda kv: progress_rank(kv[0]))
        else:
            best = max(counts.items(), key=lambda kv: (kv[1], -_outcome_rank(kv[0])))
        cells[(str(row), int(port))] = (best[0], best[1], len(grp))

    cw, ch = 2.0, 0.75
    label_w = min(4.2, 0.8 + 0.12 * max(len(r) for r in shown_rows))
    width = min(13.0, label_w + cw * len(ports) + 0.6)
    height = 2.2 + ch * len(shown_rows)
    alt = _heatmap_alt(df, cells, ports, row_names, rows_word)
    fig = _new(width, height, alt, description)
    with mpl.rc_context(_RC):
        ax = fig.add_axes(
            (
                label_w / width,
                0.75 / height,
                (width - label_w - 0.4) / width,
                (height - 1.95) / height,
            )
        )
        for i, row in enumerate(shown_rows):
            y = len(shown_rows) - 1 - i
            for j, port in enumerate(ports):
                cell = cells.get((row, port))
                if cell is None:
                    ax.add_patch(
                        Rectangle((j, y), 1, 1, facecolor="#F4F4F4", edgecolor="white", linewidth=3)
                    )
                    ax.text(
                        j + 0.5,
                        y + 0.5,
                        "not probed",
                        ha="center",
                        va="center",
                        fontsize=11,
                        color="#888888",
                    )
                    continue
                outcome, k, n = cell
                fill, hatch = _style(outcome)
                _cell(ax, j, y, 1, 1, fill, hatch)
                text = outcome if k == n else f"{outcome} {k}/{n}"
                _boxed(ax, j + 0.5, y + 0.5, text, fontsize=14)
        ax.set_xlim(0, len(ports))
        ax.set_ylim(0, len(shown_rows))
        ax.set_xticks([j + 0.5 for j in range(len(ports))], [str(p) for p in ports])
        ax.set_yticks([len(shown_rows) - 0.5 - i for i in range(len(shown_rows))], shown_rows)
        ax.xaxis.tick_top()
        ax.xaxis.set_label_position("top")
        ax.set_xlabel("port")
        ax.tick_params(length=0)
        for side in ("top", "right", "bottom", "left"):
            ax.spines[side].set_visible(False)
        ax.set_title(title, loc="left", pad=_TITLE_PAD)
        drawn = {cells[k][0] for k in cells if k[0] in shown_rows}
        present = [o for o in OUTCOMES if o in drawn] + sorted(drawn - set(OUTCOMES))
        handles = [_patch(*_style(o), label=o) for o in present]
        fig.legend(
            handles=handles,
            loc="lower left",
            ncols=min(len(handles), 5),
            frameon=False,
            bbox_to_anchor=(label_w / width - 0.02, 0.0),
            handleheight=1.4,
            handlelength=2.2,
        )
        if truncated:
            fig.text(
                0.99,
                0.01,
                f"first {max_rows} of {len(row_names)} {rows_word}s",
                ha="right",
                va="bottom",
                fontsize=11,
                color="#555555",
            )
    return fig


def _outcome_rank(outcome: str) -> int:
    return OUTCOMES.index(outcome) if outcome in OUTCOMES else len(OUTCOMES)


def _heatmap_alt(
    df: pd.DataFrame,
    cells: Mapping[tuple[str, int], tuple[str, int, int]],
    ports: Sequence[int],
    row_names: Sequence[str],
    rows_word: str,
) -> str:
    head = (
        f"Heat map of {len(df)} probe outcomes: {_plural(len(row_names), rows_word)} by "
        f"{_plural(len(ports), 'port')} ({_join([str(p) for p in ports])})."
    )
    parts = []
    for port in ports:
        by_outcome: dict[str, list[str]] = {}
        for (row, p), (outcome, _k, _n) in cells.items():
            if p == port:
                by_outcome.setdefault(outcome, []).append(row)
        probes = Counter(df.loc[df["port"] == port, "outcome"])
        n_probes = sum(probes.values())
        mixed = len(probes) > 1
        if len(by_outcome) == 1:
            ((outcome, names),) = by_outcome.items()
            who = f"all {_plural(len(names), rows_word)}" if len(names) > 1 else names[0]
            sentence = f"Port {port} was {outcome} for {who}"
        else:
            bits = []
            for outcome in sorted(by_outcome, key=_outcome_rank):
                names = sorted(by_outcome[outcome])
                bits.append(
                    f"open for {len(names)}"
                    if outcome == "open"
                    else f"{outcome} for {_limit(names)}"
                )
            sentence = f"Port {port}: {'; '.join(bits)}"
        if mixed:
            sentence += (
                " (probes: "
                + ", ".join(f"{n} {o}" for o, n in sorted(probes.items(), key=lambda kv: -kv[1]))
                + f" of {n_probes})"
            )
        parts.append(sentence + ".")
    shown = sorted({c[0] for c in cells.values()} - {"open"}, key=_outcome_rank)
    meaning = [f"{o}: {OUTCOME_MEANING[o]}" for o in shown if o in OUTCOME_MEANING]
    text = " ".join([head, *parts])
    if meaning and len(meaning) <= 3:
        text += " (" + " ".join(meaning) + ")"
    return text


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# --------------------------------------------------------------------------------------------
# time per phase


def phase_times(
    df: Any, by: str = "port", *, title: str | None = None, only_open: bool = True
) -> Chart:
    """Median time of each phase (connect, banner, ehlo, tls) per port, as stacked bars.

    The bars read like a waterfall: each segment is one phase, in the order it happens (for
    implicit TLS, as on 465, the TLS handshake comes before the greeting). Only probes that got a
    greeting are counted unless ``only_open=False``: a filtered port's "connect time" is just the
    timeout. ``by`` may name another column (e.g. ``"vantage"``).
    """
    title = title or f"Where the time goes, per {by}"
    description = (
        f"Median milliseconds spent in each phase of the SMTP conversation per {by}: "
        "TCP connect, waiting for the greeting, EHLO and the TLS handshake."
    )
    frame = _clean(_frame(df), [by])
    cols = [f"{p}_ms" for p in _PHASES]
    if frame.empty or not any(c in frame.columns for c in cols):
        return _no_data(title, "no probe records with timings", description)
    for c in cols:
        frame[c] = pd.to_numeric(frame[c], errors="coerce") if c in frame.columns else math.nan
    usable = frame
    if only_open and "outcome" in frame.columns:
        usable = frame[frame["outcome"].astype(str) == "open"]
    usable = usable[usable[cols].notna().any(axis=1)]

    groups = port_order(frame[by]) if by == "port" else sorted(frame[by].astype(str).unique())
    key = frame[by] if by == "port" else frame[by].astype(str)
    ukey = usable[by] if by == "port" else usable[by].astype(str)

    rows: list[dict[str, Any]] = []
    for g in groups:
        sub = usable[ukey == g]
        all_sub = frame[key == g]
        implicit = (
            "tls_mode" in sub.columns
            and len(sub) > 0
            and (sub["tls_mode"].astype(str) == "implicit").mean() > 0.5
        )
        order = ("connect", "tls", "banner", "ehlo") if implicit else _PHASES
        med = {p: float(sub[f"{p}_ms"].median()) if len(sub) else math.nan for p in _PHASES}
        other = ""
        if "outcome" in all_sub.columns and len(sub) == 0:
            seen = Counter(all_sub["outcome"].astype(str))
            other = ", ".join(f"{o} ×{n}" if n > 1 else o for o, n in seen.most_common())
        rows.append({"group": g, "n": len(sub), "median": med, "order": order, "other": other})

    if not any(r["n"] for r in rows):
        return _no_data(title, "no probe that got a greeting has timings", description)

    label = (lambda g: f"port {g}") if by == "port" else str
    totals = [sum(v for v in r["median"].values() if not math.isnan(v)) for r in rows]
    xmax = max(totals) * 1.28 or 1.0
    alt = _phase_alt(rows, totals, by, label)

    width = 12.0
    height = 2.5 + 0.8 * len(rows)
    fig = _new(width, height, alt, description)
    with mpl.rc_context(_RC):
        ax = fig.add_axes(
            (2.0 / width, 1.6 / height, (width - 2.4) / width, (height - 2.4) / height)
        )
        for i, (r, total) in enumerate(zip(rows, totals, strict=False)):
            y = len(rows) - 1 - i
            left = 0.0
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
            for p in r["order"]:
                v = r["median"][p]
                if math.isnan(v) or v <= 0:
                    continue
                fill, hatch = _PHASE_STYLE[p]
                ax.barh(
                    y,
                    v,
                    left=left,
                    height=0.62,
                    color=fill,
                    hatch=hatch or None,
                    edgecolor=_hatch_colour(fill),
                    linewidth=0,
                )
                if v >= 0.075 * xmax:
                    _boxed(ax, left + v / 2, y, _fmt_ms(v), fontsize=12)
                left += v
            ax.text(
                left + 0.01 * xmax,
                y,
                f"{_fmt_ms(total)} ms  (n={r['n']})",
                va="center",
                ha="left",
                fontsize=13,
            )
        ax.set_yticks(range(len(rows))[::-1], [label(r["group"]) for r in rows])
        ax.set_ylim(-0.6, len(rows) - 0.4)
        ax.set_xlim(0, xmax)
        ax.set_xlabel(
            "milliseconds (median of the probes that got a greeting)"
            if only_open
            else "milliseconds (median)"
        )
        ax.tick_params(axis="y", length=0)
        ax.spines["left"].set_visible(False)
        ax.grid(axis="x", color="#DDDDDD", linewidth=0.8)
        ax.set_axisbelow(True)
        ax.set_title(title, loc="left", pad=_TITLE_PAD)
        handles = [_patch(*_PHASE_STYLE[p], label=p) for p in _PHASES]
        fig.legend(
            handles=handles,
            loc="lower left",
            bbox_to_anchor=(1.9 / width, 0.0),
            ncols=4,
            frameon=False,
            handleheight=1.3,
            handlelength=2.4,
        )
    return fig


def _phase_alt(rows: Sequence[dict[str, Any]], totals: Sequence[float], by: str, label: Any) -> str:
    timed = [(r, t) for r, t in zip(rows, totals, strict=False) if r["n"]]
    bits = []
    for r, t in timed:
        phases = {p: v for p, v in r["median"].items() if not math.isnan(v)}
        slow = max(phases, key=phases.__getitem__)
        bits.append(
            f"{label(r['group'])} {_fmt_ms(t)} ms, most of it {slow} ({_fmt_ms(phases[slow])} ms)"
        )
    text = f"Stacked bars of median time per phase for {len(timed)} {by}s: " + "; ".join(bits) + "."
    missing = [label(r["group"]) for r in rows if not r["n"]]
    if missing:
        text += f" No greeting, so no timings, on {_join(missing)}."
    if len(timed) > 1:
        slowest = max(timed, key=lambda rt: rt[1])[0]
        text += f" Slowest: {label(slowest['group'])}."
    return text


# --------------------------------------------------------------------------------------------
# TLS versions


def _tls_word(version: Any) -> str:
    if version is None or _isnan(version) or str(version).strip() == "":
        return "no TLS"
    v = str(version).strip()
    table = {
        "TLSv1.3": "TLS 1.3",
        "TLSv1.2": "TLS 1.2",
        "TLSv1.1": "TLS 1.1",
        "TLSv1": "TLS 1.0",
        "TLSv1.0": "TLS 1.0",
        "SSLv3": "SSL 3.0",
        "SSLv2": "SSL 2.0",
    }
    return table.get(v, v)


_TLS_STYLE: Final = {  # category -> (colour, hatch)
    "TLS 1.3": (OKABE_ITO["green"], ""),
    "TLS 1.2": (OKABE_ITO["sky_blue"], "//"),
    "TLS 1.1": (OKABE_ITO["orange"], "\\\\"),
    "TLS 1.0": (OKABE_ITO["vermillion"], "xx"),
    "SSL 3.0": (OKABE_ITO["purple"], "++"),
    "no TLS": (_GREY, ".."),
    "TLS failed": (_DARK_GREY, "||"),
}


def tls_versions(df: Any, *, title: str | None = None) -> Chart:
    """How many probes negotiated each TLS version, per port (stacked horizontal bars).

    Counted: probes that got a greeting (``open``) — with ``no TLS`` when they never upgraded —
    and ``tls_failed`` probes as "TLS failed". TLS 1.0 and 1.1 are below the minimum of RFC 8997.
    """
    title = title or "TLS versions negotiated, per port"
    description = (
        "Number of probes per port that negotiated each TLS version, that stayed in "
        "cleartext (no TLS), or whose TLS handshake failed."
    )
    frame = _clean(_frame(df), ["port", "outcome"])
    if not frame.empty:
        frame = frame[frame["outcome"].astype(str).isin(["open", "tls_failed"])]
    if frame.empty:
        return _no_data(title, "no probe got a greeting or tried TLS", description)
    tv = (
        frame["tls_version"]
        if "tls_version" in frame.columns
        else pd.Series(None, index=frame.index)
    )
    cat = [
        ("TLS failed" if o == "tls_failed" else _tls_word(v))
        for o, v in zip(frame["outcome"].astype(str), tv, strict=False)
    ]
    frame = frame.assign(_cat=cat)
    known = list(_TLS_STYLE)
    cats = [c for c in known if c in set(cat)] + sorted(set(cat) - set(known))
    ports = port_order(frame["port"])
    counts = {p: Counter(frame.loc[frame["port"] == p, "_cat"]) for p in ports}
    xmax = max(sum(c.values()) for c in counts.values())

    alt = _tls_alt(frame, counts, ports)
    width, height = 12.0, 2.5 + 0.8 * len(ports)
    fig = _new(width, height, alt, description)
    with mpl.rc_context(_RC):
        ax = fig.add_axes(
            (1.9 / width, 1.6 / height, (width - 2.3) / width, (height - 2.4) / height)
        )
        for i, port in enumerate(ports):
            y = len(ports) - 1 - i
            left = 0
            for c in cats:
                n = counts[port].get(c, 0)
                if not n:
                    continue
                fill, hatch = _TLS_STYLE.get(c, ("#FFFFFF", "O."))
                ax.barh(
                    y,
                    n,
                    left=left,
                    height=0.62,
                    color=fill,
                    hatch=hatch or None,
                    edgecolor=_hatch_colour(fill),
                    linewidth=0,
                )
                ax.barh(y, n, left=left, height=0.62, color="none", edgecolor="white", linewidth=2)
                if n >= 0.09 * xmax:
                    _boxed(
                        ax,
                        left + n / 2,
                        y,
                        f"{c}: {n}" if n >= 0.22 * xmax else str(n),
                        fontsize=13,
                    )
                left += n
            ax.text(left + 0.01 * xmax, y, f" {left}", va="center", ha="left", fontsize=13)
        ax.set_yticks(range(len(ports))[::-1], [f"port {p}" for p in ports])
        ax.set_ylim(-0.6, len(ports) - 0.4)
        ax.set_xlim(0, xmax * 1.1)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("number of probes")
        ax.tick_params(axis="y", length=0)
        ax.spines["left"].set_visible(False)
        ax.grid(axis="x", color="#DDDDDD", linewidth=0.8)
        ax.set_axisbelow(True)
        ax.set_title(title, loc="left", pad=_TITLE_PAD)
        handles = [_patch(*_TLS_STYLE.get(c, ("#FFFFFF", "O.")), label=c) for c in cats]
        fig.legend(
            handles=handles,
            loc="lower left",
            bbox_to_anchor=(1.8 / width, 0.0),
            ncols=min(len(handles), 5),
            frameon=False,
            handleheight=1.3,
            handlelength=2.4,
        )
    return fig


def _tls_alt(frame: pd.DataFrame, counts: Mapping[int, Counter[str]], ports: Sequence[int]) -> str:
    total = Counter(frame["_cat"])
    overall = ", ".join(f"{n} {c}" for c, n in total.most_common())
    per_port = []
    for p in ports:
        per_port.append(f"port {p}: " + ", ".join(f"{n} {c}" for c, n in counts[p].most_common()))
    text = (
        f"Stacked bars counting TLS versions for {len(frame)} probes on "
        f"{len(ports)} ports ({overall}). " + "; ".join(per_port) + "."
    )
    old = [
        p
        for p in ports
        if counts[p].get("TLS 1.0") or counts[p].get("TLS 1.1") or counts[p].get("SSL 3.0")
    ]
    if old:
        text += f" Versions below TLS 1.2 (too old under RFC 8997) seen on port {_join([str(p) for p in old])}."
    plain = [p for p in ports if counts[p].get("no TLS")]
    if plain:
        text += f" Cleartext sessions (no TLS) on port {_join([str(p) for p in plain])}."
    return text


# --------------------------------------------------------------------------------------------
# AUTH before vs after TLS


def _mechs(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, str):
        return value.split()
    try:
        return [str(v) for v in value]
    except TypeError:
        return None


def auth_tls(df: Any, *, title: str | None = None, max_rows: int = _MAX_ROWS) -> Chart:
    """For each host:port, which AUTH mechanisms were offered before and after TLS.

    AUTH offered *before* TLS invites clients to send passwords in cleartext: it is drawn as a
    red cross. AUTH only after TLS is what a submission port should do: a filled blue circle
    before TLS reads "not offered", after TLS the mechanisms are listed.
    """
    title = title or "AUTH before and after TLS"
    description = (
        "For each host and port, the AUTH mechanisms the server offered before TLS "
        "(in cleartext: bad) and after TLS (good)."
    )
    frame = _clean(_frame(df), ["host", "port"])
    if not frame.empty:
        for c in ("auth_before_tls", "auth_after_tls"):
            if c not in frame.columns:
                frame[c] = None
        frame = frame[
            [
                _mechs(b) is not None or _mechs(a) is not None
                for b, a in zip(frame["auth_before_tls"], frame["auth_after_tls"], strict=False)
            ]
        ]
    if frame.empty:
        return _no_data(title, "no probe reached EHLO", description)

    entries: list[dict[str, Any]] = []
    for (host, port), grp in frame.groupby(["host", "port"], sort=False):
        before: list[str] | None = None
        after: list[str] | None = None
        for b, a in zip(grp["auth_before_tls"], grp["auth_after_tls"], strict=False):
            mb, ma = _mechs(b), _mechs(a)
            if mb is not None:
                before = list(dict.fromkeys([*(before or []), *mb]))
            if ma is not None:
                after = list(dict.fromkeys([*(after or []), *ma]))
        modes = Counter(grp["tls_mode"].astype(str)) if "tls_mode" in grp.columns else Counter()
        tls_mode = modes.most_common(1)[0][0] if modes else "none"
        entries.append(
            {
                "host": str(host),
                "port": int(port),
                "before": before,
                "after": after,
                "tls_mode": tls_mode,
            }
        )
    order = {p: i for i, p in enumerate(port_order(e["port"] for e in entries))}
    entries.sort(key=lambda e: (e["host"], order[e["port"]]))
    shown = entries[:max_rows]

    alt = _auth_alt(entries)
    width, height = 12.0, 2.9 + 0.62 * len(shown)
    fig = _new(width, height, alt, description)
    bad, good, blue, grey = (
        OKABE_ITO["vermillion"],
        OKABE_ITO["green"],
        OKABE_ITO["blue"],
        _DARK_GREY,
    )
    with mpl.rc_context(_RC):
        label_w = min(4.4, 0.9 + 0.125 * max(len(f"{e['host']}:{e['port']}") for e in shown))
        ax = fig.add_axes(
            (
                label_w / width,
                1.35 / height,
                (width - label_w - 0.2) / width,
                (height - 2.6) / height,
            )
        )
        for i, e in enumerate(shown):
            y = len(shown) - 1 - i
            if i % 2 == 0:
                ax.axhspan(y - 0.5, y + 0.5, color="#F3F3F3", zorder=0)
            b, a = e["before"], e["after"]
            # before TLS
            if b:
                ax.plot(0, y, marker="X", ms=20, color=bad, mec="white", mew=1.2, zorder=3)
                ax.text(
                    0.09,
                    y,
                    _trunc(" ".join(b)) + "  (cleartext!)",
                    va="center",
                    fontsize=13,
                    color=bad,
                    fontweight="bold",
                )
            elif b is not None:
                ax.plot(0, y, marker="o", ms=15, mfc="white", mec=good, mew=3, zorder=3)
                ax.text(0.09, y, "not offered", va="center", fontsize=13)
            elif e["tls_mode"] == "implicit":
                ax.plot(0, y, marker="s", ms=13, mfc="white", mec=grey, mew=2, zorder=3)
                ax.text(0.09, y, "n/a: TLS from the start", va="center", fontsize=13, color=grey)
            else:
                ax.plot(0, y, marker="$?$", ms=15, color=grey, zorder=3)
                ax.text(0.09, y, "not seen", va="center", fontsize=13, color=grey)
            # after TLS
            if a:
                ax.plot(1, y, marker="o", ms=16, color=blue, mec="white", mew=1.2, zorder=3)
                ax.text(1.09, y, _trunc(" ".join(a)), va="center", fontsize=13)
            elif a is not None:
                ax.plot(1, y, marker="o", ms=15, mfc="white", mec=blue, mew=2.5, zorder=3)
                ax.text(1.09, y, "none offered", va="center", fontsize=13)
            else:
                ax.plot(1, y, marker="_", ms=20, color=grey, mew=3, zorder=3)
                ax.text(1.09, y, "no TLS", va="center", fontsize=13, color=grey)
        ax.set_xlim(-0.12, 2.0)
        ax.set_ylim(-0.5, len(shown) - 0.5)
        ax.set_xticks([0, 1], ["before TLS", "after TLS"], fontweight="bold")
        ax.xaxis.tick_top()
        ax.set_yticks(range(len(shown))[::-1], [f"{e['host']}:{e['port']}" for e in shown])
        ax.tick_params(length=0)
        for side in ("top", "right", "bottom", "left"):
            ax.spines[side].set_visible(False)
        ax.set_title(title, loc="left", pad=_TITLE_PAD + 4)
        handles = [
            Line2D([], [], ls="", marker="X", ms=15, color=bad, label="AUTH in cleartext (bad)"),
            Line2D(
                [],
                [],
                ls="",
                marker="o",
                ms=12,
                mfc="white",
                mec=good,
                mew=3,
                label="no AUTH before TLS (good)",
            ),
            Line2D(
                [],
                [],
                ls="",
                marker="s",
                ms=11,
                mfc="white",
                mec=grey,
                mew=2,
                label="implicit TLS: no cleartext",
            ),
            Line2D([], [], ls="", marker="o", ms=13, color=blue, label="AUTH after TLS"),
            Line2D(
                [],
                [],
                ls="",
                marker="o",
                ms=12,
                mfc="white",
                mec=blue,
                mew=2.5,
                label="TLS, no AUTH",
            ),
            Line2D([], [], ls="", marker="_", ms=15, mew=3, color=grey, label="no TLS / not seen"),
        ]
        fig.legend(
            handles=handles, loc="lower left", ncols=3, frameon=False, bbox_to_anchor=(0.01, 0.0)
        )
        if len(entries) > len(shown):
            fig.text(
                0.99,
                0.01,
                f"first {len(shown)} of {len(entries)}",
                ha="right",
                fontsize=11,
                color="#555555",
            )
    return fig


def _trunc(text: str, n: int = 34) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _auth_alt(entries: Sequence[dict[str, Any]]) -> str:
    names = [f"{e['host']}:{e['port']}" for e in entries]
    cleartext = [n for n, e in zip(names, entries, strict=False) if e["before"]]
    after = [n for n, e in zip(names, entries, strict=False) if e["after"]]
    text = f"AUTH mechanisms offered before and after TLS for {len(entries)} host:port pairs."
    if cleartext:
        text += (
            f" AUTH was offered before TLS, in cleartext, on {len(cleartext)}: "
            f"{_limit(cleartext, 5)}."
        )
    else:
        text += " No server offered AUTH before TLS."
    if after:
        text += f" AUTH after TLS on {len(after)}: {_limit(after, 5)}."
    no_tls = [
        n for n, e in zip(names, entries, strict=False) if e["after"] is None and e["tls_mode"] != "implicit"
    ]
    if no_tls:
        text += f" No TLS session on {_limit(no_tls, 5)}."
    return text


# --------------------------------------------------------------------------------------------
# timeline of the four ports


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
        return _no_data(title, "no timeline events", description)
    if "year" not in ev.columns:
        when = pd.to_datetime(ev["when"] if "when" in ev.columns else ev["date"], format="mixed")
        ev = ev.assign(year=when.dt.year + (when.dt.day_of_year - 1) / 365.25)
    if "label" not in ev.columns:
        ev = ev.assign(label=[reference.short_label(str(e))[0] for e in ev["event"]])
    if "milestone" not in ev.columns:
        ev = ev.assign(milestone=False)
    if "kind" not in ev.columns:
        ev = ev.assign(kind="event")
    ev = ev.assign(port=_ports_of(ev["port"]).to_numpy()).dropna(subset=["port", "year"])
    ev = ev.sort_values("year", kind="stable")
    lanes = port_order(ev["port"])
    services = {int(r.port): str(r.iana_service) for r in reference.ports().itertuples()}

    x0 = math.floor(ev["year"].min() / 5) * 5 - 1
    x1 = math.ceil(ev["year"].max() / 5) * 5 + 0.5
    # Vertical layout in inches: y data units are inches, so label levels have a fixed spacing.
    first, step, margin = 0.42, 0.32, 0.3
    width, left_in, top_in, bottom_in = 14.0, 1.75, 1.25, 0.9

    alt = _timeline_alt(ev, lanes)
    fig = _new(width, 8.0, alt, description)
    with mpl.rc_context(_RC):
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
            _kind, colour, marker = _KIND_STYLE.get(str(r.kind), (str(r.kind), _DARK_GREY, "P"))
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
        f"({_join([str(p) for p in lanes])})."
    )
    for port in lanes:
        sub = ev[ev["port"] == port]
        keys = (
            sub[sub["milestone"].astype(bool)]
            if sub["milestone"].astype(bool).any()
            else sub.head(2)
        )
        bits = [f"{lab} ({int(y)})" for lab, y in zip(keys["label"], keys["year"], strict=False)]
        text += f" Port {port}: {_plural(len(sub), 'event')}, including {_join(bits)}."
    return text


# --------------------------------------------------------------------------------------------
# provider port matrix


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
    pv = _clean(pv, ["provider", "port"])
    cols = port_order(pv["port"]) if ports is None else list(ports)
    pv = pv[pv["port"].isin(cols)]
    if pv.empty:
        return _no_data(title, "no provider facts", description)
    names = list(dict.fromkeys(pv["provider"].astype(str)))
    shown_names = [textwrap.fill(n, 26) for n in names]
    cell: dict[tuple[str, int], tuple[str, bool]] = {}
    for (prov, port), grp in pv.groupby(["provider", "port"], sort=False):
        secs = list(dict.fromkeys(grp["security"].astype(str))) if "security" in grp else ["?"]
        relay = "purpose" in grp and (grp["purpose"].astype(str) == "relay").all()
        cell[(str(prov), int(port))] = ("/".join(secs), bool(relay))

    alt = _provider_alt(cell, names, cols)
    cw, ch = 1.95, 0.62
    label_w = min(4.2, 0.6 + 0.13 * max(len(line) for n in shown_names for line in n.splitlines()))
    width = label_w + cw * len(cols) + 0.4
    height = 2.5 + ch * len(names)
    fig = _new(width, height, alt, description)
    with mpl.rc_context(_RC):
        ax = fig.add_axes(
            (
                label_w / width,
                1.35 / height,
                (width - label_w - 0.3) / width,
                (height - 2.45) / height,
            )
        )
        for i, prov in enumerate(names):
            y = len(names) - 1 - i
            for j, port in enumerate(cols):
                c = cell.get((prov, port))
                if c is None:
                    ax.add_patch(
                        Rectangle((j, y), 1, 1, facecolor="#F6F6F6", edgecolor="white", linewidth=3)
                    )
                    continue
                sec, relay = c
                label, fill, hatch = _SECURITY_STYLE.get(sec.split("/")[0], (sec, "#FFFFFF", "O."))
                if "/" in sec:
                    label = " / ".join(_SECURITY_STYLE.get(s, (s,))[0] for s in sec.split("/"))
                _cell(ax, j, y, 1, 1, fill, hatch)
                _boxed(ax, j + 0.5, y + 0.5, label + ("\n(relay)" if relay else ""), fontsize=13)
        ax.set_xlim(0, len(cols))
        ax.set_ylim(0, len(names))
        ax.set_xticks([j + 0.5 for j in range(len(cols))], [str(p) for p in cols])
        ax.set_yticks([len(names) - 0.5 - i for i in range(len(names))], shown_names, fontsize=13)
        ax.xaxis.tick_top()
        ax.xaxis.set_label_position("top")
        ax.set_xlabel("port")
        ax.tick_params(length=0)
        for side in ("top", "right", "bottom", "left"):
            ax.spines[side].set_visible(False)
        ax.set_title(title, loc="left", pad=_TITLE_PAD)
        present = {s for sec, _ in cell.values() for s in sec.split("/")}
        handles = [
            _patch(f, h, label=lab)
            for key, (lab, f, h) in _SECURITY_STYLE.items()
            if key in present
        ]
        handles.append(Patch(facecolor="#F6F6F6", edgecolor="#DDDDDD", label="not listed"))
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
        f"({_join([str(p) for p in cols])}), from each provider's documentation."
    )
    for port in cols:
        secs = [sec for (prov, p), (sec, _) in cell.items() if p == port]
        if not secs:
            text += f" No provider lists port {port}."
            continue
        c = Counter(secs)
        how = ", ".join(f"{n} {_SECURITY_STYLE.get(s, (s,))[0]}" for s, n in c.most_common())
        text += f" Port {port}: listed by {len(secs)} ({how})."
    return text
