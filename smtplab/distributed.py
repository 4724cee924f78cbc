"""Beyond one machine: the dataset summaries on a Dask cluster, over partitioned Parquet.

DuckDB answers the summaries of a recorded dataset on one machine.  When the dataset outgrows
one machine (hundreds of millions of records, files already spread over a cluster's storage),
the same questions run on `Dask distributed <https://distributed.dask.org>`_, reading the same
hive-partitioned Parquet folder that :func:`smtplab.records.write_parquet` and
:func:`smtplab.importers.import_scan` write::

    from dask.distributed import Client, LocalCluster
    from smtplab.distributed import summaries

    with LocalCluster(n_workers=2) as cluster, Client(cluster) as client:
        s = summaries("scan-parquet/", client=client)
    s.outcomes        # ((25, "campus", "filtered", 5400), (25, "campus", "open", 3100), ...)

The answers are the same numbers DuckDB gives on the same files (``tests/test_distributed.py``
checks it on a real two-worker cluster): plain tuples, sorted, so they compare exactly.  A
missing value is counted, as DuckDB's GROUP BY counts it, under ``None`` (sorted last), so
the outcome counts always add up to ``records``.  Each file is read by a worker and its columns
converted as :func:`smtplab.records.load_records` converts them (one normaliser,
:func:`smtplab.records.arrow.cast_to_schema`): a port written as text ``"25"`` is the port 25,
and a column that cannot be converted (a port ``"smtp"``) raises one
:class:`smtplab.records.RecordError` naming the file and the field.
Workers need smtplab importable (true for a ``LocalCluster`` and any cluster whose workers run
the same environment).  Dask is optional: ``pip install "dask[distributed]"``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = ["Summaries", "summaries"]

#: The only columns the summaries read (Parquet is columnar: the rest is never loaded).
COLUMNS = ["port", "vantage", "outcome", "tls_version", "findings"]
RECORD_COLUMNS = COLUMNS[:4]


@dataclass(frozen=True)
class Summaries:
    """Counts over a whole dataset, each a sorted tuple of plain tuples.

    * ``outcomes``: ``(port, vantage, outcome, count)``: outcome counts by port and vantage;
    * ``tls_versions``: ``(port, tls_version, count)`` over records where TLS came up;
    * ``findings``: ``(code, severity, count)``: how many findings of each kind, in all records;
    * ``records``: how many records there are.

    A missing value (a record without a vantage, a finding without a severity) is ``None``,
    sorted after every value, as DuckDB's ``ORDER BY`` puts NULL last.
    """

    outcomes: tuple[tuple[int | None, str | None, str | None, int], ...]
    tls_versions: tuple[tuple[int | None, str, int], ...]
    findings: tuple[tuple[str | None, str | None, int], ...]
    records: int


def _dask() -> Any:
    try:
        import dask
        import dask.dataframe as dd
    except ImportError as exc:
        raise ImportError(
            'smtplab.distributed needs Dask: pip install "dask[distributed]" '
            f"(it is in smtplab's test extra) ({exc})"
        ) from exc
    return dask, dd


def _files(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """(file, its hive partition values) for each Parquet file of a file or a folder."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    from smtplab.records.errors import RecordError

    if not path.exists():
        raise FileNotFoundError(2, "no such record file or folder", str(path))
    try:
        dataset = ds.dataset(path, format="parquet", partitioning="hive" if path.is_dir() else None)
        parts = [
            (frag.path, ds.get_partition_keys(frag.partition_expression))
            for frag in dataset.get_fragments()
        ]
    except (pa.ArrowInvalid, OSError) as exc:
        raise RecordError(f"not a readable Parquet file or folder: {exc}", path=path) from exc
    if not parts:
        raise RecordError("a folder without .parquet files: no records here", path=path)
    return parts


def _typed(table: pa.Table) -> pd.DataFrame:
    """The summaries' columns as pandas (the dtypes :func:`smtplab.load_records` gives)."""
    from smtplab.records.frame import table_to_frame

    return table_to_frame(table)


def _read_table(part: tuple[str, dict[str, Any]], columns: list[str]) -> pa.Table:
    """These columns of one Parquet file, converted by the records' one normaliser (on a
    worker).  Partition values come from the folder names; a column neither in the file nor
    in a folder name (a folder inside a partitioned set was given) is missing: None."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from smtplab.records.arrow import arrow_schema, cast_to_schema
    from smtplab.records.errors import RecordError

    file, keys = part
    try:
        with pq.ParquetFile(file) as found:
            table = found.read(columns=[c for c in columns if c in found.schema_arrow.names])
    except (pa.ArrowInvalid, OSError) as exc:
        raise RecordError(f"not a readable Parquet file: {exc}", path=file) from exc
    schema = arrow_schema()
    for name in columns:
        if name in table.column_names:
            continue
        value = keys.get(name)
        column = (
            pa.nulls(table.num_rows, schema.field(name).type)
            if value is None
            else pa.array([value] * table.num_rows)
        )
        table = table.append_column(name, column)
    return cast_to_schema(table, file, columns)


def _read_records(part: tuple[str, dict[str, Any]]) -> pd.DataFrame:
    """One file's records: port, vantage, outcome, tls_version."""
    return _typed(_read_table(part, RECORD_COLUMNS))


def _read_findings(part: tuple[str, dict[str, Any]]) -> pd.DataFrame:
    """One file's findings, a row each: (code, severity); None where one is missing.

    Flat text columns, not the records' lists: Dask turns object columns into text."""
    import pandas as pd
    import pyarrow.compute as pc

    flat = pc.list_flatten(_read_table(part, ["findings"]).column("findings"))
    return pd.DataFrame(
        {
            "code": pd.array(pc.struct_field(flat, "code").to_pylist(), dtype="string"),
            "severity": pd.array(pc.struct_field(flat, "severity").to_pylist(), dtype="string"),
        }
    )


def _plain(value: Any) -> Any:
    """A group key as a plain value: None for pandas' missing values."""
    import pandas as pd

    return None if value is None or pd.isna(value) else value


def _sorted(rows: Any) -> tuple[Any, ...]:
    """Rows sorted as DuckDB's ``ORDER BY ALL`` sorts them: None after every value."""
    return tuple(sorted(rows, key=lambda row: tuple((v is None, v) for v in row)))


def _text(value: Any) -> str | None:
    value = _plain(value)
    return None if value is None else str(value)


def _int(value: Any) -> int | None:
    value = _plain(value)
    return None if value is None else int(value)


def summaries(path: str | os.PathLike[str], *, client: Any = None) -> Summaries:
    """The dataset's summaries, computed by Dask on ``client`` (or Dask's default scheduler).

    ``path`` is a Parquet file or a (hive-partitioned) folder of them.  Only the five columns
    the answers need are read, file by file, on the workers; what comes back to this process
    is the counts.  Records with a missing value are counted (under ``None``), never dropped.
    """
    import pandas as pd

    from smtplab.records.arrow import arrow_schema

    dask, dd = _dask()
    files = _files(Path(os.fspath(path)))
    meta = _typed(arrow_schema().empty_table().select(RECORD_COLUMNS))
    ddf = dd.from_map(_read_records, files, meta=meta, enforce_metadata=False)
    outcome = ddf.groupby(["port", "vantage", "outcome"], dropna=False, observed=True).size()
    tls = ddf[ddf["tls_version"].notnull()]
    versions = tls.groupby(["port", "tls_version"], dropna=False, observed=True).size()
    found_meta = pd.DataFrame(
        {"code": pd.Series(dtype="string"), "severity": pd.Series(dtype="string")}
    )
    found = dd.from_map(_read_findings, files, meta=found_meta, enforce_metadata=False)
    codes = found.groupby(["code", "severity"], dropna=False).size()
    parts = [outcome, versions, codes, ddf.shape[0]]
    if client is not None:
        results = client.compute(parts, sync=True)
    else:
        results = dask.compute(*parts)
    by_outcome, by_version, by_code, n = results
    return Summaries(
        outcomes=_sorted(
            (_int(p), _text(v), _text(o), int(c)) for (p, v, o), c in by_outcome.items() if c
        ),
        tls_versions=_sorted((_int(p), str(t), int(c)) for (p, t), c in by_version.items() if c),
        findings=_sorted((_text(k), _text(s), int(c)) for (k, s), c in by_code.items() if c),
        records=int(n),
    )
