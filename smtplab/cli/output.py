"""Where results go: JSON Lines on stdout, tables on the console, records into files.

Results are precious (a probe of a filtered port costs its timeout): a record file is written
before anything is printed, so a closed pipe (``| head -1``) cannot lose them, and a file that
cannot be written does not lose them either: they are printed and the one-line error says so.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from smtplab.cli.errors import UsageError
from smtplab.safe_text import safe_json_line, safe_text

__all__ = ["RecordWriteError", "check_record_file", "print_json", "write_records"]


class RecordWriteError(UsageError):
    """The records could not be written; the results were (or will be) printed instead."""


def _reason(exc: BaseException, path: str) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc) or type(exc).__name__
    for prefix in (f"{path}: ", f"{Path(path)}: "):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    return text


def check_record_file(path: str) -> None:
    """Refuse, before any probe runs, a record file that clearly cannot be appended to."""
    p = Path(path)
    shown = safe_text(path)
    if p.is_dir():
        raise UsageError(
            f"cannot record to {shown}: it is a folder (a Parquet dataset?); "
            "give a .jsonl or .parquet file name"
        )
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"cannot record to {shown}: folder {safe_text(parent)} does not exist")
    if p.exists() and not os.access(p, os.W_OK):
        raise UsageError(f"cannot record to {shown}: the file is read-only")
    if not p.exists() and not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"cannot record to {shown}: folder {safe_text(parent)} is not writable")
    from smtplab.records import save_records

    try:
        save_records([], p)  # nothing is written: this only asks whether the format is accepted
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot record to {shown}: {safe_text(_reason(exc, path))}") from None


def write_records(results: Sequence[Any], path: str) -> tuple[int, RecordWriteError | None]:
    """Append ``results`` to ``path``: ``(written, None)``, or ``(0, error)`` when it failed."""
    from smtplab.records import save_records

    try:
        return save_records(results, path), None
    except Exception as exc:  # any failure to write must not lose the results
        n = len(results)
        return 0, RecordWriteError(
            f"could not write {safe_text(path)}: {safe_text(_reason(exc, path))}; "
            f"the {n} result{'s' if n != 1 else ''} were printed to standard output instead"
        )


def json_line(result: Any) -> str:
    rec = result.to_record() if hasattr(result, "to_record") else dict(result)
    return safe_json_line(json.dumps(rec, ensure_ascii=False))


def print_json(results: Sequence[Any]) -> None:
    """One record per line: the record schema, exactly, with terminal-unsafe characters escaped."""
    out = sys.stdout
    for r in results:
        out.write(json_line(r) + "\n")
    out.flush()
