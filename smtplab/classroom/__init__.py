"""The class as a measurement network: learners share probes, the teacher sees them live.

=============  ============================================================================
``store``      the class's records in an embedded DuckDB database (no learner address kept)
``words``      kept for old imports: the words each probe shows live in smtplab.outcome_words
``summary``    the live view's questions: outcome by network and port, who blocks 25,
               "is it the server or my network?", each network's advice
``share``      the learner's side: addresses scrubbed, a preview, the sending
``app``        the collector, a Starlette application with bounds on everything
``page``       its one page, learner text only ever as text
``server``     running it on uvicorn, on the classroom's LAN
=============  ============================================================================

``smtplab class serve`` starts it; ``smtplab record ... --share ADDRESS --code CODE`` shares.
"""

from __future__ import annotations

__all__ = ["ClassServer"]


def __getattr__(name: str) -> object:
    if name == "ClassServer":
        from smtplab.classroom.server import ClassServer

        return ClassServer
    raise AttributeError(name)
