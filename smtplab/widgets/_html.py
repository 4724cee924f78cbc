"""The primitives of every renderer: escaping, records from results, missing values."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from typing import Any

__all__ = ["as_record", "esc", "missing", "transcript_lines"]


def esc(value: Any) -> str:
    """HTML-escape anything (None becomes an empty string)."""
    if value is None:
        return ""
    return html.escape(str(value), quote=True)


def missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    try:
        import pandas as pd

        return bool(pd.isna(value)) if not hasattr(value, "__len__") else False
    except (TypeError, ValueError, ImportError):
        return False


def as_record(item: Any) -> dict[str, Any]:
    """A record dict from a ProbeResult, a record dict or a pandas row."""
    if hasattr(item, "to_record"):
        return dict(item.to_record())
    if isinstance(item, Mapping):
        return dict(item)
    if hasattr(item, "to_dict"):  # a pandas Series
        return dict(item.to_dict())
    raise TypeError(f"expected a ProbeResult or a record dict, not {type(item).__name__}")


def transcript_lines(rec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The transcript of a record as ``{"t", "dir", "text"}`` dicts (and ``kind`` on an event
    that has one)."""
    out = []
    for x in rec.get("transcript") or []:
        if hasattr(x, "to_dict"):
            x = x.to_dict()
        line = {"t": float(x.get("t") or 0.0), "dir": str(x.get("dir")), "text": str(x.get("text"))}
        if isinstance(x.get("kind"), str):
            line["kind"] = x["kind"]
        out.append(line)
    return out
