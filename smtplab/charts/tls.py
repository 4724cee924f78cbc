"""TLS charts: which TLS version each port negotiated, and AUTH offered before or after TLS."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Final

import matplotlib as mpl
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from smtplab.charts._data import clean, isnan, port_order, to_frame
from smtplab.charts._draw import bar_axes, bar_segment, legend_patch
from smtplab.charts._figure import Chart, new_chart, no_data
from smtplab.charts._style import DARK_GREY, GREY, MAX_ROWS, OKABE_ITO, RC, TITLE_PAD
from smtplab.charts._words import join, limit, trunc

__all__ = ["auth_tls", "tls_versions"]


def _tls_word(version: Any) -> str:
    if version is None or isnan(version) or str(version).strip() == "":
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
    "no TLS": (GREY, ".."),
    "TLS failed": (DARK_GREY, "||"),
}


def tls_versions(df: Any, *, title: str | None = None) -> Chart:
    """How many probes negotiated each TLS version, per port (stacked horizontal bars).

    Counted: probes that got a greeting (``open``) — with ``no TLS`` when they never upgraded —
    and ``tls_failed`` probes as "TLS failed". TLS 1.0 and 1.1 are below the TLS 1.2 floor
    that RFC 8997 sets for submission and mail access.
    """
    title = title or "TLS versions negotiated, per port"
    description = (
        "Number of probes per port that negotiated each TLS version, that stayed in "
        "cleartext (no TLS), or whose TLS handshake failed."
    )
    frame = clean(to_frame(df), ["port", "outcome"])
    if not frame.empty:
        frame = frame[frame["outcome"].astype(str).isin(["open", "tls_failed"])]
    if frame.empty:
        return no_data(title, "no probe got a greeting or tried TLS", description)
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
    fig = new_chart(width, height, alt, description)
    with mpl.rc_context(RC):
        ax = fig.add_axes(
            (1.9 / width, 1.6 / height, (width - 2.3) / width, (height - 2.4) / height)
        )
        _draw_tls_bars(ax, ports, cats, counts, xmax)
        bar_axes(ax, [f"port {p}" for p in ports], xmax * 1.1, "number of probes", title)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        handles = [legend_patch(*_TLS_STYLE.get(c, ("#FFFFFF", "O.")), label=c) for c in cats]
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


def _draw_tls_bars(
    ax: Any,
    ports: Sequence[int],
    cats: Sequence[str],
    counts: Mapping[int, Counter[str]],
    xmax: int,
) -> None:
    for i, port in enumerate(ports):
        y = len(ports) - 1 - i
        left = 0
        for c in cats:
            n = counts[port].get(c, 0)
            if not n:
                continue
            label = None
            if n >= 0.09 * xmax:
                label = f"{c}: {n}" if n >= 0.22 * xmax else str(n)
            fill, hatch = _TLS_STYLE.get(c, ("#FFFFFF", "O."))
            bar_segment(ax, y, left, n, fill, hatch, label=label, fontsize=13, gap=True)
            left += n
        ax.text(left + 0.01 * xmax, y, f" {left}", va="center", ha="left", fontsize=13)


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
        where = join([str(p) for p in old])
        text += (
            " Versions below TLS 1.2 (under the floor RFC 8997 sets for submission)"
            f" seen on port {where}."
        )
    plain = [p for p in ports if counts[p].get("no TLS")]
    if plain:
        text += f" Cleartext sessions (no TLS) on port {join([str(p) for p in plain])}."
    return text


# --- AUTH before vs after TLS ---------------------------------------------------------------


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


#: How a cell of the AUTH chart is drawn: state -> (marker style, legend label or None).
_AUTH_MARKS: Final[dict[str, tuple[dict[str, Any], str | None]]] = {
    "cleartext": (
        {"marker": "X", "ms": 20, "color": OKABE_ITO["vermillion"], "mec": "white", "mew": 1.2},
        "AUTH in cleartext (bad)",
    ),
    "not_offered": (
        {"marker": "o", "ms": 15, "mfc": "white", "mec": OKABE_ITO["green"], "mew": 3},
        "no AUTH before TLS (good)",
    ),
    "implicit": (
        {"marker": "s", "ms": 13, "mfc": "white", "mec": DARK_GREY, "mew": 2},
        "implicit TLS: no cleartext",
    ),
    "unseen": ({"marker": "$?$", "ms": 15, "color": DARK_GREY}, None),
    "offered": (
        {"marker": "o", "ms": 16, "color": OKABE_ITO["blue"], "mec": "white", "mew": 1.2},
        "AUTH after TLS",
    ),
    "tls_no_auth": (
        {"marker": "o", "ms": 15, "mfc": "white", "mec": OKABE_ITO["blue"], "mew": 2.5},
        "TLS, no AUTH",
    ),
    "no_tls": ({"marker": "_", "ms": 20, "color": DARK_GREY, "mew": 3}, "no TLS / not seen"),
}


def _auth_entries(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """One entry per host:port: mechanisms before and after TLS (None: not seen), TLS mode."""
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
            {"host": str(host), "port": int(port), "before": before, "after": after}
            | {"tls_mode": tls_mode}
        )
    order = {p: i for i, p in enumerate(port_order(e["port"] for e in entries))}
    entries.sort(key=lambda e: (e["host"], order[e["port"]]))
    return entries


def _auth_cells(e: Mapping[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """The two cells of a row, before and after TLS: (state, words, text style)."""
    grey: dict[str, Any] = {"color": DARK_GREY}
    before: tuple[str, str, dict[str, Any]]
    after: tuple[str, str, dict[str, Any]]
    b, a = e["before"], e["after"]
    if b:
        bad = {"color": OKABE_ITO["vermillion"], "fontweight": "bold"}
        before = ("cleartext", trunc(" ".join(b)) + "  (cleartext!)", bad)
    elif b is not None:
        before = ("not_offered", "not offered", {})
    elif e["tls_mode"] == "implicit":
        before = ("implicit", "n/a: TLS from the start", grey)
    else:
        before = ("unseen", "not seen", grey)
    if a:
        after = ("offered", trunc(" ".join(a)), {})
    elif a is not None:
        after = ("tls_no_auth", "none offered", {})
    else:
        after = ("no_tls", "no TLS", grey)
    return [before, after]


def _draw_auth_rows(ax: Any, shown: Sequence[Mapping[str, Any]]) -> None:
    for i, e in enumerate(shown):
        y = len(shown) - 1 - i
        if i % 2 == 0:
            ax.axhspan(y - 0.5, y + 0.5, color="#F3F3F3", zorder=0)
        for x, (state, words, style) in enumerate(_auth_cells(e)):
            ax.plot(x, y, zorder=3, ls="", **_AUTH_MARKS[state][0])
            ax.text(x + 0.09, y, words, va="center", fontsize=13, **style)
    ax.set_xlim(-0.12, 2.0)
    ax.set_ylim(-0.5, len(shown) - 0.5)
    ax.set_xticks([0, 1], ["before TLS", "after TLS"], fontweight="bold")
    ax.xaxis.tick_top()
    ax.set_yticks(range(len(shown))[::-1], [f"{e['host']}:{e['port']}" for e in shown])
    ax.tick_params(length=0)
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)


def auth_tls(df: Any, *, title: str | None = None, max_rows: int = MAX_ROWS) -> Chart:
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
    frame = clean(to_frame(df), ["host", "port"])
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
        return no_data(title, "no probe reached EHLO", description)
    entries = _auth_entries(frame)
    shown = entries[:max_rows]
    width, height = 12.0, 2.9 + 0.62 * len(shown)
    fig = new_chart(width, height, _auth_alt(entries), description)
    with mpl.rc_context(RC):
        label_w = min(4.4, 0.9 + 0.125 * max(len(f"{e['host']}:{e['port']}") for e in shown))
        ax = fig.add_axes(
            (
                label_w / width,
                1.35 / height,
                (width - label_w - 0.2) / width,
                (height - 2.6) / height,
            )
        )
        _draw_auth_rows(ax, shown)
        ax.set_title(title, loc="left", pad=TITLE_PAD + 4)
        handles = [
            Line2D([], [], ls="", label=label, **(style | {"ms": style["ms"] * 0.8}))
            for style, label in _AUTH_MARKS.values()
            if label
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


def _auth_alt(entries: Sequence[dict[str, Any]]) -> str:
    names = [f"{e['host']}:{e['port']}" for e in entries]
    cleartext = [n for n, e in zip(names, entries, strict=False) if e["before"]]
    after = [n for n, e in zip(names, entries, strict=False) if e["after"]]
    text = f"AUTH mechanisms offered before and after TLS for {len(entries)} host:port pairs."
    if cleartext:
        text += (
            f" AUTH was offered before TLS, in cleartext, on {len(cleartext)}: "
            f"{limit(cleartext, 5)}."
        )
    else:
        text += " No server offered AUTH before TLS."
    if after:
        text += f" AUTH after TLS on {len(after)}: {limit(after, 5)}."
    no_tls = [
        n
        for n, e in zip(names, entries, strict=False)
        if e["after"] is None and e["tls_mode"] != "implicit"
    ]
    if no_tls:
        text += f" No TLS session on {limit(no_tls, 5)}."
    return text
