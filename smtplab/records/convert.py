"""JSON Lines to partitioned Parquet, streaming: constant memory whatever the file's size.

Records are read and checked a block at a time (:mod:`smtplab.records.fastjsonl`: Arrow
parses, columns are checked, and a block that fails is read line by line, so the rules and the
line-precise errors are those of :func:`smtplab.records.load_records`), cut into Arrow batches
of at most ``batch_rows`` records, and handed to Arrow's dataset writer, which keeps at most a
row group per open partition file.  Peak memory therefore depends on the block size
(:data:`smtplab.records.fastjsonl.BLOCK_BYTES`), ``rows_per_group`` and the number of
partitions, not on the number of records.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from smtplab.records.arrow import arrow_schema
from smtplab.records.errors import MAX_PROBLEMS_KEPT, RecordError
from smtplab.records.fastjsonl import iter_tables
from smtplab.records.jsonl import MAX_LINE_BYTES, os_error_reason
from smtplab.records.linereader import LineReader
from smtplab.records.parquet import check_partition_cols

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["ConvertReport", "jsonl_to_parquet"]


@dataclass(frozen=True)
class ConvertReport:
    """What :func:`jsonl_to_parquet` did: rows written, bad lines skipped, first reasons."""

    rows: int
    skipped: int
    problems: tuple[str, ...]


class _BatchReader(LineReader):
    """The block reader, handing out its records in batches of at most ``batch_rows``."""

    def __init__(self, path: Path, strict: bool, batch_rows: int) -> None:
        super().__init__(path, strict, MAX_LINE_BYTES, None)
        self.batch_rows = batch_rows
        self.written = 0

    def batches(self) -> Iterator[pa.RecordBatch]:
        for table in iter_tables(self):
            self.written += table.num_rows
            yield from table.to_batches(max_chunksize=self.batch_rows)


def jsonl_to_parquet(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    folder: str | os.PathLike[str],
    *,
    partition_cols: Sequence[str] = ("vantage", "port"),
    strict: bool = True,
    batch_rows: int = 5_000,
    rows_per_group: int = 2_048,
    rows_per_file: int = 100_000,
) -> ConvertReport:
    """Import JSON Lines files into a hive-partitioned Parquet folder, in constant memory.

    The folder is what :func:`smtplab.records.write_parquet` writes and what
    :class:`smtplab.records.Dataset`, :func:`load_records`, DuckDB and Spark read.  New files
    are added beside any already there.  Strict (the default): the first bad line raises
    :class:`RecordError` naming file, line and field (files already written stay; delete the
    folder to start again).  ``strict=False``: bad lines are skipped and counted.

    Memory: one block of JSON text and its Arrow table (or, for a block read line by line, its
    records as Python objects), plus, per open partition, up to ``rows_per_group`` rows waiting
    to become a Parquet row group — bounded by the number of partitions, whatever the number
    of records.  A partition's file is closed after ``rows_per_file`` rows and a new one
    begun, so no writer keeps the footer of millions of rows in memory.
    """
    import pyarrow as pa
    import pyarrow.dataset as ds

    check_partition_cols(partition_cols)
    paths = [Path(source)] if isinstance(source, (str, os.PathLike)) else [Path(p) for p in source]
    out = Path(folder)
    readers = [_BatchReader(p, strict, batch_rows) for p in paths]
    schema = arrow_schema()
    part_schema = pa.schema([schema.field(c) for c in partition_cols])

    def all_batches() -> Iterator[pa.RecordBatch]:
        for reader in readers:
            yield from reader.batches()

    try:
        out.mkdir(parents=True, exist_ok=True)
        ds.write_dataset(
            all_batches(),
            out,
            schema=schema,
            format="parquet",
            partitioning=ds.partitioning(part_schema, flavor="hive"),
            basename_template=f"part-{os.getpid()}-{os.urandom(4).hex()}-{{i}}.parquet",
            existing_data_behavior="overwrite_or_ignore",
            max_rows_per_group=rows_per_group,
            max_rows_per_file=rows_per_file,
            min_rows_per_group=rows_per_group // 2,
            max_open_files=256,
            file_options=ds.ParquetFileFormat().make_write_options(compression="zstd"),
        )
    except OSError as exc:
        raise RecordError(f"cannot write Parquet: {os_error_reason(exc)}", path=out) from exc
    problems = [p for r in readers for p in r.problems]
    return ConvertReport(
        rows=sum(r.written for r in readers),
        skipped=sum(r.skipped for r in readers),
        problems=tuple(problems[:MAX_PROBLEMS_KEPT]),
    )
