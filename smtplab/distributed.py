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
checks it on a real two-worker cluster): plain tuples, sorted, so they compare exactly.
Workers need smtplab importable (true for a ``LocalCluster`` and any cluster whose workers run
the same environment).  Dask is optional: ``pip install "dask[distributed]"``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Summaries", "summaries"]

#: The only columns the summaries read (Parquet is columnar: the rest is never loaded).
COLUMNS = ["port", "vantage", "outcome", "tls_version", "findings"]


@dataclass(frozen=True)
class Summaries:
    """Counts over a whole dataset, each a sorted tuple of plain tuples.

    * ``outcomes``: ``(port, vantage, outcome, count)``: outcome counts by port and vantage;
    * ``tls_versions``: ``(port, tls_version, count)`` over records where TLS came up;
    * ``findings``: ``(code, severity, count)``: how many findings of each kind, in all records;
    * ``records``: how many records there are.
    """

    outcomes: tuple[tuple[int, str, str, int], ...]
    tls_versions: tuple[tuple[int, str, int], ...]
    findings: tuple[tuple[str, str, int], ...]
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


def _finding_rows(part: pd.DataFrame) -> pd.DataFrame:
    """One row per finding of a partition's records: (code, severity)."""
    import pandas as pd

    rows = [
        (f["code"], f["severity"]) for found in part["findings"] if found is not None for f in found
    ]
    frame = pd.DataFrame(rows, columns=["code", "severity"])
    return frame.astype({"code": "string", "severity": "string"})


def summaries(path: str | os.PathLike[str], *, client: Any = None) -> Summaries:
    """The dataset's summaries, computed by Dask on ``client`` (or Dask's default scheduler).

    ``path`` is a Parquet file or a (hive-partitioned) folder of them.  Only the five columns
    the answers need are read, partition by partition, on the workers; what comes back to this
    process is the counts.
    """
    import pandas as pd

    dask, dd = _dask()
    ddf = dd.read_parquet(os.fspath(path), columns=COLUMNS)
    outcome = ddf.groupby(["port", "vantage", "outcome"], observed=True).size()
    tls = ddf[ddf["tls_version"].notnull()]
    versions = tls.groupby(["port", "tls_version"], observed=True).size()
    meta = pd.DataFrame({"code": pd.Series(dtype="string"), "severity": pd.Series(dtype="string")})
    found = ddf.map_partitions(_finding_rows, meta=meta)
    codes = found.groupby(["code", "severity"]).size()
    parts = [outcome, versions, codes, ddf.shape[0]]
    if client is not None:
        results = client.compute(parts, sync=True)
    else:
        results = dask.compute(*parts)
    by_outcome, by_version, by_code, n = results
    return Summaries(
        outcomes=tuple(
            sorted((int(p), str(v), str(o), int(c)) for (p, v, o), c in by_outcome.items() if c)
        ),
        tls_versions=tuple(
            sorted((int(p), str(t), int(c)) for (p, t), c in by_version.items() if c)
        ),
        findings=tuple(sorted((str(k), str(s), int(c)) for (k, s), c in by_code.items() if c)),
        records=int(n),
    )
