"""From what a caller passes (a DataFrame, record dicts, ProbeResults) to clean rows to draw."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from smtplab import reference
from smtplab.records.normalise import as_records

__all__ = ["clean", "isnan", "port_order", "ports_of", "to_frame"]


def to_frame(data: Any) -> pd.DataFrame:
    """Accept a DataFrame, records (dicts) or objects with ``to_record()``."""
    if data is None:
        return pd.DataFrame()
    if isinstance(data, pd.DataFrame):
        return data
    rows = as_records(data)
    return pd.DataFrame(rows)


def ports_of(values: Iterable[Any]) -> pd.Series:
    """Port numbers as a numeric Series (NaN where a value is not a number)."""
    return pd.to_numeric(pd.Series(list(values), dtype="object"), errors="coerce")


def isnan(x: Any) -> bool:
    """True for None, NaN, NaT and pandas' NA; False for anything pandas cannot judge."""
    try:
        return bool(pd.isna(x))
    except (TypeError, ValueError):
        return False


def port_order(ports: Iterable[Any]) -> list[int]:
    """Ports in teaching order: 25, 465, 587, 2525 first (those present), then the rest sorted."""
    present = {int(p) for p in ports if p is not None and not isnan(p)}
    first = [p for p in reference.FOUR_PORTS if p in present]
    return first + sorted(present - set(first))


def clean(df: pd.DataFrame, needed: Sequence[str]) -> pd.DataFrame:
    """Rows with the needed columns present; port as int."""
    if df.empty or any(c not in df.columns for c in needed):
        return df.iloc[0:0]
    out = df.copy()
    if "port" in out.columns:
        out["port"] = ports_of(out["port"]).to_numpy()
    out = out.dropna(subset=list(needed))
    if "port" in out.columns:
        out["port"] = out["port"].astype("int64")
    return out
