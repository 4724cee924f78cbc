"""Deprecated: ``smtplab doctor`` lives in :mod:`smtplab.cli.doctor_cmd` (its face) and
:mod:`smtplab.cli.doctor_text` (how it looks). The names once here still work, with a
``DeprecationWarning``; the advice itself is :func:`smtplab.advise`."""

from __future__ import annotations

import importlib
import warnings
from typing import Any

_MOVED = {
    "FOUR_PORTS": "smtplab.cli.doctor_cmd",
    "DEFAULT_TIMEOUT": "smtplab.cli.doctor_cmd",
    "add_arguments": "smtplab.cli.doctor_cmd",
    "report_json": "smtplab.cli.doctor_cmd",
    "run": "smtplab.cli.doctor_cmd",
    "main": "smtplab.cli.doctor_cmd",
    "_check": "smtplab.cli.doctor_cmd",
    "Compared": "smtplab.cli.doctor_text",
    "report_text": "smtplab.cli.doctor_text",
}


def __getattr__(name: str) -> Any:
    where = _MOVED.get(name)
    if where is None:
        raise AttributeError(f"module 'smtplab.doctor' has no attribute {name!r}")
    warnings.warn(
        f"smtplab.doctor.{name} moved to {where}.{name}", DeprecationWarning, stacklevel=2
    )
    return getattr(importlib.import_module(where), name)
