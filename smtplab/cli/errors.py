"""The one error the command line turns into one line and exit status 2."""

from __future__ import annotations

from smtplab.errors import SmtplabError

__all__ = ["UsageError"]


class UsageError(SmtplabError):
    """Bad arguments or an unusable file: printed as one line, exit status 2."""
