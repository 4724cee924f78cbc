"""The Arrow schema of record files, and column-wise checking of Arrow tables.

Plain types only, so DuckDB, Spark and any Parquet reader take the files as they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from smtplab.records.check import SUPPORTED_SCHEMA_VERSIONS
from smtplab.records.errors import MAX_PROBLEMS_KEPT, RecordError, where
from smtplab.schema import (
    DIRECTIONS,
    ENUMS,
    EVENT_FIELDS,
    EVENT_KINDS,
    FIELDS,
    SCHEMA_VERSION,
    SEVERITIES,
)

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "LIST_KINDS",
    "LoadPart",
    "arrow_schema",
    "cast_to_schema",
    "conform_table",
    "records_to_table",
]

LIST_KINDS = ("list[str]", "findings", "transcript")

#: What one file's read gives: (table, rows skipped, first problems, unknown fields dropped).
LoadPart = tuple["pa.Table", int, list[str], set[str]]

#: A rule's verdict over a table: (field, reason, boolean mask of bad rows).
_Mask = tuple[str, str, Any]


def arrow_schema() -> pa.Schema:
    """The Parquet/Arrow schema of a record file, in schema order.

    ``int64``, ``double``, ``bool``, ``string``, ``timestamp[us, tz=UTC]``, ``list<string>``,
    and lists of structs for ``findings`` (code, severity, message) and ``transcript``
    (t, dir, text, and for events kind and data: a struct of every field of
    :data:`~smtplab.schema.EVENT_FIELDS`, null where a line has none).
    """
    import pyarrow as pa

    scalar = {
        "int": pa.int64(),
        "float": pa.float64(),
        "bool": pa.bool_(),
        "str": pa.string(),
        "list[str]": pa.list_(pa.string()),
    }
    kinds = {
        "int": pa.int64(),
        "float": pa.float64(),
        "bool": pa.bool_(),
        "str": pa.string(),
        "datetime": pa.timestamp("us", tz="UTC"),
        "list[str]": pa.list_(pa.string()),
        "findings": pa.list_(
            pa.struct([("code", pa.string()), ("severity", pa.string()), ("message", pa.string())])
        ),
        "transcript": pa.list_(
            pa.struct(
                [
                    ("t", pa.float64()),
                    ("dir", pa.string()),
                    ("text", pa.string()),
                    ("kind", pa.string()),
                    ("data", pa.struct([(k, scalar[v]) for k, v in EVENT_FIELDS.items()])),
                ]
            )
        ),
    }
    return pa.schema(
        [
            pa.field(name, kinds[kind], nullable=nullable)
            for name, (kind, nullable) in FIELDS.items()
        ],
        metadata={"smtplab_schema_version": str(SCHEMA_VERSION)},
    )


def records_to_table(records: list[dict[str, Any]]) -> pa.Table:
    """Checked records (datetimes as datetime objects) to an Arrow table."""
    import pyarrow as pa

    return pa.Table.from_pylist(records, schema=arrow_schema())


def _cast_columns(
    table: pa.Table, schema: pa.Schema, path: Path | None, strict: bool
) -> tuple[pa.Table, set[str]]:
    """The table's columns cast to ``schema`` (missing nullable ones as nulls); unknown dropped."""
    import pyarrow as pa

    dropped: set[str] = set()
    extra = [n for n in table.column_names if n not in FIELDS]
    if extra:
        if strict:
            raise RecordError(
                f"unknown column (not in schema version {SCHEMA_VERSION})",
                path=path,
                field=extra[0],
            )
        dropped |= set(extra)
    columns = []
    n = table.num_rows
    for field in schema:
        if field.name not in table.column_names:
            if not field.nullable:
                raise RecordError(
                    "missing column (a record file needs every field that may not be null)",
                    path=path,
                    field=field.name,
                )
            columns.append(pa.nulls(n, field.type))
            continue
        col = table.column(field.name)
        if pa.types.is_dictionary(col.type):  # hive partition columns come back as dictionaries
            col = col.cast(col.type.value_type)
        try:
            col = col.cast(field.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise RecordError(
                f"column of type {col.type} cannot be read as {field.type}: {exc}",
                path=path,
                field=field.name,
            ) from exc
        columns.append(col)
    return pa.Table.from_arrays(columns, schema=schema), dropped


def cast_to_schema(table: pa.Table, path: Path | str | None, columns: list[str]) -> pa.Table:
    """These columns of ``table`` with the record schema's types, converted as
    :func:`smtplab.records.load_records` converts them (text ``"25"`` to the port 25, a hive
    partition's dictionary to its values): a column that cannot be converted raises
    :class:`RecordError` naming the file and the field.  Rows are not checked (nulls stay)."""
    import pyarrow as pa

    full = arrow_schema()
    schema = pa.schema([full.field(c) for c in columns])
    picked = table.select([c for c in columns if c in table.column_names])
    return _cast_columns(picked, schema, None if path is None else Path(path), strict=True)[0]


def _scalar_masks(table: pa.Table, schema: pa.Schema) -> list[_Mask]:
    import pyarrow as pa
    import pyarrow.compute as pc

    masks: list[_Mask] = []
    for field in schema:
        col = table.column(field.name)
        if not field.nullable and col.null_count:
            masks.append((field.name, "must not be null", pc.is_null(col)))
        if field.name in ENUMS:
            ok = pc.is_in(col, value_set=pa.array(ENUMS[field.name]))
            masks.append(
                (
                    field.name,
                    f"unknown word; expected one of: {', '.join(ENUMS[field.name])}",
                    pc.and_(pc.invert(pc.fill_null(ok, True)), pc.is_valid(col)),
                )
            )
    names = table.column_names
    if "schema_version" in names:
        known = ", ".join(str(v) for v in SUPPORTED_SCHEMA_VERSIONS)
        ok = pc.is_in(
            table.column("schema_version"),
            value_set=pa.array(SUPPORTED_SCHEMA_VERSIONS, pa.int64()),
        )
        masks.append(
            (
                "schema_version",
                f"not a schema version this smtplab reads (it reads version {known})",
                pc.invert(pc.fill_null(ok, False)),
            )
        )
    if "port" in names:
        port = table.column("port")
        masks.append(
            (
                "port",
                "a TCP port is 0 to 65535",
                pc.fill_null(pc.or_(pc.less(port, 0), pc.greater(port, 65535)), False),
            )
        )
    return masks


def _nested_masks(table: pa.Table) -> list[_Mask]:
    """Bad severities inside ``findings`` and bad directions inside ``transcript``."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    masks: list[_Mask] = []
    names = table.column_names
    for name, key, allowed in (
        ("findings", "severity", SEVERITIES),
        ("transcript", "dir", DIRECTIONS),
        ("transcript", "kind", EVENT_KINDS),
    ):
        if name not in names or not table.num_rows:
            continue
        col = table.column(name).combine_chunks()
        flat = pc.list_flatten(col)
        if len(flat) == 0:
            continue
        inner = pc.struct_field(flat, key)
        known = pc.fill_null(pc.is_in(inner, value_set=pa.array(allowed)), False)
        if key == "kind":  # a line may have no kind (client and server lines, older records)
            known = pc.or_(known, pc.is_null(inner))
        bad_inner = pc.invert(known)
        bad_rows = pc.filter(pc.list_parent_indices(col), bad_inner)
        if len(bad_rows):
            rows = np.zeros(table.num_rows, dtype=bool)
            rows[bad_rows.to_numpy(zero_copy_only=False)] = True
            masks.append(
                (name, f"unknown {key}; expected one of: {', '.join(allowed)}", pa.array(rows))
            )
    return masks


def conform_table(
    table: pa.Table, path: Path | None, *, strict: bool, columns: list[str] | None = None
) -> LoadPart:
    """Bring an Arrow table to :func:`arrow_schema` and check its rows, column by column.

    Strict: the first bad row raises :class:`RecordError` (``line`` is the 1-based row).
    Lenient: bad rows are dropped and counted.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    schema = arrow_schema()
    if columns is not None:
        schema = pa.schema([schema.field(c) for c in columns], metadata=schema.metadata)
    table, dropped = _cast_columns(table, schema, path, strict)
    problems: list[str] = []
    skipped = 0
    if not table.num_rows:
        return table, skipped, problems, dropped
    any_bad = None
    for field_name, reason, mask in [*_scalar_masks(table, schema), *_nested_masks(table)]:
        mask = pc.fill_null(mask, False)
        if not pc.any(mask).as_py():
            continue
        first = pc.index(mask, True).as_py()
        if strict:
            raise RecordError(reason, path=path, line=first + 1, field=field_name)
        if len(problems) < MAX_PROBLEMS_KEPT:
            problems.append(
                where(None if path is None else str(path), first + 1, field_name, reason)
            )
        any_bad = mask if any_bad is None else pc.or_(any_bad, mask)
    if any_bad is not None:
        skipped = pc.sum(pc.cast(any_bad, pa.int64())).as_py()
        table = table.filter(pc.invert(any_bad))
    return table, skipped, problems, dropped
