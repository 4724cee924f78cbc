"""``smtplab show`` and ``smtplab merge``: record files, summarised and pooled."""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rich.text import Text

from smtplab.cli import output
from smtplab.cli.errors import UsageError
from smtplab.cli.render import (
    OUTCOME_STYLE,
    SEVERITY_STYLE,
    Column,
    Row,
    make_console,
    rows_block,
    styled,
    transcript_lines,
)
from smtplab.outcome_words import SHOWN_SQL, reword
from smtplab.safe_text import safe_text

__all__ = ["add_merge_arguments", "add_show_arguments", "run_merge", "run_show"]


def add_show_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+")
    p.add_argument("--lenient", action="store_true", help="skip bad lines instead of stopping")
    p.add_argument(
        "--summary",
        action="store_true",
        help="only outcome by port and vantage, asked of the file by DuckDB (fast on big files)",
    )
    p.add_argument(
        "--limit",
        type=_rows_limit,
        default=SHOW_ROWS,
        metavar="N",
        help=f"show at most N rows of the per-host table (default {SHOW_ROWS}; 0: every row)",
    )
    p.add_argument(
        "--transcript",
        action="store_true",
        help="show each recorded conversation as swaks does (-> sent, <- received, === events)",
    )


#: Rows of the per-host table ``show`` prints unless ``--limit`` says otherwise: a scan has a row
#: per host and port (half a million for 10^6 probes), more than anyone reads in a terminal, and
#: counting every row cost 24 s and 1.3 GB where the first hundred cost 10 s and 0.3 GB.
SHOW_ROWS = 100


def _rows_limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 (every row) or more")
    return value


def add_merge_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+")
    p.add_argument("-o", "--output", required=True)


def _plain(value: Any) -> Any:
    """A DataFrame cell as plain Python (arrays -> lists, NaN/NA -> None)."""
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is not None and type(value).__name__ in ("NAType", "NaTType"):
        return None
    return value


def frame_rows(df: Any) -> list[dict[str, Any]]:
    """Records of a DataFrame from ``load_records`` as plain dicts."""
    return [{k: _plain(v) for k, v in row.items()} for row in df.to_dict("records")]


#: (vantage, host, port) or (vantage, port) -> {shown word: probes} of the ``open`` probes.
OpenWords = dict[tuple[Any, ...], dict[str, int]]


def open_words(source: Any, keys: tuple[str, ...]) -> OpenWords:
    """How the ``open`` probes of record files divide into open, intercepted and stripped
    (:data:`smtplab.outcome_words.SHOWN_SQL`), by ``keys``: an intercepted port is never shown
    as "open". Empty when the files cannot be asked (the summary then says what is wrong)."""
    import duckdb

    from smtplab.records import Dataset, RecordError

    names = ", ".join(keys)
    try:
        with Dataset.open(source, cache=False) as ds:
            rows = ds.sql(
                f"SELECT {names}, {SHOWN_SQL} AS word, count(*) AS n FROM records "
                "WHERE outcome = 'open' GROUP BY ALL"
            ).itertuples(index=False, name=None)
            out: OpenWords = {}
            for *key, word, n in rows:
                out.setdefault(tuple(_plain(k) for k in key), {})[str(word)] = int(n)
            return out
    except (duckdb.Error, RecordError, OSError, ValueError):
        return {}


def frame_open_words(df: Any, keys: tuple[str, ...]) -> OpenWords:
    """:func:`open_words` of records already loaded (a DataFrame from ``load_records``), by
    :func:`smtplab.outcome_words.shown_outcome` itself."""
    from smtplab.outcome_words import shown_words

    out: OpenWords = {}
    if not len(df):
        return out
    opened = df[df["outcome"] == "open"]
    for key, word in zip(
        opened[list(keys)].itertuples(index=False, name=None), shown_words(opened), strict=True
    ):
        counts = out.setdefault(tuple(_plain(k) for k in key), {})
        counts[word] = counts.get(word, 0) + 1
    return out


def _words(rec: dict[str, Any], key: tuple[Any, ...], words: OpenWords | None) -> tuple[str, str]:
    """(outcome word, all outcomes) of a summary row, with its open probes told apart."""
    outcome, outcomes = str(rec["outcome"]), str(rec.get("outcomes") or "")
    if not words or key not in words:
        return outcome, outcomes
    word, pieces = reword(outcomes, words[key])
    return (word or outcome), pieces


def summary_block(summary: Any, width: int, words: OpenWords | None = None) -> list[Any]:
    """The table of :func:`smtplab.records.summarize`, one block per vantage; ``words``
    (:func:`open_words`) tells intercepted and stripped ports from open ones."""
    columns = [
        Column("HOST", flexible=True, min_width=10),
        Column("PORT", justify="right"),
        Column("PROBES", justify="right"),
        Column("OUTCOME"),
        Column("TLS"),
        Column("AUTH", flexible=True, min_width=8),
    ]
    blocks: list[Any] = []
    by_vantage: dict[str, list[Row]] = {}
    for rec in frame_rows(summary):
        outcome, outcomes = _words(rec, (rec["vantage"], rec["host"], rec["port"]), words)
        under = []
        if outcomes and " " in outcomes:
            under.append(styled(f"outcomes: {safe_text(outcomes)}", "dim"))
        if rec.get("top_finding"):
            top = str(rec["top_finding"])
            severity = top.rsplit("(", 1)[-1].rstrip(")") if top.endswith(")") else ""
            under.append(styled(f"top finding: {safe_text(top)}", SEVERITY_STYLE.get(severity, "")))
        row = Row(
            (
                styled(rec["host"]),
                styled(rec["port"]),
                styled(rec["probes"]),
                styled(outcome, OUTCOME_STYLE.get(outcome, "")),
                styled(rec["tls_mode"]),
                styled(f"{rec['auth_before_tls']} → {rec['auth_after_tls']}"),
            ),
            tuple(under),
        )
        by_vantage.setdefault(safe_text(rec["vantage"]), []).append(row)
    for vantage, rows in by_vantage.items():
        if blocks:
            blocks.append(Text(""))
        blocks.append(Text(f"vantage {vantage}", style="bold"))
        blocks.append(rows_block(columns, rows, width))
    return blocks


def port_summary_block(summary: Any, width: int, words: OpenWords | None = None) -> list[Any]:
    """The table of :func:`smtplab.records.port_summary`: outcome by vantage and port."""
    columns = [
        Column("VANTAGE", flexible=True, min_width=10),
        Column("PORT", justify="right"),
        Column("PROBES", justify="right"),
        Column("OUTCOME"),
        Column("OUTCOMES", flexible=True, min_width=10),
    ]
    rows = []
    for rec in frame_rows(summary):
        outcome, outcomes = _words(rec, (rec["vantage"], rec["port"]), words)
        rows.append(
            Row(
                (
                    styled(rec["vantage"]),
                    styled(rec["port"]),
                    styled(rec["probes"]),
                    styled(outcome, OUTCOME_STYLE.get(outcome, "")),
                    styled(outcomes),
                ),
                (),
            )
        )
    return [rows_block(columns, rows, width)]


#: ``show`` adds the per-host checklist when the summary is at most this many rows: beyond that
#: the file is a dataset, not one host's probes, and loading every record would be slow.
CHECKLIST_MAX_ROWS = 50


def _print_transcripts(console: Any, records: Iterable[dict[str, Any]]) -> None:
    for rec in records:
        console.print()
        for line in transcript_lines(rec):
            console.print(line)


def _summary_of(df: Any, by_port: bool, limit: int | None) -> Any:
    """The summary of records already loaded (the very records the checklist shows)."""
    from smtplab.records import port_summary, summarize

    if by_port:
        return port_summary(df)
    out = summarize(df)
    groups = len(out)
    if limit is not None:
        out = out.head(limit).copy()
    out.attrs["groups"] = groups
    return out


def run_show(args: argparse.Namespace) -> int:
    from smtplab.records import load_records, port_summary_for_file, summary_for_file

    source = args.files if len(args.files) > 1 else args.files[0]
    console = make_console()
    strict, limit = not args.lenient, args.limit or None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if args.summary:
            summary = port_summary_for_file(source, strict=strict)
        else:
            summary = summary_for_file(source, strict=strict, limit=limit)
        groups = summary.attrs.get("groups", len(summary))
        keys = ("vantage", "port") if args.summary else ("vantage", "host", "port")
        records = None
        if args.transcript or (not args.summary and groups <= CHECKLIST_MAX_ROWS):
            # Whole records are needed (checklist, transcripts): read them *before* printing, so
            # a bad line stops show before any table that counted it, and the table counts the
            # very records shown (the summary reader checks only the columns it needs).
            df = load_records(source, strict=strict)
            records = frame_rows(df)
            summary = _summary_of(df, args.summary, limit)
            groups = summary.attrs.get("groups", len(summary))
            words = frame_open_words(df, keys)
        else:
            words = open_words(source, keys)
        if args.summary:
            blocks = port_summary_block(summary, console.width, words)
        else:
            blocks = summary_block(summary, console.width, words)
        if len(summary) == 0:
            console.print("(no records)")
        else:
            for block in blocks:
                console.print(block)
            if groups > len(summary):
                console.print(
                    f"\n(the first {len(summary):,} of {groups:,} rows, one per vantage, host "
                    "and port; --limit 0 shows every row, --summary shows outcome by port)",
                    style="dim",
                )
        if records is not None:
            if not args.summary:
                _print_checklist(console, records)
            if args.transcript:
                _print_transcripts(console, records)
    for note in dict.fromkeys(str(w.message) for w in caught):  # each note once
        print(f"note: {safe_text(note)}", file=sys.stderr)
    return 0


def _print_checklist(console: Any, records: list[dict[str, Any]]) -> None:
    from smtplab.checklist import checklist
    from smtplab.cli.probe_cmd import print_checklist

    print_checklist(console, checklist(records))


def run_merge(args: argparse.Namespace) -> int:
    from smtplab.records import merge_records

    output.check_record_file(args.output)
    target = Path(args.output)
    if target.exists() and not target.is_file():
        # merge reads the output first (records already there count as seen): a device such as
        # /dev/full or /dev/zero would be read for ever.
        raise UsageError(f"cannot merge into {safe_text(args.output)}: not a regular file")
    try:
        written, dupes = merge_records(args.files, args.output)
    except OSError as exc:
        if exc.filename is not None and str(exc.filename) != str(args.output):
            raise  # an input file: reported by main as that file's problem
        raise output.RecordWriteError(
            f"could not write {safe_text(args.output)}: {exc.strerror or exc}"
        ) from None
    make_console().print(
        f"wrote {written} record(s) to {safe_text(args.output)}; dropped {dupes} duplicate(s)"
    )
    return 0
