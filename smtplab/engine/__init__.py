"""The probe engine: connect to a mail server on a port and report what happened.

The engine is the only part of smtplab that touches the network. Each concern has its file:

- :mod:`~smtplab.engine.options`: what a probe is asked to do, checked once (:class:`ProbeOptions`)
- :mod:`~smtplab.engine.wire`: the byte :class:`~smtplab.engine.wire.Stream` with its typed
  errors, the :class:`~smtplab.engine.wire.Network` that opens streams, and the live sockets
- :mod:`~smtplab.engine.memory`: the same over a server in the same process (no sockets)
- :mod:`~smtplab.engine.replies`: the conversation's reply parser over a stream
- :mod:`~smtplab.engine.conversation`: what the probe says and what the answers mean
- :mod:`~smtplab.engine.events`: the sentences of the transcript's events (kinds are data)
- :mod:`~smtplab.engine.sessions`: one session and the retries auto mode allows
- :mod:`~smtplab.engine.tlsfacts`: what a TLS session tells about itself
- :mod:`~smtplab.engine.result`: the running state and the frozen :class:`ProbeResult`
- :mod:`~smtplab.engine.run`: :func:`probe`, :func:`aprobe`, :func:`probe_many`

Whatever the network or the server does, a probe returns a :class:`ProbeResult` — it never
raises for the peer's behaviour and never runs past its deadline. Only misuse of the API (a port
of 70000, a host with a newline in it) raises :class:`ProbeInputError`, before anything is sent.

>>> r = probe("smtp.lab.example", 587, lab=lab)          # doctest: +SKIP
>>> r.outcome, r.tls_mode, r.auth_before_tls, r.auth_after_tls   # doctest: +SKIP
('open', 'starttls', [], ['PLAIN', 'LOGIN'])
"""

from __future__ import annotations

from smtplab.engine.conversation import RELAY_CHECK_RCPT
from smtplab.engine.options import (
    DEFAULT_PORTS,
    DEFAULT_TIMEOUT,
    MIN_TIMEOUT,
    ProbeInputError,
    ProbeOptions,
    make_options,
)
from smtplab.engine.options import (
    _check_host as _check_host,  # the widgets' probe panel checks what a learner types
)
from smtplab.engine.options import (
    _check_port as _check_port,
)
from smtplab.engine.result import MAX_TRANSCRIPT_LINES, ProbeResult
from smtplab.engine.run import aprobe, aprobe_many, probe, probe_many

__all__ = [
    "DEFAULT_PORTS",
    "DEFAULT_TIMEOUT",
    "MAX_TRANSCRIPT_LINES",
    "MIN_TIMEOUT",
    "RELAY_CHECK_RCPT",
    "ProbeInputError",
    "ProbeOptions",
    "ProbeResult",
    "aprobe",
    "aprobe_many",
    "make_options",
    "probe",
    "probe_many",
]
