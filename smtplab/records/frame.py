"""The pandas table of records: the same dtypes whether the file was JSON Lines or Parquet.

========================================  ===========================================
integers (``port``, ``banner_code``, …)    ``Int64`` (nullable)
timings in ms (``connect_ms``, …)          ``float64`` (NaN when not measured)
``esmtp``, ``starttls_offered``, …         ``boolean`` (nullable)
text (``host``, ``outcome``, …)            ``string``
``started_at``, ``cert_not_after``         ``datetime64[us, UTC]``
``extensions``, ``cert_san``, AUTH lists   Python lists of str (AUTH lists may be None:
                                           not seen, unlike ``[]``: none offered)
``findings``, ``transcript``               Python lists of dicts
========================================  ===========================================
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from smtplab.records.arrow import LIST_KINDS, records_to_table
from smtplab.records.check import check_fields, first_error
from smtplab.records.normalise import frame_to_records
from smtplab.schema import FIELD_NAMES, FIELDS

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = ["frame_to_records", "iter_items", "records_to_frame", "table_to_frame"]


def _pandas_dtypes() -> dict[str, Any]:
    import pandas as pd

    scalar = {
        "int": pd.Int64Dtype(),
        "float": "float64",
        "bool": pd.BooleanDtype(),
        "str": pd.StringDtype(),
        "datetime": pd.DatetimeTZDtype("us", "UTC"),
    }
    return {name: scalar.get(kind, object) for name, (kind, _) in FIELDS.items()}


def _strings_to_python(arr: pa.Array) -> list[Any]:
    """A string array as a Python list, with one shared str object per distinct value.

    Record files repeat the same words millions of times ("PIPELINING", "server"); sharing the
    objects keeps a million-row load within memory (see benchmarks/records_scale.py).
    """
    import numpy as np
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(arr)
    uniques = np.array([*encoded.dictionary.to_pylist(), None], dtype=object)
    indices = encoded.indices.fill_null(len(uniques) - 1).to_numpy(zero_copy_only=False)
    return list(uniques[indices])


def _line(t: Any, direction: Any, text: Any, kind: Any, data: Any) -> dict[str, Any]:
    """A transcript line as a record holds it: ``kind`` and ``data`` only on an event that has
    them (a table has every event field on every line)."""
    if kind is None:
        return {"t": t, "dir": direction, "text": text}
    line = {"t": t, "dir": direction, "text": text, "kind": kind}
    fields = {k: v for k, v in (data or {}).items() if v is not None}
    if fields:
        line["data"] = fields
    return line


def _list_column_to_python(col: Any) -> list[Any]:
    """A list<string> or list<struct> Arrow column as Python lists (of str or dicts); null: None."""
    import numpy as np
    import pyarrow as pa

    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    n = len(arr)
    if n == 0:
        return []
    flat = arr.flatten()  # the items of every list, in order (honours slicing)
    offsets = arr.offsets.to_numpy(zero_copy_only=False)
    offsets = (offsets - offsets[0]).tolist()
    if pa.types.is_struct(flat.type):
        names = [f.name for f in flat.type]
        columns = []
        for i, f in enumerate(flat.type):
            child = flat.field(i)
            columns.append(
                _strings_to_python(child) if pa.types.is_string(f.type) else child.to_pylist()
            )
        if names == ["t", "dir", "text", "kind", "data"]:  # a transcript (schema 3)
            items = [_line(*values) for values in zip(*columns, strict=True)]
        else:
            items = [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]
    else:
        items = _strings_to_python(flat)
    out: list[Any] = [items[offsets[i] : offsets[i + 1]] for i in range(n)]
    if arr.null_count:
        for i in np.flatnonzero(~arr.is_valid().to_numpy(zero_copy_only=False)).tolist():
            out[i] = None
    return out


def table_to_frame(table: pa.Table | list[pa.Table]) -> pd.DataFrame:
    """An Arrow table in the record schema to the DataFrame :func:`load_records` returns.

    Both JSON Lines and Parquet loads end here, so both give the same dtypes.  Given the table
    inside a one-item list (which it empties), it lets go of each Arrow column once converted,
    so a big load does not hold the Arrow and the pandas copies of everything at once.
    """
    import pandas as pd

    if isinstance(table, list):
        table = table.pop()
    dtypes = _pandas_dtypes()
    columns: dict[str, Any] = {}
    mappers = {
        "int": lambda t: pd.Int64Dtype(),
        "bool": lambda t: pd.BooleanDtype(),
        "str": lambda t: pd.StringDtype(),
    }
    for name, (kind, _) in FIELDS.items():
        if name not in table.column_names:
            continue  # load_records(columns=...) asked for fewer columns
        col = table.column(name)
        table = table.drop_columns([name])
        if kind in LIST_KINDS:
            # Python lists (and dicts inside them), not numpy arrays: what a learner expects.
            series = pd.Series(_list_column_to_python(col), dtype=object, name=name)
        elif kind == "float":
            series = col.to_pandas()
        else:
            series = col.to_pandas(types_mapper=mappers.get(kind, lambda t: None)).astype(
                dtypes[name]
            )
        columns[name] = series.reset_index(drop=True)
    return pd.DataFrame(columns, columns=[n for n in FIELD_NAMES if n in columns])


def iter_items(items: Any) -> list[Any]:
    """A single result or record, or an iterable of them (a DataFrame too), as a list."""
    if isinstance(items, Mapping) or callable(getattr(items, "to_record", None)):
        return [items]
    if isinstance(items, (str, bytes)):
        raise TypeError("save_records() takes probe results or record dicts, not text")
    import pandas as pd

    if isinstance(items, pd.DataFrame):
        return frame_to_records(items)
    return list(items)


def records_to_frame(records: Iterable[Any]) -> pd.DataFrame:
    """Records (dicts or probe results) as a DataFrame with the dtypes of :func:`load_records`.

    Raises :class:`RecordError` for the first invalid record (``line`` is its 1-based position).
    """
    checked = []
    for i, item in enumerate(iter_items(records), start=1):
        out, problems = check_fields(item)
        if problems:
            raise first_error(problems, line=i)
        checked.append(out)
    return table_to_frame(records_to_table(checked))
