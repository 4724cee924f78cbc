"""smtplab: learn and check SMTP ports 25, 465, 587 and 2525.

``import smtplab`` stays light: the probe engine loads on first use, and pandas, matplotlib and
ipywidgets load only when records, charts or widgets are used.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# The probe engine loads eagerly: its module shares the name of the function `smtplab.probe`,
# and importing the function here first keeps `smtplab.probe(...)` callable whatever imports
# `smtplab.probe` the module later. It needs only the standard library.
# Discovery too, for the same reason: `smtplab.discover` is both a module and its function.
# The module imports dnspython only when a lookup runs.
from smtplab.discover import discover
from smtplab.errors import SmtplabError
from smtplab.probe import (
    ProbeInputError,
    ProbeOptions,
    ProbeResult,
    aprobe,
    aprobe_many,
    make_options,
    probe,
    probe_many,
)

# public name -> module that defines it, loaded on first use
_LAZY = {
    "Finding": "smtplab.findings",
    "TranscriptLine": "smtplab.protocol",
    "Lab": "smtplab.lab",
    "scenarios": "smtplab.lab",
    "save_records": "smtplab.records",
    "load_records": "smtplab.records",
    "RecordError": "smtplab.records",
    "replay": "smtplab.replay",
}
_SUBMODULES = ("reference", "charts", "widgets", "records", "lab", "protocol", "findings", "tls")

__all__ = [
    "Finding",
    "Lab",
    "ProbeInputError",
    "ProbeOptions",
    "ProbeResult",
    "RecordError",
    "SmtplabError",
    "TranscriptLine",
    "__version__",
    "aprobe",
    "aprobe_many",
    "charts",
    "discover",
    "findings",
    "lab",
    "load_records",
    "make_options",
    "probe",
    "probe_many",
    "protocol",
    "records",
    "reference",
    "replay",
    "save_records",
    "scenarios",
    "tls",
    "widgets",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        module = importlib.import_module(f"smtplab.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'smtplab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
