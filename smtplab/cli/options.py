"""Checking command-line values: every bad value is one clear line (and exit status 2).

Text becomes numbers here; whether a number is acceptable is the probe's own rule
(:func:`smtplab.engine.options.check_port`, :func:`~smtplab.engine.options.check_timeout`), so
the command line and the library never disagree."""

from __future__ import annotations

from smtplab.cli.errors import UsageError
from smtplab.engine.options import ProbeInputError, check_port, check_timeout

__all__ = ["concurrency", "parse_ports", "port_number", "timeout_seconds"]

#: More probes in flight than this only queue in the kernel; the probe's own default is 64.
MAX_CONCURRENCY = 1024


def parse_ports(text: str) -> list[int]:
    """``"25,465,587"`` -> ``[25, 465, 587]``; a clear error for anything else."""
    ports: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit():
            raise UsageError(f"port {part!r} is not a number (ports are 1-65535, e.g. -p 25,587)")
        try:
            p = check_port(int(part))
        except ProbeInputError as exc:
            raise UsageError(str(exc)) from None
        if p not in ports:
            ports.append(p)
    if not ports:
        raise UsageError("no ports given (e.g. -p 25,465,587,2525)")
    return ports


def port_number(text: str) -> int:
    """One TCP port for a server we start (``notebooks --port``)."""
    text = text.strip()
    if not text.isdigit():
        raise UsageError(f"--port {text!r} is not a port number (1-65535)")
    p = int(text)
    if not 1 <= p <= 65535:
        raise UsageError(f"--port {p} is out of range: ports run from 1 to 65535")
    return p


def timeout_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"--timeout {text!r} is not a number of seconds") from None
    try:
        return check_timeout(value, "--timeout")
    except ProbeInputError as exc:
        raise UsageError(str(exc)) from None


def concurrency(text: str) -> int:
    text = text.strip()
    if not text.isdigit() or not 1 <= int(text) <= MAX_CONCURRENCY:
        raise UsageError(
            f"--concurrency {text!r} must be a whole number from 1 to {MAX_CONCURRENCY}"
        )
    return int(text)
