"""A transcript as HTML: time, ``C:``/``S:`` prefix, the line, and what the line means.

Every line is rendered once (:class:`RenderedTranscript`): the transcript player shows the first
``k`` lines by joining the first ``k`` rendered rows, so preparing a transcript costs time and
memory linear in its lines, and each frame only as much as its own HTML. EHLO replies are
explained line by line (each extension, each AUTH mechanism) from
:mod:`smtplab.widgets._extensions`; other lines from :func:`smtplab.protocol.explain_line`.
AUTH secrets were redacted by the probe engine; every line is HTML-escaped here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from smtplab.protocol import explain_line
from smtplab.widgets._extensions import explain_ehlo_line
from smtplab.widgets._html import (
    CLIENT,
    FG,
    GOOD,
    HIGHLIGHT,
    MUTED,
    QUIET,
    SERVER,
    as_record,
    esc,
    transcript_lines,
)

__all__ = [
    "TLS_RULE",
    "RenderedTranscript",
    "explain_lines",
    "stage_style",
    "tls_rule_after",
    "transcript_html",
]

#: The rule drawn in a transcript where the conversation becomes encrypted.
TLS_RULE: Final = "— TLS starts here —"

# colours that follow the theme (smtplab.widgets._html): a darker Okabe-Ito blue and a dark
# orange-brown, readable on white on a projector, lighter in a dark theme
_CLIENT_COLOUR: Final = CLIENT
_SERVER_COLOUR: Final = SERVER
_EVENT_COLOUR: Final = QUIET
_MONO: Final = "font-family:'DejaVu Sans Mono',Menlo,Consolas,monospace"
_HIGHLIGHT: Final = f"background:{HIGHLIGHT};"


def explain_lines(lines: Sequence[Mapping[str, Any]]) -> list[str]:
    """One explanation per line, in one pass: a 250 reply to EHLO is explained line by line."""
    out: list[str] = []
    in_ehlo = first = False
    for line in lines:
        direction, text = line["dir"], line["text"]
        if direction == "client":
            in_ehlo = text.split(" ", 1)[0].upper() == "EHLO"
            first = True
            out.append(explain_line(direction, text))
        elif direction == "server":
            if in_ehlo and text.startswith("250"):
                out.append(explain_ehlo_line(text, first))
                first = False
                in_ehlo = text[3:4] == "-"  # "250 " is the last line of the reply
            else:
                in_ehlo = False
                out.append(explain_line(direction, text))
        else:
            out.append("")
    return out


def tls_rule_after(lines: Sequence[Mapping[str, Any]]) -> list[bool]:
    """For each line: does a TLS handshake that succeeded start right after it?

    The rule goes right after the "TLS handshake" event, not after "TLS established": with
    implicit TLS the server's first (encrypted) greeting can be logged before that event. One
    backward pass: each line learns what the next event says.
    """
    from smtplab.prose_events import event_kind

    out = [False] * len(lines)
    next_event: str | None = None
    for i in range(len(lines) - 1, -1, -1):
        kind = event_kind(lines[i])
        if kind is None:
            continue
        if kind == "tls_handshake":
            out[i] = next_event == "tls_established"
        if kind != "cert_verdict":  # the verdict on the certificate comes between
            next_event = kind
    return out


def _row(line: Mapping[str, Any], note: str | None, current: bool) -> str:
    direction, text = line["dir"], line["text"]
    if direction == "client":
        prefix, colour, style = "C:", _CLIENT_COLOUR, "font-weight:bold"
    elif direction == "server":
        prefix, colour, style = "S:", _SERVER_COLOUR, ""
    else:
        prefix, colour, style = "··", _EVENT_COLOUR, "font-style:italic"
    note_td = (
        f'<td class="smtplab-note" style="padding:1px 8px;color:{MUTED};font-size:13px;'
        f'font-family:sans-serif;min-width:14em">{esc(note)}</td>'
        if note is not None
        else ""
    )
    return (
        f'<tr class="smtplab-line smtplab-{esc(direction)}" '
        f'style="{_HIGHLIGHT if current else ""}">'
        f'<td style="padding:1px 8px;color:{QUIET};white-space:pre;font-size:12px">'
        f"{line['t']:9.1f} ms</td>"
        f'<td style="padding:1px 4px;color:{colour};font-weight:bold">{prefix}</td>'
        f'<td style="padding:1px 8px;color:{colour};{style};white-space:pre-wrap;'
        f'word-break:break-all;min-width:22ch">{esc(text)}</td>{note_td}</tr>'
    )


def _tls_rule(explain: bool) -> str:
    return (
        f'<tr class="smtplab-tls-rule"><td colspan="{4 if explain else 3}" style="padding:4px 8px;'
        f"border-top:3px dashed #009E73;color:{GOOD};font-weight:bold;text-align:center;"
        f'font-family:sans-serif">{TLS_RULE} <span style="font-weight:normal">'
        f"(everything below is encrypted)</span></td></tr>"
    )


class RenderedTranscript:
    """A record's transcript with every line rendered once; :meth:`html` shows the first lines."""

    def __init__(self, item: Any, *, explain: bool = True) -> None:
        self._lines = transcript_lines(as_record(item))
        self._notes: list[str] | None = explain_lines(self._lines) if explain else None
        rule = _tls_rule(explain)
        self._rules = [rule if r else "" for r in tls_rule_after(self._lines)]
        self._rows = [self._render(i, current=False) for i in range(len(self._lines))]

    def __len__(self) -> int:
        return len(self._lines)

    def _render(self, i: int, *, current: bool) -> str:
        note = self._notes[i] if self._notes is not None else None
        return _row(self._lines[i], note, current) + self._rules[i]

    def html(self, upto: int | None = None, *, highlight_last: bool = False) -> str:
        """The first ``upto`` lines (all when None) as a table; the last one highlighted."""
        k = len(self._rows) if upto is None else max(0, min(upto, len(self._rows)))
        if k == 0:
            hint = (
                "press ▶ to play, or drag the slider" if self._rows else "(no transcript recorded)"
            )
            body = f'<tr><td style="color:{QUIET};padding:4px 8px">{hint}</td></tr>'
        elif highlight_last:
            body = "".join(self._rows[: k - 1]) + self._render(k - 1, current=True)
        else:
            body = "".join(self._rows[:k])
        return (
            '<div class="smtplab-scroll" style="overflow-x:auto;max-width:100%">'
            f'<table class="smtplab-transcript" style="border-collapse:collapse;{_MONO};color:{FG};'
            f'font-size:14px;line-height:1.4">{body}</table></div>'
        )

    def stage_html(self, scope: str) -> str:
        """Every line, each in its own ``<tbody>`` (with the TLS rule after it), in a table of
        class ``scope``: :func:`stage_style` then shows the first ``k`` of them.

        The transcript player sends this once; each step sends only the few bytes of a style
        rule, where sending the first ``k`` lines each step cost n²/2 lines over a replay."""
        hint = "press ▶ to play, or drag the slider" if self._rows else "(no transcript recorded)"
        body = "".join(f"<tbody>{row}</tbody>" for row in self._rows)
        return (
            f'<div class="smtplab-scroll {esc(scope)}" style="overflow-x:auto;max-width:100%">'
            f'<div class="smtplab-hint" style="color:{QUIET};padding:4px 8px;{_MONO};'
            f'font-size:14px">{hint}</div>'
            f'<table class="smtplab-transcript" style="border-collapse:collapse;{_MONO};'
            f'color:{FG};font-size:14px;line-height:1.4">{body}</table></div>'
        )


def stage_style(scope: str, shown: int, total: int) -> str:
    """A ``<style>`` showing the first ``shown`` lines of :meth:`RenderedTranscript.stage_html`
    (the last of them highlighted) and hiding the rest: a step of the player, in a few bytes."""
    k = max(0, min(int(shown), total))
    rules = [f".{scope} tbody:nth-of-type(n+{k + 1}){{display:none}}"]
    if k:
        rules.append(f".{scope} tbody:nth-of-type({k})>tr.smtplab-line{{{_HIGHLIGHT}}}")
        rules.append(f".{scope} .smtplab-hint{{display:none}}")
    return "<style>" + "".join(rules) + "</style>"


def transcript_html(
    item: Any, *, upto: int | None = None, explain: bool = True, highlight_last: bool = False
) -> str:
    """A transcript as an HTML table: time, ``C:``/``S:`` prefix, the line, an explanation.

    ``upto`` shows only the first ``upto`` lines (the transcript player's current step). The
    TLS boundary (after the "TLS handshake" event of a handshake that succeeded) gets a rule.
    """
    return RenderedTranscript(item, explain=explain).html(upto, highlight_last=highlight_last)
