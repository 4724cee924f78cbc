"""smtplab: learn and check SMTP ports 25, 465, 587 and 2525.

``import smtplab`` stays light: the probe engine, discovery and replay load on first use, and
pandas, matplotlib and ipywidgets only when records, charts or widgets are used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

from smtplab.errors import SmtplabError

if TYPE_CHECKING:
    from smtplab.discovery import discover
    from smtplab.engine import (
        ProbeInputError,
        ProbeOptions,
        ProbeResult,
        aprobe,
        aprobe_many,
        make_options,
        probe,
        probe_many,
    )
    from smtplab.replaying import replay

    replay_record = replay

# public name -> module that defines it, loaded on first use. ``probe``, ``replay`` and
# ``discover`` are plain functions: their modules are named otherwise (``smtplab.engine``,
# ``smtplab.replaying``, ``smtplab.discovery``), so importing a module never hides a function.
_LAZY = {
    "ProbeInputError": "smtplab.engine",
    "ProbeOptions": "smtplab.engine",
    "ProbeResult": "smtplab.engine",
    "aprobe": "smtplab.engine",
    "aprobe_many": "smtplab.engine",
    "make_options": "smtplab.engine",
    "probe": "smtplab.engine",
    "probe_many": "smtplab.engine",
    "discover": "smtplab.discovery",
    "replay": "smtplab.replaying",
    "Finding": "smtplab.findings",
    "TranscriptLine": "smtplab.protocol",
    "Lab": "smtplab.lab",
    "scenarios": "smtplab.lab",
    "save_records": "smtplab.records",
    "load_records": "smtplab.records",
    "RecordError": "smtplab.records",
    "advise": "smtplab.advice",
    "Advice": "smtplab.advice",
    "explain": "smtplab.advice",
    "Explanation": "smtplab.advice",
}
_SUBMODULES = (
    "reference", "charts", "widgets", "records", "lab", "protocol", "findings", "tls", "advice",
)  # fmt: skip

__all__ = [
    "Advice",
    "Explanation",
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
    "explain",
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
    if name == "replay_record":
        return __getattr__("replay")
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
