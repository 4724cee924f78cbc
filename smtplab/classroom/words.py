"""Kept for imports written before the words moved: see :mod:`smtplab.outcome_words`."""

from __future__ import annotations

from smtplab.outcome_words import BAD_WORDS, WORDS, shown_outcome

__all__ = ["BAD_WORDS", "WORDS", "shown_outcome"]
