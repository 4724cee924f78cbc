"""The probe engine: connect to a mail server on a port and report what happened.

The engine is the only part of smtplab that touches the network. Each concern has its file:

- :mod:`~smtplab.probe.options`: what a probe is asked to do, checked once (:class:`ProbeOptions`)
- :mod:`~smtplab.probe.wire`: the :class:`~smtplab.probe.wire.Wire` interface and the live socket
- :mod:`~smtplab.probe.conversation`: what the probe says and what the answers mean
- :mod:`~smtplab.probe.sessions`: one session and the retries auto mode allows
- :mod:`~smtplab.probe.tlsfacts`: what a TLS session tells about itself
- :mod:`~smtplab.probe.result`: the running state and the frozen :class:`ProbeResult`
- :mod:`~smtplab.probe.run`: :func:`probe`, :func:`aprobe`, :func:`probe_many`

Whatever the network or the server does, a probe returns a :class:`ProbeResult` — it never
raises for the peer's behaviour and never runs past its deadline. Only misuse of the API (a port
of 70000, a host with a newline in it) raises :class:`ProbeInputError`, before anything is sent.

>>> r = probe("smtp.lab.example", 587, lab=lab)          # doctest: +SKIP
>>> r.outcome, r.tls_mode, r.auth_before_tls, r.auth_after_tls   # doctest: +SKIP
('open', 'starttls', [], ['PLAIN', 'LOGIN'])
"""

from __future__ import annotations

from smtplab.probe.conversation import RELAY_CHECK_RCPT
from smtplab.probe.options import (
    DEFAULT_PORTS,
    DEFAULT_TIMEOUT,
    MIN_TIMEOUT,
    ProbeInputError,
    ProbeOptions,
    make_options,
)
from smtplab.probe.options import (
    _check_host as _check_host,  # the widgets' probe panel checks what a learner types
)
from smtplab.probe.options import (
    _check_port as _check_port,
)
from smtplab.probe.result import MAX_TRANSCRIPT_LINES, ProbeResult
from smtplab.probe.run import aprobe, aprobe_many, probe, probe_many

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
