"""One record normaliser: every conversion between the shapes a record takes.

A record travels from a probe result (``to_record()``), through a dict checked against the
schema, to a JSON line or an Arrow row, into a pandas table and back out of it.  The
conversions along that way live here, once:

* :func:`as_mapping` — a probe result or a mapping, as a mapping;
* :func:`parse_time` / :func:`time_text` — ISO-8601 text (or any aware datetime, a pandas
  ``Timestamp`` included) to a plain aware UTC ``datetime``, and back to text;
* :func:`is_missing` — ``None``, ``NaN``, ``pd.NA`` and ``NaT`` are all "no value";
* :func:`plain` — a pandas/numpy cell as a plain Python value (lists, dicts, str, int, …);
* :func:`to_json_ready` — a checked record with its times as text, ready for ``json.dumps``;
* :class:`HugeInt` and :func:`json_int` — JSON integers too long to be a 64-bit number stay
  text, so the checker can name the field instead of Python refusing the whole line.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from smtplab.schema import FIELD_NAMES, FIELDS

__all__ = [
    "HugeInt",
    "as_mapping",
    "as_record",
    "as_records",
    "is_missing",
    "json_int",
    "parse_time",
    "plain",
    "time_text",
    "to_json_ready",
]

_DATETIME_FIELDS = tuple(name for name, (kind, _) in FIELDS.items() if kind == "datetime")

#: JSON integers with more characters than this are never a 64-bit integer (sign + 19 digits).
_MAX_INT_CHARS = 20


class HugeInt:
    """A JSON integer too long to be a record's number, kept as its digits (not converted)."""

    __slots__ = ("digits",)

    def __init__(self, digits: str) -> None:
        self.digits = digits

    def __repr__(self) -> str:
        return f"an integer of {len(self.digits.lstrip('-'))} digits"


def json_int(text: str) -> int | HugeInt:
    """``json.loads(..., parse_int=json_int)``: an int, or :class:`HugeInt` if far too long.

    Python refuses to convert more than 4,300 digits (a ValueError that would lose the line's
    field); anything over 20 characters cannot fit in 64 bits anyway.
    """
    if len(text) > _MAX_INT_CHARS:
        return HugeInt(text)
    return int(text)


def as_mapping(item: Any) -> Any:
    """A probe result (anything with ``to_record()``) as its record dict; anything else as is."""
    to_record = getattr(item, "to_record", None)
    if callable(to_record):
        return to_record()
    return item


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_time(value: Any) -> datetime | str:
    """A plain aware UTC ``datetime`` from ISO-8601 text or an aware datetime; else a problem."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value)  # 3.11 also accepts a trailing "Z"
        except ValueError:
            return (
                "expected an ISO-8601 date and time such as '2026-11-29T05:00:00+00:00', "
                f"got {_short(value)}"
            )
    else:
        return f"expected an ISO-8601 date and time (text), got {_short(value)}"
    if dt.tzinfo is None or dt.utcoffset() is None:
        return (
            f"the time {_short(value)} has no time zone; "
            "write it in UTC, e.g. ending in +00:00 or Z"
        )
    try:
        dt = dt.astimezone(timezone.utc)
    except (OverflowError, ValueError):
        return f"the time {_short(value)} is out of range"
    # pandas Timestamps are datetimes too; make a plain datetime so JSON and Arrow agree.
    return datetime(
        dt.year,
        dt.month,
        dt.day,
        dt.hour,
        dt.minute,
        dt.second,
        dt.microsecond,
        tzinfo=timezone.utc,
    )


def time_text(value: datetime) -> str:
    """A datetime as the ISO-8601 text written to record files."""
    return value.isoformat()


def is_missing(value: Any) -> bool:
    """True for ``None``, float NaN, ``pd.NA`` and ``NaT``: the ways a table says "no value".

    The one missing-value rule: every part that reads record-like input asks here. Containers
    (text, lists, arrays) are values, never missing. pandas is not imported to ask."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    if type(value).__name__ in ("NaTType", "NAType"):
        return True
    if isinstance(value, (str, bytes, list, tuple, dict, Mapping)) or hasattr(value, "__len__"):
        return False
    try:
        return bool(value != value)  # numpy floats: NaN is the value unequal to itself
    except (TypeError, ValueError):
        return False


def as_record(item: Any) -> dict[str, Any]:
    """One record-like item as a plain record dict: a probe result (anything with
    ``to_record()``), a mapping, or a pandas row (a Series). Raises TypeError otherwise."""
    to_record = getattr(item, "to_record", None)
    if callable(to_record):
        return dict(to_record())
    if isinstance(item, Mapping):
        return dict(item)
    if hasattr(item, "to_dict") and hasattr(item, "index"):  # a pandas Series
        return dict(item.to_dict())
    raise TypeError(f"expected a probe result or a record dict, not {type(item).__name__}")


def as_records(items: Any) -> list[dict[str, Any]]:
    """The one entrance for record-like input: a probe result, a record dict, a DataFrame, or
    an iterable of results and dicts, as a list of plain record dicts (``None``: none).

    Advice, charts, widgets, the command line and replay all take their input through here,
    so "what counts as records" is decided once."""
    if items is None:
        return []
    if isinstance(items, (str, bytes)):
        raise TypeError("expected probe results or record dicts, not text")
    if hasattr(items, "columns") and hasattr(items, "to_dict"):  # a DataFrame
        return frame_to_records(items)
    if isinstance(items, Mapping) or callable(getattr(items, "to_record", None)):
        return [as_record(items)]
    return [as_record(item) for item in items]


def plain(value: Any) -> Any:
    """A pandas/numpy cell as a plain Python value; missing values as ``None``, times as text."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, datetime):  # pandas Timestamps included; NaT is handled below
        import pandas as pd

        if value is pd.NaT:
            return None
        if isinstance(value, pd.Timestamp):
            value = value.to_pydatetime()
        return time_text(value)
    import numpy as np

    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
        if isinstance(value, datetime):
            return time_text(value)
    if is_missing(value):
        return None
    return value


def to_json_ready(rec: dict[str, Any]) -> dict[str, Any]:
    """A checked record (datetimes as ``datetime``) with its times as ISO-8601 text, and its
    transcript lines without the empty event fields a table holds for every line."""
    out = dict(rec)
    for name in _DATETIME_FIELDS:
        value = out.get(name)
        if isinstance(value, datetime):
            out[name] = time_text(value)
    lines = out.get("transcript")
    if isinstance(lines, list):
        out["transcript"] = [_line_ready(x) for x in lines]
    return out


def _line_ready(line: Any) -> Any:
    """A transcript line as written: ``kind`` and ``data`` only on an event that has them."""
    if not isinstance(line, dict) or ("kind" not in line and "data" not in line):
        return line
    out = {k: line[k] for k in ("t", "dir", "text") if k in line}
    if line.get("kind") is not None:
        out["kind"] = line["kind"]
        data = {k: v for k, v in (line.get("data") or {}).items() if v is not None}
        if data:
            out["data"] = data
    return out


def frame_to_records(df: Any) -> list[dict[str, Any]]:
    """The rows of a records DataFrame as plain record dicts (times as ISO-8601 UTC text).

    Columns that are not record fields (say, one you added for an analysis) are left out, so
    ``save_records(frame_to_records(df), path)`` writes valid records.
    """
    names = [name for name in FIELD_NAMES if name in df.columns]
    return [
        {name: plain(value) for name, value in zip(names, row, strict=True)}
        for row in df[names].itertuples(index=False, name=None)
    ]
