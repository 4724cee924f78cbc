"""Reading JSON Lines by blocks: Arrow parses, columns are checked, lines are read if need be.

A record file is read in blocks of about :data:`BLOCK_BYTES` that end on a line end.  Each
block is parsed by Arrow's JSON reader against the declared schema and checked column by column
(:func:`_passes`): required fields present, words from their lists, ports in range, numbers
finite, times in the form smtplab writes, lists without null items, one record per line.
Only a block that passes every check is taken as it is; any other block (a bad line, a blank
line, a version 1 record, an unknown field, a line too long, text that is not UTF-8, …) is read
again by the line reader of :mod:`smtplab.records.jsonl`, whose verdict is the one that counts:
the same records, the same skipped lines and the same RecordError naming file, line and field
as if every line had been read one by one.  The column checks only decide which reader speaks;
they accept nothing the line reader would refuse.
"""

from __future__ import annotations

import gzip
import io
import re
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from smtplab.records.arrow import LoadPart, arrow_schema, records_to_table
from smtplab.records.errors import RecordError
from smtplab.records.jsonl import os_error_reason
from smtplab.records.linereader import LineReader, open_for_reading
from smtplab.schema import (
    DIRECTIONS,
    ENUMS,
    EVENT_KINDS,
    FIELDS,
    READABLE_SCHEMA_VERSIONS,
    SCHEMA_VERSION,
    SEVERITIES,
)

if TYPE_CHECKING:
    import pyarrow as pa


__all__ = ["BLOCK_BYTES", "iter_tables", "read_jsonl"]

#: Bytes of JSON Lines parsed at once (then up to the end of the line).  Memory holds one
#: block's text and its Arrow table, whatever the size of the file.
BLOCK_BYTES = 32 * 1024 * 1024

#: Arrow's JSON reader splits a block into pieces of this size; a longer line makes the block
#: go to the line reader (correct, only slower).
_ARROW_BLOCK = 4 * 1024 * 1024

#: How smtplab writes a time: ``2026-11-29T05:00:00[.ffffff]+00:00`` (or ``Z``), year 1 to
#: 9999.  Other ISO-8601 forms are read by the line reader, which accepts them all.
_TIME = (
    r"^([1-9]\d{3}|0[1-9]\d\d|00[1-9]\d|000[1-9])-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?(\+00:00|Z)$"
)
_INT64_BOUND = 2.0**63

#: A blank line between two line ends (``bytes.strip`` whitespace, as the line reader uses).
#: Anchored on a newline: a pattern that may also start at the block's start runs 25 times
#: slower (1.3 s against 0.05 s on a 30 MB block).
_BLANK_INSIDE = re.compile(rb"\n[ \t\r\x0b\x0c]*\n")


def _has_blank_line(data: bytes) -> bool:
    """True if a line of ``data`` is empty or only whitespace (the last one if unterminated)."""
    end = data.find(b"\n")
    first = data if end < 0 else data[: end + 1]
    last = data[data.rfind(b"\n") + 1 :]
    return (
        not first.strip()
        or (bool(last) and not last.strip())
        or _BLANK_INSIDE.search(data) is not None
    )


@lru_cache(maxsize=1)
def _json_schema() -> pa.Schema:
    """The record schema for Arrow's JSON reader: times as text, parsed after the checks."""
    import pyarrow as pa

    fields = [
        pa.field(f.name, pa.string()) if pa.types.is_timestamp(f.type) else f
        for f in arrow_schema()
    ]
    return pa.schema(fields)


def _all(mask: Any) -> bool:
    import pyarrow.compute as pc

    return bool(pc.all(mask).as_py() is not False)


def _finite(values: Any) -> bool:
    """Finite numbers that a 64-bit integer could hold (the line reader's float rule)."""
    import pyarrow.compute as pc

    return _all(pc.is_finite(values)) and _all(pc.less(pc.abs(values), _INT64_BOUND))


def _list_ok(col: Any, kind: str) -> bool:
    """No null items; for findings and transcript lines, every key there and valid."""
    import pyarrow as pa
    import pyarrow.compute as pc

    flat = pc.list_flatten(col)
    if flat.null_count:
        return False
    if kind == "list[str]" or len(flat) == 0:
        return True
    flat = flat.combine_chunks() if isinstance(flat, pa.ChunkedArray) else flat
    for i, child in enumerate(flat.type):
        values = flat.field(i)
        if child.name in ("kind", "data"):  # an event's, null on other lines
            continue
        if values.null_count:
            return False
        if child.name == "t" and not _finite(values):
            return False
    if kind == "transcript" and not _events_ok(flat):
        return False
    key, allowed = ("severity", SEVERITIES) if kind == "findings" else ("dir", DIRECTIONS)
    return _all(pc.is_in(flat.field(key), value_set=pa.array(allowed)))


def _events_ok(flat: Any) -> bool:
    """Kinds from the list; data only beside a kind, with no null item in a list of texts
    and only finite numbers (what the line reader accepts)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kinds = flat.field("kind")
    if kinds.null_count < len(kinds) and not _all(
        pc.is_in(pc.drop_null(kinds), value_set=pa.array(EVENT_KINDS))
    ):
        return False
    data = flat.field("data")
    if data.null_count == len(data):
        return True
    if not _all(pc.or_(pc.is_null(data), pc.is_valid(kinds))):
        return False
    for i, child in enumerate(data.type):
        values = pc.drop_null(data.field(i))
        if pa.types.is_list(child.type) and pc.list_flatten(values).null_count:
            return False
        if pa.types.is_floating(child.type) and len(values) and not _finite(values):
            return False
    return True


def _passes(table: pa.Table) -> bool:
    """True if every row of a parsed block is a record the line reader would take unchanged
    (apart from the version 1 -> 2 upgrade, done column-wise by :func:`_finish`)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for name, (kind, nullable) in FIELDS.items():
        col = table.column(name)
        if not nullable and col.null_count:
            return False
        if col.null_count == len(col):
            continue
        if name == "schema_version":
            if not _all(pc.is_in(col, value_set=pa.array(READABLE_SCHEMA_VERSIONS, pa.int64()))):
                return False
        elif name == "port":
            if not _all(pc.and_(pc.greater_equal(col, 0), pc.less_equal(col, 65535))):
                return False
        elif name in ENUMS:
            if not _all(pc.is_in(col, value_set=pa.array(ENUMS[name]))):
                return False
        elif kind == "float":
            if not _finite(col):
                return False
        elif kind == "datetime":
            if not _all(pc.match_substring_regex(col, _TIME)):
                return False
        elif kind in ("list[str]", "findings", "transcript") and not _list_ok(col, kind):
            return False
    return True


def _finish(table: pa.Table) -> pa.Table | None:
    """A checked block in :func:`arrow_schema`: times parsed, version 1 rows upgraded.

    None if a time is not a real date (say 30 February): the line reader says which."""
    import pyarrow as pa
    import pyarrow.compute as pc

    schema = arrow_schema()
    columns = []
    for field in schema:
        col = table.column(field.name)
        if pa.types.is_timestamp(field.type):
            try:
                col = col.cast(field.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return None
        elif field.name == "schema_version":
            # upgrade_record: versions 1 and 2 become 3; the fields 2 added are absent in 1, so
            # null, and the event lines of both have no kind, which a replay reads by words.
            col = pc.if_else(pc.less(col, SCHEMA_VERSION), SCHEMA_VERSION, col)
        columns.append(col)
    return pa.Table.from_arrays(columns, schema=schema)


def _parse_block(data: bytes, lines: int, max_line_bytes: int) -> pa.Table | None:
    """The block as checked records, or None if the line reader must read it."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.json as pj

    if b"\xef\xbb\xbf" in data:  # a byte-order mark: Python's json refuses it, Arrow does not
        return None
    # Arrow reads no row from a blank line and two from a line with two records: together they
    # would pass the count below, while the line reader refuses the two-record line.
    if _has_blank_line(data):
        return None
    try:
        data.decode("utf-8")  # Arrow does not check UTF-8 inside strings
    except UnicodeDecodeError:
        return None
    if len(data) > max_line_bytes:
        ends = np.flatnonzero(np.frombuffer(data, np.uint8) == 10)
        if np.diff(ends, prepend=-1, append=len(data)).max() > max_line_bytes + 1:
            return None
    try:
        table = pj.read_json(
            io.BytesIO(data),
            read_options=pj.ReadOptions(block_size=_ARROW_BLOCK),
            parse_options=pj.ParseOptions(
                explicit_schema=_json_schema(), unexpected_field_behavior="error"
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if table.num_rows != lines:  # two records on one line (blank lines are gone already)
        return None
    if not _passes(table):
        return None
    return _finish(table)


class _Chain:
    """Bytes already read, then the rest of the stream, as one ``readline`` source."""

    def __init__(self, head: bytes, tail: IO[bytes]) -> None:
        self.head = io.BytesIO(head)
        self.tail = tail

    def readline(self, size: int = -1) -> bytes:
        line = self.head.readline(size)
        if line.endswith(b"\n") or (size >= 0 and len(line) >= size):
            return line
        return line + self.tail.readline(size - len(line) if size >= 0 else -1)


def _slow(reader: LineReader, source: Any, line_no: int) -> tuple[pa.Table, int]:
    """Read lines with the line reader; hand out what it kept as a table."""
    line_no = reader.run(source, line_no)
    table = records_to_table(reader.records)
    reader.done += len(reader.records)
    reader.records = []
    return table, line_no


def _discard(f: Any, count: int) -> None:
    while count > 0:
        got = f.read(min(count, 8 * 1024 * 1024))
        if not got:
            return
        count -= len(got)


def _gzip_damage(reader: LineReader, exc: BaseException) -> bool:
    """A torn or oversized .gz (not a failing disk): the line reader decides what was read."""
    if not reader.path.name.lower().endswith(".gz"):
        return False
    if isinstance(exc, OSError) and not isinstance(exc, gzip.BadGzipFile):
        return not exc.errno
    return True


def _reread(reader: LineReader, offset: int, line_no: int) -> Iterator[pa.Table]:

    with open_for_reading(reader.path) as again:
        _discard(again, offset)
        try:
            reader.run(again, line_no)  # a bad line or the gzip-bomb bound raises here
        except (EOFError, OSError) as exc:
            if not _gzip_damage(reader, exc):
                raise
    if reader.records:
        yield records_to_table(reader.records)
        reader.done += len(reader.records)
        reader.records = []


def iter_tables(reader: LineReader, block_bytes: int | None = None) -> Iterator[pa.Table]:
    """The checked records of ``reader.path`` as Arrow tables, block by block.

    ``reader`` (a :class:`smtplab.records.linereader.LineReader`) keeps the count of skipped lines,
    the problems and dropped fields, and raises the strict-mode RecordError.  A damaged .gz
    raises its error after the records before the damage were handed out (lenient mode keeps
    them), exactly as the line reader does.
    """

    limit = reader.max_line_bytes
    block_bytes = block_bytes or BLOCK_BYTES
    line_no = 0
    offset = 0  # bytes of (decompressed) text read so far, up to a line end
    with open_for_reading(reader.path) as f:
        while True:
            try:
                data = f.read(block_bytes)
                rest = b"" if not data or data.endswith(b"\n") else f.readline(limit + 1)
            except (EOFError, OSError, RecordError) as exc:
                if not _gzip_damage(reader, exc):
                    raise
                # What this block had decompressed is lost with the error: read the file again
                # up to here and go on line by line, which stops at the same place.
                yield from _reread(reader, offset, line_no)
                raise
            if not data:
                return
            if rest and not rest.endswith(b"\n") and len(rest) > limit:
                # A line longer than the bound: the line reader skips it without holding it.
                table, line_no = _slow(reader, _Chain(data + rest, f), line_no)
                yield table
                return
            data += rest
            offset += len(data)
            lines = data.count(b"\n") + (not data.endswith(b"\n"))
            table = _parse_block(data, lines, limit)
            if table is not None and (
                reader.max_rows is None or reader.done + table.num_rows <= reader.max_rows
            ):
                reader.done += table.num_rows
                line_no += lines
                yield table
                continue
            table, line_no = _slow(reader, io.BytesIO(data), line_no)
            yield table


def read_jsonl(
    path: Path, strict: bool, max_line_bytes: int, max_rows: int | None = None
) -> LoadPart:
    """Read and check one JSON Lines file (plain or .gz) into an Arrow table.

    Blocks of lines are parsed and checked column-wise by Arrow; a block that fails a check is
    read again line by line (:mod:`smtplab.records.linereader`), so errors name the line."""
    import pyarrow as pa

    reader = LineReader(path, strict, max_line_bytes, max_rows)
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
