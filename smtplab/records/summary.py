"""Summaries of records: one row per vantage × host × port, as a table and as text.

:func:`summarize` works on a pandas table (vectorised: one groupby per column, no Python loop
over groups); :func:`summary_for_file` asks the same question of a file with DuckDB, reading
only the columns the answer needs (:mod:`smtplab.records.file_summary`).  Both follow the
same rules, so they give the same table:

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
    ends = [*starts[1:], len(keys)] if starts else []
    values = rows[column].astype(str).tolist()
    joined = [" ".join(values[a:b]) for a, b in zip(starts, ends, strict=True)]
    index = pd.MultiIndex.from_frame(keys.iloc[starts])
    return pd.Series(joined, index=index, dtype=object)


def _words_from_counts(counts: pd.DataFrame, column: str, order: dict[str, int]) -> Any:
    """Per group, from ``[*KEYS, column, n]``: the most common word and the ``word×n`` list."""
    counts = counts.assign(rank=counts[column].astype(object).map(order).fillna(len(order)))
    counts = counts.sort_values([*KEYS, "n", "rank"], ascending=[True] * len(KEYS) + [False, True])
    counts["piece"] = counts[column].astype(str) + "×" + counts["n"].astype(str)
    first = counts.groupby(KEYS, sort=False, dropna=False)[column].first()
    return first.rename("word").to_frame().assign(pieces=_joined(counts, "piece"))


def _auth_from_positions(looked: Any, positions: pd.DataFrame, column: str) -> Any:
    """Per group: 'n/a' (never looked), 'none', or the mechanisms by average place, then name.

    ``looked`` is a boolean Series indexed by :data:`KEYS`; ``positions`` has
    ``[*KEYS, column, pos]`` (each mechanism's average place in the lists of its group).
    """
    import pandas as pd

    out = pd.Series("n/a", index=looked.index, dtype=object)
    out[looked.astype(bool)] = "none"
    if len(positions):
        positions = positions.sort_values([*KEYS, "pos", column])
        words = _joined(positions, column)
        out.loc[words.index] = words
    return out


def _top_from_counts(counts: pd.DataFrame) -> Any:
    """Per group, from ``[*KEYS, severity, code, n]``: the top finding's ``"code (severity)"``."""
    if not len(counts):
        return None
    counts = counts.assign(rank=counts["severity"].map(_word_order(SEVERITIES)).fillna(-1))
    counts = counts.sort_values(
        [*KEYS, "rank", "n", "code"], ascending=[True] * len(KEYS) + [False, False, False]
    )
    counts["label"] = counts["code"] + " (" + counts["severity"] + ")"
    return counts.groupby(KEYS, sort=False, dropna=False)["label"].first()


def assemble(parts: dict[str, Any]) -> pd.DataFrame:
    """The summary table from its aggregates, whichever engine counted them.

    ``parts``: ``probes`` (Series indexed by :data:`KEYS`), ``outcome`` and ``tls_mode``
    (``[*KEYS, word, n]`` counts), ``auth_before_tls_looked`` / ``auth_after_tls_looked``
    (boolean Series by KEYS), ``auth_before_tls`` / ``auth_after_tls`` (``[*KEYS, mechanism,
    pos]``) and ``findings`` (``[*KEYS, severity, code, n]``).
    """
    out = parts["probes"].rename("probes").sort_index().to_frame()
    outcome = _words_from_counts(parts["outcome"], "outcome", _word_order(OUTCOMES))
    tls = _words_from_counts(parts["tls_mode"], "tls_mode", _word_order(TLS_MODES))
    out["outcome"] = outcome["word"]
    out["outcomes"] = outcome["pieces"]
    out["tls_mode"] = tls["word"]
    for col in ("auth_before_tls", "auth_after_tls"):
        out[col] = _auth_from_positions(parts[f"{col}_looked"], parts[col], col)
    top = _top_from_counts(parts["findings"])
    out["top_finding"] = "" if top is None else top
    out["top_finding"] = out["top_finding"].fillna("")
    return _typed(out.reset_index()[SUMMARY_COLUMNS])


#: The columns of :func:`port_summary`: outcome by vantage and port.
PORT_SUMMARY_COLUMNS = ["vantage", "port", "probes", "outcome", "outcomes"]


def port_table(counts: pd.DataFrame) -> pd.DataFrame:
    """Outcome by vantage and port from counts ``[vantage, port, outcome, n]`` (any engine)."""
    import pandas as pd

    if not len(counts):
        return pd.DataFrame({c: [] for c in PORT_SUMMARY_COLUMNS}).astype(
            {"port": "Int64", "probes": "int64"}
        )
    counts = counts.assign(host="", port=counts["port"].astype("Int64"))
    words = _words_from_counts(counts, "outcome", _word_order(OUTCOMES))
    out = counts.groupby(KEYS, sort=True)["n"].sum().rename("probes").to_frame()
    out["outcome"] = words["word"]
    out["outcomes"] = words["pieces"]
    out = out.reset_index()[PORT_SUMMARY_COLUMNS]
    out = out.astype({"vantage": object, "outcome": object, "outcomes": object})
    return out.astype({"port": "Int64", "probes": "int64"}).reset_index(drop=True)


def port_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Outcome by vantage and port: ``vantage``, ``port``, ``probes``, ``outcome`` (the most
    common), ``outcomes`` (``"filtered×40 open×2"``): what ``smtplab show --summary`` prints."""
    counts = df.groupby(["vantage", "port", "outcome"], observed=True).size()
    counts = counts.rename("n").reset_index()
    return port_table(counts.astype({"vantage": object, "outcome": object}))


def _pandas_parts(df: pd.DataFrame) -> dict[str, Any]:
    """The aggregates :func:`assemble` needs, counted by pandas."""
    parts: dict[str, Any] = {"probes": df.groupby(KEYS, sort=True, dropna=False).size()}
    for col in ("outcome", "tls_mode"):
        counts = df.groupby([*KEYS, col], sort=False, dropna=False, observed=True).size()
        parts[col] = counts.rename("n").reset_index()
    for col in ("auth_before_tls", "auth_after_tls"):
        seen = df[col].map(lambda v: not is_missing(v))
        parts[f"{col}_looked"] = seen.groupby([df[k] for k in KEYS], dropna=False).any()
        lists = df.loc[seen, [*KEYS, col]].explode(col).dropna(subset=[col])
        if len(lists):
            lists["pos"] = lists.groupby(level=0).cumcount()
            mean = lists.groupby([*KEYS, col], sort=False, dropna=False)["pos"].mean()
            parts[col] = mean.rename("pos").reset_index()
        else:
            parts[col] = lists.assign(pos=[])
    flat = df[[*KEYS, "findings"]].explode("findings").dropna(subset=["findings"])
    flat["code"] = [f["code"] for f in flat["findings"]]
    flat["severity"] = [f["severity"] for f in flat["findings"]]
    counts = flat.groupby([*KEYS, "severity", "code"], sort=False, dropna=False).size()
    parts["findings"] = counts.rename("n").reset_index()
    return parts


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
        return _typed(pd.DataFrame({c: [] for c in SUMMARY_COLUMNS}, columns=SUMMARY_COLUMNS))
    df = df[SUMMARY_INPUTS].reset_index(drop=True)
    df = df.assign(
        vantage=df["vantage"].astype(object),
        host=df["host"].astype(object),
        port=df["port"].astype("Int64"),
    )
    return assemble(_pandas_parts(df))


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
        text = "" if v is None or (not isinstance(v, (str, int)) and is_missing(v)) else str(v)
        text = text.replace("\n", " ")
        return text if len(text) <= max_width else text[: max_width - 1] + "…"

    columns = [[cell(v) for v in table[c].astype(object).tolist()] for c in table.columns]
    rows = [list(r) for r in zip(*columns, strict=True)]
    widths = [max(len(h), *map(len, col)) for h, col in zip(headers, columns, strict=True)]
    numeric = {i for i, c in enumerate(table.columns) if c in ("port", "probes")}

    def fmt(values: list[str]) -> str:
        return "  ".join(
            v.rjust(w) if i in numeric else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ).rstrip()

    lines = [fmt(headers), "  ".join("-" * w for w in widths)]
    lines.extend(fmt(r) for r in rows)
    return "\n".join(lines)
