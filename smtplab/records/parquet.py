"""Parquet record files: one file, or a folder of hive-partitioned files, for large sets.

Columnar, compressed, and read as-is by pandas, DuckDB and Spark.  Reading is bounded: a
file's row count and value count come from its footer before anything is decoded, so a tiny
file that claims millions of rows is refused in one clear :class:`RecordError`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smtplab.records.arrow import LoadPart, conform_table, records_to_table
from smtplab.records.errors import RecordError
from smtplab.records.jsonl import os_error_reason
from smtplab.schema import FIELDS

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Linux/macOS
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "VALUES_PER_ROW",
    "append_parquet",
    "is_parquet",
    "parquet_files",
    "read_parquet_table",
    "write_table_atomically",
]

#: At most this many values (list items counted one by one) per row on average, checked from
#: the footer before a Parquet file is decoded.  A realistic record holds 60-200 (its
#: transcript is the bulk); a file far above is made to expand in memory.
VALUES_PER_ROW = 2_000


def is_parquet(path: Path) -> bool:
    """True if the file starts with Parquet's magic bytes."""
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"PAR1"
    except OSError:
        return False


def parquet_files(path: Path) -> list[Path]:
    """The Parquet files of a file or a (hive-partitioned) folder, hidden files left out."""
    if not path.is_dir():
        return [path]
    return sorted(
        p
        for p in path.rglob("*.parquet")
        if p.is_file()
        and not any(part.startswith((".", "_")) for part in p.relative_to(path).parts)
    )


def _check_footers(path: Path, max_rows: int | None) -> None:
    """Refuse, from the footers alone, files with more rows or values than may be loaded."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = values = 0
    for file in parquet_files(path):
        try:
            meta = pq.ParquetFile(file).metadata
        except (pa.ArrowInvalid, OSError) as exc:
            raise RecordError(f"not a readable Parquet file: {exc}", path=file) from exc
        rows += meta.num_rows
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            values += sum(group.column(c).num_values for c in range(group.num_columns))
    if max_rows is not None and rows > max_rows:
        raise RecordError(
            f"{rows:,} rows, more than max_rows={max_rows:,}: too many for one pandas table; "
            "query it with smtplab.records.Dataset, load fewer columns, or raise max_rows",
            path=path,
        )
    if values > VALUES_PER_ROW * max(rows, 1) + 1_000_000:
        raise RecordError(
            f"{values:,} values in {rows:,} rows: far more than records hold "
            f"(at most {VALUES_PER_ROW:,} a row); refused so it cannot fill memory",
            path=path,
        )


def read_parquet_table(
    path: Path, *, strict: bool, columns: list[str] | None = None, max_rows: int | None = None
) -> LoadPart:
    """Read a Parquet file or hive-partitioned folder and bring it to the record schema."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    if path.is_dir() and not parquet_files(path):
        raise RecordError("a folder without .parquet or .jsonl files: no records here", path=path)
    _check_footers(path, max_rows)
    try:
        if path.is_dir():
            dataset = ds.dataset(path, format="parquet", partitioning="hive")
        else:
            dataset = ds.dataset(path, format="parquet")
        wanted = None if columns is None else [c for c in columns if c in dataset.schema.names]
        table = dataset.to_table(columns=wanted)
    except (pa.ArrowInvalid, OSError) as exc:
        raise RecordError(f"not a readable Parquet file: {exc}", path=path) from exc
    return conform_table(table, path, strict=strict, columns=columns)


@contextlib.contextmanager
def _directory_lock(directory: Path) -> Iterator[None]:
    """Serialise rewrites of files in one folder (the file itself is replaced: lock the folder)."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def append_parquet(records: list[dict[str, Any]], path: Path) -> None:
    """Add checked records to a Parquet file: read it, add, rewrite atomically."""
    import pyarrow as pa

    directory = path.parent if str(path.parent) else Path(".")
    try:
        with _directory_lock(directory):
            new = records_to_table(records)
            if path.exists():
                old = read_parquet_table(path, strict=True)[0]
                new = pa.concat_tables([old, new])
            write_table_atomically(new, path)
    except OSError as exc:
        raise RecordError(
            f"cannot write records: {os_error_reason(exc)}; the file was left as it was",
            path=path,
        ) from exc


def write_table_atomically(table: pa.Table, path: Path) -> None:
    """Write a Parquet file beside ``path``, fsync it, and move it over ``path`` (atomic)."""
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


def check_partition_cols(partition_cols: Sequence[str]) -> None:
    """Partitions must be text or integer fields (``vantage``, ``port``, …)."""
    for col in partition_cols:
        if col not in FIELDS or FIELDS[col][0] not in ("str", "int", "bool"):
            raise ValueError(
                f"cannot partition by {col!r}: choose a text or integer field "
                "such as vantage or port"
            )
