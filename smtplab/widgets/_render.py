"""Pure HTML renderers shared by the widgets: records in, HTML strings out.

Nothing here touches ipywidgets, so every function is tested directly. Everything that came from
the network (banners, replies, error messages, certificate names) is HTML-escaped here, once:
a server may greet with ``220 <script>…</script>`` and it must show up as text.

Colour is never the only signal: every outcome is written as a word, with an icon, and the colour
(Okabe–Ito, the palette of :mod:`smtplab.charts`) only repeats it. Client and server lines of a
transcript carry the prefixes ``C:`` and ``S:`` as well as their colours.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from smtplab.outcome_words import WORD_MEANING, shown_outcome
from smtplab.widgets._close import close_parts  # the widgets import it from here
from smtplab.widgets._html import FG, MUTED, RULE, RULE_STRONG, as_record, esc, missing
from smtplab.widgets._transcript import TLS_RULE, transcript_html

__all__ = [
    "OUTCOME_ICON",
    "TLS_RULE",
    "as_record",
    "chart_html",
    "close_parts",
    "esc",
    "message_html",
    "outcome_badge",
    "results_table_html",
    "scroll_box",
    "table_html",
    "transcript_html",
]

# Okabe & Ito's colour-blind-safe palette (the same fills as smtplab.charts.OUTCOME_STYLE).
_OUTCOME_COLOUR: Final = {
    "open": "#009E73",
    "rejected": "#CC79A7",
    "refused": "#D55E00",
    "filtered": "#E69F00",
    "silent": "#F0E442",
    "not_smtp": "#56B4E9",
    "tls_failed": "#0072B2",
    "dns_failed": "#BBBBBB",
    "unreachable": "#777777",
    "reset": "#E0C8D8",
    "error": "#DDDDDD",
    "intercepted": "#CC79A7",
    "stripped": "#CC79A7",
}

#: One icon per outcome word; the word is always written next to it. All are in DejaVu Sans
#: (Debian's default font), so none shows up as an empty box.
OUTCOME_ICON: Final = {
    "open": "✔",
    "rejected": "⊗",
    "refused": "✖",
    "filtered": "◷",
    "silent": "…",
    "not_smtp": "?",
    "tls_failed": "⚠",
    "dns_failed": "?",
    "unreachable": "⊘",
    "reset": "↯",
    "error": "⚠",
    "intercepted": "⚠",
    "stripped": "⚠",
}

_FONT: Final = "font-size:15px;line-height:1.45"


def outcome_badge(outcome: str) -> str:
    """The outcome as icon + word on a tinted background with a coloured border."""
    colour = _OUTCOME_COLOUR.get(outcome, "#FFFFFF")
    icon = OUTCOME_ICON.get(outcome, "•")
    return (
        f'<span class="smtplab-outcome smtplab-outcome-{esc(outcome)}" '
        f'style="display:inline-block;padding:1px 8px;border:2px solid {colour};'
        f"border-left-width:8px;border-radius:4px;background:{colour}26;"
        f'font-weight:bold;color:{FG};white-space:nowrap">'
        f'<span aria-hidden="true">{icon}</span> {esc(outcome)}</span>'
    )


def message_html(text: str, kind: str = "info") -> str:
    """A one-line message box: ``info``, ``warning`` (live mode) or ``error`` (bad input)."""
    colour, icon = {
        "info": ("#0072B2", "ℹ"),
        "warning": ("#E69F00", "⚠"),
        "error": ("#D55E00", "✖"),
    }.get(kind, ("#0072B2", "ℹ"))
    return (
        f'<div class="smtplab-message smtplab-{esc(kind)}" style="{_FONT};color:{FG};'
        "padding:6px 10px;"
        f'border-left:6px solid {colour};background:{colour}14;margin:4px 0">'
        f'<b aria-hidden="true">{icon}</b> {esc(text)}</div>'
    )


#: The style of a box that scrolls sideways on its own (see :func:`scroll_box`).
SCROLL_STYLE = "overflow-x:auto;max-width:100%;-webkit-overflow-scrolling:touch"


def scroll_box(inner: str) -> str:
    """``inner`` in a box as wide as the widget that scrolls sideways on its own when ``inner``
    is wider (a projector at 1024×768), instead of the whole widget scrolling or clipping."""
    return f'<div class="smtplab-scroll" style="{SCROLL_STYLE}">{inner}</div>'


def table_html(
    headers: Sequence[str], rows: Iterable[Sequence[str]], *, caption: str | None = None
) -> str:
    """A plain, readable HTML table; cells are given as HTML (escape them first)."""
    th = "".join(
        f'<th style="text-align:left;padding:4px 10px;border-bottom:2px solid {RULE_STRONG}">'
        f"{esc(h)}</th>"
        for h in headers
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td style="padding:4px 10px;border-bottom:1px solid {RULE};vertical-align:top">'
            f"{c}</td>"
            for c in row
        )
        + "</tr>"
        for row in rows
    )
    cap = (
        f'<caption style="text-align:left;font-weight:bold;padding:4px 0">{esc(caption)}</caption>'
        if caption
        else ""
    )
    return scroll_box(
        f'<table class="smtplab-table" style="border-collapse:collapse;{_FONT};color:{FG}">'
        f"{cap}<thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"
    )


def _auth(value: Any) -> str:
    if missing(value):
        return '<span title="not looked at">n/a</span>'
    mechs = [str(m) for m in value]
    return esc(" ".join(mechs)) if mechs else "none"


def _tls(rec: Mapping[str, Any]) -> str:
    mode = rec.get("tls_mode") or "none"
    version = rec.get("tls_version")
    if mode == "none" or missing(version) or not version:
        return "none"
    how = "STARTTLS" if mode == "starttls" else "implicit"
    return f"{esc(version)} ({how})"


def _ms(value: Any) -> str:
    if missing(value):
        return "–"
    return f"{float(value):,.0f} ms"


def _top_finding(rec: Mapping[str, Any]) -> str:
    from smtplab.findings import top_finding

    found = rec.get("findings") or []
    top = top_finding(list(found))
    return esc(top.message) if top else ""


def results_table_html(items: Iterable[Any], *, show_vantage: bool | None = None) -> str:
    """The result table of the probe panel: one row per probe.

    Columns: port, outcome (icon + word + colour, with what it means under it), TLS, AUTH
    before and after TLS, time, and the most important finding. A ``host`` column appears when
    several hosts were probed and a ``vantage`` column when the probes come from more than one
    network; otherwise both are named once, in the caption.
    """
    recs = [as_record(x) for x in items]
    if not recs:
        return message_html("No results yet: press Run.", "info")
    if show_vantage is None:
        show_vantage = len({r.get("vantage") for r in recs}) > 1
    show_host = len({str(r.get("host")).lower() for r in recs}) > 1
    headers = ["port", "outcome", "TLS", "AUTH before TLS", "AUTH after TLS", "time", "top finding"]
    if show_host:
        headers.insert(0, "host")
    if show_vantage:
        headers.insert(0, "vantage")
    rows = []
    for r in recs:
        outcome = shown_outcome(r)  # an intercepted 25 is never "open"
        meaning = WORD_MEANING.get(outcome, "")
        if outcome == "error" and r.get("error"):
            meaning = f"{meaning} ({r.get('error')})"
        row = [
            f'<b style="font-size:17px">{esc(r.get("port"))}</b>',
            outcome_badge(outcome)
            + f'<div style="font-size:13px;color:{MUTED};min-width:9em;max-width:300px">'
            f"{esc(meaning)}</div>",
            _tls(r),
            _auth(r.get("auth_before_tls")),
            _auth(r.get("auth_after_tls")),
            f'<span style="white-space:nowrap">{_ms(r.get("total_ms"))}</span>',
            f'<div class="smtplab-finding" style="font-size:13px;min-width:10em;'
            f'max-width:380px;white-space:normal;overflow-wrap:anywhere">{_top_finding(r)}</div>',
        ]
        if show_host:
            row.insert(0, esc(r.get("host")))
        if show_vantage:
            row.insert(0, esc(r.get("vantage")))
        rows.append(row)
    caption = None
    if not show_host or not show_vantage:
        parts = []
        if not show_host:
            parts.append(str(recs[0].get("host")))
        if not show_vantage:
            parts.append(f"seen from {recs[0].get('vantage')}")
        caption = ", ".join(parts)
    return table_html(headers, rows, caption=caption)


def chart_html(chart: Any, *, width: str = "100%", max_width: str | None = None) -> str:
    """A :class:`smtplab.charts.Chart` as a ``<figure>``: ``<img>`` with its alt text, caption.

    The image fills the width of the widget (``width``, default 100%) up to ``max_width``
    (default: 1.5 times the chart's natural width), so it stays big on a projector and grows
    with the browser's zoom.
    """
    if hasattr(chart, "to_html"):
        markup = str(chart.to_html(max_width=max_width))
        return markup if width == "100%" else markup.replace("width:100%;", f"width:{width};", 1)
    data = base64.b64encode(chart.to_png()).decode("ascii")
    alt = getattr(chart, "alt_text", "") or getattr(chart, "description", "")
    description = getattr(chart, "description", "")
    return (
        f'<figure class="smtplab-chart" style="margin:4px 0;width:{width};'
        f'max-width:{max_width or "100%"}"><img src="data:image/png;base64,{data}" '
        f'alt="{esc(alt)}" style="display:block;width:100%;height:auto"/>'
        f'<figcaption style="{_FONT};color:{MUTED}">{esc(description)}</figcaption></figure>'
    )
