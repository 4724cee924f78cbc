"""Record files: save probe results, load them back as a pandas DataFrame, check them, query them.

One probe gives one *record*: a flat dict whose fields are defined once, in
:mod:`smtplab.schema`.  This package writes, reads and asks questions of files of records:

* **JSON Lines** (``.jsonl``) is the canonical format: one record per line, readable in any text
  editor, and *appendable* — :func:`save_records` adds lines at the end, so a class can record
  into one file from many terminals at once.  ``.jsonl.gz`` files can be loaded too.
* **Parquet** (``.parquet``, or a folder of hive-partitioned Parquet files) is for large sets:
  columnar, compressed, and read as-is by pandas, DuckDB and Spark.

Where each concern lives:

=================  ==========================================================================
``errors``         :class:`RecordError` (file, line, field) and :class:`RecordWarning`
``normalise``      the one record normaliser: result -> dict, text <-> datetime, missing values
``check``          checking one record against the schema
``arrow``          the Arrow schema, and checking whole Arrow tables column by column
``jsonl``          JSON Lines: locked appends, bounded line-precise reading
``parquet``        Parquet files and partitioned folders
``frame``          the pandas table (dtypes), records <-> DataFrame
``load`` / ``save``  :func:`load_records`, :func:`save_records`, :func:`write_parquet`
``merge``          :func:`merge_records`
``summary``        :func:`summarize`, :func:`format_summary`
``query``          DuckDB: :class:`Dataset`, questions asked of files
``file_summary``   :func:`summary_for_file`, :func:`port_summary_for_file` (DuckDB, then lines)
``convert``        streaming JSON Lines -> partitioned Parquet in constant memory
=================  ==========================================================================

Loading is strict by default: the first bad line raises :class:`RecordError`, whose message
names the file, the line and the field.  ``strict=False`` skips bad lines instead, counts them
in ``df.attrs["skipped"]`` and warns once with :class:`RecordWarning`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smtplab.records.arrow import arrow_schema
    from smtplab.records.check import SUPPORTED_SCHEMA_VERSIONS, check_record, validate_record
    from smtplab.records.convert import jsonl_to_parquet
    from smtplab.records.errors import MAX_PROBLEMS_KEPT, RecordError, RecordWarning
    from smtplab.records.file_summary import port_summary_for_file, summary_for_file
    from smtplab.records.frame import frame_to_records, records_to_frame
    from smtplab.records.jsonl import (
        MAX_BLANK_LINES,
        MAX_GZIP_RATIO,
        MAX_LINE_BYTES,
        WRITE_CHUNK_BYTES,
    )
    from smtplab.records.load import MAX_LOAD_ROWS, load_records
    from smtplab.records.merge import MergeReport, merge_files, merge_records
    from smtplab.records.query import Dataset
    from smtplab.records.save import check_output_path, save_records, write_parquet
    from smtplab.records.summary import format_summary, port_summary, summarize

#: Public name -> the module that defines it, imported on first use: importing one part of the
#: records layer (``smtplab.records.normalise``, say) does not load pyarrow, pandas or DuckDB.
_LAZY = {
    "arrow_schema": "smtplab.records.arrow",
    "SUPPORTED_SCHEMA_VERSIONS": "smtplab.records.check",
    "check_record": "smtplab.records.check",
    "validate_record": "smtplab.records.check",
    "jsonl_to_parquet": "smtplab.records.convert",
    "MAX_PROBLEMS_KEPT": "smtplab.records.errors",
    "RecordError": "smtplab.records.errors",
    "RecordWarning": "smtplab.records.errors",
    "port_summary_for_file": "smtplab.records.file_summary",
    "summary_for_file": "smtplab.records.file_summary",
    "frame_to_records": "smtplab.records.frame",
    "records_to_frame": "smtplab.records.frame",
    "MAX_BLANK_LINES": "smtplab.records.jsonl",
    "MAX_GZIP_RATIO": "smtplab.records.jsonl",
    "MAX_LINE_BYTES": "smtplab.records.jsonl",
    "WRITE_CHUNK_BYTES": "smtplab.records.jsonl",
    "MAX_LOAD_ROWS": "smtplab.records.load",
    "load_records": "smtplab.records.load",
    "MergeReport": "smtplab.records.merge",
    "merge_files": "smtplab.records.merge",
    "merge_records": "smtplab.records.merge",
    "Dataset": "smtplab.records.query",
    "check_output_path": "smtplab.records.save",
    "save_records": "smtplab.records.save",
    "write_parquet": "smtplab.records.save",
    "format_summary": "smtplab.records.summary",
    "port_summary": "smtplab.records.summary",
    "summarize": "smtplab.records.summary",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'smtplab.records' has no attribute {name!r}")


__all__ = [
    "MAX_BLANK_LINES",
    "MAX_GZIP_RATIO",
    "MAX_LINE_BYTES",
    "MAX_LOAD_ROWS",
    "MAX_PROBLEMS_KEPT",
    "SUPPORTED_SCHEMA_VERSIONS",
    "WRITE_CHUNK_BYTES",
    "Dataset",
    "MergeReport",
    "RecordError",
    "RecordWarning",
    "arrow_schema",
    "check_output_path",
    "check_record",
    "format_summary",
    "frame_to_records",
    "jsonl_to_parquet",
    "load_records",
    "merge_files",
    "merge_records",
    "port_summary",
    "port_summary_for_file",
    "records_to_frame",
    "save_records",
    "summarize",
    "summary_for_file",
    "validate_record",
    "write_parquet",
]
