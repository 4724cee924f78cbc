"""One advice engine: which port and settings to use, from probe records and provider facts.

>>> import smtplab
>>> a = smtplab.advise(records, provider="Gmail", purpose="mail-client")   # doctest: +SKIP
>>> a.recommended.line(), [(v.port, v.verdict) for v in a.ports]           # doctest: +SKIP

:mod:`smtplab.advice.rules` holds the rules as a table, :mod:`smtplab.advice.evidence` reads a
record (interception, stripping, verified TLS), :mod:`smtplab.advice.facts` the provider facts
(from :mod:`smtplab.knowledge`, the provider knowledge base), and
:mod:`smtplab.advice.explainer` turns an SMTP reply into what it means and what to do.
The doctor command, the port chooser, the lab's texts and notebook 09 all advise through it.
"""

from __future__ import annotations

from smtplab.advice.engine import VERDICTS, Advice, PortVerdict, Setting, advise, as_records
from smtplab.advice.explainer import ExplainError, Explanation, explain, explain_transcript
from smtplab.advice.facts import (
    LAB_PROVIDER,
    ProviderFacts,
    guess_provider,
    lab_facts,
    provider_facts,
)
from smtplab.advice.rules import PURPOSES, RULES, Rule

__all__ = [
    "LAB_PROVIDER",
    "PURPOSES",
    "RULES",
    "VERDICTS",
    "Advice",
    "ExplainError",
    "Explanation",
    "PortVerdict",
    "ProviderFacts",
    "Rule",
    "Setting",
    "advise",
    "as_records",
    "explain",
    "explain_transcript",
    "guess_provider",
    "lab_facts",
    "provider_facts",
]
