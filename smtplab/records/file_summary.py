"""What ``smtplab show FILE`` and ``smtplab show --summary FILE`` print, asked by DuckDB.

>>> summary_for_file("probes.jsonl")            # doctest: +SKIP  (show FILE)
>>> summary_for_file("scan/", limit=100)        # doctest: +SKIP
>>> port_summary_for_file("scan/")              # doctest: +SKIP

Each reads only the columns its answer needs (:class:`smtplab.records.Dataset`) and checks
them; if DuckDB cannot read the files, or a row breaks a rule, the files are read again line
by line, for an error naming the file, the line and the field (strict) or to skip bad lines
(lenient).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from smtplab.records.load import PathLike, load_records
from smtplab.records.query import (
    Dataset,
    RulesBroken,
    _count_bad_rows,
    _NeedsReader,
    _q,
)
from smtplab.records.summary import SUMMARY_INPUTS, assemble, summarize
from smtplab.records.summary_sql import duckdb_parts
from smtplab.schema import OUTCOMES

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["port_summary_for_file", "summary_for_file"]


def port_summary_for_file(
    path_or_paths: PathLike | Sequence[PathLike],
    *,
    strict: bool = True,
    threads: int | None = None,
    memory_limit: str | None = None,
) -> pd.DataFrame:
    """Outcome by vantage and port for record files (:func:`smtplab.records.port_summary`).

    What ``smtplab show --summary FILE`` prints (through :func:`format_summary`): one DuckDB
    GROUP BY over the file, reading four columns; the few groups are checked (known outcome
    words, ports 0-65535, no missing values, a schema version this smtplab reads) and, if any
    is wrong or DuckDB cannot read the file, the files are read again line by line for an
    error naming file, line and field (strict) or to skip bad lines (lenient).
    """
    import duckdb

    from smtplab.records.check import SUPPORTED_SCHEMA_VERSIONS
    from smtplab.records.summary import port_summary, port_table

    try:
        with Dataset(path_or_paths, strict=True, threads=threads, memory_limit=memory_limit) as ds:
            counts = ds.sql(
                "SELECT vantage, port, outcome, schema_version, count(*) AS n "
                "FROM records GROUP BY ALL"
            )
            ok = (
                counts[["vantage", "port", "outcome", "schema_version"]].notna().all(axis=None)
                and counts["outcome"].isin(OUTCOMES).all()
                and counts["port"].between(0, 65535).all()
                and counts["schema_version"].isin(SUPPORTED_SCHEMA_VERSIONS).all()
            )
            if ok:
                out = port_table(
                    counts.groupby(["vantage", "port", "outcome"])["n"].sum().reset_index()
                )
                out.attrs["skipped"] = 0
                return out
    except (duckdb.Error, _NeedsReader):
        pass  # the line reader says exactly what is wrong, or reads what DuckDB does not
    columns = ["vantage", "port", "outcome"]
    df = load_records(path_or_paths, strict=strict, columns=columns, max_rows=None)
    out = port_summary(df)
    out.attrs["skipped"] = df.attrs.get("skipped", 0)
    return out


def summary_for_file(
    path_or_paths: PathLike | Sequence[PathLike],
    *,
    strict: bool = True,
    threads: int | None = None,
    memory_limit: str | None = None,
    limit: int | None = None,
) -> pd.DataFrame:
    """The summary of :func:`smtplab.records.summarize` for record files, read by DuckDB.

    What ``smtplab show FILE`` prints, one row per vantage, host and port.  Only the columns
    the summary needs are read.  ``limit``: only the first rows of the table (in its order),
    counted from only their probes, so a scan of millions of hosts never builds the whole
    table; ``attrs["groups"]`` says how many rows the whole table has.  If DuckDB cannot read
    the files, or a row breaks a rule of those columns, the files are read again line by line:
    strict, the first bad line raises :class:`RecordError` naming file, line and field;
    lenient, bad lines are skipped, counted in ``attrs["skipped"]`` and warned about
    (:class:`RecordWarning`).
    """
    import duckdb

    try:
        with Dataset(path_or_paths, strict=True, threads=threads, memory_limit=memory_limit) as ds:
            out = _summary_by_duckdb(ds, limit)
            if out is not None:
                out.attrs["skipped"] = 0
                return out
    except (duckdb.Error, _NeedsReader, RulesBroken):
        pass  # the line reader says exactly what is wrong, or reads what DuckDB does not
    df = load_records(path_or_paths, strict=strict, columns=SUMMARY_INPUTS, max_rows=None)
    out = summarize(df)
    groups = len(out)
    if limit is not None:
        out = out.head(limit).copy()
    out.attrs["groups"] = groups
    out.attrs["skipped"] = df.attrs.get("skipped", 0)
    return out


def _summary_by_duckdb(ds: Dataset, limit: int | None) -> pd.DataFrame | None:
    """The summary (its first ``limit`` rows), or None if a row breaks a rule."""
    needed = [*SUMMARY_INPUTS, "schema_version"]
    if limit is not None:  # two passes over the files, and only small tables in memory
        return ds.summary(limit=limit, checked=True)
    # One pass: the needed columns in memory, equal rows once with their number (_n), which
    # the summary's SQL counts by: a small file of millions of equal rows stays small.
    cols = ", ".join(_q(c) for c in needed)
    ds._run(f"CREATE TEMP TABLE _s AS SELECT {cols}, count(*) AS _n FROM records GROUP BY ALL")
    if _count_bad_rows(ds._run, "_s", needed, "_n"):
        return None
    out = assemble(duckdb_parts(ds.con))
    out.attrs["groups"] = len(out)
    return out
