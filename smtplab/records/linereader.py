"""Reading a JSON Lines file line by line, bounded, with errors that name the line.

:class:`LineReader` holds what one file's reading found (records, problems, blank lines);
:func:`open_for_reading` opens a plain or ``.gz`` file under a shared lock, refusing a gzip bomb.
:mod:`smtplab.records.fastjsonl` reads blocks with Arrow and comes back here for a block that
fails a check.
"""

from __future__ import annotations

import contextlib
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from smtplab.records.check import check_fields
from smtplab.records.errors import MAX_PROBLEMS_KEPT, RecordError, json_problem, show, where
from smtplab.records.jsonl import (
    _GZIP_FLOOR_BYTES,
    MAX_BLANK_LINES,
    MAX_GZIP_RATIO,
    os_error_reason,
    require_regular_file,
)
from smtplab.records.normalise import json_int
from smtplab.schema import FIELDS

try:  # POSIX only; elsewhere reads are not locked (appends still write whole lines)
    import fcntl
except ImportError:  # pragma: no cover - not on Linux/macOS
    fcntl = None  # type: ignore[assignment]

__all__ = ["LineReader", "open_for_reading"]


class _BoundedGzip:
    """A gzip stream that refuses to decompress more than a bound (a gzip bomb)."""

    def __init__(self, raw: IO[bytes], compressed_size: int, path: Path) -> None:
        self._f = gzip.GzipFile(fileobj=raw, mode="rb")
        self._limit = _GZIP_FLOOR_BYTES + MAX_GZIP_RATIO * compressed_size
        self._read = 0
        self._path = path

    def readline(self, size: int = -1) -> bytes:
        return self._count(self._f.readline(size))

    def read(self, size: int = -1) -> bytes:
        return self._count(self._f.read(size))

    def _count(self, data: bytes) -> bytes:
        self._read += len(data)
        if self._read > self._limit:
            raise RecordError(
                f"the compressed file expands to more than {self._limit:,} bytes "
                f"({MAX_GZIP_RATIO} times its size): refused as a likely gzip bomb",
                path=self._path,
            )
        return data


@contextlib.contextmanager
def open_for_reading(path: Path) -> Iterator[Any]:
    """Open a JSONL file with a shared lock: we never read a line a writer is half-way through."""
    size = require_regular_file(path).st_size
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise RecordError(f"cannot read: {os_error_reason(exc)}", path=path) from exc
    with raw:
        if fcntl is not None:
            fcntl.flock(raw.fileno(), fcntl.LOCK_SH)
        if path.name.lower().endswith(".gz"):
            yield _BoundedGzip(raw, size, path)
        else:
            yield raw


class LineReader:
    """The state of reading one JSONL file: records so far, and what was wrong."""

    def __init__(self, path: Path, strict: bool, max_line_bytes: int, max_rows: int | None):
        self.path = path
        self.strict = strict
        self.max_line_bytes = max_line_bytes
        self.max_rows = max_rows
        self.records: list[dict[str, Any]] = []
        self.done = 0  # records already handed out (block by block)
        self.problems: list[str] = []
        self.skipped = 0
        self.blank = 0
        self.dropped: set[str] = set()

    def bad(self, line_no: int | None, field: str | None, reason: str) -> None:
        if self.strict:
            raise RecordError(reason, path=self.path, line=line_no, field=field)
        self.skipped += 1
        if len(self.problems) < MAX_PROBLEMS_KEPT:
            self.problems.append(where(str(self.path), line_no, field, reason))

    def run(self, f: Any, line_no: int = 0) -> int:
        """Read lines from ``f`` (numbered after ``line_no``); return the last line's number."""
        while True:
            raw = f.readline(self.max_line_bytes + 1)
            if not raw:
                break
            line_no += 1
            if len(raw) > self.max_line_bytes and not raw.endswith(b"\n"):
                # Skip the rest of the oversized line without holding it in memory.
                while raw and not raw.endswith(b"\n"):
                    raw = f.readline(1024 * 1024)
                self.bad(
                    line_no,
                    None,
                    f"line longer than {self.max_line_bytes:,} bytes "
                    "(the limit; see smtplab.records.MAX_LINE_BYTES)",
                )
                continue
            self.line(line_no, raw)
        return line_no

    def line(self, line_no: int, raw: bytes) -> None:
        stripped = raw.strip()
        if not stripped:
            self.blank += 1  # blank lines are allowed (hand-edited files), up to a bound
            if self.blank > MAX_BLANK_LINES:
                raise RecordError(
                    f"more than {MAX_BLANK_LINES:,} blank lines: not a record file",
                    path=self.path,
                    line=line_no,
                )
            return
        obj = self.decode(line_no, stripped, raw.endswith(b"\n"))
        if obj is None:
            return
        out, errs = check_fields(obj, keep_unknown=not self.strict)
        if errs:
            field, reason = errs[0]
            self.bad(line_no, field, reason)
            return
        if not self.strict:
            self.dropped |= {k for k in obj if k not in FIELDS}
        if self.max_rows is not None and self.done + len(self.records) >= self.max_rows:
            raise RecordError(
                f"more than {self.max_rows:,} records (max_rows): too many for one pandas table; "
                "query the file with smtplab.records.Dataset, or pass a larger max_rows",
                path=self.path,
                line=line_no,
            )
        self.records.append(out)

    def decode(self, line_no: int, stripped: bytes, ends_cleanly: bool) -> dict[str, Any] | None:
        try:
            text = stripped.decode("utf-8")
        except UnicodeDecodeError as exc:
            byte = stripped[exc.start : exc.start + 1]
            self.bad(line_no, None, f"not UTF-8 text (byte {exc.start}: {byte!r})")
            return None
        try:
            obj = json.loads(text, parse_int=json_int)
        except json.JSONDecodeError as exc:
            if not ends_cleanly:
                reason = (
                    "truncated: the last line ends without a newline and is not complete "
                    "JSON (was a writer killed mid-write?)"
                )
            else:
                reason = json_problem(exc)
            self.bad(line_no, None, reason)
            return None
        except RecursionError:
            self.bad(line_no, None, "not valid JSON (nested too deeply)")
            return None
        if not isinstance(obj, dict):
            self.bad(
                line_no,
                None,
                f"expected a JSON object (a record), got {type(obj).__name__} {show(obj)}",
            )
            return None
        return obj
