"""Import a scan file into a record file in batches: constant memory whatever the scan's size.

:func:`import_scan` streams records from an importer and writes them every ``batch_size``
records, to JSON Lines (appended, as :func:`smtplab.records.save_records` does) or to a
hive-partitioned Parquet folder (:func:`smtplab.records.write_parquet`) that DuckDB, Dask,
Spark and :func:`smtplab.load_records` read as they are.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from smtplab.importers._common import Tally
from smtplab.importers.banners_csv import iter_csv
from smtplab.importers.nmap import iter_nmap_xml
from smtplab.importers.zgrab2 import iter_zgrab2
from smtplab.records import arrow_schema, save_records, write_parquet

__all__ = ["FORMATS", "ImportSummary", "import_scan", "iter_scan"]

#: Scan formats and the file name endings that select them when ``fmt`` is not given.
FORMATS: dict[str, tuple[str, ...]] = {
    "nmap": (".xml",),
    "zgrab2": (".jsonl", ".json", ".ndjson"),
    "csv": (".csv", ".tsv", ".txt"),
}


@dataclass(frozen=True)
class ImportSummary:
    """What :func:`import_scan` did: records written, input lines skipped and why."""

    source: str
    dest: str
    fmt: str
    records: int
    skipped: int
    problems: tuple[str, ...]


def _table(batch: list[dict[str, Any]]) -> Any:
    """Checked records as an Arrow table (write_parquet checks it again column by column)."""
    import pyarrow as pa

    rows = [
        {
            **rec,
            "started_at": datetime.fromisoformat(rec["started_at"]),
            "cert_not_after": rec["cert_not_after"]
            and datetime.fromisoformat(rec["cert_not_after"]),
        }
        for rec in batch
    ]
    return pa.Table.from_pylist(rows, schema=arrow_schema())


def guess_format(path: str | os.PathLike[str]) -> str:
    name = str(path).lower()
    for fmt, endings in FORMATS.items():
        if name.endswith(endings):
            return fmt
    raise ValueError(
        f"{path}: cannot tell the scan format from the name; give fmt= one of {', '.join(FORMATS)}"
    )


def iter_scan(
    path: str | os.PathLike[str],
    *,
    fmt: str | None = None,
    vantage: str = "imported",
    port: int | None = None,
    strict: bool = True,
    tally: Tally | None = None,
) -> Iterator[dict[str, Any]]:
    """Records from a scan file of any supported format, one at a time.

    ``port``: zgrab2 lines and CSV rows that carry no port get this one (zgrab2's default: 25).
    """
    fmt = fmt or guess_format(path)
    if fmt == "nmap":
        return iter_nmap_xml(path, vantage=vantage, strict=strict, tally=tally)
    if fmt == "zgrab2":
        p = 25 if port is None else port
        return iter_zgrab2(path, vantage=vantage, port=p, strict=strict, tally=tally)
    if fmt == "csv":
        delimiter = "\t" if str(path).lower().endswith(".tsv") else ","
        return iter_csv(
            path, vantage=vantage, port=port, delimiter=delimiter, strict=strict, tally=tally
        )
    raise ValueError(f"unknown scan format {fmt!r}; choose one of {', '.join(FORMATS)}")


def import_scan(
    source: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    fmt: str | None = None,
    vantage: str = "imported",
    port: int | None = None,
    strict: bool = True,
    batch_size: int = 5_000,
    partition_cols: Sequence[str] | None = ("port",),
) -> ImportSummary:
    """Import a scan file into ``dest``, ``batch_size`` records at a time.

    ``dest`` ending in ``.jsonl``: JSON Lines, appended.  Anything else: a Parquet folder,
    hive-partitioned by ``partition_cols`` (default: by port), or, with ``partition_cols=None``,
    one ``part-<uuid>.parquet`` file per batch.  Memory stays that of one batch whatever the
    size of the scan (see ``benchmarks/importers_scale.py``).  Strict (the default): the first
    bad input line raises :class:`~smtplab.records.RecordError` (batches already written stay);
    ``strict=False`` skips bad lines and the summary counts them.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    fmt = fmt or guess_format(source)
    dest = Path(dest)
    to_jsonl = dest.name.lower().endswith(".jsonl")
    tally = Tally()
    batch: list[dict[str, Any]] = []
    written = 0

    def flush() -> int:
        if not batch:
            return 0
        if to_jsonl:
            n = save_records(batch, dest)
        elif partition_cols:
            n = write_parquet(_table(batch), dest, partition_cols=list(partition_cols))
        else:
            dest.mkdir(parents=True, exist_ok=True)
            n = write_parquet(_table(batch), dest / f"part-{uuid.uuid4().hex}.parquet")
        batch.clear()
        return n

    records = iter_scan(source, fmt=fmt, vantage=vantage, port=port, strict=strict, tally=tally)
    for rec in records:
        batch.append(rec)
        if len(batch) >= batch_size:
            written += flush()
    written += flush()
    return ImportSummary(
        source=str(source),
        dest=str(dest),
        fmt=fmt,
        records=written,
        skipped=tally.skipped,
        problems=tuple(tally.problems),
    )
