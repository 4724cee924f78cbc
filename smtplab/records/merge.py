"""Pooling record files into one, without duplicate probes."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smtplab.records.arrow import LoadPart
from smtplab.records.errors import MAX_PROBLEMS_KEPT, RecordWarning
from smtplab.records.jsonl import MAX_LINE_BYTES, append_jsonl, dumps
from smtplab.records.load import load_parts
from smtplab.records.parquet import append_parquet
from smtplab.records.save import check_output_path

__all__ = ["MergeReport", "merge_files", "merge_records"]

#: Rows converted to Python dicts at a time while merging.
_BATCH_ROWS = 10_000


@dataclass(frozen=True)
class MergeReport:
    """What :func:`merge_files` did: records written, duplicates dropped, bad lines skipped."""

    written: int
    duplicates: int
    skipped: int
    problems: tuple[str, ...]


def _rows(part: LoadPart) -> Iterator[dict[str, Any]]:
    for batch in part[0].to_batches(max_chunksize=_BATCH_ROWS):
        yield from batch.to_pylist()


def _parts(path: Path, strict: bool) -> list[LoadPart]:
    return load_parts(path, strict, MAX_LINE_BYTES, None, None)


def merge_files(
    inputs: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    *,
    strict: bool = True,
) -> MergeReport:
    """Pool record files into ``output``; see :func:`merge_records`.  Returns a report."""
    output = Path(output)
    kind = check_output_path(output)  # refuse a .gz, a folder, a read-only file before reading
    seen: set[str] = set()
    if output.exists() and output.stat().st_size:
        for part in _parts(output, True):
            seen.update(part[0].column("probe_id").to_pylist())
    new: list[dict[str, Any]] = []
    duplicates = skipped = 0
    problems: list[str] = []
    for path in inputs:
        for part in _parts(Path(path), strict):
            skipped += part[1]
            problems.extend(part[2])
            for rec in _rows(part):
                if rec["probe_id"] in seen:
                    duplicates += 1
                    continue
                seen.add(rec["probe_id"])
                new.append(rec)
    if new:
        if kind == "parquet":
            append_parquet(new, output)
        else:
            append_jsonl((dumps(r) for r in new), output)
    return MergeReport(len(new), duplicates, skipped, tuple(problems[:MAX_PROBLEMS_KEPT]))


def merge_records(
    inputs: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    *,
    strict: bool = True,
) -> tuple[int, int]:
    """Pool several record files into ``output``, dropping duplicate ``probe_id``s.

    Inputs are read in order; the first copy of each probe wins and the order of records is
    kept.  Records already in ``output`` count as seen, so merging twice adds nothing.  Returns
    ``(written, duplicates)``.  Strict (the default): the first bad line raises
    :class:`RecordError` naming file, line and field, and nothing is written.  ``strict=False``
    skips bad lines and warns once with :class:`RecordWarning` saying how many
    (:func:`merge_files` returns the count).  An output that cannot be written (``.gz``, a
    folder, read-only) is refused before any input is read.
    """
    report = merge_files(inputs, output, strict=strict)
    if report.skipped:
        first = f" First: {report.problems[0]}" if report.problems else ""
        warnings.warn(
            f"merge_records: skipped {report.skipped} bad line(s).{first}",
            RecordWarning,
            stacklevel=2,
        )
    return report.written, report.duplicates
