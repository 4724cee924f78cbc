"""Sockets served by a local lab, and the lab behind each, for the limits a probe respects.

A running :class:`smtplab.Lab` registers the real socket of every endpoint here; a probe made
from options alone (``ProbeOptions.create(..., lab=lab)``) finds the lab whose
``probe_concurrency`` it must keep to. The registry lives in the engine so the engine never
imports the lab (the lab sits above it, see ARCHITECTURE.md); entries go when the lab stops or
is collected.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from typing import Protocol

__all__ = ["Server", "serve", "served_by", "unserve"]


class Server(Protocol):
    """What the engine needs of a lab: how many probes it serves at once."""

    @property
    def probe_concurrency(self) -> int: ...


_SERVING: weakref.WeakValueDictionary[tuple[str, int], Server] = weakref.WeakValueDictionary()
_LOCK = threading.Lock()


def serve(owner: Server, addresses: Iterable[tuple[str, int]]) -> None:
    """``owner`` (a lab) now serves these real socket addresses."""
    with _LOCK:
        for address in addresses:
            _SERVING[address] = owner


def unserve(owner: Server, addresses: Iterable[tuple[str, int]]) -> None:
    """``owner`` no longer serves these addresses (another owner's entries stay)."""
    with _LOCK:
        for address in addresses:
            if _SERVING.get(address) is owner:
                del _SERVING[address]


def served_by(address: tuple[str, int] | None) -> Server | None:
    """The owner serving the real socket ``address`` (ip, port), or None."""
    if address is None:
        return None
    with _LOCK:
        return _SERVING.get((address[0], address[1]))
