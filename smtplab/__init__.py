"""smtplab: learn and check SMTP ports 25, 465, 587 and 2525.

``import smtplab`` stays light: the probe engine, discovery and replay load on first use, and
pandas, matplotlib and ipywidgets only when records, charts or widgets are used.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

from smtplab.errors import SmtplabError

if TYPE_CHECKING:
    from smtplab.discover import discover
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

    replay_record = replay

#: Public functions that share their name with the module defining them: ``smtplab.probe``,
#: ``smtplab.discover`` and ``smtplab.replay`` are always the functions, whatever imports the
#: modules of those names (``from smtplab.replay import differences``, then ``smtplab.replay(rec)``
#: must still call the function) — see :class:`_Package`.
_SHADOWED = {"probe": "smtplab.probe", "discover": "smtplab.discover", "replay": "smtplab.replay"}

# public name -> module that defines it, loaded on first use
_LAZY = {
    "ProbeInputError": "smtplab.probe",
    "ProbeOptions": "smtplab.probe",
    "ProbeResult": "smtplab.probe",
    "aprobe": "smtplab.probe",
    "aprobe_many": "smtplab.probe",
    "make_options": "smtplab.probe",
    "probe_many": "smtplab.probe",
    **_SHADOWED,
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


class _Package(types.ModuleType):
    """The ``smtplab`` module: Python sets a package's attribute to each submodule it loads
    (``smtplab.replay`` = the module), which would hide the function of the same name; the
    functions named in :data:`_SHADOWED` keep their names."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _SHADOWED and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


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
