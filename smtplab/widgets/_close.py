"""Closing a widget and its parts, quietly also when the interpreter is shutting down.

ipywidgets calls ``close()`` from ``Widget.__del__``, which at interpreter exit runs after
``sys.meta_path`` is gone: any import made there fails with "ImportError: sys.meta_path is None"
and Python prints "Exception ignored in …" for every widget still alive. So everything a
``close()`` needs is imported here, at import time, and at exit closing does nothing: the comms
and the kernel go away with the process anyway.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from typing import Any

from ipywidgets import Widget

__all__ = ["close_parts", "shutting_down"]


def shutting_down() -> bool:
    """True while the interpreter is finalizing (``close()`` must then do nothing)."""
    return sys.is_finalizing() or sys.meta_path is None


def close_parts(widget: Any) -> None:
    """Close every child widget stored as an attribute of ``widget`` (directly, or in a dict or
    list attribute). Safe on a half-built widget, whose ``__del__`` also calls ``close()``, and
    a no-op while the interpreter shuts down."""
    if shutting_down():
        return
    for value in list(vars(widget).values()):
        if isinstance(value, Mapping):
            items: Iterable[Any] = list(value.values())
        elif isinstance(value, (list, tuple)):
            items = list(value)
        else:
            items = [value]
        for item in items:
            if isinstance(item, Widget) and item is not widget:
                item.close()
