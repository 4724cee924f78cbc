"""The probe's rules, said once: ports, timeouts and their bounds, the deadline, modes, the TLS
floor, and the table of a probe's options.

Everything that names one of these imports it from here: the engine checks its inputs against
them, the command line builds its arguments from :data:`OPTIONS`, the widgets and the lab list
:data:`PORTS`, findings and advice read :data:`AUTH_TLS_VERSIONS`. This module sits at the
bottom with :mod:`smtplab.schema` and imports nothing else of smtplab.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from smtplab.schema import MODES

__all__ = [
    "AUTH_TLS_VERSIONS",
    "DEFAULT_MODE",
    "DEFAULT_PORT",
    "DEFAULT_TIMEOUT",
    "MAX_TIMEOUT",
    "MIN_TIMEOUT",
    "MODES",
    "OPTIONS",
    "PORTS",
    "PORTS_TEXT",
    "SUBMISSION_PORTS",
    "TLS_PORTS",
    "Option",
    "deadline_for",
    "timeout_problem",
]

#: The four ports the course is about, in the order lessons and tables show them.
PORTS: Final = (25, 465, 587, 2525)

#: The same list as the command line writes it (``-p 25,465,587,2525``).
PORTS_TEXT: Final = ",".join(map(str, PORTS))

#: Submission with STARTTLS: 587 (RFC 6409) and 2525, the unregistered alternative providers open.
SUBMISSION_PORTS: Final = (587, 2525)

#: The ports where a client sends a password: implicit TLS (465, RFC 8314) and submission.
TLS_PORTS: Final = (465, *SUBMISSION_PORTS)

#: The port a probe dials when none is given: submission, where a mail client starts.
DEFAULT_PORT: Final = 587

DEFAULT_MODE: Final = "auto"

#: Seconds allowed for each phase (connect, greeting, one reply, a TLS handshake). RFC 5321
#: §4.5.3.2 lets a patient client wait minutes; a probe that teaches wants an answer while the
#: learner is still looking, and 8 s is well above a healthy server's round trip anywhere.
DEFAULT_TIMEOUT: Final = 8.0

#: The shortest timeout a probe accepts: below it not even loopback connects and greets, so an
#: open port would look filtered (``--timeout 1e-300``). A wrong answer is worse than a refusal.
MIN_TIMEOUT: Final = 0.05

#: The longest wait (for a phase or a whole probe): ten minutes, past any server's patience.
MAX_TIMEOUT: Final = 600.0

#: TLS versions fit to carry a password: 1.2 and 1.3. RFC 8996 (2021) deprecates TLS 1.0 and 1.1;
#: RFC 8997, "Deprecation of TLS 1.1 for Email Submission and Access", updates RFC 8314 to match,
#: and Python's default (verifying) client context refuses them.
#: The one TLS floor of smtplab: the probe's AUTH check sends credentials over nothing older, the
#: advice engine recommends no port for a password over anything older, the checklist fails it.
AUTH_TLS_VERSIONS: Final = ("TLSv1.2", "TLSv1.3")


def deadline_for(timeout: float) -> float:
    """The probe's overall deadline for a per-phase ``timeout``: 3 × timeout + 2 s (connect,
    greeting and one more step may each take a whole timeout; 2 s for the rest), at most
    :data:`MAX_TIMEOUT`."""
    return min(MAX_TIMEOUT, 3 * timeout + 2)


def timeout_problem(value: object, name: str = "timeout", *, text: bool = False) -> str | None:
    """Why ``value`` cannot be a number of seconds for ``name`` (``None``: it can). The one
    wording of a bad timeout, for the library, the command line and the widgets. With
    ``text=True`` (the command line) a string is read as a number first."""
    number: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif text and isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    if number is not None and MIN_TIMEOUT <= number <= MAX_TIMEOUT:
        return None
    shown = f"{number:g}" if number is not None else repr(value)
    why = ""
    if number is not None and number < MIN_TIMEOUT:
        why = ": a shorter wait cannot tell an open port from a filtered one"
    return (
        f"{name} must be a number of seconds between {MIN_TIMEOUT:g} and {MAX_TIMEOUT:g}, "
        f"not {shown}{why}"
    )
    return None


@dataclass(frozen=True)
class Option:
    """One option of a probe: its keyword ``name`` (as :func:`smtplab.probe` takes it), the
    Python ``kind`` of its value, its ``default``, the ``bounds`` or ``choices`` it must keep
    to, one line of ``help``, and its command-line ``flag`` (``None``: the library only).
    ``single`` is False for an option that means something only across many probes (it is
    taken by :func:`smtplab.probe_many` and :meth:`ProbeOptions.create`, not by
    :func:`smtplab.probe`)."""

    name: str
    kind: str
    default: object
    help: str
    flag: str | None = None
    choices: tuple[str, ...] = ()
    bounds: tuple[float, float] | None = None
    metavar: str | None = None
    single: bool = True


#: Every keyword option of :func:`smtplab.probe`, :func:`smtplab.aprobe`,
#: :func:`smtplab.probe_many` and :meth:`ProbeOptions.create`, in their order. The signatures
#: stay spelled out for readers; ``tests/test_rules.py`` checks they match this table.
OPTIONS: Final[tuple[Option, ...]] = (
    Option("mode", "str", DEFAULT_MODE, "how to start TLS", "--mode", choices=MODES),
    Option(
        "timeout",
        "float",
        DEFAULT_TIMEOUT,
        "seconds per phase (connect, greeting, replies)",
        "--timeout",
        bounds=(MIN_TIMEOUT, MAX_TIMEOUT),
        metavar="S",
    ),
    Option(
        "deadline",
        "float | None",
        None,
        "seconds for the whole probe (default 3 × timeout + 2)",
        bounds=(MIN_TIMEOUT, MAX_TIMEOUT),
    ),
    Option(
        "ehlo_name",
        "str | None",
        None,
        "the EHLO name (default: your address)",
        "--ehlo",
        metavar="NAME",
    ),
    Option("lab", "Lab | None", None, "a running Lab whose logical names are probed"),
    Option("vantage", "str | None", None, "a label for the network you probe from", "--vantage"),
    Option("verify", "bool", True, "verify the server's certificate"),
    Option("cafile", "str | None", None, "a PEM file of CA certificates to trust"),
    Option(
        "relay_check",
        "bool",
        False,
        "also test relaying with MAIL/RCPT to a reserved domain (never DATA)",
        "--relay-check",
    ),
    Option("auth", "tuple[str, str] | None", None, "(user, password) for a login check"),
    Option("allow_cleartext_auth", "bool", False, "let the login check run without TLS (lab only)"),
    Option(
        "tls_required_check",
        "bool",
        False,
        "also check that MAIL is refused before STARTTLS (never RCPT or DATA)",
        "--tls-required-check",
    ),
    Option(
        "adaptive",
        "bool",
        False,
        "cut a connect short once other ports of the same host answered much faster",
        single=False,
    ),
)
