"""Questions asked of record files with DuckDB: lazy, column by column, no pandas table first.

>>> ds = Dataset("probes.jsonl")                   # or a .parquet file, or a partitioned folder
>>> ds.outcome_by_port_vantage()                   # doctest: +SKIP
>>> ds.rows(["host", "port", "outcome"], port=25, limit=10)   # doctest: +SKIP

DuckDB reads only the columns an answer needs: a JSON Lines file through ``read_json`` with
every column declared (no type guessing), Parquet through ``read_parquet`` (hive partitions
decoded, their values read as text and cast to the schema's types).  Answers come back as
small pandas DataFrames.  :func:`smtplab.records.load_records` still builds the full table
when one is wanted.

Checking: every answer checks the fields it reads (a port out of range, an unknown outcome
word, a newer ``schema_version``…).  When DuckDB cannot read a file, or a row breaks a rule,
the file summaries (:mod:`smtplab.records.file_summary`) and :meth:`Dataset.open` fall back to
the line-by-line reader, which names the file, the line and the field (strict) or skips and
counts bad lines (lenient).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smtplab.records.arrow import arrow_schema, conform_table
from smtplab.records.errors import RecordError
from smtplab.records.frame import table_to_frame
from smtplab.records.jsonl import MAX_LINE_BYTES, require_regular_file
from smtplab.records.load import PathLike, load_records
from smtplab.records.parquet import is_parquet, parquet_files
from smtplab.records.shown_sql import SHOWN_INPUTS, SHOWN_SQL
from smtplab.records.summary import KEYS, SUMMARY_INPUTS
from smtplab.records.summary_sql import KEYS_SQL as _K
from smtplab.records.summary_sql import SUMMARY_SQL as _SUMMARY_SQL
from smtplab.records.summary_sql import N as _N
from smtplab.records.summary_sql import lit as _lit
from smtplab.records.summary_sql import word_list as _words
from smtplab.schema import ENUMS, EVENT_FIELDS, FIELD_NAMES, FIELDS, SEVERITIES

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = ["DUCKDB_OBJECT_BYTES", "Dataset", "RulesBroken", "duckdb_type"]

_SCALAR_SQL = {
    "int": "BIGINT",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
    "str": "VARCHAR",
    "datetime": "TIMESTAMPTZ",
    "list[str]": "VARCHAR[]",
    "findings": "STRUCT(code VARCHAR, severity VARCHAR, message VARCHAR)[]",
    "transcript": (
        'STRUCT(t DOUBLE, dir VARCHAR, "text" VARCHAR, kind VARCHAR, "data" STRUCT('
        + ", ".join(
            f'"{k}" '
            + {"int": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN"}.get(v, "VARCHAR")
            + ("[]" if v == "list[str]" else "")
            for k, v in EVENT_FIELDS.items()
        )
        + "))[]"
    ),
}


def duckdb_type(field: str) -> str:
    """The DuckDB type of a record field (``port`` -> ``BIGINT``)."""
    return _SCALAR_SQL[FIELDS[field][0]]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _expand(source: PathLike | Sequence[PathLike]) -> list[Path]:
    if isinstance(source, (str, os.PathLike)):
        return [Path(source)]
    return [Path(p) for p in source]


#: The longest JSON line DuckDB is first asked to read.  DuckDB reads a JSON Lines file in
#: buffers of about twice this size, one per thread: at MAX_LINE_BYTES (128 MiB) a 173 MB file
#: fitted in one buffer and was parsed on about one core (0.78 s for 10^5 records against
#: 0.46-0.51 s at 1-16 MiB, in ``benchmarks/records_scale.py``'s explorer file).  Records
#: this long are rare (a 200,000-line hostile EHLO reply); when DuckDB meets one, the question
#: is asked again with MAX_LINE_BYTES (:meth:`Dataset._run`).  DuckDB's smallest buffer is
#: 32 MiB, so less than 16 MiB gains nothing.
DUCKDB_OBJECT_BYTES = 16 * 1024 * 1024


def _source_sql(
    paths: list[Path], *, strict: bool, object_bytes: int = DUCKDB_OBJECT_BYTES
) -> tuple[str, str]:
    """(format, FROM clause) reading the files; format is ``parquet`` or ``jsonl``."""
    parquet: list[str] = []
    jsonl: list[str] = []
    for path in paths:
        if path.is_dir():
            files = parquet_files(path)
            if files:
                parquet.extend(str(f) for f in files)
                continue
            found = sorted(str(p) for p in path.glob("*.jsonl"))
            if not found:
                raise RecordError(
                    "a folder without .parquet or .jsonl files: no records here", path=path
                )
            jsonl.extend(found)
            continue
        if not path.exists():
            raise FileNotFoundError(2, "no such record file", str(path))
        require_regular_file(path)
        if path.name.lower().endswith(".gz"):
            raise _NeedsReader("compressed files are read by the bounded line reader")
        (parquet if path.name.lower().endswith(".parquet") or is_parquet(path) else jsonl).append(
            str(path)
        )
    if parquet and jsonl:
        raise _NeedsReader("a mix of Parquet and JSON Lines")
    listed = "[" + ", ".join(_lit(p) for p in (parquet or jsonl)) + "]"
    if parquet:
        return "parquet", (
            f"read_parquet({listed}, hive_partitioning=true, hive_types_autocast=false, "
            "union_by_name=true)"
        )
    columns = "{" + ", ".join(f"{_lit(n)}: {_lit(duckdb_type(n))}" for n in FIELD_NAMES) + "}"
    return "jsonl", (
        f"read_json({listed}, format='newline_delimited', columns={columns}, "
        f"maximum_object_size={object_bytes}, ignore_errors={'false' if strict else 'true'})"
    )


class _NeedsReader(Exception):
    """DuckDB is not the right reader for this input: use the line-by-line reader."""


def _connect(threads: int | None = None, memory_limit: str | None = None) -> Any:
    import duckdb

    con = duckdb.connect(":memory:")
    con.execute("SET enable_progress_bar = false")
    # Every question binds the files again; without this each one re-reads every Parquet footer
    # (at 10^7 records in 120 files, ~1 s per binding, three bindings for one summary).
    con.execute("SET parquet_metadata_cache = true")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit:
        con.execute(f"SET memory_limit = {_lit(memory_limit)}")
    return con


def _bad_rows_sql(columns: Iterable[str]) -> str:
    """A boolean SQL expression: the row breaks a rule of one of these fields."""
    tests = []
    for name in columns:
        nullable = FIELDS[name][1]
        col = _q(name)
        if not nullable:
            tests.append(f"{col} IS NULL")
        if name in ENUMS:
            tests.append(f"NOT coalesce(list_contains({_words(ENUMS[name])}, {col}), true)")
        if name == "port":
            tests.append(f"coalesce({col} NOT BETWEEN 0 AND 65535, false)")
        if name == "schema_version":
            from smtplab.records.check import SUPPORTED_SCHEMA_VERSIONS

            versions = ", ".join(str(v) for v in SUPPORTED_SCHEMA_VERSIONS)
            tests.append(f"coalesce({col} NOT IN ({versions}), true)")
    return " OR ".join(tests) if tests else "false"


#: Counting rows of a table that keeps equal rows once with their number ``_n`` (the
#: cache), and of one that does not: (how many in a group, one row's weight).
_WEIGHTED = (_N, "_n")
_PLAIN = ("count(*)", "1")


def _one(result: Any) -> Any:
    """The first row of a query's result, reading the result to its end: DuckDB 2 refuses
    other work on a connection (``con.sql``) while a result is only partly fetched, as
    ``fetchone()`` leaves it."""
    rows = result.fetchall()
    return rows[0] if rows else None


def _bad_count_sql(columns: Sequence[str], weight: str = "1") -> str:
    """An aggregate SQL expression: how many rows break a rule of these fields, plus how many
    findings have no known severity (when ``findings`` is one of them).  ``weight``: how
    many records a row stands for (``_n`` in a table of equal rows kept once)."""
    count = f"coalesce(sum({weight}) FILTER (WHERE {_bad_rows_sql(columns)}), 0)"
    if "findings" in columns:
        known = f"coalesce(list_contains({_words(SEVERITIES)}, f.severity), false)"
        count += f" + coalesce(sum(len([f FOR f IN findings IF NOT {known}]) * {weight}), 0)"
    return count


def _count_bad_rows(run: Any, table: str, columns: Sequence[str], weight: str = "1") -> int:
    """How many rows of ``table`` break a rule of these fields (:func:`_bad_count_sql`), in
    one pass.  ``run(query)`` executes a query (``execute``, or :meth:`Dataset._run`)."""
    row = _one(run(f"SELECT {_bad_count_sql(columns, weight)} FROM {table}"))
    return int(row[0]) if row and row[0] is not None else 0


def _median_rows(by: str, source: str, names: Sequence[str]) -> str:
    """SQL: per ``by`` value of ``source`` (``table WHERE ...``), the probes counted, each
    timing's median and ``tls_mode`` "implicit" if most were.  The median is pandas': missing
    values skipped, the middle two averaged; found from each distinct value and how many
    probes had it, so its memory is the distinct values, never a copy of every probe."""
    timings = ", ".join(names)
    picks = ", ".join(
        f"max(m.med) FILTER (WHERE m.phase = {_lit(t)})::DOUBLE AS {_q(t)}" for t in names
    )
    return (
        f"(WITH u AS NOT MATERIALIZED (SELECT {_q(by)} AS g, tls_mode, {timings} FROM {source}), "
        "v AS (SELECT g, phase, x, count(*) AS w FROM "
        f"(UNPIVOT (SELECT g, {timings} FROM u) ON {timings} INTO NAME phase VALUE x) "
        "GROUP BY ALL), "
        "c AS (SELECT g, phase, x, sum(w) OVER (PARTITION BY g, phase ORDER BY x "
        "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cum, "
        "sum(w) OVER (PARTITION BY g, phase) AS total FROM v), "
        "m AS (SELECT g, phase, (min(x) FILTER (WHERE cum >= (total + 1) // 2) "
        "+ min(x) FILTER (WHERE cum >= total // 2 + 1)) / 2 AS med FROM c GROUP BY ALL), "
        "p AS (SELECT g, count(*) AS probes, CASE WHEN 2 * count(*) FILTER "
        "(WHERE tls_mode = 'implicit') > count(*) THEN 'implicit' END AS tls_mode "
        "FROM u GROUP BY g) "
        f"SELECT p.g AS {_q(by)}, 'open' AS outcome, p.tls_mode, {picks}, p.probes "
        "FROM p LEFT JOIN m ON p.g = m.g GROUP BY p.g, p.tls_mode, p.probes)"
    )


class RulesBroken(Exception):
    """Rows break a rule of the fields a checked question reads (``checked=True``): the
    caller reads the files again line by line to say which."""

    def __init__(self, rows: int) -> None:
        super().__init__(f"{rows} row(s) break a rule of the fields read")
        self.rows = rows


class Dataset:
    """Record files (JSON Lines, Parquet, partitioned Parquet folders) to ask questions of.

    Nothing is read until a question is asked, and each question reads only the columns it
    needs.  ``cache=True`` copies the columns the explorer and summaries use (everything but
    the transcript and long texts) into DuckDB's memory once, so many questions in a row (a
    widget's filters) do not parse a JSON file again each time; equal rows are kept once with
    their number, so a small file of millions of equal records stays small in memory.
    ``Dataset.from_frame(df)`` wraps a records DataFrame the same way.

    Filters (``rows``, ``count``, ``summary``, …) are keyword arguments naming a field:
    ``port=25``, ``outcome=["open", "rejected"]``; ``None`` or ``"all"`` keeps everything.
    """

    #: The columns :meth:`cache` keeps: what summaries, filters and the explorer's charts read.
    CACHED_COLUMNS: tuple[str, ...] = (
        "schema_version",
        "probe_id",
        "started_at",
        "vantage",
        "source",
        "host",
        "port",
        "mode",
        "tls_mode",
        "outcome",
        "connect_ms",
        "banner_ms",
        "ehlo_ms",
        "tls_ms",
        "total_ms",
        "banner_code",
        "starttls_offered",
        "auth_before_tls",
        "auth_after_tls",
        "tls_version",
        "cert_verified",
        "findings",
    )

    def __init__(
        self,
        source: PathLike | Sequence[PathLike],
        *,
        strict: bool = True,
        cache: bool = False,
        threads: int | None = None,
        memory_limit: str | None = None,
    ) -> None:
        self._frame: pa.Table | None = None
        self._cached: tuple[str, ...] = ()
        self.paths = _expand(source)
        self.strict = strict
        self.con = _connect(threads, memory_limit)
        self.format, self._from = _source_sql(self.paths, strict=strict)
        self._columns = self._available_columns()
        self.con.execute(f"CREATE VIEW records AS SELECT {self._projection()} FROM {self._from}")
        if cache:
            self.cache()

    @classmethod
    def open(
        cls,
        source: PathLike | Sequence[PathLike],
        *,
        cache: bool = True,
        columns: Sequence[str] | None = None,
    ) -> Dataset:
        """A Dataset over files DuckDB reads directly, else (``.gz``, mixed formats) over the
        table the bounded line reader loads.  ``columns``: the fields to keep in memory
        (default :attr:`CACHED_COLUMNS`); questions about other fields read the files again."""
        import duckdb

        keep = tuple(columns or cls.CACHED_COLUMNS)
        try:
            self = cls(source)
        except _NeedsReader:
            return cls.from_frame(load_records(source, columns=keep), columns=keep)
        try:
            return self.cache(keep) if cache else self
        except duckdb.Error:
            # DuckDB's message names the wrong line for a malformed one; the line reader names
            # the file, the line and the field (or reads what DuckDB does not).
            self.close()
            return cls.from_frame(load_records(source, columns=keep), columns=keep)

    @classmethod
    def from_frame(cls, df: pd.DataFrame, *, columns: Sequence[str] | None = None) -> Dataset:
        """A Dataset over a records DataFrame (these columns of it, default
        :attr:`CACHED_COLUMNS`, as an Arrow table)."""
        from smtplab.records.save import frame_to_table

        self = cls.__new__(cls)
        self.paths = []
        self.strict = True
        self.con = _connect()
        self.format = "frame"
        self._cached = ()
        keep = [c for c in (columns or cls.CACHED_COLUMNS) if c in df.columns]
        self._frame = frame_to_table(df, keep)
        self.con.register("_frame", self._frame)
        self._from = "_frame"
        self._columns = set(keep)
        self.con.execute(f"CREATE VIEW records AS SELECT {self._projection()} FROM _frame")
        return self

    # -- plumbing ------------------------------------------------------------------------

    def _run(self, query: str, params: Sequence[Any] | None = None) -> Any:
        """Execute ``query`` (its result is fetched from the return value).  A JSON line
        longer than :data:`DUCKDB_OBJECT_BYTES` makes DuckDB stop; the view ``records`` is
        then made again with the line reader's limit and the query asked once more."""
        import duckdb

        try:
            return self.con.execute(query, list(params or []))
        except duckdb.InvalidInputException as exc:
            if not self._widen(exc):
                raise
        return self.con.execute(query, list(params or []))

    def _widen(self, exc: Exception) -> bool:
        """Read JSON lines up to MAX_LINE_BYTES from now on, if ``exc`` is DuckDB meeting a
        longer line than it was asked to read (False: ``exc`` is something else)."""
        if self.format != "jsonl" or "maximum_object_size" not in str(exc):
            return False
        if f"maximum_object_size={MAX_LINE_BYTES}," in self._from:
            return False
        _, self._from = _source_sql(self.paths, strict=self.strict, object_bytes=MAX_LINE_BYTES)
        self.con.execute(
            f"CREATE OR REPLACE VIEW records AS SELECT {self._projection()} FROM {self._from}"
        )
        return True

    def _available_columns(self) -> set[str]:
        if self.format == "jsonl":
            return set(FIELD_NAMES)
        names = {r[0] for r in self.con.execute(f"DESCRIBE SELECT * FROM {self._from}").fetchall()}
        return names & set(FIELD_NAMES)

    def _projection(self) -> str:
        parts = []
        for name in FIELD_NAMES:
            if name in self._columns:
                parts.append(f"CAST({_q(name)} AS {duckdb_type(name)}) AS {_q(name)}")
            elif FIELDS[name][1]:
                parts.append(f"CAST(NULL AS {duckdb_type(name)}) AS {_q(name)}")
        return ", ".join(parts)

    def cache(self, columns: Sequence[str] | None = None) -> Dataset:
        """Copy these fields (default :attr:`CACHED_COLUMNS`) into memory once (one pass over
        the files); questions about them are then answered from memory.

        Fewer columns read faster: DuckDB still parses each JSON line, but converts and keeps
        only the fields asked for (the explorer keeps the dozen it shows).
        """
        keep = tuple(columns or self.CACHED_COLUMNS)
        unknown = [c for c in keep if c not in FIELDS]
        if unknown:
            raise ValueError(f"not record fields: {', '.join(unknown)}")
        names = ", ".join(_q(c) for c in keep)
        # A table of the in-memory database, not a TEMP one: cursors (other threads) see it.
        # From Parquet, equal rows are kept once with how many there are (_n): a small file
        # can expand hugely (2 million equal rows in a 2.2 MB file took 0.8 GB here), and
        # timings, which make nearly every row distinct, stay in the file (read when asked:
        # 200,000 rows with a 2 kB host name and varied timings, 3 MB of Parquet, took 1 GB).
        # A JSON line spells out its field names and text, so it is never much shorter than
        # the row it makes: JSON Lines are copied as they are (_n = 1), sparing the first
        # view the grouping (0.15 s at 100,000 distinct records).  Questions count with
        # sum(_n) (:meth:`_counting`); rows are read from the files.
        if self.format == "parquet":
            keep = tuple(c for c in keep if FIELDS[c][0] != "float")
            names = ", ".join(_q(c) for c in keep)
            query = f"SELECT {names}, count(*) AS _n FROM records GROUP BY ALL"
        else:
            query = f"SELECT {names}, 1::BIGINT AS _n FROM records"
        self._run(f"CREATE OR REPLACE TABLE _cached AS {query}")
        self._cached = keep
        return self

    def cursor(self) -> Dataset:
        """The same Dataset over a new DuckDB cursor, to ask questions from another thread.

        It shares the data (and the memory cache); closing it closes only the cursor.
        """
        other = copy.copy(self)
        other.con = self.con.cursor()
        if self._frame is not None:
            other.con.register("_frame", self._frame)  # registrations belong to a connection
        return other

    def _table(self, columns: Iterable[str]) -> str:
        """Where a count over these columns is answered: the cache if it holds them all.
        Count with :meth:`_counting` (the cache keeps equal rows once)."""
        if self._cached and set(columns) <= set(self._cached):
            return "_cached"
        return "records"

    @staticmethod
    def _counting(table: str) -> tuple[str, str]:
        """(the SQL counting a group's records, one row's weight) for a table of
        :meth:`_table`."""
        return _WEIGHTED if table == "_cached" else _PLAIN

    def _where(self, filters: Mapping[str, Any]) -> tuple[str, list[Any]]:
        clauses, params = [], []
        for name, wanted in filters.items():
            if name not in FIELDS:
                raise ValueError(f"not a record field: {name!r}")
            if wanted is None or wanted == "all" or wanted == ("all",):
                continue
            values = list(wanted) if isinstance(wanted, (list, tuple, set, frozenset)) else [wanted]
            if FIELDS[name][0] == "int":
                values = [int(v) for v in values]
            else:
                values = [str(v) for v in values]
            clauses.append(f"{_q(name)} IN ({', '.join('?' for _ in values)})")
            params.extend(values)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params

    def sql(self, query: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        """Any SQL over the view ``records`` (every field, typed as the schema says)."""
        return self._run(query, params).df()

    def arrow(self, query: str, params: Sequence[Any] | None = None) -> pa.Table:
        """Like :meth:`sql`, as an Arrow table."""
        import duckdb

        def fetch() -> pa.Table:
            relation = self.con.sql(query, params=list(params or []))
            to_arrow = getattr(relation, "to_arrow_table", None) or relation.arrow  # duckdb 2, 1
            table: pa.Table = to_arrow()
            return table

        try:
            return fetch()
        except duckdb.InvalidInputException as exc:
            if not self._widen(exc):
                raise
        return fetch()

    # -- questions -----------------------------------------------------------------------

    def count(self, **filters: Any) -> int:
        """How many records match the filters."""
        where, params = self._where(filters)
        table = self._table(filters)
        n, _ = self._counting(table)
        row = _one(self._run(f"SELECT {n} FROM {table}{where}", params))
        return int(row[0]) if row else 0

    def distinct(self, column: str, **filters: Any) -> list[Any]:
        """The distinct non-null values of one column, sorted."""
        where, params = self._where(filters)
        extra = f"{' AND' if where else ' WHERE'} {_q(column)} IS NOT NULL"
        rows = self._run(
            f"SELECT DISTINCT {_q(column)} FROM {self._table([column, *filters])}{where}{extra} "
            f"ORDER BY 1",
            params,
        ).fetchall()
        return [r[0] for r in rows]

    def counts(self, **filters: Any) -> dict[str, int]:
        """``probes`` and the number of distinct ``vantage``, ``host`` and ``port`` values."""
        where, params = self._where(filters)
        table = self._table([*KEYS, *filters])
        n, _ = self._counting(table)
        row = _one(
            self._run(
                f"SELECT {n}, count(DISTINCT vantage), count(DISTINCT host), "
                f"count(DISTINCT port) FROM {table}{where}",
                params,
            )
        )
        probes, vantages, hosts, ports = row if row else (0, 0, 0, 0)
        return {"probes": probes, "vantages": vantages, "hosts": hosts, "ports": ports}

    def rows(
        self, columns: Sequence[str] | None = None, *, limit: int | None = None, **filters: Any
    ) -> pd.DataFrame:
        """Matching records with only ``columns`` (default: all), dtypes as in load_records."""
        names = [n for n in FIELD_NAMES if columns is None or n in columns]
        unknown = [c for c in (columns or []) if c not in FIELDS]
        if unknown:
            raise ValueError(f"not record fields: {', '.join(unknown)}")
        where, params = self._where(filters)
        lim = f" LIMIT {int(limit)}" if limit is not None else ""
        table = self.arrow(
            f"SELECT {', '.join(_q(n) for n in names)} "
            f"FROM records{where}{lim}",  # rows, not counts: never the cache
            params,
        )
        table = table.cast(_schema_for(names))
        return table_to_frame(conform_table(table, None, strict=False, columns=names)[0])

    def outcome_by_port_vantage(self, **filters: Any) -> pd.DataFrame:
        """Columns vantage, port, outcome, probes: how many probes had each outcome."""
        where, params = self._where(filters)
        table = self._table(["vantage", "port", "outcome", *filters])
        return self.sql(
            f"SELECT vantage, port, outcome, {self._counting(table)[0]} AS probes "
            f"FROM {table}{where} "
            "GROUP BY ALL ORDER BY vantage, port, probes DESC, outcome",
            params,
        )

    def tls_versions(self, **filters: Any) -> pd.DataFrame:
        """Columns tls_version (None: no TLS), probes."""
        where, params = self._where(filters)
        table = self._table(["tls_version", *filters])
        out = self.sql(
            f"SELECT tls_version, {self._counting(table)[0]} AS probes "
            f"FROM {table}{where} "
            "GROUP BY ALL ORDER BY probes DESC, tls_version NULLS LAST",
            params,
        )
        versions = out["tls_version"].astype(object)
        out["tls_version"] = versions.where(versions.notna(), None)
        return out

    def finding_counts(self, **filters: Any) -> pd.DataFrame:
        """Columns code, severity, probes (records with the finding)."""
        where, params = self._where(filters)
        table = self._table(["findings", *filters])
        _, weight = self._counting(table)
        return self.sql(
            f"SELECT f.code AS code, f.severity AS severity, {_N} AS probes FROM ("
            f"SELECT unnest(findings) AS f, {weight} AS _n FROM {table}{where}) "
            "GROUP BY ALL ORDER BY probes DESC, code",
            params,
        )

    def bad_rows(self, columns: Iterable[str] = SUMMARY_INPUTS) -> int:
        """How many rows break a rule of these fields (null, unknown word, port range, …)."""
        cols = [*columns, "schema_version"]
        table = self._table(cols)
        return _count_bad_rows(self._run, table, cols, self._counting(table)[1])

    def summary(
        self, *, limit: int | None = None, checked: bool = False, **filters: Any
    ) -> pd.DataFrame:
        """The table of :func:`smtplab.records.summarize`, computed by DuckDB.

        ``limit``: only the first rows (in the table's order), computed from only their
        probes; ``attrs["groups"]`` still says how many rows the whole table has.
        ``checked``: the pass that finds the rows also checks every field the summary reads
        and raises :class:`RulesBroken` if a row breaks a rule.
        """
        import pandas as pd

        from smtplab.records.summary import SUMMARY_COLUMNS

        rows, groups = self.summary_rows(limit=limit, checked=checked, **filters)
        out = pd.DataFrame.from_records(rows, columns=SUMMARY_COLUMNS)
        out = out.astype({c: object for c in SUMMARY_COLUMNS if c not in ("port", "probes")})
        out = out.astype({"port": "Int64", "probes": "int64"})
        out.attrs["groups"] = groups
        return out

    def summary_rows(
        self,
        *,
        limit: int | None = None,
        checked: bool = False,
        shown: bool = False,
        **filters: Any,
    ) -> tuple[list[tuple[Any, ...]], int]:
        """(the rows of :meth:`summary` as tuples, how many rows the whole table has): the
        same answer without building a DataFrame (the explorer shows 25 rows, and a file's
        first view then never imports pandas).  Two passes over the data: one finds the
        rows (vantage, host, port), one counts their probes.  ``shown``: outcomes as the
        words views show (:data:`smtplab.records.shown_sql.SHOWN_SQL`: never "open" for an
        intercepted port)."""
        where, params = self._where(filters)
        inputs = [*SUMMARY_INPUTS, *(SHOWN_INPUTS if shown else ())]
        src = self._table([*inputs, *filters])
        count, weight = self._counting(src)
        n = weight if src == "_cached" else count  # a weight per row, or a count per group
        cols = ", ".join(
            SHOWN_SQL + " AS outcome" if shown and c == "outcome" else _q(c) for c in SUMMARY_INPUTS
        )
        bad = _bad_count_sql([*SUMMARY_INPUTS, "schema_version"], weight) if checked else "0"
        self._run(
            f"CREATE OR REPLACE TEMP TABLE _k AS SELECT {_K}, {bad} AS bad "
            f"FROM {src}{where} GROUP BY {_K}",
            params,
        )
        row = _one(self._run("SELECT count(*), coalesce(sum(bad), 0) FROM _k"))
        groups, broken = (int(row[0]), int(row[1])) if row else (0, 0)
        if broken:
            raise RulesBroken(broken)
        semi = (
            ""
            if limit is None  # else only the probes of the first groups are counted
            else f" SEMI JOIN (SELECT {_K} FROM _k ORDER BY {_K} LIMIT {int(limit)}) k "
            "USING (vantage, host, port)"
        )
        # The probes counted, equal ones once with their number (_n): from the cache (which
        # keeps them so) a copy of its rows in the first groups; from the files, read once and
        # grouped so: never a row per probe (2 million equal rows in one group once all went
        # into memory here).
        grouped = "" if src == "_cached" else " GROUP BY ALL"
        self._run(
            f"CREATE OR REPLACE TEMP TABLE _s AS SELECT {cols}, {n} AS _n "
            f"FROM {src}{semi}{where}{grouped}",
            params,
        )
        return self.con.execute(_SUMMARY_SQL).fetchall(), groups

    def frame(self, columns: Sequence[str], **filters: Any) -> pd.DataFrame:
        """Matching rows of these columns as a plain DataFrame (text as Python str, fast)."""
        where, params = self._where(filters)
        names = ", ".join(_q(c) for c in columns)
        return self.sql(f"SELECT {names} FROM records{where}", params)  # rows: not the cache

    def counted(
        self, columns: Sequence[str], *, shown: bool = False, **filters: Any
    ) -> pd.DataFrame:
        """How many matching records have each combination of these columns' values: the
        columns and ``probes``, in the order of the columns (e.g. what a heat map draws).
        ``shown``: ``outcome`` as the word views show (see :meth:`summary_rows`)."""
        where, params = self._where(filters)
        names = ", ".join(
            SHOWN_SQL + " AS outcome" if shown and c == "outcome" else _q(c) for c in columns
        )
        extra = SHOWN_INPUTS if shown and "outcome" in columns else ()
        table = self._table([*columns, *extra, *filters])
        return self.sql(
            f"SELECT {names}, {self._counting(table)[0]} AS probes "
            f"FROM {table}{where} GROUP BY ALL ORDER BY ALL",
            params,
        )

    def phase_rows(self, by: str = "port", **filters: Any) -> pd.DataFrame:
        """What :func:`smtplab.charts.phase_times` draws, small.  The probes that got a
        greeting: from the memory cache, each with its timings (``probes``: how many a row
        stands for); from the files, one row per ``by`` value (each timing the median, as
        pandas takes it: missing values skipped, the middle two averaged; ``tls_mode``
        "implicit" if most were; ``probes`` how many), never a row per probe.  The others,
        counted by ``by`` and ``outcome`` (``probes`` how many, no timings).  Columns:
        ``by``, outcome, tls_mode, the four ``*_ms`` timings, probes."""
        where, params = self._where(filters)
        names = ["connect_ms", "banner_ms", "ehlo_ms", "tls_ms"]
        timings = ", ".join(names)
        src = self._table([by, "outcome", "tls_mode", *names, *filters])
        n, weight = self._counting(src)
        usable = f"coalesce(outcome = 'open' AND coalesce({timings}) IS NOT NULL, false)"
        also = " AND " if where else " WHERE "
        nulls = ", ".join(f"NULL::DOUBLE AS {t}" for t in names)
        if src == "_cached":
            timed = (
                f"SELECT {_q(by)}, outcome, tls_mode, {timings}, {weight} AS probes "
                f"FROM {src}{where}{also}{usable}"
            )
        else:
            timed = _median_rows(by, f"{src}{where}{also}{usable}", names)
        return self.sql(
            f"{timed} UNION ALL "
            f"SELECT {_q(by)}, outcome, NULL::VARCHAR AS tls_mode, {nulls}, {n} AS probes "
            f"FROM {src}{where}{also}NOT {usable} GROUP BY ALL ORDER BY ALL",
            [*params, *params],
        )

    def close(self) -> None:
        """Release DuckDB's memory."""
        self.con.close()

    def __enter__(self) -> Dataset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _schema_for(names: list[str]) -> pa.Schema:
    import pyarrow as pa

    schema = arrow_schema()
    return pa.schema([schema.field(n).with_nullable(True) for n in names])
