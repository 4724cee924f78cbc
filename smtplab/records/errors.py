"""Errors and warnings of record files, and how they say *where*: file, line, field."""

from __future__ import annotations

import json
import os
from typing import Any

from smtplab.errors import SmtplabError

__all__ = [
    "MAX_PROBLEMS_KEPT",
    "RecordError",
    "RecordWarning",
    "json_problem",
    "show",
    "where",
]

#: How many problem messages a lenient load keeps in ``df.attrs["problems"]``.
MAX_PROBLEMS_KEPT = 20


def where(path: str | None, line: int | None, field: str | None, reason: str) -> str:
    """``"probes.jsonl, line 7, field 'port': reason"`` (parts that are None are left out)."""
    parts = []
    if path is not None:
        parts.append(path)
    if line is not None:
        parts.append(f"line {line}")
    if field is not None:
        parts.append(f"field {field!r}")
    return (", ".join(parts) + ": " if parts else "") + reason


def show(value: Any, limit: int = 60) -> str:
    """A short repr of a bad value for an error message (never a 5,000-digit number in full)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def json_problem(exc: json.JSONDecodeError) -> str:
    """``not valid JSON (Expecting value at column 7)``. Some of json's messages end in "at"
    already (``Unterminated string starting at``): they are not given a second one."""
    msg = exc.msg.removesuffix(" at")
    return f"not valid JSON ({msg} at column {exc.colno})"


class RecordError(SmtplabError, ValueError):
    """A record, or a line of a record file, breaks the schema; or a record file can't be used.

    Attributes say where: ``path`` (the file, or ``None`` for records in memory), ``line``
    (1-based line of a JSON Lines file, row of a Parquet file, or position in a list), ``field``
    (the field at fault, or ``None`` when the whole line is bad) and ``reason`` (what is wrong).
    ``str(error)`` reads like
    ``probes.jsonl, line 7, field 'port': expected an integer, got 'abc'``.
    """

    def __init__(
        self,
        reason: str,
        *,
        path: str | os.PathLike[str] | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.reason = reason
        self.path = None if path is None else str(path)
        self.line = line
        self.field = field
        super().__init__(where(self.path, line, field, reason))

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled whole (a Dask worker's error reaches the caller with its file and field)."""
        return (_record_error, (self.reason, self.path, self.line, self.field))


def _record_error(
    reason: str, path: str | None, line: int | None, field: str | None
) -> RecordError:
    return RecordError(reason, path=path, line=line, field=field)


class RecordWarning(UserWarning):
    """A lenient load skipped bad lines or dropped unknown fields."""
