"""Loading record files into a pandas DataFrame, one row per probe."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from smtplab.records.arrow import LoadPart, records_to_table
from smtplab.records.errors import MAX_PROBLEMS_KEPT, RecordError, RecordWarning
from smtplab.records.fastjsonl import read_jsonl
from smtplab.records.frame import table_to_frame
from smtplab.records.jsonl import MAX_LINE_BYTES, require_regular_file
from smtplab.records.parquet import is_parquet, parquet_files, read_parquet_table
from smtplab.schema import FIELD_NAMES, FIELDS

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["MAX_LOAD_ROWS", "PathLike", "kind_of_path", "load_parts", "load_records"]

PathLike = str | os.PathLike[str]

#: Most rows :func:`load_records` puts in one pandas table unless told otherwise: a million
#: records take a few GB as Python objects.  Bigger sets are for queries
#: (:class:`smtplab.records.Dataset`), which read only the columns an answer needs.
MAX_LOAD_ROWS = 1_000_000


def kind_of_path(path: Path) -> str:
    """``"parquet"``, ``"jsonl.gz"`` or ``"jsonl"``, from the name (a folder is Parquet)."""
    name = path.name.lower()
    if name.endswith(".parquet") or path.is_dir():
        return "parquet"
    if name.endswith(".gz"):
        return "jsonl.gz"
    return "jsonl"


def _jsonl_files(path: Path) -> list[Path]:
    return sorted([*path.glob("*.jsonl"), *path.glob("*.jsonl.gz")])


def load_parts(
    path: Path, strict: bool, max_line_bytes: int, columns: list[str] | None, max_rows: int | None
) -> list[LoadPart]:
    """The checked Arrow tables of one path: a file, or a folder of Parquet or JSONL files."""
    if path.is_dir():
        if parquet_files(path):
            return [read_parquet_table(path, strict=strict, columns=columns, max_rows=max_rows)]
        files = _jsonl_files(path)
        if not files:
            raise RecordError(
                "a folder without .parquet or .jsonl files: no records here", path=path
            )
        return [read_jsonl(f, strict, max_line_bytes, max_rows) for f in files]
    if not path.exists() and not path.is_symlink():
        raise FileNotFoundError(2, "no such record file", str(path))
    require_regular_file(path)
    if kind_of_path(path) == "parquet" or is_parquet(path):
        return [read_parquet_table(path, strict=strict, columns=columns, max_rows=max_rows)]
    return [read_jsonl(path, strict, max_line_bytes, max_rows)]


def _pick_columns(columns: Sequence[str] | None) -> list[str] | None:
    if columns is None:
        return None
    unknown = [c for c in columns if c not in FIELDS]
    if unknown:
        raise ValueError(
            f"not record fields: {', '.join(unknown)} (see smtplab.schema.FIELD_NAMES)"
        )
    return [n for n in FIELD_NAMES if n in columns]


def _warn(skipped: int, problems: list[str], dropped: set[str], loaded: int) -> None:
    parts = []
    if skipped:
        first = f" First: {problems[0]}" if problems else ""
        plural = "s" if skipped != 1 else ""
        parts.append(f"skipped {skipped} bad line{plural} and loaded {loaded}.{first}")
    if dropped:
        parts.append(f"dropped unknown fields: {', '.join(sorted(dropped))}.")
    warnings.warn("load_records: " + " ".join(parts), RecordWarning, stacklevel=3)


def load_records(
    path_or_paths: PathLike | Sequence[PathLike],
    *,
    strict: bool = True,
    columns: Sequence[str] | None = None,
    max_line_bytes: int = MAX_LINE_BYTES,
    max_rows: int | None = MAX_LOAD_ROWS,
) -> pd.DataFrame:
    """Load record files into a pandas DataFrame, one row per probe.

    ``path_or_paths`` is a JSON Lines file (``.jsonl``, or ``.jsonl.gz``), a Parquet file, a
    folder of (hive-partitioned) Parquet files or of ``.jsonl`` files, or a list of any of these.
    Columns come in schema order (:data:`smtplab.schema.FIELD_NAMES`) with the dtypes listed in
    :mod:`smtplab.records.frame`, the same whether the file was JSON Lines or Parquet.

    Strict (the default): the first bad line raises :class:`RecordError` naming the file, the
    line and the field.  ``strict=False``: bad lines are skipped; ``df.attrs["skipped"]`` says
    how many, ``df.attrs["problems"]`` lists the first few reasons, and one
    :class:`RecordWarning` sums it up.

    ``columns`` picks fields for big sets: ``load_records("big.parquet", columns=["port",
    "outcome"])`` reads only those two columns from Parquet.  ``max_line_bytes`` is the longest
    JSON line accepted; ``max_rows`` the most records per file (:data:`MAX_LOAD_ROWS`; None for
    no bound) — for more, ask questions with :class:`smtplab.records.Dataset` instead.
    """
    import pyarrow as pa

    picked = _pick_columns(columns)
    if isinstance(path_or_paths, (str, os.PathLike)):
        paths = [Path(path_or_paths)]
    else:
        paths = [Path(p) for p in path_or_paths]
    tables = []
    skipped = 0
    problems: list[str] = []
    dropped: set[str] = set()
    for path in paths:
        for table, n_skipped, n_problems, n_dropped in load_parts(
            path, strict, max_line_bytes, picked, max_rows
        ):
            tables.append(table if picked is None else table.select(picked))
            skipped += n_skipped
            problems.extend(n_problems)
            dropped |= n_dropped
    if tables:
        holder = [pa.concat_tables(tables) if len(tables) > 1 else tables[0]]
        tables.clear()
    else:
        empty = records_to_table([])
        holder = [empty if picked is None else empty.select(picked)]
    df = table_to_frame(holder)
    df.attrs["skipped"] = skipped
    df.attrs["problems"] = problems[:MAX_PROBLEMS_KEPT]
    if dropped:
        df.attrs["dropped_fields"] = sorted(dropped)
    if not strict and (skipped or dropped):
        _warn(skipped, problems, dropped, len(df))
    return df
