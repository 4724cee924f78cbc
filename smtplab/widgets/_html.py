"""The primitives of every renderer: escaping, records from results, missing values."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from smtplab.records.normalise import as_record, is_missing

__all__ = ["as_record", "esc", "missing", "transcript_lines"]


def esc(value: Any) -> str:
    """HTML-escape anything (None becomes an empty string)."""
    if value is None:
        return ""
    return html.escape(str(value), quote=True)


#: The one missing-value rule and the one entrance for record-like input (records/normalise).
missing = is_missing


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
