"""The summary of :func:`smtplab.records.summarize` as DuckDB SQL, over a table ``_s`` of probes
(equal probes once, with their number ``_n``).

Two ways, both checked against pandas by the tests: :data:`SUMMARY_SQL`, the whole table in one
statement (what :meth:`smtplab.records.Dataset.summary` and the explorer's 25-row page run), and
:func:`duckdb_parts`, the aggregates that :func:`smtplab.records.summary.assemble` puts together
with the same code as pandas' (what :func:`smtplab.records.summary_for_file` runs).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from smtplab.records.summary import KEYS
from smtplab.schema import OUTCOMES, SEVERITIES, TLS_MODES

__all__ = ["KEYS_SQL", "SUMMARY_SQL", "N", "duckdb_parts", "lit", "word_list"]


def lit(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def word_list(values: Iterable[str]) -> str:
    """A SQL list of string literals: ``['a', 'b']``."""
    return "[" + ", ".join(lit(v) for v in values) + "]"


KEYS_SQL = "vantage, host, port"
_K = KEYS_SQL

#: How many probes rows of ``_s`` stand for.  ``_s`` keeps equal probes once, with their
#: number in ``_n`` (``SELECT ..., count(*) AS _n ... GROUP BY ALL``): a file of millions of
#: equal records is a table of one row, not millions (issue 23).
N = "coalesce(sum(_n), 0)::BIGINT"
#: The average place of a mechanism in its lists, each row counted ``_n`` times.
_POS = "sum(i * _n) / sum(_n)"


def _orderedword_list(column: str, words: Sequence[str]) -> str:
    """Per group of ``_s``: the commonest word of ``column`` (ties: the schema's order, then
    by name) and every word with its count, most common first (``open×3 filtered×1``)."""
    rank = f"coalesce(list_position({word_list(words)}, w), {len(words) + 1})"
    return (
        f"SELECT {_K}, first(w ORDER BY n DESC, {rank}, w) AS word, "
        f"string_agg(w || '×' || n, ' ' ORDER BY n DESC, {rank}, w) AS pieces "
        f"FROM (SELECT {_K}, {column} AS w, {N} AS n FROM _s GROUP BY ALL) GROUP BY ALL"
    )


def _mechanisms(column: str) -> str:
    """Per group of ``_s``: the mechanisms of ``column`` by their average place in the lists
    (missing entries skipped), then by name, joined by spaces."""
    return (
        f"SELECT {_K}, string_agg(m, ' ' ORDER BY pos, m) AS words FROM ("
        f"SELECT {_K}, m, {_POS} AS pos FROM ("
        f"SELECT {_K}, unnest(l) AS m, unnest(range(len(l))) AS i, _n FROM ("
        f"SELECT {_K}, [x FOR x IN {column} IF x IS NOT NULL] AS l, _n FROM _s) "
        "WHERE len(l) > 0) GROUP BY ALL) GROUP BY ALL"
    )


_SEVERITY_RANK = f"coalesce(list_position({word_list(SEVERITIES)}, severity), 0)"

#: The table of :func:`smtplab.records.summarize` for the probes in the table ``_s``, in one
#: DuckDB statement: the same rules as :func:`smtplab.records.summary.assemble` (the tests
#: compare the two), without pandas' per-call overhead on a page of 25 groups.
SUMMARY_SQL = f"""
    WITH g AS (
        SELECT {_K}, {N} AS probes,
            bool_or(auth_before_tls IS NOT NULL) AS before_looked,
            bool_or(auth_after_tls IS NOT NULL) AS after_looked
        FROM _s GROUP BY ALL),
    o AS ({_orderedword_list("outcome", OUTCOMES)}),
    t AS ({_orderedword_list("tls_mode", TLS_MODES)}),
    b AS ({_mechanisms("auth_before_tls")}),
    a AS ({_mechanisms("auth_after_tls")}),
    f AS (
        SELECT {_K}, first(code || ' (' || severity || ')'
            ORDER BY {_SEVERITY_RANK} DESC, n DESC, code DESC)
            FILTER (WHERE code IS NOT NULL AND severity IS NOT NULL) AS top
        FROM (SELECT {_K}, f.severity AS severity, f.code AS code, {N} AS n
              FROM (SELECT {_K}, unnest(findings) AS f, _n FROM _s) WHERE f IS NOT NULL
              GROUP BY ALL)
        GROUP BY ALL)
    SELECT g.vantage, g.host, g.port, g.probes, o.word AS outcome, o.pieces AS outcomes,
        t.word AS tls_mode,
        CASE WHEN g.before_looked THEN coalesce(b.words, 'none') ELSE 'n/a' END
            AS auth_before_tls,
        CASE WHEN g.after_looked THEN coalesce(a.words, 'none') ELSE 'n/a' END
            AS auth_after_tls,
        coalesce(f.top, '') AS top_finding
    FROM g
    LEFT JOIN o ON (g.vantage, g.host, g.port) = (o.vantage, o.host, o.port)
    LEFT JOIN t ON (g.vantage, g.host, g.port) = (t.vantage, t.host, t.port)
    LEFT JOIN b ON (g.vantage, g.host, g.port) = (b.vantage, b.host, b.port)
    LEFT JOIN a ON (g.vantage, g.host, g.port) = (a.vantage, a.host, a.port)
    LEFT JOIN f ON (g.vantage, g.host, g.port) = (f.vantage, f.host, f.port)
    ORDER BY g.vantage, g.host, g.port
"""


def duckdb_parts(con: Any) -> dict[str, Any]:
    """The aggregates :func:`smtplab.records.summary.assemble` needs, counted by DuckDB.

    Plain GROUP BYs over the temporary table ``_s``: DuckDB does the heavy counting over
    every probe; the small per-group results are put together by the same code as pandas'.
    """
    import pandas as pd

    def df(query: str) -> pd.DataFrame:
        out: pd.DataFrame = con.execute(query).df()
        return out

    groups = df(
        f"SELECT {_K}, {N} AS probes, "
        "bool_or(auth_before_tls IS NOT NULL) AS auth_before_tls_looked, "
        "bool_or(auth_after_tls IS NOT NULL) AS auth_after_tls_looked "
        f"FROM _s GROUP BY ALL ORDER BY {_K}"
    ).set_index(KEYS)
    parts: dict[str, Any] = {"probes": groups["probes"]}
    for col in ("outcome", "tls_mode"):
        parts[col] = df(f"SELECT {_K}, {col}, {N} AS n FROM _s GROUP BY ALL")
    for col in ("auth_before_tls", "auth_after_tls"):
        parts[f"{col}_looked"] = groups[f"{col}_looked"]
        parts[col] = df(
            f"SELECT {_K}, m AS {col}, {_POS} AS pos FROM ("
            f"SELECT {_K}, unnest({col}) AS m, unnest(range(len({col}))) AS i, _n "
            f"FROM _s WHERE len({col}) > 0) GROUP BY ALL"
        )
    parts["findings"] = df(
        f"SELECT {_K}, f.severity AS severity, f.code AS code, {N} AS n "
        f"FROM (SELECT {_K}, unnest(findings) AS f, _n FROM _s) GROUP BY ALL"
    )
    for name, part in parts.items():
        if isinstance(part, pd.DataFrame) and "port" in part.columns:
            parts[name] = part.astype({"port": "Int64"})
    parts["probes"].index = _typed_index(parts["probes"].index)
    for col in ("auth_before_tls_looked", "auth_after_tls_looked"):
        parts[col].index = _typed_index(parts[col].index)
    return parts


def _typed_index(index: Any) -> Any:
    import pandas as pd

    frame = index.to_frame(index=False).astype({"port": "Int64"})
    return pd.MultiIndex.from_frame(frame)
