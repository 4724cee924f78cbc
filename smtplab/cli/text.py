"""Where the command line's output goes: a terminal, a pipe, or a notebook's ``!`` cell.

The text itself is made safe by :func:`smtplab.safe_text.safe_text`, below every view.
"""

from __future__ import annotations

import os

__all__ = ["under_notebook"]


def under_notebook() -> bool:
    """Whether this command runs from a Jupyter notebook (``!smtplab probe …``): IPython gives
    it a pseudo-terminal and ``FORCE_COLOR``, but the output box shows neither a live display's
    cursor movements nor, reliably, colour codes; ``JPY_PARENT_PID`` is set by the kernel."""
    return bool(os.environ.get("JPY_PARENT_PID"))
