"""The outcome heat map: one row per host (or network), one column per port, a word per cell."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Final

import matplotlib as mpl
import pandas as pd

from smtplab.charts._data import clean, port_order, to_frame
from smtplab.charts._draw import GridCell, draw_grid, legend_patch
from smtplab.charts._figure import Chart, new_chart, no_data
from smtplab.charts._style import MAX_ROWS, RC, TITLE_PAD, outcome_style
from smtplab.charts._words import join, limit, plural
from smtplab.outcome_words import WORD_MEANING, WORDS, shown_words, word_rank

__all__ = ["cell_label", "fraction_note", "outcome_heatmap"]

#: (row, port) -> (the outcome shown, how many probes had it, how many probes in the cell)
_Cells = Mapping[tuple[str, int], tuple[str, int, int]]


def cell_label(outcome: str, k: int, n: int) -> str:
    """The words in a cell: the outcome, and under it how many of the cell's probes it counts."""
    return outcome if k == n else f"{outcome}\n{k} of {n} probes"


def fraction_note(agg: str) -> str:
    """What "k of n probes" under an outcome means, for the caption and the legend."""
    if agg == "best":
        return (
            '"2 of 6 probes" under a word: of the 6 probes in that cell, 2 got that far '
            "(the furthest any got)"
        )
    return '"2 of 6 probes" under a word: of the 6 probes in that cell, 2 had that outcome'


def outcome_heatmap(
    df: Any,
    rows: str = "host",
    *,
    agg: str = "best",
    title: str | None = None,
    max_rows: int = MAX_ROWS,
    count: str | None = None,
) -> Chart:
    """Outcome of each probe as a grid: one row per host (or per vantage), one column per port.

    Each cell is coloured *and* hatched by outcome and has the outcome word written in it.
    ``rows`` is ``"host"`` (default), ``"vantage"`` or any other column of the records.

    When several probes fall in one cell (every host probed from one network, or one host from
    several networks), ``agg="best"`` shows the furthest any of them got — ``open`` if one
    greeting came, so "port 25 gets out of this network" or "this server speaks on 25" — and
    ``agg="majority"`` the commonest outcome; either way with how many of the cell's probes had
    it, written under the word ("open / 2 of 6 probes").

    ``count`` names a column saying how many probes each row stands for, when the rows are
    counts already (one per row, port and outcome from a ``GROUP BY``, as the dataset explorer
    asks DuckDB for); by default each row is one probe.
    """
    if agg not in ("best", "majority"):
        raise ValueError(f"agg must be 'best' or 'majority', not {agg!r}")
    df = _shown(to_frame(df))
    df = clean(df, [rows, "port", "outcome", *([count] if count else [])])
    title = title or (
        "What each network saw, by port" if rows == "vantage" else f"Outcome by {rows} and port"
    )
    description = (
        f"Outcome of the probes by {rows} (rows) and port (columns); colour, pattern and word "
        f"name the outcome. {fraction_note(agg)}."
    )
    if df.empty:
        return no_data(title, "no probe records with a host, port and outcome", description)

    counted = _count(df, rows, count)
    ports = port_order(counted["port"].unique())
    row_names = sorted(set(counted["_row"]))
    shown_rows = row_names[:max_rows]
    cells = _aggregate(counted, agg)
    mixed = any(k != n for (row, _), (_, k, n) in cells.items() if row in shown_rows)

    cw, ch = 2.0, (0.95 if mixed else 0.75)
    note_h = 0.45 if mixed else 0.0
    label_w = min(4.2, 0.8 + 0.12 * max(len(r) for r in shown_rows))
    width = min(13.0, label_w + cw * len(ports) + 0.6)
    height = 2.2 + note_h + ch * len(shown_rows)
    fig = new_chart(
        width, height, _heatmap_alt(counted, cells, ports, row_names, rows), description
    )
    grid = {
        (i, j): GridCell(*outcome_style(c[0]), cell_label(*c), fontsize=13 if c[1] != c[2] else 14)
        for i, row in enumerate(shown_rows)
        for j, port in enumerate(ports)
        if (c := cells.get((row, port))) is not None
    }
    with mpl.rc_context(RC):
        bottom = 0.75 + note_h
        ax = fig.add_axes(
            (
                label_w / width,
                bottom / height,
                (width - label_w - 0.4) / width,
                (height - bottom - 1.2) / height,
            )
        )
        draw_grid(ax, shown_rows, ports, grid, empty_fill="#F4F4F4", empty_text="not probed")
        ax.set_title(title, loc="left", pad=TITLE_PAD)
        drawn = {cells[k][0] for k in cells if k[0] in shown_rows}
        present = [o for o in WORDS if o in drawn] + sorted(drawn - set(WORDS))
        fig.legend(
            handles=[legend_patch(*outcome_style(o), label=o) for o in present],
            loc="lower left",
            ncols=min(len(present), 5),
            frameon=False,
            bbox_to_anchor=(label_w / width - 0.02, note_h / height),
            handleheight=1.4,
            handlelength=2.2,
        )
        if mixed:
            fig.text(0.01, 0.1 / height, fraction_note(agg), fontsize=12, color="#333333")
        if len(row_names) > max_rows:
            fig.text(  # in inches from the bottom left: 0.1 inch in from the right edge
                width - 0.1,
                height - 0.35,
                f"first {max_rows} of {len(row_names)} {rows}s",
                transform=fig.dpi_scale_trans,
                ha="right",
                va="bottom",
                fontsize=11,
                color="#555555",
            )
    return fig


#: Fields that can tell an intercepted or stripped port from an open one.
_EVIDENCE: Final = ("banner", "findings", "transcript", "extensions")


def _shown(df: pd.DataFrame) -> pd.DataFrame:
    """Records with the word each view shows in ``outcome``: an intercepted port is never
    "open" (:func:`smtplab.outcome_words.shown_outcome`). Counted rows (the explorer asks
    DuckDB for them, with the shown words already) are left as they are."""
    if "outcome" not in df.columns or not any(c in df.columns for c in _EVIDENCE):
        return df
    return df.assign(outcome=shown_words(df))


def _count(df: pd.DataFrame, rows: str, count: str | None) -> pd.DataFrame:
    """``[_row, port, outcome, n]``: probes per row, port and outcome, in order of appearance."""
    n: Any = pd.to_numeric(df[count], errors="coerce").fillna(0).to_numpy() if count else 1
    frame = pd.DataFrame(
        {
            "_row": df[rows].astype(str).to_numpy(object),
            "port": df["port"].to_numpy(),
            "outcome": df["outcome"].astype(str).to_numpy(object),
            "n": n,
        }
    )
    out = frame.groupby(["_row", "port", "outcome"], sort=False)["n"].sum().reset_index()
    return out[out["n"] > 0].astype({"n": "int64"})


def _aggregate(counted: pd.DataFrame, agg: str) -> dict[tuple[str, int], tuple[str, int, int]]:
    """(row, port) -> (outcome shown, its count, probes in the cell), from :func:`_count`."""
    by_cell: dict[tuple[str, int], dict[str, int]] = {}
    for row, port, outcome, n in zip(
        counted["_row"],
        counted["port"].tolist(),
        counted["outcome"],
        counted["n"].tolist(),
        strict=True,
    ):
        seen = by_cell.setdefault((row, port), {})
        seen[outcome] = seen.get(outcome, 0) + n
    cells: dict[tuple[str, int], tuple[str, int, int]] = {}
    for key, counts in by_cell.items():
        if agg == "best":
            best = min(counts.items(), key=lambda kv: word_rank(kv[0]))
        else:
            best = max(counts.items(), key=lambda kv: (kv[1], -_outcome_rank(kv[0])))
        cells[key] = (best[0], best[1], sum(counts.values()))
    return cells


def _outcome_rank(outcome: str) -> int:
    return WORDS.index(outcome) if outcome in WORDS else len(WORDS)


def _port_sentence(counted: pd.DataFrame, cells: _Cells, port: int, rows_word: str) -> str:
    by_outcome: dict[str, list[str]] = {}
    for (row, p), (outcome, _k, _n) in cells.items():
        if p == port:
            by_outcome.setdefault(outcome, []).append(row)
    here = counted[counted["port"] == port]
    probes: Counter[str] = Counter()
    for outcome, n in zip(here["outcome"], here["n"].tolist(), strict=True):
        probes[outcome] += n
    if len(by_outcome) == 1:
        ((outcome, names),) = by_outcome.items()
        who = f"all {plural(len(names), rows_word)}" if len(names) > 1 else names[0]
        sentence = f"Port {port} was {outcome} for {who}"
    else:
        bits = []
        for outcome in sorted(by_outcome, key=_outcome_rank):
            names = sorted(by_outcome[outcome])
            bits.append(
                f"open for {len(names)}" if outcome == "open" else f"{outcome} for {limit(names)}"
            )
        sentence = f"Port {port}: {'; '.join(bits)}"
    if len(probes) > 1:
        counted = sorted(probes.items(), key=lambda kv: (-kv[1], _outcome_rank(kv[0]), kv[0]))
        sentence += (
            " (probes: "
            + ", ".join(f"{n} {o}" for o, n in counted)
            + f" of {sum(probes.values())})"
        )
    return sentence + "."


def _heatmap_alt(
    counted: pd.DataFrame,
    cells: _Cells,
    ports: Sequence[int],
    row_names: Sequence[str],
    rows_word: str,
) -> str:
    probes = int(counted["n"].sum())
    head = (
        f"Heat map of {probes} probe outcomes: {plural(len(row_names), rows_word)} by "
        f"{plural(len(ports), 'port')} ({join([str(p) for p in ports])})."
    )
    parts = [_port_sentence(counted, cells, port, rows_word) for port in ports]
    shown = sorted({c[0] for c in cells.values()} - {"open"}, key=_outcome_rank)
    meaning = [f"{o}: {WORD_MEANING[o]}" for o in shown if o in WORD_MEANING]
    text = " ".join([head, *parts])
    if meaning and len(meaning) <= 3:
        text += " (" + " ".join(meaning) + ")"
    return text
