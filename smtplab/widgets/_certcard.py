"""The certificate card in the probe panel: :func:`smtplab.certcard.cert_card` as HTML.

Every value came from the server's certificate: control and direction-changing characters are
shown as visible escapes (:func:`smtplab.safe_text.safe_text`), then the text is HTML-escaped.
Colours are JupyterLab's theme variables with light-theme fallbacks, and a word always says
what the colour repeats (``expired``, ``trusted no: …``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from smtplab.certcard import cert_card
from smtplab.safe_text import safe_text
from smtplab.widgets._html import BAD, FG, GOOD, MUTED, WARN, as_record, esc

__all__ = ["cert_card_html"]

#: The widgets' palette (readable at WCAG AA in JupyterLab Light and Dark, see ``_html``).
_TONE_COLOUR: Final = {"good": GOOD, "warn": WARN, "bad": BAD, "": FG}


def cert_card_html(item: Any, now: dt.datetime | None = None) -> str:
    """The card of one result or record as an HTML table, or ``""`` without a certificate."""
    lines = cert_card(as_record(item), now)
    if not lines:
        return ""
    rows = []
    for line in lines:
        weight = "font-weight:600;" if line.tone == "bad" else ""
        rows.append(
            "<tr>"
            '<th scope="row" style="text-align:left;vertical-align:top;padding:1px 10px 1px 0;'
            f'font-weight:normal;color:{MUTED};white-space:nowrap">'
            f"{esc(line.label)}</th>"
            f'<td style="padding:1px 0;overflow-wrap:anywhere;{weight}'
            f'color:{_TONE_COLOUR[line.tone]}">{esc(safe_text(line.value))}</td>'
            "</tr>"
        )
    return (
        '<div class="smtplab-certcard" style="margin:4px 0 8px 0;padding:6px 10px;'
        "border:1px solid var(--jp-border-color2, #ccc);border-radius:4px;"
        "color:var(--jp-content-font-color1, inherit);"
        'background:var(--jp-layout-color1, transparent);font-size:13px;max-width:100%">'
        '<div style="font-weight:600;margin-bottom:2px">Certificate</div>'
        '<table style="border-collapse:collapse;table-layout:auto;max-width:100%">'
        + "".join(rows)
        + "</table></div>"
    )
