"""Saving records: appended JSON Lines, rewritten Parquet files, partitioned Parquet folders."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smtplab.records.arrow import conform_table, records_to_table
from smtplab.records.check import check_fields, first_error
from smtplab.records.errors import RecordError, show
from smtplab.records.frame import iter_items
from smtplab.records.jsonl import append_jsonl, dumps, os_error_reason
from smtplab.records.load import kind_of_path
from smtplab.records.normalise import as_mapping, plain
from smtplab.records.parquet import append_parquet, check_partition_cols, write_table_atomically
from smtplab.schema import FIELDS

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["check_output_path", "save_records", "write_parquet"]


def check_output_path(path: Path) -> str:
    """The kind of record file ``path`` will be written as, or a :class:`RecordError` now.

    Refused before anything is probed or read: a ``.gz`` name (appending to gzip is not
    possible), a folder (a partitioned Parquet set: use :func:`write_parquet`), a device or
    pipe, a folder that does not exist, and a file or folder we may not write.
    """
    kind = kind_of_path(path)
    if kind == "jsonl.gz":
        raise RecordError(
            f"cannot append to a .gz file: save to a plain .jsonl file and compress it when "
            f"recording is over (gzip {path.with_suffix('')})",
            path=path,
        )
    if path.is_dir():
        raise RecordError(
            "this is a folder (a partitioned Parquet set?): save records to a .jsonl or "
            ".parquet file, or add files to the folder with write_parquet(..., partition_cols=…)",
            path=path,
        )
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise RecordError(f"cannot write records: the folder {parent} does not exist", path=path)
    if path.exists():
        if not path.is_file():
            raise RecordError(
                "cannot write records: not a regular file (a device, pipe or socket)", path=path
            )
        if not os.access(path, os.W_OK) or (kind == "parquet" and not os.access(parent, os.W_OK)):
            raise RecordError("cannot write records: permission denied", path=path)
    elif not os.access(parent, os.W_OK):
        raise RecordError(f"cannot write records: the folder {parent} is not writable", path=path)
    return kind


def save_records(items: Any, path: str | os.PathLike[str], *, vantage: str | None = None) -> int:
    """Append probe results to a record file; return how many records were written.

    ``items`` is one probe result or record dict, or an iterable of them (a DataFrame from
    :func:`load_records` works too).  ``vantage`` sets the vantage label of every record written
    (for example ``"home-wifi"``).

    Every record is checked first: if any is invalid, :class:`RecordError` is raised and nothing
    is written.  A file that cannot be written (read-only, a full disk, a ``.gz`` name, a
    folder) is a :class:`RecordError` naming the file, never a bare ``OSError``.

    * ``.jsonl`` (or any other name): JSON Lines, appended.  The file is locked
      (``fcntl.flock``) while writing, lines go out in ``O_APPEND`` writes that end on line
      ends, and are flushed to disk (``fsync``), so two processes appending at once lose
      nothing and a process killed mid-write can leave at most its own last line torn.  If the
      file does not end with a newline (a writer was killed mid-line), a newline is written
      first, so the torn line stays one bad line on its own.
    * ``.parquet``: the existing file is read, the new records added, and the whole file
      rewritten to a temporary file that then replaces the old one (``os.replace``, atomic).
      Fine for thousands of records; for millions, use :func:`write_parquet` with partitions.
    """
    path = Path(path)
    records = []
    for i, item in enumerate(iter_items(items), start=1):
        item = as_mapping(item)
        if vantage is not None:
            if not isinstance(item, Mapping):
                raise RecordError(f"expected a record, got {show(item)}", line=i)
            item = {**item, "vantage": vantage}
        out, problems = check_fields(item)
        if problems:
            field, reason = problems[0]
            raise RecordError(
                f"record {i} was not saved (nothing was written): {reason}", field=field
            )
        records.append(out)
    kind = check_output_path(path)
    if not records:
        return 0
    if kind == "parquet":
        append_parquet(records, path)
    else:
        append_jsonl((dumps(r) for r in records), path)
    return len(records)


def _list_array(values: list[Any], type_: pa.DataType) -> pa.Array:
    """Python lists (of str or dicts) as Arrow; numpy arrays inside cells made plain first."""
    import pyarrow as pa

    try:
        return pa.array(values, type=type_)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return pa.array([plain(v) for v in values], type=type_)


def frame_to_table(data: Any, columns: Sequence[str] | None = None) -> pa.Table:
    """A records DataFrame as an Arrow table in the record schema (or only ``columns``)."""
    import pyarrow as pa

    from smtplab.records.arrow import LIST_KINDS, arrow_schema

    cols = []
    schema = arrow_schema()
    if columns is not None:
        schema = pa.schema([schema.field(c) for c in columns], metadata=schema.metadata)
    for field in schema:
        if field.name not in data.columns:
            if not field.nullable:
                raise RecordError("missing column", field=field.name)
            cols.append(pa.nulls(len(data), field.type))
            continue
        series = data[field.name]
        try:
            if FIELDS[field.name][0] in LIST_KINDS:
                cols.append(_list_array(series.tolist(), field.type))
            else:
                cols.append(pa.array(series, type=field.type, from_pandas=True))
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
            raise RecordError(
                f"column cannot be stored as {field.type}: {exc}", field=field.name
            ) from exc
    return pa.Table.from_arrays(cols, schema=schema)


def _to_table(data: Any) -> pa.Table:
    import pandas as pd
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pd.DataFrame):
        return frame_to_table(data)
    checked = []
    for i, item in enumerate(iter_items(data), start=1):
        out, problems = check_fields(item)
        if problems:
            raise first_error(problems, line=i)
        checked.append(out)
    return records_to_table(checked)


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
    table = conform_table(_to_table(data), None, strict=True)[0]
    try:
        if partition_cols:
            check_partition_cols(partition_cols)
            path.mkdir(parents=True, exist_ok=True)
            pq.write_to_dataset(
                table,
                path,
                partition_cols=list(partition_cols),
                compression="zstd",
                existing_data_behavior="overwrite_or_ignore",
            )
        else:
            if path.is_dir():
                raise RecordError(
                    "this is a folder: pass partition_cols to add files to it", path=path
                )
            write_table_atomically(table, path)
    except OSError as exc:
        raise RecordError(f"cannot write Parquet: {os_error_reason(exc)}", path=path) from exc
    return int(table.num_rows)
