"""Summaries of records: one row per vantage × host × port, as a table and as text.

:func:`summarize` works on a pandas table (vectorised: one groupby per column, no Python loop
over groups); :func:`summary_for_file` asks the same question of a file with DuckDB, reading
only the columns the answer needs (:mod:`smtplab.records.query`).  Both follow the same rules,
so they give the same table:

* ``outcome`` and ``tls_mode`` are the most common word; ties go to the word listed first in
  the schema (:data:`smtplab.schema.OUTCOMES`, :data:`smtplab.schema.TLS_MODES`);
* ``outcomes`` lists every outcome with its count, most common first, in the same order;
* ``auth_before_tls`` / ``auth_after_tls``: the mechanisms seen, in the order servers list
  them (their average place in the lists, then by name); ``none`` = looked, none offered;
  ``n/a`` = never looked;
* ``top_finding``: the most severe finding's code, the most frequent among equals, then the
  last by name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from smtplab.records.normalise import is_missing
from smtplab.schema import OUTCOMES, SEVERITIES, TLS_MODES

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["KEYS", "SUMMARY_COLUMNS", "format_summary", "summarize"]

KEYS = ["vantage", "host", "port"]
SUMMARY_COLUMNS = [
    *KEYS,
    "probes",
    "outcome",
    "outcomes",
    "tls_mode",
    "auth_before_tls",
    "auth_after_tls",
    "top_finding",
]
#: The columns of a records table that :func:`summarize` reads.
SUMMARY_INPUTS = [*KEYS, "outcome", "tls_mode", "auth_before_tls", "auth_after_tls", "findings"]


def _word_order(words: tuple[str, ...]) -> dict[str, int]:
    return {w: i for i, w in enumerate(words)}


def _joined(rows: pd.DataFrame, column: str) -> Any:
    """``" ".join`` of ``column`` per group of :data:`KEYS`, for rows already sorted by them.

    A Python loop over group boundaries: pandas' own per-group aggregation of strings costs
    a slice per group, which dominates with tens of thousands of groups.
    """
    import numpy as np
    import pandas as pd

    keys = rows[KEYS].reset_index(drop=True)
    changed = np.ones(len(keys), dtype=bool)
    if len(keys) > 1:
        changed[1:] = (keys.iloc[1:].to_numpy() != keys.iloc[:-1].to_numpy()).any(axis=1)
    starts = np.flatnonzero(changed).tolist()
    ends = [*starts[1:], len(keys)]
    values = rows[column].astype(str).tolist()
    joined = [" ".join(values[a:b]) for a, b in zip(starts, ends, strict=True)]
    index = pd.MultiIndex.from_frame(keys.iloc[starts])
    return pd.Series(joined, index=index, dtype=object)


def _counted_words(df: pd.DataFrame, column: str, order: dict[str, int]) -> pd.DataFrame:
    """Per group: the most common word of ``column`` and the ``word×n`` list."""
    counts = df.groupby([*KEYS, column], sort=False, dropna=False, observed=True).size()
    counts = counts.rename("n").reset_index()
    counts["rank"] = counts[column].astype(object).map(order).fillna(len(order))
    counts = counts.sort_values([*KEYS, "n", "rank"], ascending=[True] * len(KEYS) + [False, True])
    counts["piece"] = counts[column].astype(str) + "×" + counts["n"].astype(str)
    first = counts.groupby(KEYS, sort=False, dropna=False)[column].first()
    return first.rename("word").to_frame().assign(pieces=_joined(counts, "piece"))


def _auth_words(df: pd.DataFrame, column: str) -> Any:
    """Per group: 'n/a', 'none' or the mechanisms in the order servers list them."""
    import pandas as pd

    keys = df[KEYS]
    seen = df[column].map(lambda v: not is_missing(v))
    looked = seen.groupby([keys[k] for k in KEYS], sort=False, dropna=False).any()
    out = pd.Series("n/a", index=looked.index, dtype=object)
    out[looked] = "none"
    lists = df.loc[seen, [*KEYS, column]].explode(column).dropna(subset=[column])
    if len(lists):
        lists["pos"] = lists.groupby(level=0).cumcount()
        mean = lists.groupby([*KEYS, column], sort=False, dropna=False)["pos"].mean()
        mean = mean.rename("pos").reset_index().sort_values([*KEYS, "pos", column])
        words = _joined(mean, column)
        out.loc[words.index] = words
    return out


def _top_findings(df: pd.DataFrame) -> Any:
    """Per group: ``"code (severity)"`` of the most severe, most frequent finding, or ''."""
    flat = df[[*KEYS, "findings"]].explode("findings").dropna(subset=["findings"])
    if not len(flat):
        return None
    flat["code"] = [f["code"] for f in flat["findings"]]
    flat["severity"] = [f["severity"] for f in flat["findings"]]
    counts = flat.groupby([*KEYS, "severity", "code"], sort=False, dropna=False).size()
    counts = counts.rename("n").reset_index()
    counts["rank"] = counts["severity"].map(_word_order(SEVERITIES)).fillna(-1)
    counts = counts.sort_values(
        [*KEYS, "rank", "n", "code"], ascending=[True] * len(KEYS) + [False, False, False]
    )
    counts["label"] = counts["code"] + " (" + counts["severity"] + ")"
    return counts.groupby(KEYS, sort=False, dropna=False)["label"].first()


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """One row per vantage × host × port: what the probes there found.

    Columns: ``vantage``, ``host``, ``port``, ``probes`` (how many), ``outcome`` (the most
    common), ``outcomes`` (all, e.g. ``"open×3 filtered×1"``), ``tls_mode`` (most common),
    ``auth_before_tls`` and ``auth_after_tls`` (mechanisms seen; ``none`` = none offered,
    ``n/a`` = not looked at) and ``top_finding`` (the most severe finding's code, the most
    frequent among equals).  This is what ``smtplab show FILE`` prints.
    """
    import pandas as pd

    if not len(df):
        out = pd.DataFrame({c: [] for c in SUMMARY_COLUMNS}, columns=SUMMARY_COLUMNS)
    else:
        df = df[SUMMARY_INPUTS].reset_index(drop=True)
        df = df.assign(
            vantage=df["vantage"].astype(object),
            host=df["host"].astype(object),
            port=df["port"].astype("Int64"),
        )
        out = df.groupby(KEYS, sort=True, dropna=False).size().rename("probes").to_frame()
        outcome = _counted_words(df, "outcome", _word_order(OUTCOMES))
        tls = _counted_words(df, "tls_mode", _word_order(TLS_MODES))
        out["outcome"] = outcome["word"]
        out["outcomes"] = outcome["pieces"]
        out["tls_mode"] = tls["word"]
        out["auth_before_tls"] = _auth_words(df, "auth_before_tls")
        out["auth_after_tls"] = _auth_words(df, "auth_after_tls")
        top = _top_findings(df)
        out["top_finding"] = "" if top is None else top
        out["top_finding"] = out["top_finding"].fillna("")
        out = out.reset_index()[SUMMARY_COLUMNS]
    return _typed(out)


def _typed(out: pd.DataFrame) -> pd.DataFrame:
    """The summary's dtypes: text as object, ``port`` as Int64, ``probes`` as int64."""
    out = out.astype({c: object for c in SUMMARY_COLUMNS if c not in ("port", "probes")})
    out["port"] = out["port"].astype("Int64")
    out["probes"] = out["probes"].astype("int64")
    return out.reset_index(drop=True)


def format_summary(df: pd.DataFrame, *, max_width: int = 40) -> str:
    """A fixed-width text table of :func:`summarize` (a records DataFrame is summarised first).

    Cells longer than ``max_width`` characters are cut with '…' so the table fits a terminal.
    """
    table = (
        df
        if "probes" in df.columns and "outcome" in df.columns and "transcript" not in df.columns
        else summarize(df)
    )
    if table.empty:
        return "(no records)"
    headers = [str(c) for c in table.columns]

    def cell(v: Any) -> str:
        text = "" if is_missing(v) else str(v)
        text = text.replace("\n", " ")
        return text if len(text) <= max_width else text[: max_width - 1] + "…"

    rows = [[cell(v) for v in row] for row in table.itertuples(index=False, name=None)]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    numeric = {i for i, c in enumerate(table.columns) if c in ("port", "probes")}

    def fmt(values: list[str]) -> str:
        return "  ".join(
            v.rjust(w) if i in numeric else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ).rstrip()

    lines = [fmt(headers), "  ".join("-" * w for w in widths)]
    lines.extend(fmt(r) for r in rows)
    return "\n".join(lines)
