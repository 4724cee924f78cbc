"""What a running lab owns, and how it ends: the thread, the loop, the sockets (:class:`_Runtime`).

Also the two low-level helpers the lab needs without root: filling a ``listen(0)`` queue so that
the kernel drops further connection attempts (the ``filtered`` behaviour), and keeping what
clients do wrong (resets, hang-ups mid-handshake) off a learner's screen.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import select
import socket
import ssl
import threading
from dataclasses import dataclass, field
from typing import Any, Final

from smtplab.lab.servers import Hub

#: Longest wait for the lab's thread to start or stop its servers; on loopback either takes
#: milliseconds, so 10 s only ever trips when something is badly wrong.
_THREAD_TIMEOUT: Final = 10.0

# How many of the lab's own connections fill a listen(0) queue, per address family: found once
# per process by trying (Linux admits one; other systems may admit more).
_fill_counts: dict[int, int] = {}
_fill_lock = threading.Lock()
# Longest wait for a loopback handshake before we call it "dropped". A loopback handshake takes
# microseconds; 50 ms is a thousand times that.
_HANDSHAKE_WAIT: Final = 0.05
# Safety bound on the calibration loop: no kernel admits this many on listen(0).
_MAX_FILL: Final = 16


def _connect_nowait(addr: tuple[Any, ...], family: socket.AddressFamily) -> socket.socket:
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setblocking(False)
    s.connect_ex(addr)
    return s


def _completed(s: socket.socket, wait: float) -> bool:
    _, writable, _ = select.select([], [s], [], wait)
    return bool(writable) and s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0


def _fill_queue(listener: socket.socket, family: socket.AddressFamily) -> list[socket.socket]:
    """Fill ``listener``'s accept queue with connections that will never be accepted."""
    addr = listener.getsockname()
    with _fill_lock:
        known = _fill_counts.get(family)
        if known is None:
            fillers: list[socket.socket] = []
            while len(fillers) < _MAX_FILL:
                s = _connect_nowait(addr, family)
                if not _completed(s, _HANDSHAKE_WAIT):
                    s.close()
                    break
                fillers.append(s)
            _fill_counts[family] = len(fillers)
            return fillers
    fillers = []
    for _ in range(known):
        s = _connect_nowait(addr, family)
        if not _completed(s, _THREAD_TIMEOUT):
            s.close()
            break
        fillers.append(s)
    return fillers


@dataclass
class _Runtime:
    """Everything a running lab owns. Kept apart from :class:`Lab` so that a garbage-collected or
    forgotten lab can still be stopped (by :func:`weakref.finalize`, also at interpreter exit)."""

    loop: asyncio.AbstractEventLoop | None = None
    thread: threading.Thread | None = None
    servers: list[asyncio.base_events.Server] = field(default_factory=list)
    sockets: list[socket.socket] = field(default_factory=list)
    hub: Hub | None = None
    extra_refused: dict[tuple[str, int], tuple[str, int]] = field(default_factory=dict)
    #: The lab's OAuth authorization server (smtplab.lab.oauth.LabOAuth), when the scenario has one.
    oauth: Any = None

    def shutdown(self) -> None:
        """Close every server, client connection and socket, then end the thread. Idempotent."""
        loop, thread = self.loop, self.thread
        if thread is threading.current_thread():
            # Called on the lab's own thread (a handler dropped the last reference): we cannot
            # wait for ourselves, so ask the loop to stop and leave the rest to the next caller.
            assert loop is not None
            loop.call_soon(loop.stop)
            return
        if loop is not None and thread is not None and thread.is_alive():
            try:
                fut = asyncio.run_coroutine_threadsafe(self._aclose(), loop)
                fut.result(_THREAD_TIMEOUT)
            except (concurrent.futures.TimeoutError, RuntimeError):
                pass
            finally:
                loop.call_soon_threadsafe(loop.stop)
                thread.join(_THREAD_TIMEOUT)
        if loop is not None and not loop.is_closed() and not loop.is_running():
            loop.close()
        if self.oauth is not None:
            self.oauth.stop()
            self.oauth = None
        for s in self.sockets:
            s.close()
        self.sockets.clear()
        self.servers.clear()
        self.extra_refused.clear()
        self.loop = self.thread = self.hub = None

    async def _aclose(self) -> None:
        hub = self.hub
        if hub is not None:
            hub.closing = True  # connections that arrive from now on are aborted at once
        # A connection accepted just now is still being handed to its protocol by an asyncio task;
        # closing the server under it makes asyncio (3.11) drop its socket unclosed. So let those
        # hand-overs finish (the gate aborts them, as we are closing), then close the servers
        # without yielding in between, so no new hand-over can start.
        for _ in range(_HANDOVER_ROUNDS):
            pending = [t for t in asyncio.all_tasks() if _is_accept_task(t)]
            if not pending:
                break
            await asyncio.wait(pending, timeout=_HANDOVER_WAIT)
        for server in self.servers:
            server.close()  # no new connections
        if hub is not None:
            for transport in list(hub.transports):
                transport.abort()
        for server in self.servers:
            await server.wait_closed()
        # Let connection_lost callbacks run, then cancel whatever still waits (greetings, handlers).
        for _ in range(3):
            await asyncio.sleep(0)
        me = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not me]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# Bounds on waiting for in-flight accepts at stop. Each hand-over takes one loop iteration; ten
# rounds of up to a second cover a burst of connections arriving while the lab stops.
_HANDOVER_ROUNDS: Final = 10
_HANDOVER_WAIT: Final = 1.0


def _is_accept_task(task: asyncio.Task[Any]) -> bool:
    """True for asyncio's own task that hands a just-accepted connection to its protocol."""
    return "_accept_connection" in getattr(task.get_coro(), "__qualname__", "")


#: What a client can do to a lab connection (reset it, hang up mid-handshake, time out): the lab
#: carries on, and a learner's notebook or terminal should not show it as an error.
_PEER_ERRORS: Final = (ConnectionError, ssl.SSLError, TimeoutError, EOFError, OSError)


def _quiet_about_peers(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The lab loop's exception handler: a future or task that failed because of what a client
    did (``Future exception was never retrieved: ConnectionResetError``, often reported only
    when it is garbage-collected after a clean stop) is no error of the lab's; anything else
    still goes to asyncio's default handler."""
    exc = context.get("exception")
    if isinstance(exc, (*_PEER_ERRORS, asyncio.CancelledError)):
        return
    loop.default_exception_handler(context)


def _quiet_logging() -> None:
    """aiosmtpd logs what clients do wrong (``unrecognised: ...`` for garbage) at WARNING on
    ``mail.log``, and with no logging configured Python's last-resort handler prints it on
    stderr. A NullHandler keeps a lesson's output clean; records still propagate to whatever
    logging the user sets up (tests capture them)."""
    for name in ("mail.log", "smtplab"):
        logger = logging.getLogger(name)
        if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
            logger.addHandler(logging.NullHandler())


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        asyncio.set_event_loop(None)
