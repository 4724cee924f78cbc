"""What the CLI prints, built with ``rich``: tables that fit the terminal, colour, transcripts.

Every string from data goes through :func:`~smtplab.safe_text.safe_text` and into a ``rich``
:class:`~rich.text.Text` (never into markup), so neither terminal escapes nor ``[bold]`` in a
banner can change what the screen shows.

Tables are laid out by :func:`rows_block`: the columns get the width they need; when the terminal
is narrower, the columns whose text has spaces give way first and wrap between words, and the
long free text of a row (findings, descriptions) is printed under the row, indented, wrapped to
the terminal's width.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from rich.cells import cell_len
from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from smtplab.cli.text import under_notebook
from smtplab.prose_events import event_kind
from smtplab.safe_text import safe_text

__all__ = [
    "OUTCOME_STYLE",
    "SEVERITY_STYLE",
    "Column",
    "Row",
    "cert_card_block",
    "make_console",
    "outcome_word",
    "probe_rows",
    "probe_table",
    "rows_block",
    "transcript_lines",
]

#: Outcome words (DESIGN.md) -> colour. Green: an SMTP server spoke; yellow: the network in the
#: way (a firewall, a tarpit); red: something answered wrongly or broke.
OUTCOME_STYLE: dict[str, str] = {
    "open": "bold green",
    "rejected": "bold red",
    "refused": "yellow",
    "filtered": "yellow",
    "silent": "yellow",
    "not_smtp": "red",
    "tls_failed": "bold red",
    "dns_failed": "magenta",
    "unreachable": "magenta",
    "reset": "red",
    "error": "bold red",
    # an answer that is not the server's (smtplab.outcome_words): never green
    "intercepted": "bold magenta",
    "stripped": "bold magenta",
}

#: Outcome codes as the table writes them: words, not identifiers (the JSON keeps the codes).
OUTCOME_WORDS: dict[str, str] = {
    "not_smtp": "not SMTP",
    "tls_failed": "TLS failed",
    "dns_failed": "DNS failed",
}


def outcome_word(outcome: str) -> str:
    """``tls_failed`` → ``TLS failed``: an outcome as the tables print it."""
    return OUTCOME_WORDS.get(outcome, outcome.replace("_", " "))


SEVERITY_STYLE: dict[str, str] = {
    "high": "bold red",
    "medium": "yellow",
    "low": "cyan",
    "info": "dim",
}

GAP = 2  # spaces between columns
INDENT = 4  # free text under a row


def make_console(
    file: IO[str] | None = None,
    *,
    plain: bool = False,
    force_terminal: bool | None = None,
    width: int | None = None,
) -> Console:
    """A console for ``file`` (default stdout): colour only on a terminal, without ``NO_COLOR``
    and outside a notebook (:func:`under_notebook`, where it is a plain file as in a pipe).

    ``plain=True`` (``--json``) never colours. Width: the terminal's, else ``COLUMNS``, else 80.
    ``force_terminal`` and ``width`` are for tests (a terminal that is not one).
    """
    no_color = plain or bool(os.environ.get("NO_COLOR"))
    if force_terminal is None and under_notebook():
        force_terminal, no_color = False, True
    return Console(
        file=file if file is not None else sys.stdout,
        force_terminal=force_terminal,
        width=width,
        no_color=no_color,
        color_system=None if no_color else "auto",
        highlight=False,
        markup=False,
        emoji=False,
        soft_wrap=False,
    )


def styled(value: object, style: str = "") -> Text:
    """Data as a safe, styled ``Text`` (never parsed as markup)."""
    return Text(safe_text(value), style=style)


@dataclass(frozen=True)
class Column:
    header: str
    justify: str = "left"
    #: May give way (wrap between words) when the terminal is narrow.
    flexible: bool = False
    min_width: int = 6


@dataclass(frozen=True)
class Row:
    cells: tuple[Text, ...]
    #: Lines printed under the row, indented and wrapped (findings, descriptions).
    under: tuple[Text, ...] = ()
    #: Blocks printed after those, indented (the certificate card), laid out to fit.
    blocks: tuple[RenderableType, ...] = ()


def _longest_word(text: str) -> int:
    return max((cell_len(w) for w in text.split()), default=0)


def _widths(columns: Sequence[Column], rows: Sequence[Row], width: int) -> list[int]:
    """Natural widths, narrowed (widest flexible column first) until the row fits ``width``;
    a column never narrows below its longest word, so cells wrap between words only."""
    natural = [
        max([cell_len(c.header)] + [cell_len(r.cells[i].plain) for r in rows])
        for i, c in enumerate(columns)
    ]
    floor = [
        max(
            [min(c.min_width, natural[i]), _longest_word(c.header)]
            + [_longest_word(r.cells[i].plain) for r in rows]
        )
        for i, c in enumerate(columns)
    ]
    widths = list(natural)
    excess = sum(widths) + GAP * (len(columns) - 1) - width
    flexible = [i for i, c in enumerate(columns) if c.flexible]
    while excess > 0:
        candidates = [i for i in flexible if widths[i] > floor[i]]
        if not candidates:
            break
        i = max(candidates, key=lambda k: widths[k] - floor[k])
        widths[i] -= 1
        excess -= 1
    return widths


def _row_table(columns: Sequence[Column], widths: Sequence[int], header: bool) -> Table:
    table = Table(
        box=None,
        show_header=header,
        header_style="bold",
        pad_edge=False,
        padding=(0, GAP // 2),
        collapse_padding=False,
        show_edge=False,
        expand=False,
    )
    for c, w in zip(columns, widths, strict=True):
        table.add_column(
            c.header,
            justify=c.justify,  # type: ignore[arg-type]
            width=w,
            min_width=w,
            max_width=w,
            overflow="fold",
            no_wrap=False,
        )
    return table


def rows_block(columns: Sequence[Column], rows: Sequence[Row], width: int) -> RenderableType:
    """A table of ``rows`` at most ``width`` cells wide, each row's free text under it."""
    widths = _widths(columns, rows, width)
    parts: list[RenderableType] = []
    head = _row_table(columns, widths, header=True)
    if not rows:
        return head
    for n, row in enumerate(rows):
        table = _row_table(columns, widths, header=n == 0)
        table.add_row(*row.cells)
        parts.append(table)
        for line in row.under:
            line = line.copy()
            line.overflow = "fold"
            parts.append(Padding(line, (0, 0, 0, INDENT)))
        for block in row.blocks:
            parts.append(Padding(block, (0, 0, 0, INDENT)))
    return Group(*parts)


# --- probe results ----------------------------------------------------------------------------


def _get(r: Any, name: str) -> Any:
    return r.get(name) if isinstance(r, Mapping) else getattr(r, name, None)


def _auth_text(r: Any) -> str:
    before_raw, after_raw = _get(r, "auth_before_tls"), _get(r, "auth_after_tls")
    before = " ".join(before_raw or ()) or ("none" if before_raw is not None else "-")
    after = " ".join(after_raw or ()) or ("none" if after_raw is not None else "-")
    if _get(r, "tls_mode") == "implicit":
        return after
    return f"{before} → {after}" if after_raw is not None else before


def _tls_text(r: Any) -> str:
    version, mode = _get(r, "tls_version"), _get(r, "tls_mode")
    if mode in (None, "none") or not version:
        return "none"
    return f"{version} {'STARTTLS' if mode == 'starttls' else 'implicit'}"


def finding_line(f: Any) -> Text:
    severity = str(_get(f, "severity"))
    line = Text()
    line.append(f"[{safe_text(severity)}]", style=SEVERITY_STYLE.get(severity, ""))
    line.append(" ")
    line.append(safe_text(_get(f, "message")))
    return line


_TONE_STYLE = {"good": "green", "warn": "yellow", "bad": "bold red", "": ""}


def cert_card_block(r: Any, width: int, now: Any = None) -> RenderableType | None:
    """The certificate card of one probe (:func:`smtplab.certcard.cert_card`), as testssl.sh
    shows it: label, then the value wrapped beside it within ``width`` cells; ``None`` without
    a certificate. Every value is certificate or server text, escaped."""
    from smtplab.certcard import cert_card

    lines = cert_card(r, now)
    if not lines:
        return None
    label_width = max(cell_len(line.label) for line in lines)
    table = Table(
        box=None,
        show_header=False,
        pad_edge=False,
        padding=(0, 1, 0, 0),
        show_edge=False,
        expand=False,
        width=max(width, label_width + 12),
    )
    table.add_column(width=label_width, no_wrap=True, style="dim")
    table.add_column(overflow="fold", ratio=1)
    for line in lines:
        table.add_row(Text(line.label), styled(line.value, _TONE_STYLE[line.tone]))
    return table


def probe_rows(
    results: Iterable[Any], *, cert: bool = False, width: int = 80
) -> tuple[list[Column], list[Row]]:
    """Columns and rows of the probe table (results or record dicts); with ``cert``, each TLS
    port's certificate card under its row."""
    columns = [
        Column("HOST", flexible=True, min_width=10),
        Column("PORT", justify="right"),
        Column("OUTCOME"),
        Column("TLS", flexible=True, min_width=7),
        Column("AUTH", flexible=True, min_width=8),
        Column("TIME", justify="right"),
    ]
    from smtplab.outcome_words import shown_outcome

    rows = []
    for r in results:
        outcome = shown_outcome(r if isinstance(r, Mapping) else r.to_record())
        total = _get(r, "total_ms")
        under = [finding_line(f) for f in (_get(r, "findings") or ())]
        error = _get(r, "error")
        if error and not under:
            under.append(styled(f"error: {safe_text(error)}", "red"))
        rows.append(
            Row(
                (
                    styled(_get(r, "host")),
                    styled(_get(r, "port")),
                    styled(outcome_word(outcome), OUTCOME_STYLE.get(outcome, "")),
                    styled(_tls_text(r)),
                    styled(_auth_text(r)),
                    styled("-" if total is None else f"{total:.0f} ms"),
                ),
                tuple(under),
                _card(r, width) if cert else (),
            )
        )
    return columns, rows


def _card(r: Any, width: int) -> tuple[RenderableType, ...]:
    block = cert_card_block(r, width - INDENT)
    return () if block is None else (block,)


#: Printed under the probe table: how to read the AUTH column.
AUTH_LEGEND = "AUTH: mechanisms offered before → after STARTTLS (on 465, inside TLS)."


def probe_table(results: Iterable[Any], width: int, *, cert: bool = False) -> RenderableType:
    columns, rows = probe_rows(results, cert=cert, width=width)
    return rows_block(columns, rows, width)


# --- transcripts, as swaks shows them ---------------------------------------------------------

_MARKS = {
    ("client", False): " -> ",
    ("server", False): "<-  ",
    ("client", True): " ~> ",
    ("server", True): "<~  ",
}


def transcript_lines(record: Any) -> list[Text]:
    """The conversation of one probe the way swaks prints it.

    ``->`` what we sent, ``<-`` what the server said (``~>``/``<~`` once TLS is up), ``===`` what
    happened (connecting, TLS started, timeouts). Credentials were redacted when the record was
    made; what is shown is the record, escaped.
    """
    out = [
        Text(
            f"=== {safe_text(_get(record, 'host'))}:{safe_text(_get(record, 'port'))} "
            f"({safe_text(_get(record, 'outcome'))})",
            style="bold",
        )
    ]
    tls = False
    for line in _get(record, "transcript") or ():
        direction = str(_get(line, "dir"))
        text = safe_text(_get(line, "text"))
        if direction == "event":
            kind = event_kind(line)
            if kind == "connecting":
                tls = False
            if kind == "tls_established":
                tls = True
            out.append(Text(f"=== {text}", style="cyan"))
        else:
            style = "green" if direction == "client" else ""
            out.append(Text(_MARKS.get((direction, tls), " ?  ") + text, style=style))
    return out
