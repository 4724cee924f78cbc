"""The word a view shows for one probe: the outcome, except that a port answered by something
else than the server is ``intercepted`` and one whose STARTTLS was masked is ``stripped``.

An intercepted port ended ``open`` (something sent a 220), but it is never "working": the
greeting named another site and no certificate proved the server. Every view of the class's
data uses these words, so the live page, its export and the notebook agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from smtplab.advice import evidence
from smtplab.schema import OUTCOMES

__all__ = ["BAD_WORDS", "WORDS", "shown_outcome"]

#: Every word a view may show: the outcome vocabulary and the two verdicts that overrule "open".
WORDS: Final = (*OUTCOMES, "intercepted", "stripped")
#: Words that mean "this network does not let mail out here".
BAD_WORDS: Final = frozenset(WORDS) - {"open"}


def shown_outcome(rec: Mapping[str, Any]) -> str:
    if evidence.intercepted(rec):
        return "intercepted"
    if rec.get("outcome") == "open" and evidence.stripped(rec):
        return "stripped"
    outcome = str(rec.get("outcome"))
    return outcome if outcome in WORDS else "error"
