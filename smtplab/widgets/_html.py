"""The primitives of every renderer: escaping, records from results, missing values."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from smtplab.records.normalise import as_record, is_missing

__all__ = [
    "BAD",
    "CLIENT",
    "FG",
    "GOOD",
    "HIGHLIGHT",
    "MUTED",
    "QUIET",
    "REOPEN_HTML",
    "REOPEN_TEXT",
    "RULE",
    "RULE_STRONG",
    "SERVER",
    "THEME_CSS",
    "WARN",
    "ReopenNote",
    "as_record",
    "block_layout",
    "esc",
    "missing",
    "theme_part",
    "transcript_lines",
]


def esc(value: Any) -> str:
    """HTML-escape anything (None becomes an empty string)."""
    if value is None:
        return ""
    return html.escape(str(value), quote=True)


#: The one missing-value rule and the one entrance for record-like input (records/normalise).
missing = is_missing


def transcript_lines(rec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The transcript of a record as ``{"t", "dir", "text"}`` dicts (and ``kind`` on an event
    that has one)."""
    out = []
    for x in rec.get("transcript") or []:
        if hasattr(x, "to_dict"):
            x = x.to_dict()
        line = {"t": float(x.get("t") or 0.0), "dir": str(x.get("dir")), "text": str(x.get("text"))}
        if isinstance(x.get("kind"), str):
            line["kind"] = x["kind"]
        out.append(line)
    return out


# --- colours that follow the theme --------------------------------------------------------
#
# Every colour a widget writes is a CSS variable with the light value as its fallback:
# JupyterLab's own (``--jp-content-font-color1`` is black in JupyterLab Light and white in
# JupyterLab Dark), or one of ours (``--smtplab-*``), which :data:`THEME_CSS` sets for a dark
# theme (JupyterLab marks it with ``data-jp-theme-light="false"`` on ``<body>``, VS Code with
# the class ``vscode-dark``). Where neither is defined (an HTML export, another front end),
# the light fallbacks apply. Each text colour keeps WCAG AA contrast (4.5:1) against white in
# light and against JupyterLab Dark's #111 in dark; ``tests/test_browser.py`` measures it.

#: Body text.
FG = "var(--jp-content-font-color1, #111)"
#: Secondary text (explanations, captions): #444 on white is 9.7:1, #C8C8C8 on #111 11:1.
MUTED = "var(--smtplab-muted, #444)"
#: Quiet text (time stamps, hints): #666 on white is 5.7:1, #A8A8A8 on #111 8:1.
QUIET = "var(--smtplab-quiet, #666)"
#: "good" (correct, the port to use) and "bad" (wrong, nothing to recommend) words.
GOOD = "var(--smtplab-good, #00684C)"
BAD = "var(--smtplab-bad, #A33A00)"
#: "careful" words (intercepted, stripped): an answer that is not the server's.
WARN = "var(--smtplab-warn, #6B4E00)"
#: The client's and the server's lines of a transcript.
CLIENT = "var(--smtplab-client, #0059A0)"
SERVER = "var(--smtplab-server, #7A3D00)"
#: The background of a highlighted transcript line.
HIGHLIGHT = "var(--smtplab-highlight, #FFF3C4)"
#: Lines between table rows and under its head.
RULE = "var(--jp-border-color2, #ddd)"
RULE_STRONG = "var(--jp-border-color1, #333)"

_DARK = (
    "--smtplab-muted:#C8C8C8;--smtplab-quiet:#A8A8A8;--smtplab-good:#4FD1A5;"
    "--smtplab-bad:#FF9B66;--smtplab-client:#7CC0FF;--smtplab-server:#F2B27A;"
    "--smtplab-highlight:#4A3F00;--smtplab-warn:#F0C75E"
)

#: The stylesheet every widget carries (in a hidden HTML part, :func:`theme_part`): the dark
#: values of the ``--smtplab-*`` colours, and readable text on the parts ipywidgets draws
#: (a transcript's title bar is grey at 54% on light grey, 4.4:1, in JupyterLab Light).
THEME_CSS = (
    '<style data-smtplab-theme="1">'
    f'body[data-jp-theme-light="false"], body.vscode-dark {{{_DARK}}}'
    ".smtplab-widget .jupyter-widget-Collapse-header,"
    ".smtplab-widget .lm-Collapse-header,"
    ".smtplab-widget .p-Collapse-header{color:var(--jp-ui-font-color1,#111)}"
    # the probe panel's status line wraps instead of ending in "…" on a projector
    ".smtplab-widget .smtplab-status{white-space:normal;overflow:visible;height:auto;"
    "text-overflow:clip;line-height:1.3}"
    # the note under a widget (ReopenNote) hides while the widget is alive in the same output
    ".jp-OutputArea:has(.smtplab-widget)>.jp-OutputArea-child:has(.smtplab-reopen-note)"
    "{display:none}"
    "</style>"
)


#: What a notebook saved with a widget says where the widget was, once reopened without the
#: kernel that drew it (JupyterLab then shows "Error displaying widget: model not found").
REOPEN_TEXT = (
    "This is a live widget: it comes back when this cell runs again "
    "(click the cell, then Shift+Enter)."
)
REOPEN_HTML = (
    '<div class="smtplab-reopen-note" style="font-size:14px;padding:4px 8px;'
    f'border-left:4px solid #0072B2;color:{FG}"><b aria-hidden="true">↻</b> '
    f"{REOPEN_TEXT}</div>"
)


class ReopenNote:
    """Mixin for the top-level widgets: shown as the last value of a cell (or with
    ``display``), a widget writes two outputs, the widget and under it :data:`REOPEN_HTML`.

    While the widget is alive the note is hidden by the widget's own stylesheet
    (:data:`THEME_CSS`, a CSS ``:has`` rule on the output area); in a notebook reopened
    without its kernel, the widget cannot be drawn, its stylesheet is not there, and the note
    says how to bring it back. The widget's ``text/plain`` says the same, for text views
    (nbconvert, a terminal)."""

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        data = super()._repr_mimebundle_(**kwargs)  # type: ignore[misc]
        if isinstance(data, dict):
            data["text/plain"] = REOPEN_TEXT
        return data

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self._repr_mimebundle_(), raw=True)
        display({"text/html": REOPEN_HTML}, raw=True)


def block_layout() -> Any:
    """The layout of an ``HTML`` part holding a wide table in a sideways-scrolling box: full
    width, no margin, a block box. As a flex item (ipywidgets' default) the part grows to its
    widest content, so the scroll box never scrolls and the widget overflows instead (the
    probe panel's table was 677 px in a 592 px panel at 1024x768 with the file browser open);
    the default 2 px margins on top of width 100% also cut off the right edge."""
    import ipywidgets as W

    return W.Layout(width="100%", max_width="100%", margin="0", display="block")


def theme_part() -> Any:
    """A hidden ``HTML`` widget holding :data:`THEME_CSS`; put it in every top-level widget."""
    import ipywidgets as W

    part = W.HTML(THEME_CSS, layout=W.Layout(display="none"))
    part.add_class("smtplab-theme")
    return part
