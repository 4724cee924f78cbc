"""The base of every error smtplab raises on purpose, so a caller can catch them all at once.

>>> try:                                                    # doctest: +SKIP
...     smtplab.probe("127.0.0.010", 25)
... except smtplab.SmtplabError as exc:
...     print(exc)

A probe never raises for what a network or a server does; these errors say that the caller asked
for something impossible (:class:`smtplab.ProbeInputError`), or that a file or the lab could not
do what was asked. Each subclass also keeps the built-in type it always had (``ValueError`` for
bad input), so older ``except ValueError`` code keeps working.
"""

from __future__ import annotations

__all__ = ["SmtplabError"]


class SmtplabError(Exception):
    """Something smtplab was asked to do cannot be done; the message says what, in one line."""
