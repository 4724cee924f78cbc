"""Record files: save probe results, load them back as a pandas DataFrame, check them.

One probe gives one *record*: a flat dict whose fields are defined once, in
:mod:`smtplab.schema`.  This module writes and reads files of records:

* **JSON Lines** (``.jsonl``) is the canonical format: one record per line, readable in any text
  editor, and *appendable* — :func:`save_records` adds lines at the end, so a class can record
  into one file from many terminals at once.  ``.jsonl.gz`` files can be loaded too.
* **Parquet** (``.parquet``, or a folder of hive-partitioned Parquet files) is for large sets:
  columnar, compressed, and read as-is by pandas, DuckDB and Spark.

A record on disk looks like this (one line, shortened here)::

    {"schema_version":1,"probe_id":"6f1c…","started_at":"2026-11-29T05:00:00.123456+00:00",
     "vantage":"lab:home-isp","source":"lab","host":"smtp.lab.example","port":587, …,
     "findings":[{"code":"starttls-offered","severity":"info","message":"…"}],
     "transcript":[{"t":0.0,"dir":"event","text":"connect 127.0.0.1:40123"}, …]}

Rules this module enforces (the schema is a contract between everyone who reads the files):

* Every field of :data:`smtplab.schema.FIELDS` has a kind (int, str, list of str, …) and says
  whether it may be ``null``.  A field that may be ``null`` may also be left out of a line: it
  reads as ``None``.  A field that may not be ``null`` must be present.
* Words from a fixed list (``outcome``, ``mode``, ``tls_mode``, ``source``, ``relay_check``,
  ``role``, a finding's ``severity``, a transcript line's ``dir``) must be one of the listed words.
* Unknown fields are refused when loading strictly (a typo such as ``"outcom"`` would otherwise
  be silently lost); a lenient load keeps the known fields and says which were dropped.
* Loading is strict by default: the first bad line raises :class:`RecordError`, whose message
  names the file, the line and the field.  ``strict=False`` skips bad lines instead, counts them
  in ``df.attrs["skipped"]`` and warns once with :class:`RecordWarning`.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import math
import os
import re
import tempfile
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from smtplab.schema import DIRECTIONS, ENUMS, FIELD_NAMES, FIELDS, SCHEMA_VERSION, SEVERITIES

try:  # POSIX only; on Windows appends are still line-at-once, just not locked.
    import fcntl
except ImportError:  # pragma: no cover - not on Linux/macOS
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = [
    "MAX_LINE_BYTES",
    "SUPPORTED_SCHEMA_VERSIONS",
    "RecordError",
    "RecordWarning",
    "arrow_schema",
    "check_record",
    "format_summary",
    "frame_to_records",
    "load_records",
    "merge_records",
    "records_to_frame",
    "save_records",
    "summarize",
    "validate_record",
    "write_parquet",
]

#: The schema versions this smtplab can read.  A file from a newer smtplab is refused with a
#: message saying so, rather than misread.
SUPPORTED_SCHEMA_VERSIONS: tuple[int, ...] = (SCHEMA_VERSION,)

#: Longest JSON line we read (bytes).  A limit keeps a corrupt file without newlines from
#: filling memory.  Where the number comes from: the hostile-server suite records a
#: 200,000-line EHLO reply; each transcript entry costs about 45 bytes of JSON framing
#: (``{"t":123456.789,"dir":"server","text":""},``) plus its text, and RFC 5321 section
#: 4.5.3.1.5 caps a reply line at 512 octets: 200,000 x (45 + 512) = 111.4 MB, which fits
#: under 128 MiB (134.2 MB) with room for the rest of the record.
MAX_LINE_BYTES = 128 * 1024 * 1024

#: How many problem messages a lenient load keeps in ``df.attrs["problems"]``.
MAX_PROBLEMS_KEPT = 20

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_LIST_KINDS = ("list[str]", "findings", "transcript")
_FINDING_KEYS = ("code", "severity", "message")
_TRANSCRIPT_KEYS = ("t", "dir", "text")
# Lone surrogates cannot be written as UTF-8 (JSON files, Parquet strings): refuse them early.
_SURROGATE = re.compile("[\ud800-\udfff]")


class RecordError(ValueError):
    """A record, or a line of a record file, breaks the schema.

    Attributes say where: ``path`` (the file, or ``None`` for records in memory), ``line``
    (1-based line of a JSON Lines file, row of a Parquet file, or position in a list), ``field``
    (the field at fault, or ``None`` when the whole line is bad) and ``reason`` (what is wrong).
    ``str(error)`` reads like ``probes.jsonl, line 7, field 'port': expected an integer, got 'abc'``.
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
        super().__init__(_where(self.path, line, field, reason))


class RecordWarning(UserWarning):
    """A lenient load skipped bad lines or dropped unknown fields."""


def _where(path: str | None, line: int | None, field: str | None, reason: str) -> str:
    parts = []
    if path is not None:
        parts.append(path)
    if line is not None:
        parts.append(f"line {line}")
    if field is not None:
        parts.append(f"field {field!r}")
    return (", ".join(parts) + ": " if parts else "") + reason


def _show(value: Any, limit: int = 60) -> str:
    """A short repr of a bad value for an error message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------------------------
# Checking one record
# --------------------------------------------------------------------------------------------


def _as_mapping(item: Any) -> Any:
    """A probe result (anything with ``to_record()``) or a mapping, as a mapping."""
    to_record = getattr(item, "to_record", None)
    if callable(to_record):
        return to_record()
    return item


def _parse_datetime(value: Any) -> datetime | str:
    """An aware UTC datetime, or a problem description."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value)  # 3.11 also accepts a trailing "Z"
        except ValueError:
            return f"expected an ISO-8601 date and time such as '2026-11-29T05:00:00+00:00', got {_show(value)}"
    else:
        return f"expected an ISO-8601 date and time (text), got {_show(value)}"
    if dt.tzinfo is None or dt.utcoffset() is None:
        return (
            f"the time {_show(value)} has no time zone; write it in UTC, e.g. ending in +00:00 or Z"
        )
    # pandas Timestamps are datetimes too; make a plain datetime so JSON and Arrow agree.
    try:
        dt = dt.astimezone(timezone.utc)
    except (OverflowError, ValueError):
        return f"the time {_show(value)} is out of range"
    return datetime(
        dt.year,
        dt.month,
        dt.day,
        dt.hour,
        dt.minute,
        dt.second,
        dt.microsecond,
        tzinfo=timezone.utc,
    )


def _check_str(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"expected text, got {_show(value)}"
    if _SURROGATE.search(value):
        return "text holds a lone surrogate, which cannot be stored as UTF-8 (decode server bytes with errors='replace')"
    return None


def _check_value(name: str, kind: str, value: Any) -> tuple[Any, str | None]:
    """Check one non-null value of a field; return (normalised value, problem or None)."""
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            return value, f"expected an integer, got {_show(value)}"
        if not _INT64_MIN <= value <= _INT64_MAX:
            return value, f"the integer {value} does not fit in 64 bits"
        if name == "port" and not 0 <= value <= 65535:
            return value, f"a TCP port is 0 to 65535, got {value}"
        if name == "schema_version" and value not in SUPPORTED_SCHEMA_VERSIONS:
            known = ", ".join(str(v) for v in SUPPORTED_SCHEMA_VERSIONS)
            return value, (
                f"schema_version {value} is not one this smtplab reads (it reads version {known}); "
                "a newer smtplab wrote this file: upgrade smtplab to read it"
            )
        return value, None
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return value, f"expected a number, got {_show(value)}"
        if not math.isfinite(value):
            return value, f"expected a finite number, got {value!r}"
        return float(value), None
    if kind == "bool":
        if not isinstance(value, bool):
            return value, f"expected true or false, got {_show(value)}"
        return value, None
    if kind == "str":
        problem = _check_str(value)
        if problem is None and name in ENUMS and value not in ENUMS[name]:
            problem = f"unknown word {_show(value)}; expected one of: {', '.join(ENUMS[name])}"
        return value, problem
    if kind == "datetime":
        parsed = _parse_datetime(value)
        if isinstance(parsed, str):
            return value, parsed
        return parsed, None
    if kind == "list[str]":
        if not isinstance(value, (list, tuple)):
            return value, f"expected a list of text, got {_show(value)}"
        for i, item in enumerate(value):
            problem = _check_str(item)
            if problem:
                return value, f"item {i}: {problem}"
        return list(value), None
    if kind == "findings":
        if not isinstance(value, (list, tuple)):
            return value, f"expected a list of findings, got {_show(value)}"
        out = []
        for i, item in enumerate(value):
            item = _as_mapping(item)
            if not isinstance(item, Mapping):
                return (
                    value,
                    f"finding {i}: expected an object with code, severity and message, got {_show(item)}",
                )
            if set(item) != set(_FINDING_KEYS):
                return value, (
                    f"finding {i}: expected exactly the keys code, severity, message, "
                    f"got {', '.join(sorted(map(str, item)))}"
                )
            for key in _FINDING_KEYS:
                problem = _check_str(item[key])
                if problem:
                    return value, f"finding {i}, {key}: {problem}"
            if item["severity"] not in SEVERITIES:
                return value, (
                    f"finding {i}: unknown severity {_show(item['severity'])}; "
                    f"expected one of: {', '.join(SEVERITIES)}"
                )
            out.append({key: item[key] for key in _FINDING_KEYS})
        return out, None
    if kind == "transcript":
        if not isinstance(value, (list, tuple)):
            return value, f"expected a list of transcript lines, got {_show(value)}"
        out = []
        for i, item in enumerate(value):
            item = _as_mapping(item)
            if not isinstance(item, Mapping):
                return (
                    value,
                    f"line {i}: expected an object with t, dir and text, got {_show(item)}",
                )
            if set(item) != set(_TRANSCRIPT_KEYS):
                return value, (
                    f"transcript line {i}: expected exactly the keys t, dir, text, "
                    f"got {', '.join(sorted(map(str, item)))}"
                )
            t = item["t"]
            if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t):
                return (
                    value,
                    f"transcript line {i}: t must be a number of milliseconds, got {_show(t)}",
                )
            if item["dir"] not in DIRECTIONS:
                return value, (
                    f"transcript line {i}: unknown dir {_show(item['dir'])}; "
                    f"expected one of: {', '.join(DIRECTIONS)}"
                )
            problem = _check_str(item["text"])
            if problem:
                return value, f"transcript line {i}, text: {problem}"
            out.append({"t": float(t), "dir": item["dir"], "text": item["text"]})
        return out, None
    raise AssertionError(f"schema kind {kind!r} of {name!r} is not handled")  # pragma: no cover


def _check(
    rec: Any, *, keep_unknown: bool = False
) -> tuple[dict[str, Any], list[tuple[str | None, str]]]:
    """Check a record; return (normalised record in schema order, [(field, problem), ...]).

    The normalised record holds datetimes as aware UTC ``datetime`` objects and lists as lists.
    With ``keep_unknown=False`` unknown fields are problems; with True they are dropped silently.
    """
    rec = _as_mapping(rec)
    if not isinstance(rec, Mapping):
        return {}, [(None, f"expected a JSON object (a record), got {_show(rec)}")]
    problems: list[tuple[str | None, str]] = []
    # The version decides how to read everything else: check it first and stop if unknown.
    if "schema_version" not in rec:
        return {}, [
            ("schema_version", "missing field (every record starts with its schema_version)")
        ]
    _, problem = _check_value("schema_version", "int", rec["schema_version"])
    if problem:
        return {}, [("schema_version", problem)]
    out: dict[str, Any] = {}
    for name, (kind, nullable) in FIELDS.items():
        if name not in rec:
            if nullable:
                out[name] = None
            else:
                problems.append((name, "missing field"))
            continue
        value = rec[name]
        if value is None:
            if not nullable:
                problems.append((name, "must not be null"))
            out[name] = None
            continue
        value, problem = _check_value(name, kind, value)
        if problem:
            problems.append((name, problem))
        out[name] = value
    if not keep_unknown:
        for name in rec:
            if name not in FIELDS:
                problems.append(
                    (
                        str(name),
                        f"unknown field (not in schema version {SCHEMA_VERSION}); known fields are listed in smtplab.schema.FIELDS",
                    )
                )
    return out, problems


def validate_record(rec: Any) -> list[str]:
    """The problems of one record, as readable sentences; an empty list means it is fine.

    ``rec`` is a dict in the record schema, or anything with a ``to_record()`` method (a probe
    result).  Example: ``["field 'port': expected an integer, got 'abc'"]``.
    """
    _, problems = _check(rec)
    return [_where(None, None, field, reason) for field, reason in problems]


def check_record(rec: Any, *, path: str | None = None, line: int | None = None) -> dict[str, Any]:
    """A valid record as a plain dict in schema order, or :class:`RecordError` for the first problem.

    Times come back as ISO-8601 UTC text, as they are written to JSON.
    """
    out, problems = _check(rec)
    if problems:
        field, reason = problems[0]
        raise RecordError(reason, path=path, line=line, field=field)
    return _to_json_ready(out)


def _to_json_ready(rec: dict[str, Any]) -> dict[str, Any]:
    out = dict(rec)
    for name, (kind, _) in FIELDS.items():
        if kind == "datetime" and isinstance(out.get(name), datetime):
            out[name] = out[name].isoformat()
    return out


def _dumps(rec: dict[str, Any]) -> bytes:
    """One JSON line (with its newline) for a checked record, keys in schema order."""
    text = json.dumps(
        _to_json_ready(rec), ensure_ascii=False, separators=(",", ":"), allow_nan=False
    )
    return text.encode("utf-8") + b"\n"


# --------------------------------------------------------------------------------------------
# Saving
# --------------------------------------------------------------------------------------------


def _iter_items(items: Any) -> list[Any]:
    """A single result or record, or an iterable of them, as a list."""
    if isinstance(items, Mapping) or callable(getattr(items, "to_record", None)):
        return [items]
    if isinstance(items, (str, bytes)):
        raise TypeError("save_records() takes probe results or record dicts, not text")
    try:
        import pandas as pd

        if isinstance(items, pd.DataFrame):
            return frame_to_records(items)
    except ImportError:  # pragma: no cover - pandas is a dependency
        pass
    return list(items)


def _kind_of_path(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".parquet") or path.is_dir():
        return "parquet"
    if name.endswith(".gz"):
        return "jsonl.gz"
    return "jsonl"


def save_records(items: Any, path: str | os.PathLike[str], *, vantage: str | None = None) -> int:
    """Append probe results to a record file; return how many records were written.

    ``items`` is one probe result or record dict, or an iterable of them (a DataFrame from
    :func:`load_records` works too).  ``vantage`` sets the vantage label of every record written
    (for example ``"home-wifi"``).

    Every record is checked first: if any is invalid, :class:`RecordError` is raised and nothing
    is written.

    * ``.jsonl`` (or any other name): JSON Lines, appended.  The file is locked
      (``fcntl.flock``) while writing, lines go out in ``O_APPEND`` writes that end on line ends, and are
      flushed to disk (``fsync``), so two processes appending at once lose nothing and a
      process killed mid-write can leave at most its own last line torn.  If the file does not
      end with a newline (a writer was killed mid-line), a newline is written first, so the torn
      line stays one bad line on its own instead of gluing onto the new record.
    * ``.parquet``: Parquet files cannot be appended in place, so the existing file is read,
      the new records added, and the whole file rewritten to a temporary file that then replaces
      the old one (``os.replace``, atomic): a crash leaves either the old or the new file.  Fine
      for thousands of records; for millions, write partitioned sets with :func:`write_parquet`.
    """
    path = Path(path)
    records = []
    for i, item in enumerate(_iter_items(items), start=1):
        item = _as_mapping(item)
        if vantage is not None:
            if not isinstance(item, Mapping):
                raise RecordError(f"expected a record, got {_show(item)}", line=i)
            item = {**item, "vantage": vantage}
        out, problems = _check(item)
        if problems:
            field, reason = problems[0]
            raise RecordError(
                f"record {i} was not saved (nothing was written): {reason}", field=field
            )
        records.append(out)
    kind = _kind_of_path(path)
    if kind == "jsonl.gz":
        raise ValueError(
            f"{path}: save to a plain .jsonl file and compress it when recording is over (gzip {path.stem})"
        )
    if not records:
        return 0
    if kind == "parquet":
        _append_parquet(records, path)
    else:
        _append_jsonl((_dumps(r) for r in records), path)
    return len(records)


#: Lines are gathered into writes of about this many bytes: a typical batch (hundreds of
#: records of a few kB) is a single write, while saving a million records at once does not
#: build a gigabyte of bytes first.  Every write ends at a line end.
WRITE_CHUNK_BYTES = 8 * 1024 * 1024


def _append_jsonl(lines: Iterable[bytes], path: Path) -> None:
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
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
    finally:
        os.close(fd)  # closing releases the lock


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:  # os.write may write less than asked (signals, huge buffers)
        written = os.write(fd, view)
        view = view[written:]


@contextlib.contextmanager
def _directory_lock(directory: Path) -> Iterator[None]:
    """Serialise rewrites of files in one folder (the file itself is replaced, so lock the folder)."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _append_parquet(records: list[dict[str, Any]], path: Path) -> None:
    import pyarrow as pa

    directory = path.parent if str(path.parent) else Path(".")
    with _directory_lock(directory):
        new = _records_to_table(records)
        if path.exists():
            old = _read_parquet_table(path, strict=True)[0]
            new = pa.concat_tables([old, new])
        _write_table_atomically(new, path)


def _write_table_atomically(table: pa.Table, path: Path) -> None:
    import pyarrow.parquet as pq

    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        pq.write_table(table, tmp, compression="zstd")
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


# --------------------------------------------------------------------------------------------
# Arrow schema and frames
# --------------------------------------------------------------------------------------------


def arrow_schema() -> pa.Schema:
    """The Parquet/Arrow schema of a record file, in schema order.

    Plain types only, so DuckDB, Spark and any Parquet reader take the files as they are:
    ``int64``, ``double``, ``bool``, ``string``, ``timestamp[us, tz=UTC]``, ``list<string>``,
    and lists of structs for ``findings`` (code, severity, message) and ``transcript``
    (t, dir, text).
    """
    import pyarrow as pa

    kinds = {
        "int": pa.int64(),
        "float": pa.float64(),
        "bool": pa.bool_(),
        "str": pa.string(),
        "datetime": pa.timestamp("us", tz="UTC"),
        "list[str]": pa.list_(pa.string()),
        "findings": pa.list_(
            pa.struct([("code", pa.string()), ("severity", pa.string()), ("message", pa.string())])
        ),
        "transcript": pa.list_(
            pa.struct([("t", pa.float64()), ("dir", pa.string()), ("text", pa.string())])
        ),
    }
    return pa.schema(
        [
            pa.field(name, kinds[kind], nullable=nullable)
            for name, (kind, nullable) in FIELDS.items()
        ],
        metadata={"smtplab_schema_version": str(SCHEMA_VERSION)},
    )


def _records_to_table(records: list[dict[str, Any]]) -> pa.Table:
    """Checked records (datetimes as datetime objects) to an Arrow table."""
    import pyarrow as pa

    return pa.Table.from_pylist(records, schema=arrow_schema())


def _pandas_dtypes() -> dict[str, Any]:
    import pandas as pd

    scalar = {
        "int": pd.Int64Dtype(),
        "float": "float64",
        "bool": pd.BooleanDtype(),
        "str": pd.StringDtype(),
        "datetime": pd.DatetimeTZDtype("us", "UTC"),
    }
    return {name: scalar.get(kind, object) for name, (kind, _) in FIELDS.items()}


def _table_to_frame(table: pa.Table | list[pa.Table]) -> pd.DataFrame:
    """An Arrow table in :func:`arrow_schema` to the DataFrame :func:`load_records` returns.

    Both JSON Lines and Parquet loads end here, so both give the same dtypes.  Given the table
    inside a one-item list (which it empties), it lets go of each Arrow column once converted,
    so a big load does not hold the Arrow and the pandas copies of everything at once.
    """
    import pandas as pd

    if isinstance(table, list):
        table = table.pop()
    dtypes = _pandas_dtypes()
    columns: dict[str, Any] = {}
    for name, (kind, _) in FIELDS.items():
        if name not in table.column_names:
            continue  # load_records(columns=...) asked for fewer columns
        col = table.column(name)
        table = table.drop_columns([name])
        if kind in _LIST_KINDS:
            # Python lists (and dicts inside them), not numpy arrays: what a learner expects.
            series = pd.Series(_list_column_to_python(col), dtype=object, name=name)
        elif kind == "float":
            series = col.to_pandas()
        else:
            series = col.to_pandas(
                types_mapper={
                    "int": lambda t: pd.Int64Dtype(),
                    "bool": lambda t: pd.BooleanDtype(),
                    "str": lambda t: pd.StringDtype(),
                }.get(kind, lambda t: None)
            ).astype(dtypes[name])
        columns[name] = series.reset_index(drop=True)
    return pd.DataFrame(columns, columns=[n for n in FIELD_NAMES if n in columns])


def _strings_to_python(arr: pa.Array) -> list[Any]:
    """A string array as a Python list, with one shared str object per distinct value.

    Record files repeat the same words millions of times ("PIPELINING", "server"); sharing the
    objects keeps a million-row load within memory (see benchmarks/records_scale.py).
    """
    import numpy as np
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(arr)
    uniques = np.array([*encoded.dictionary.to_pylist(), None], dtype=object)
    indices = encoded.indices.fill_null(len(uniques) - 1).to_numpy(zero_copy_only=False)
    return list(uniques[indices])


def _list_column_to_python(col: Any) -> list[Any]:
    """A list<string> or list<struct> Arrow column as Python lists (of str or dicts); null -> None."""
    import numpy as np
    import pyarrow as pa

    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    n = len(arr)
    if n == 0:
        return []
    flat = arr.flatten()  # the items of every list, in order (honours slicing)
    offsets = arr.offsets.to_numpy(zero_copy_only=False)
    offsets = (offsets - offsets[0]).tolist()
    if pa.types.is_struct(flat.type):
        names = [f.name for f in flat.type]
        columns = []
        for i, f in enumerate(flat.type):
            child = flat.field(i)
            columns.append(
                _strings_to_python(child) if pa.types.is_string(f.type) else child.to_pylist()
            )
        items: list[Any] = [dict(zip(names, values, strict=False)) for values in zip(*columns, strict=False)]
    else:
        items = _strings_to_python(flat)
    out: list[Any] = [items[offsets[i] : offsets[i + 1]] for i in range(n)]
    if arr.null_count:
        for i in np.flatnonzero(~arr.is_valid().to_numpy(zero_copy_only=False)).tolist():
            out[i] = None
    return out


def records_to_frame(records: Iterable[Any]) -> pd.DataFrame:
    """Records (dicts or probe results) as a DataFrame with the dtypes of :func:`load_records`.

    Raises :class:`RecordError` for the first invalid record (``line`` is its 1-based position).
    """
    checked = []
    for i, item in enumerate(_iter_items(records), start=1):
        out, problems = _check(item)
        if problems:
            field, reason = problems[0]
            raise RecordError(reason, line=i, field=field)
        checked.append(out)
    return _table_to_frame(_records_to_table(checked))


def _plain(value: Any) -> Any:
    """numpy/pandas scalars and arrays inside a DataFrame cell as plain Python values."""
    import numpy as np
    import pandas as pd

    if value is None:
        return None
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if value is pd.NaT:  # NaT is also a datetime: test it first
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime().isoformat()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def frame_to_records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of a records DataFrame as plain record dicts (times as ISO-8601 UTC text).

    Columns that are not record fields (say, one you added for an analysis) are left out, so
    ``save_records(frame_to_records(df), path)`` writes valid records.
    """
    names = [name for name in FIELD_NAMES if name in df.columns]
    out = []
    for row in df[names].itertuples(index=False, name=None):
        out.append({name: _plain(value) for name, value in zip(names, row, strict=False)})
    return out


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def load_records(
    path_or_paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    strict: bool = True,
    columns: Sequence[str] | None = None,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> pd.DataFrame:
    """Load record files into a pandas DataFrame, one row per probe.

    ``path_or_paths`` is a JSON Lines file (``.jsonl``, or ``.jsonl.gz``), a Parquet file, a
    folder of (hive-partitioned) Parquet files or of ``.jsonl`` files, or a list of any of these.

    Columns come in schema order (:data:`smtplab.schema.FIELD_NAMES`) with these dtypes, the same
    whether the file was JSON Lines or Parquet:

    ========================================  ===========================================
    integers (``port``, ``banner_code``, …)    ``Int64`` (nullable)
    timings in ms (``connect_ms``, …)          ``float64`` (NaN when not measured)
    ``esmtp``, ``starttls_offered``, …         ``boolean`` (nullable)
    text (``host``, ``outcome``, …)            ``string``
    ``started_at``, ``cert_not_after``         ``datetime64[us, UTC]``
    ``extensions``, ``cert_san``, AUTH lists   Python lists of str (AUTH lists may be None:
                                               not seen, unlike ``[]``: none offered)
    ``findings``, ``transcript``               Python lists of dicts
    ========================================  ===========================================

    Strict (the default): the first bad line raises :class:`RecordError` naming the file, the
    line and the field.  ``strict=False``: bad lines are skipped; ``df.attrs["skipped"]`` says
    how many, ``df.attrs["problems"]`` lists the first few reasons, and one
    :class:`RecordWarning` sums it up.

    ``columns`` picks fields for big sets: ``load_records("big.parquet", columns=["port",
    "outcome"])`` reads only those two columns from Parquet (and checks only them), which is
    what makes a million rows take a second instead of ten; see data/README.md, "Scale".
    ``max_line_bytes`` is the longest JSON line accepted (:data:`MAX_LINE_BYTES`).
    """
    import pandas as pd

    if columns is not None:
        unknown = [c for c in columns if c not in FIELDS]
        if unknown:
            raise ValueError(
                f"not record fields: {', '.join(unknown)} (see smtplab.schema.FIELD_NAMES)"
            )
        columns = [n for n in FIELD_NAMES if n in columns]
    if isinstance(path_or_paths, (str, os.PathLike)):
        paths = [Path(path_or_paths)]
    else:
        paths = [Path(p) for p in path_or_paths]
    tables = []
    skipped = 0
    problems: list[str] = []
    dropped: set[str] = set()
    for path in paths:
        for table, n_skipped, n_problems, n_dropped in _load_any(
            path, strict, max_line_bytes, columns
        ):
            if columns is not None:
                table = table.select(columns)
            tables.append(table)
            skipped += n_skipped
            problems.extend(n_problems)
            dropped |= n_dropped
    if tables:
        import pyarrow as pa

        holder = [pa.concat_tables(tables) if len(tables) > 1 else tables[0]]
        tables.clear()
    else:
        empty = _records_to_table([])
        holder = [empty if columns is None else empty.select(columns)]
    df = _table_to_frame(holder)
    df.attrs["skipped"] = skipped
    df.attrs["problems"] = problems[:MAX_PROBLEMS_KEPT]
    if dropped:
        df.attrs["dropped_fields"] = sorted(dropped)
    if not strict and (skipped or dropped):
        parts = []
        if skipped:
            first = f" First: {problems[0]}" if problems else ""
            parts.append(
                f"skipped {skipped} bad line{'s' if skipped != 1 else ''} and loaded {len(df)}.{first}"
            )
        if dropped:
            parts.append(f"dropped unknown fields: {', '.join(sorted(dropped))}.")
        warnings.warn("load_records: " + " ".join(parts), RecordWarning, stacklevel=2)
    assert isinstance(df, pd.DataFrame)
    return df


_LoadPart = tuple["pa.Table", int, list[str], set[str]]


def _load_any(
    path: Path, strict: bool, max_line_bytes: int, columns: list[str] | None
) -> list[_LoadPart]:
    if path.is_dir():
        if any(path.rglob("*.parquet")):
            return [_read_parquet_table(path, strict=strict, columns=columns)]
        files = sorted([*path.glob("*.jsonl"), *path.glob("*.jsonl.gz")])
        return [_read_jsonl(f, strict, max_line_bytes) for f in files]
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such record file")
    if _kind_of_path(path) == "parquet" or _is_parquet(path):
        return [_read_parquet_table(path, strict=strict, columns=columns)]
    return [_read_jsonl(path, strict, max_line_bytes)]


def _is_parquet(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"PAR1"


@contextlib.contextmanager
def _open_for_reading(path: Path) -> Iterator[IO[bytes]]:
    """Open a JSONL file with a shared lock, so we never read a line a writer is half-way through."""
    with open(path, "rb") as raw:
        if fcntl is not None:
            fcntl.flock(raw.fileno(), fcntl.LOCK_SH)
        if path.name.lower().endswith(".gz"):
            with gzip.open(raw, "rb") as f:
                yield f  # type: ignore[misc]
        else:
            yield raw


def _read_jsonl(path: Path, strict: bool, max_line_bytes: int) -> _LoadPart:
    records: list[dict[str, Any]] = []
    problems: list[str] = []
    skipped = 0
    dropped: set[str] = set()

    def bad(line_no: int, field: str | None, reason: str) -> None:
        nonlocal skipped
        if strict:
            raise RecordError(reason, path=path, line=line_no, field=field)
        skipped += 1
        if len(problems) < MAX_PROBLEMS_KEPT:
            problems.append(_where(str(path), line_no, field, reason))

    try:
        with _open_for_reading(path) as f:
            line_no = 0
            while True:
                raw = f.readline(max_line_bytes + 1)
                if not raw:
                    break
                line_no += 1
                if len(raw) > max_line_bytes and not raw.endswith(b"\n"):
                    # Skip the rest of the oversized line without holding it in memory.
                    while raw and not raw.endswith(b"\n"):
                        raw = f.readline(1024 * 1024)
                    bad(
                        line_no,
                        None,
                        f"line longer than {max_line_bytes:,} bytes (the limit; see smtplab.records.MAX_LINE_BYTES)",
                    )
                    continue
                ends_cleanly = raw.endswith(b"\n")
                stripped = raw.strip()
                if not stripped:
                    continue  # blank lines are allowed (hand-edited files)
                try:
                    text = stripped.decode("utf-8")
                except UnicodeDecodeError as exc:
                    bad(
                        line_no,
                        None,
                        f"not UTF-8 text (byte {exc.start}: {stripped[exc.start : exc.start + 1]!r})",
                    )
                    continue
                try:
                    obj = json.loads(text)
                except json.JSONDecodeError as exc:
                    if not ends_cleanly:
                        bad(
                            line_no,
                            None,
                            "truncated: the last line ends without a newline and is not complete "
                            "JSON (was a writer killed mid-write?)",
                        )
                    else:
                        bad(line_no, None, f"not valid JSON ({exc.msg} at column {exc.colno})")
                    continue
                except RecursionError:
                    bad(line_no, None, "not valid JSON (nested too deeply)")
                    continue
                if not isinstance(obj, dict):
                    bad(
                        line_no,
                        None,
                        f"expected a JSON object (a record), got {type(obj).__name__} {_show(obj)}",
                    )
                    continue
                out, errs = _check(obj, keep_unknown=not strict)
                if errs:
                    field, reason = errs[0]
                    bad(line_no, field, reason)
                    continue
                if not strict:
                    dropped |= {k for k in obj if k not in FIELDS}
                records.append(out)
    except (EOFError, gzip.BadGzipFile, OSError) as exc:
        if isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError)):
            raise
        # A torn .gz file: what was read so far stays usable in lenient mode.
        if strict:
            raise RecordError(f"the compressed file is damaged: {exc}", path=path) from exc
        skipped += 1
        problems.append(_where(str(path), None, None, f"the compressed file is damaged: {exc}"))
    return _records_to_table(records), skipped, problems, dropped


def _read_parquet_table(path: Path, *, strict: bool, columns: list[str] | None = None) -> _LoadPart:
    """Read a Parquet file or hive-partitioned folder and bring it to :func:`arrow_schema`."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    try:
        if path.is_dir():
            dataset = ds.dataset(path, format="parquet", partitioning="hive")
        else:
            dataset = ds.dataset(path, format="parquet")
        wanted = None if columns is None else [c for c in columns if c in dataset.schema.names]
        table = dataset.to_table(columns=wanted)
    except (pa.ArrowInvalid, OSError) as exc:
        raise RecordError(f"not a readable Parquet file: {exc}", path=path) from exc
    return _conform_table(table, path, strict=strict, columns=columns)


def _conform_table(
    table: pa.Table, path: Path | None, *, strict: bool, columns: list[str] | None = None
) -> _LoadPart:
    """Bring an Arrow table to :func:`arrow_schema` and check its rows, column by column.

    Strict: the first bad row raises :class:`RecordError` (``line`` is the 1-based row).
    Lenient: bad rows are dropped and counted.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    schema = arrow_schema()
    if columns is not None:
        schema = pa.schema([schema.field(c) for c in columns], metadata=schema.metadata)
    problems: list[str] = []
    dropped: set[str] = set()
    extra = [n for n in table.column_names if n not in FIELDS]
    if extra:
        if strict:
            raise RecordError(
                f"unknown column (not in schema version {SCHEMA_VERSION})",
                path=path,
                field=extra[0],
            )
        dropped |= set(extra)
    columns = []
    n = table.num_rows
    for field in schema:
        if field.name not in table.column_names:
            if not field.nullable:
                raise RecordError("missing column", path=path, field=field.name)
            columns.append(pa.nulls(n, field.type))
            continue
        col = table.column(field.name)
        if pa.types.is_dictionary(col.type):  # hive partition columns come back as dictionaries
            col = col.cast(col.type.value_type)
        try:
            col = col.cast(field.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise RecordError(
                f"column of type {col.type} cannot be read as {field.type}: {exc}",
                path=path,
                field=field.name,
            ) from exc
        columns.append(col)
    table = pa.Table.from_arrays(columns, schema=schema)

    # Row checks, vectorised: one mask of bad rows per rule.
    bad_masks: list[tuple[str, str, Any]] = []
    for field in schema:
        col = table.column(field.name)
        if not field.nullable and col.null_count:
            bad_masks.append((field.name, "must not be null", pc.is_null(col)))
        if field.name in ENUMS:
            ok = pc.is_in(col, value_set=pa.array(ENUMS[field.name]))
            bad_masks.append(
                (
                    field.name,
                    f"unknown word; expected one of: {', '.join(ENUMS[field.name])}",
                    pc.and_(pc.invert(pc.fill_null(ok, True)), pc.is_valid(col)),
                )
            )
    names = table.column_names
    if "schema_version" in names:
        version = table.column("schema_version")
        known = ", ".join(str(v) for v in SUPPORTED_SCHEMA_VERSIONS)
        ok = pc.is_in(version, value_set=pa.array(SUPPORTED_SCHEMA_VERSIONS, pa.int64()))
        bad_masks.append(
            (
                "schema_version",
                f"not a schema version this smtplab reads (it reads version {known})",
                pc.invert(pc.fill_null(ok, False)),
            )
        )
    if "port" in names:
        port = table.column("port")
        bad_masks.append(
            (
                "port",
                "a TCP port is 0 to 65535",
                pc.fill_null(pc.or_(pc.less(port, 0), pc.greater(port, 65535)), False),
            )
        )
    for name, key, allowed in (
        ("findings", "severity", SEVERITIES),
        ("transcript", "dir", DIRECTIONS),
    ):
        if name not in names:
            continue
        col = table.column(name).combine_chunks() if table.num_rows else None
        if col is None or len(pc.list_flatten(col)) == 0:
            continue
        inner = pc.struct_field(pc.list_flatten(col), key)
        bad_inner = pc.invert(pc.fill_null(pc.is_in(inner, value_set=pa.array(allowed)), False))
        parents = pc.list_parent_indices(col)
        bad_rows = pc.filter(parents, bad_inner)
        if len(bad_rows):
            import numpy as np

            rows = np.zeros(n, dtype=bool)
            rows[bad_rows.to_numpy(zero_copy_only=False)] = True
            mask = pa.array(rows)
            bad_masks.append((name, f"unknown {key}; expected one of: {', '.join(allowed)}", mask))

    skipped = 0
    if n and bad_masks:
        any_bad = None
        for field_name, reason, mask in bad_masks:
            mask = pc.fill_null(mask, False)
            if pc.any(mask).as_py():
                first = pc.index(mask, True).as_py()
                if strict:
                    raise RecordError(reason, path=path, line=first + 1, field=field_name)
                if len(problems) < MAX_PROBLEMS_KEPT:
                    problems.append(_where(str(path), first + 1, field_name, reason))
                any_bad = mask if any_bad is None else pc.or_(any_bad, mask)
        if any_bad is not None:
            skipped = pc.sum(pc.cast(any_bad, pa.int64())).as_py()
            table = table.filter(pc.invert(any_bad))
    return table, skipped, problems, dropped


# --------------------------------------------------------------------------------------------
# Parquet for large sets
# --------------------------------------------------------------------------------------------


def _to_table(data: Any) -> pa.Table:
    import pandas as pd
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pd.DataFrame):
        cols = []
        schema = arrow_schema()
        for field in schema:
            if field.name not in data.columns:
                if not field.nullable:
                    raise RecordError("missing column", field=field.name)
                cols.append(pa.nulls(len(data), field.type))
                continue
            series = data[field.name]
            kind = FIELDS[field.name][0]
            try:
                if kind in _LIST_KINDS:
                    values = [_plain(v) for v in series.tolist()]
                    cols.append(pa.array(values, type=field.type))
                else:
                    cols.append(pa.array(series, type=field.type, from_pandas=True))
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
                raise RecordError(
                    f"column cannot be stored as {field.type}: {exc}", field=field.name
                ) from exc
        return pa.Table.from_arrays(cols, schema=schema)
    checked = []
    for i, item in enumerate(_iter_items(data), start=1):
        out, problems = _check(item)
        if problems:
            field_name, reason = problems[0]
            raise RecordError(reason, line=i, field=field_name)
        checked.append(out)
    return _records_to_table(checked)


def write_parquet(
    data: Any,
    path: str | os.PathLike[str],
    *,
    partition_cols: Sequence[str] | None = None,
) -> int:
    """Write records (a DataFrame, an Arrow table, or records) as Parquet; return the row count.

    Without ``partition_cols``: one file at ``path``, replaced atomically.

    With ``partition_cols`` (say ``["vantage", "port"]``): a *hive-partitioned* folder at
    ``path`` — ``path/vantage=lab%3Ahome-isp/port=587/<uuid>-0.parquet`` — that DuckDB
    (``read_parquet('path/**/*.parquet', hive_partitioning=true)``), Spark
    (``spark.read.parquet('path')``) and :func:`load_records` read as they are.  Writing again
    into the same folder adds new files beside the old ones (an append).

    The data is checked with the same rules as :func:`load_records` (column by column, so
    millions of rows are fine) before anything is written.
    """
    import pyarrow.parquet as pq

    path = Path(path)
    table = _conform_table(_to_table(data), None, strict=True)[0]
    if partition_cols:
        for col in partition_cols:
            if col not in FIELDS or FIELDS[col][0] not in ("str", "int", "bool"):
                raise ValueError(
                    f"cannot partition by {col!r}: choose a text or integer field such as vantage or port"
                )
        path.mkdir(parents=True, exist_ok=True)
        pq.write_to_dataset(
            table,
            path,
            partition_cols=list(partition_cols),
            compression="zstd",
            existing_data_behavior="overwrite_or_ignore",
        )
    else:
        _write_table_atomically(table, path)
    return table.num_rows


# --------------------------------------------------------------------------------------------
# Pooling and summaries
# --------------------------------------------------------------------------------------------


def merge_records(
    inputs: Sequence[str | os.PathLike[str]], output: str | os.PathLike[str]
) -> tuple[int, int]:
    """Pool several record files into ``output``, dropping duplicate ``probe_id``s.

    Inputs are read strictly, in order; the first copy of each probe wins and the order of
    records is kept.  Records already in ``output`` count as seen, so merging twice adds
    nothing.  Returns ``(written, duplicates)``.
    """
    output = Path(output)
    seen: set[str] = set()
    if output.exists():
        seen.update(load_records(output)["probe_id"].astype(str))
    new: list[dict[str, Any]] = []
    duplicates = 0
    for path in inputs:
        for rec in frame_to_records(load_records(path)):
            if rec["probe_id"] in seen:
                duplicates += 1
                continue
            seen.add(rec["probe_id"])
            new.append(rec)
    written = save_records(new, output) if new else 0
    return written, duplicates


_SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}


def _auth_words(values: Iterable[Any]) -> str:
    """AUTH mechanisms seen in a group: 'n/a' (never looked), 'none' (looked, none offered) or words."""
    seen_any = False
    mechs: list[str] = []
    for v in values:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        seen_any = True
        for m in v:
            if m not in mechs:
                mechs.append(m)
    if not seen_any:
        return "n/a"
    return " ".join(mechs) if mechs else "none"


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """One row per vantage × host × port: what the probes there found.

    Columns: ``vantage``, ``host``, ``port``, ``probes`` (how many), ``outcome`` (the most
    common), ``outcomes`` (all, e.g. ``"open×3 filtered×1"``), ``tls_mode`` (most common),
    ``auth_before_tls`` and ``auth_after_tls`` (mechanisms seen; ``none`` = none offered,
    ``n/a`` = not looked at) and ``top_finding`` (the most severe finding's code, the most
    frequent among equals).  This is what ``smtplab show FILE`` prints.
    """
    import pandas as pd

    columns = [
        "vantage",
        "host",
        "port",
        "probes",
        "outcome",
        "outcomes",
        "tls_mode",
        "auth_before_tls",
        "auth_after_tls",
        "top_finding",
    ]
    rows = []
    if len(df):
        for (vantage, host, port), group in df.groupby(
            ["vantage", "host", "port"], sort=True, dropna=False
        ):
            counts = Counter(group["outcome"].astype(object))
            findings: Counter[tuple[int, str]] = Counter()
            for fs in group["findings"]:
                for f in fs or []:
                    findings[(_SEVERITY_RANK.get(f["severity"], -1), f["code"])] += 1
            top = ""
            if findings:
                (rank, code), _ = max(findings.items(), key=lambda kv: (kv[0][0], kv[1], kv[0][1]))
                top = f"{code} ({SEVERITIES[rank] if rank >= 0 else '?'})"
            rows.append(
                {
                    "vantage": vantage,
                    "host": host,
                    "port": port,
                    "probes": len(group),
                    "outcome": counts.most_common(1)[0][0],
                    "outcomes": " ".join(f"{o}×{c}" for o, c in counts.most_common()),
                    "tls_mode": Counter(group["tls_mode"].astype(object)).most_common(1)[0][0],
                    "auth_before_tls": _auth_words(group["auth_before_tls"]),
                    "auth_after_tls": _auth_words(group["auth_after_tls"]),
                    "top_finding": top,
                }
            )
    out = pd.DataFrame(rows, columns=columns)
    out["port"] = out["port"].astype("Int64")
    out["probes"] = out["probes"].astype("int64")
    return out


def format_summary(df: pd.DataFrame, *, max_width: int = 40) -> str:
    """A fixed-width text table of :func:`summarize` (a records DataFrame is summarised first).

    Cells longer than ``max_width`` characters are cut with '…' so the table fits a terminal.
    """
    table = (
        df
        if "probes" in df.columns and "outcome" in df.columns and "transcript" not in df.columns
        else summarize(df)
    )
    if table.empty:
        return "(no records)"
    headers = [str(c) for c in table.columns]

    def cell(v: Any) -> str:
        text = "" if v is None or (not isinstance(v, str) and _is_na(v)) else str(v)
        text = text.replace("\n", " ")
        return text if len(text) <= max_width else text[: max_width - 1] + "…"

    rows = [[cell(v) for v in row] for row in table.itertuples(index=False, name=None)]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    numeric = {i for i, c in enumerate(table.columns) if c in ("port", "probes")}

    def fmt(values: list[str]) -> str:
        return "  ".join(
            v.rjust(w) if i in numeric else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=False))
        ).rstrip()

    lines = [fmt(headers), "  ".join("-" * w for w in widths)]
    lines.extend(fmt(r) for r in rows)
    return "\n".join(lines)


def _is_na(value: Any) -> bool:
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
