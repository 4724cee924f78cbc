"""The word every view shows for one probe: the outcome, except that a port answered by something
else than the server is ``intercepted`` and one whose STARTTLS was masked is ``stripped``.

An intercepted port ended ``open`` (something sent a 220), but it is never "working": the
greeting named another site and no certificate proved the server. Every view — ``smtplab
show``, the checklist, the probe panel, the dataset explorer and its heat map, the port
chooser, the lab's table and the class's live page — shows these words, so they all agree::

    >>> from smtplab.outcome_words import shown_outcome
    >>> shown_outcome({"outcome": "open", "host": "mx.lab.example",
    ...                "banner": "smtp.isp-filter.example ESMTP"})
    'intercepted'

:data:`SHOWN_SQL` (from :mod:`smtplab.records.shown_sql`, where the query layer reads it) is the
same word as a DuckDB expression over a record table, for views that count records in SQL (the
explorer). It reads the probe's own ``greeting_from_elsewhere`` and ``starttls_masked`` findings
instead of the transcript.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from smtplab.advice import evidence
from smtplab.records.shown_sql import SHOWN_SQL
from smtplab.schema import OUTCOME_MEANING, OUTCOME_PROGRESS, OUTCOMES

__all__ = [
    "BAD_WORDS",
    "LAB_WORDS",
    "SHOWN_SQL",
    "WORDS",
    "WORD_MEANING",
    "reword",
    "shown_outcome",
    "shown_words",
    "word_rank",
]

#: Every word a view may show: the outcome vocabulary and the two verdicts that overrule "open".
WORDS: Final = (*OUTCOMES, "intercepted", "stripped")
#: Words that mean "this network does not let mail out here".
BAD_WORDS: Final = frozenset(WORDS) - {"open"}

#: What each word means, in one sentence for a learner.
WORD_MEANING: Final[Mapping[str, str]] = {
    **OUTCOME_MEANING,
    "intercepted": (
        "Something answered with a 220 greeting, but it named another site than the host "
        "asked for and no certificate proved the server: the network answered in its place."
    ),
    "stripped": (
        "The server answered, but STARTTLS was masked in its EHLO reply: a firewall on the way "
        "removed the offer to encrypt."
    ),
}

#: The lab's network behaviours whose probe word is not the outcome (``smtplab lab``'s table).
LAB_WORDS: Final[Mapping[str, str]] = {"intercept": "intercepted", "strip": "stripped"}

_PROGRESS: Final = ("open", "stripped", "intercepted", *OUTCOME_PROGRESS[1:])


def word_rank(word: str) -> int:
    """How far a probe with this word got: 0 for ``open``, then ``stripped`` and
    ``intercepted`` (an answer, not the server's), then the outcomes as
    :func:`smtplab.schema.progress_rank` orders them; unknown words last."""
    return _PROGRESS.index(word) if word in _PROGRESS else len(_PROGRESS)


def shown_outcome(rec: Mapping[str, Any]) -> str:
    """The word a view shows for the record ``rec`` (a dict in the record schema)."""
    if evidence.intercepted(rec):
        return "intercepted"
    if rec.get("outcome") == "open" and evidence.stripped(rec):
        return "stripped"
    outcome = str(rec.get("outcome"))
    return outcome if outcome in WORDS else "error"


def shown_words(df: Any) -> list[str]:
    """:func:`shown_outcome` of each row of a records DataFrame (only its ``open`` rows are
    looked at closely; a frame without the fields that tell keeps its outcome words)."""
    outcomes = [str(o) for o in df["outcome"].tolist()]
    if not any(o == "open" for o in outcomes):
        return outcomes
    fields = [c for c in _EVIDENCE_FIELDS if c in df.columns]
    columns = {c: df[c].tolist() for c in fields}
    out = []
    for i, outcome in enumerate(outcomes):
        if outcome != "open":
            out.append(outcome)
            continue
        rec = {c: _plain(columns[c][i]) for c in fields}
        out.append(shown_outcome(rec))
    return out


_EVIDENCE_FIELDS: Final = (
    "host",
    "outcome",
    "banner",
    "tls_mode",
    "cert_verified",
    "findings",
    "extensions",
    "starttls_offered",
    "transcript",
)


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (str, bool, int, list, dict)):
        return value
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, float) and value != value:  # NaN
        return None
    if type(value).__name__ in ("NAType", "NaTType"):
        return None
    return value


def reword(outcomes: str, open_words: Mapping[str, int]) -> tuple[str, str]:
    """(the commonest word, every word with its count) of a summary row whose ``outcomes`` are
    ``"open×3 filtered×1"``, once its ``open`` probes are told apart as ``open_words``
    (``{"intercepted": 3}``): ``("intercepted", "intercepted×3 filtered×1")``.

    The summaries of ``smtplab show`` count outcomes; this puts the shown words in their place.
    """
    counts: dict[str, int] = {}
    for piece in outcomes.split():
        word, _, n = piece.rpartition("×")
        if word and n.isdigit():
            counts[word] = counts.get(word, 0) + int(n)
    opened = counts.pop("open", 0)
    told = {w: k for w, k in open_words.items() if k > 0 and w != "open"}
    rest = opened - sum(told.values())
    if rest > 0:
        told["open"] = rest
    for w, k in told.items():
        counts[w] = counts.get(w, 0) + k
    order = sorted(counts.items(), key=lambda kv: (-kv[1], word_rank(kv[0]), kv[0]))
    if not order:
        return "", outcomes
    return order[0][0], " ".join(f"{w}×{n}" for w, n in order)
