"""The embedded mail lab: real SMTP servers on loopback, behind networks that block like real ones.

>>> from smtplab.lab import Lab, scenarios
>>> with Lab(scenario="home-isp") as lab:                   # doctest: +SKIP
...     lab.address("smtp.lab.example", 587)                # the socket behind the lesson's name
...     lab.credentials, lab.ca_pem, lab.outbox

Lessons speak of ``smtp.lab.example`` port 587; the lab serves it on an unprivileged loopback
socket and :meth:`Lab.address` maps one to the other. :func:`scenarios` lists the networks.
See :mod:`smtplab.labworld` for the hosts and scenarios as data, :mod:`smtplab.lab.servers`
for the server profiles and :mod:`smtplab.lab.certs` for the lab CA.

Logins: ``lab.oauth`` (:mod:`smtplab.lab.oauth`) is the lab's OAuth 2.0 authorization server,
issuing tokens that ``oauth.lab.example`` and the provider-like hosts accept with AUTH XOAUTH2 or
OAUTHBEARER; ``lab.app_password`` is the app password ``gmail.lab.example`` takes. What those
hosts answer to a password, and where each reply is quoted from, is in :mod:`smtplab.lab.logins`.
"""

from __future__ import annotations

from smtplab.lab.core import (
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_MESSAGE_SIZE,
    SLOW_GREETING_DELAY,
    ConnectionStats,
    Endpoint,
    Lab,
    LabError,
    scenarios,
)
from smtplab.lab.folder import LabFolder
from smtplab.lab.servers import Message
from smtplab.labworld import DEFAULT_SCENARIO, PORTS

__all__ = [
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "DEFAULT_SCENARIO",
    "PORTS",
    "SLOW_GREETING_DELAY",
    "ConnectionStats",
    "Endpoint",
    "Lab",
    "LabError",
    "LabFolder",
    "Message",
    "scenarios",
]
