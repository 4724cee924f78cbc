"""JSON Lines record files: their limits, and appending under a lock.

Reading them is :mod:`smtplab.records.linereader` (line by line, with line-precise errors) and
:mod:`smtplab.records.fastjsonl` (block by block, falling back on the line reader).

JSON Lines (``.jsonl``) is the canonical format: one record per line, readable in any text
editor, and *appendable*, so a class can record into one file from many terminals at once.
``.jsonl.gz`` files can be read too.  Reading is bounded, so a hostile or broken file ends in
one clear :class:`RecordError` instead of filling memory or running forever: each line
(:data:`MAX_LINE_BYTES`), blank lines (:data:`MAX_BLANK_LINES`), records (``max_rows``) and the
decompressed size of a ``.gz`` (:data:`MAX_GZIP_RATIO` times its compressed size).
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from smtplab.records.errors import RecordError
from smtplab.records.normalise import to_json_ready

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
