"""JSON Lines record files: appending under a lock, and reading with line-precise errors.

JSON Lines (``.jsonl``) is the canonical format: one record per line, readable in any text
editor, and *appendable*, so a class can record into one file from many terminals at once.
``.jsonl.gz`` files can be read too.  Reading is bounded, so a hostile or broken file ends in
one clear :class:`RecordError` instead of filling memory or running forever: each line
(:data:`MAX_LINE_BYTES`), blank lines (:data:`MAX_BLANK_LINES`), records (``max_rows``) and the
decompressed size of a ``.gz`` (:data:`MAX_GZIP_RATIO` times its compressed size).
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import json
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from smtplab.records.arrow import LoadPart, records_to_table
from smtplab.records.check import check_fields
from smtplab.records.errors import MAX_PROBLEMS_KEPT, RecordError, json_problem, show, where
from smtplab.records.normalise import json_int, to_json_ready
from smtplab.schema import FIELDS

try:  # POSIX only; on Windows appends are still line-at-once, just not locked.
    import fcntl
except ImportError:  # pragma: no cover - not on Linux/macOS
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "MAX_BLANK_LINES",
    "MAX_GZIP_RATIO",
    "MAX_LINE_BYTES",
    "WRITE_CHUNK_BYTES",
    "append_jsonl",
    "dumps",
    "os_error_reason",
    "read_jsonl",
    "require_regular_file",
]

#: Longest JSON line we read (bytes).  A limit keeps a corrupt file without newlines from
#: filling memory.  Where the number comes from: the hostile-server suite records a
#: 200,000-line EHLO reply; each transcript entry costs about 45 bytes of JSON framing
#: (``{"t":123456.789,"dir":"server","text":""},``) plus its text, and RFC 5321 section
#: 4.5.3.1.5 caps a reply line at 512 octets: 200,000 x (45 + 512) = 111.4 MB, which fits
#: under 128 MiB (134.2 MB) with room for the rest of the record.
MAX_LINE_BYTES = 128 * 1024 * 1024

#: Blank lines allowed in one file.  Hand-edited files have a few; a file of millions of
#: newlines (a 100 KB .gz holds 100 million) is not a record file, and reading it would take
#: minutes for nothing.
MAX_BLANK_LINES = 100_000

#: A .gz may decompress to at most this many times its own size (plus 64 MiB).  Record files
#: compress 5-30 times; gzip's own limit is about 1,032, reached only by runs of one byte.
MAX_GZIP_RATIO = 200
_GZIP_FLOOR_BYTES = 64 * 1024 * 1024

#: Lines are gathered into writes of about this many bytes: a typical batch (hundreds of
#: records of a few kB) is a single write, while saving a million records at once does not
#: build a gigabyte of bytes first.  Every write ends at a line end.
WRITE_CHUNK_BYTES = 8 * 1024 * 1024


def os_error_reason(exc: OSError) -> str:
    """An OSError in words, without the path (the RecordError names it)."""
    if exc.errno == errno.ENOSPC:
        return "no space left on the device"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.EROFS:
        return "the file system is read-only"
    if exc.errno == errno.EISDIR:
        return "it is a folder, not a file"
    if exc.errno == errno.ENOENT:
        return "no such file or folder"
    return exc.strerror or str(exc)


def require_regular_file(path: Path) -> os.stat_result:
    """The file's stat, or :class:`RecordError` if it is missing or not a regular file."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise RecordError(f"cannot read: {os_error_reason(exc)}", path=path) from exc
    if not stat.S_ISREG(st.st_mode):
        kind = "a folder" if stat.S_ISDIR(st.st_mode) else "a device, pipe or socket"
        raise RecordError(
            f"not a record file: it is {kind}, not a regular .jsonl or .parquet file", path=path
        )
    return st


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def dumps(rec: dict[str, Any]) -> bytes:
    """One JSON line (with its newline) for a checked record, keys in schema order."""
    text = json.dumps(
        to_json_ready(rec), ensure_ascii=False, separators=(",", ":"), allow_nan=False
    )
    return text.encode("utf-8") + b"\n"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:  # os.write may write less than asked (signals, huge buffers)
        written = os.write(fd, view)
        view = view[written:]


def append_jsonl(lines: Iterable[bytes], path: Path) -> None:
    """Append lines under an exclusive lock, in writes that end on line ends, then fsync.

    A failure (read-only file, full disk) is a :class:`RecordError` naming the file.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        raise RecordError(
            f"cannot write records: {os_error_reason(exc)}; nothing was written", path=path
        ) from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise RecordError(
                "cannot write records: not a regular file (a device, pipe or socket)", path=path
            )
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        _append_locked(fd, lines)
    except OSError as exc:
        raise RecordError(
            f"cannot write records: {os_error_reason(exc)}; the file may end with a partial line",
            path=path,
        ) from exc
    finally:
        os.close(fd)  # closing releases the lock


def _append_locked(fd: int, lines: Iterable[bytes]) -> None:
    # Under the lock no other smtplab writer moves the end of the file.
    size = os.fstat(fd).st_size
    pending: list[bytes] = []
    pending_bytes = 0
    if size > 0 and os.pread(fd, 1, size - 1) != b"\n":
        pending.append(b"\n")  # isolate a torn last line left by a killed writer
    for line in lines:
        pending.append(line)
        pending_bytes += len(line)
        if pending_bytes >= WRITE_CHUNK_BYTES:
            _write_all(fd, b"".join(pending))
            pending, pending_bytes = [], 0
    if pending:
        _write_all(fd, b"".join(pending))
    os.fsync(fd)


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


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
def _open_for_reading(path: Path) -> Iterator[Any]:
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


class _Reader:
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


def read_jsonl(
    path: Path, strict: bool, max_line_bytes: int, max_rows: int | None = None
) -> LoadPart:
    """Read and check one JSON Lines file (plain or .gz) into an Arrow table.

    Blocks of lines are parsed and checked column-wise by Arrow; a block that fails a check is
    read again line by line (:mod:`smtplab.records.fastjsonl`), so errors name the line."""
    import pyarrow as pa

    from smtplab.records.fastjsonl import iter_tables

    reader = _Reader(path, strict, max_line_bytes, max_rows)
    tables = []
    try:
        for table in iter_tables(reader):
            tables.append(table)
    except (EOFError, gzip.BadGzipFile, OSError) as exc:
        if isinstance(exc, OSError) and not isinstance(exc, gzip.BadGzipFile) and exc.errno:
            raise RecordError(f"cannot read: {os_error_reason(exc)}", path=path) from exc
        # A torn .gz file: what was read so far stays usable in lenient mode.
        if strict:
            raise RecordError(f"the compressed file is damaged: {exc}", path=path) from exc
        reader.bad(None, None, f"the compressed file is damaged: {exc}")
    tables = [t for t in tables if t.num_rows] or [records_to_table([])]
    table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    return table, reader.skipped, reader.problems, reader.dropped
