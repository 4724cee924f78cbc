"""The word views show for a probe, as SQL: :func:`smtplab.outcome_words.shown_outcome` as a
DuckDB expression over a table of records, for the views that count records in SQL (the
explorer, ``smtplab show --summary``). An intercepted port is never "open" here either.

It reads the probe's own findings (``greeting_from_elsewhere``, ``starttls_masked``) and the
TLS fields instead of the transcript; ``tests/test_outcome_words.py`` holds it to the Python
rule on the same records.
"""

from __future__ import annotations

from typing import Final

__all__ = ["SHOWN_INPUTS", "SHOWN_SQL"]


def _has_code(code: str) -> str:
    return f"coalesce(list_contains([f.code FOR f IN findings], '{code}'), false)"


#: The shown word as a DuckDB expression over a table with the record fields ``outcome``,
#: ``findings``, ``tls_mode`` and ``cert_verified``.
SHOWN_SQL: Final = (
    "CASE WHEN outcome = 'open' AND "
    + _has_code("greeting_from_elsewhere")
    + " AND NOT coalesce(tls_mode IN ('implicit', 'starttls') AND cert_verified, false) "
    "THEN 'intercepted' WHEN outcome = 'open' AND "
    + _has_code("starttls_masked")
    + " THEN 'stripped' ELSE outcome END"
)

#: The fields :data:`SHOWN_SQL` reads besides ``outcome``.
SHOWN_INPUTS: Final = ("findings", "tls_mode", "cert_verified")
