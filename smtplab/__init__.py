"""smtplab: learn and check SMTP ports 25, 465, 587 and 2525.

``import smtplab`` stays light: the probe engine loads on first use, and pandas, matplotlib and
ipywidgets load only when records, charts or widgets are used.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# The probe engine loads eagerly: its package shares the name of the function `smtplab.probe`,
# and importing the function here first keeps `smtplab.probe(...)` callable whatever imports
# `smtplab.probe` the package later (Python sets a package attribute only when it first loads
# a submodule). It needs only the standard library.
# Discovery and replay too, for the same reason: `smtplab.discover` and `smtplab.replay` are
# each both a module and its function (`from smtplab.replay import differences`, then
# `smtplab.replay(rec)`, must still call the function). Discovery imports dnspython only when
# a lookup runs; replay needs only the probe engine.
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
from smtplab.replay import replay

#: The same function as :func:`smtplab.replay`, by a name no module shadows.
replay_record = replay

# public name -> module that defines it, loaded on first use
_LAZY = {
    "Finding": "smtplab.findings",
    "TranscriptLine": "smtplab.protocol",
    "Lab": "smtplab.lab",
    "scenarios": "smtplab.lab",
    "save_records": "smtplab.records",
    "load_records": "smtplab.records",
    "RecordError": "smtplab.records",
    "advise": "smtplab.advice",
    "Advice": "smtplab.advice",
}
_SUBMODULES = (
    "reference", "charts", "widgets", "records", "lab", "protocol", "findings", "tls", "advice",
)  # fmt: skip

__all__ = [
    "Advice",
    "Finding",
    "Lab",
    "ProbeInputError",
    "ProbeOptions",
    "ProbeResult",
    "RecordError",
    "SmtplabError",
    "TranscriptLine",
    "__version__",
    "advise",
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
    "replay_record",
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
