"""Running probes: :func:`probe`, :func:`aprobe` and the many-target :func:`probe_many`.

Each takes a host and port (checked once into :class:`~smtplab.engine.options.ProbeOptions`) or
ready options, runs the conversation over live wires within the deadline, and returns a
:class:`~smtplab.engine.result.ProbeResult`. It never raises for what the network does.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import sys
import weakref
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, Final, TypeVar

from smtplab.engine.conversation import _Stop
from smtplab.engine.options import (
    DEFAULT_TIMEOUT,
    ROUND_TRIPS,
    ProbeInputError,
    ProbeOptions,
    RoundTrips,
)
from smtplab.engine.result import ProbeResult, ProbeState, finish
from smtplab.engine.served import served_by
from smtplab.engine.sessions import run_sessions
from smtplab.engine.wire import DeadlineReached, NetworkFactory
from smtplab.redaction import Redactor, Scrubber
from smtplab.rules import OPTIONS

T = TypeVar("T")

__all__ = ["aprobe", "aprobe_many", "probe", "probe_many", "run_probe", "run_sync"]


def new_state(o: ProbeOptions, on_phase: Callable[[str], None] | None = None) -> ProbeState:
    """A probe's empty state, its redactor armed with every secret it may send."""
    scrubber = _scrubber(*o.auth) if o.auth else None
    return ProbeState(o, redactor=Redactor(scrubber=scrubber), on_phase=on_phase)


#: Scrubbers in use, by login: the probes of one ``probe_many(auth=...)`` share one (it takes a
#: few milliseconds to make). Held weakly, so a login's secrets live no longer than its probes.
_SCRUBBERS: weakref.WeakValueDictionary[tuple[str, str], Scrubber] = weakref.WeakValueDictionary()


def _scrubber(user: str, password: str) -> Scrubber:
    scrubber = _SCRUBBERS.get((user, password))
    if scrubber is None:
        scrubber = _SCRUBBERS[(user, password)] = Scrubber.for_login(user, password)
    return scrubber


async def run_probe(
    o: ProbeOptions, make_network: NetworkFactory | None = None, st: ProbeState | None = None
) -> ProbeResult:
    """One probe over ``make_network``'s streams (live sockets by default), within its
    deadline, always ending in a result."""
    st = st or new_state(o)
    outcome, error = "error", None
    try:
        await asyncio.wait_for(run_sessions(st, make_network), o.deadline)
        outcome = st.values.get("outcome", "error")
    except _Stop as stop:
        outcome, error = stop.outcome, stop.error
        if outcome == "open" and st.values.get("outcome") != "open":
            outcome = "error"
    except (asyncio.TimeoutError, TimeoutError, DeadlineReached) as exc:
        if isinstance(exc, DeadlineReached) and exc.received is not None:
            st.bytes_in_phase = exc.received  # the handshake's bytes, as recorded
        error = f"the probe's overall deadline of {o.deadline:g} s passed"
        in_tls = st.phase == "tls"
        st.event("deadline", seconds=o.deadline, bytes=st.bytes_in_phase if in_tls else None)
        prev = st.previous
        if (
            prev
            and st.values.get("outcome") != "open"
            and (prev.get("outcome") == "open" or st.values.get("connect_ms") is None)
        ):
            st.values = prev  # a retry learnt less than the connection before it
        if st.values.get("outcome") == "open":
            outcome = "open"
        elif not st.connected:
            outcome = "filtered"
        elif st.phase == "tls" and st.bytes_in_phase:
            outcome = "tls_failed"
            error = f"TLS handshake still unfinished when {error}"
        else:
            outcome = "silent"
    except Exception as exc:  # a bug of ours must still not escape as a traceback into a lesson
        error = f"{type(exc).__name__}: {exc}"
        st.event("internal_error", detail=error)
        outcome = "error"
    return finish(st, outcome, error)


async def aprobe(
    host: str | ProbeOptions,
    port: int = 587,
    *,
    mode: str = "auto",
    timeout: float = DEFAULT_TIMEOUT,
    deadline: float | None = None,
    ehlo_name: str | None = None,
    lab: Any = None,
    vantage: str | None = None,
    verify: bool = True,
    cafile: str | None = None,
    relay_check: bool = False,
    auth: tuple[str, str] | None = None,
    allow_cleartext_auth: bool = False,
    tls_required_check: bool = False,
) -> ProbeResult:
    """Probe ``host`` on ``port`` and return what happened (the async twin of :func:`probe`)."""
    if isinstance(host, ProbeOptions):
        return await run_probe(host)
    o = ProbeOptions.create(
        host,
        port,
        mode=mode,
        timeout=timeout,
        deadline=deadline,
        ehlo_name=ehlo_name,
        lab=lab,
        vantage=vantage,
        verify=verify,
        cafile=cafile,
        relay_check=relay_check,
        auth=auth,
        allow_cleartext_auth=allow_cleartext_auth,
        tls_required_check=tls_required_check,
    )
    return await run_probe(o)


def run_sync(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from sync code, even inside a running loop (Jupyter)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="smtplab-probe") as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


def probe(
    host: str | ProbeOptions,
    port: int = 587,
    *,
    mode: str = "auto",
    timeout: float = DEFAULT_TIMEOUT,
    deadline: float | None = None,
    ehlo_name: str | None = None,
    lab: Any = None,
    vantage: str | None = None,
    verify: bool = True,
    cafile: str | None = None,
    relay_check: bool = False,
    auth: tuple[str, str] | None = None,
    allow_cleartext_auth: bool = False,
    tls_required_check: bool = False,
) -> ProbeResult:
    """Probe ``host`` on ``port`` and return a :class:`ProbeResult`. Never raises for the network.

    ``host`` may also be a :class:`ProbeOptions` made with :meth:`ProbeOptions.create` (the
    other arguments are then in it). ``mode``: ``auto`` (implicit TLS on 465; elsewhere
    cleartext, then STARTTLS when offered, and implicit TLS if the cleartext greeting never
    comes), ``plain``, ``starttls`` or ``tls``.
    ``timeout`` bounds each phase; ``deadline`` (default 3 × timeout + 2 s, see
    :func:`smtplab.rules.deadline_for`) bounds the whole probe.
    ``lab``: a running :class:`smtplab.Lab`; its logical names (``smtp.lab.example``) are used.
    ``relay_check``: also try MAIL/RCPT to a foreign domain (never DATA), only when asked.
    ``tls_required_check``: also try MAIL before STARTTLS, which a submission port must refuse.
    ``auth``: ``(user, password)`` for an optional login check, sent only over TLS whose
    certificate was verified for ``host`` (or, with ``allow_cleartext_auth=True``, to the lab's
    legacy profile); the password and the AUTH payload never appear in the transcript, the
    record or an error message.
    """
    o = (
        host
        if isinstance(host, ProbeOptions)
        else ProbeOptions.create(
            host,
            port,
            mode=mode,
            timeout=timeout,
            deadline=deadline,
            ehlo_name=ehlo_name,
            lab=lab,
            vantage=vantage,
            verify=verify,
            cafile=cafile,
            relay_check=relay_check,
            auth=auth,
            allow_cleartext_auth=allow_cleartext_auth,
            tls_required_check=tls_required_check,
        )
    )
    return run_sync(lambda: run_probe(o))


#: What probe_many passes on to :meth:`ProbeOptions.create` for every target.
_MANY_OPTIONS: Final = frozenset(o.name for o in OPTIONS)


def _targets(targets: Iterable[Any]) -> list[ProbeOptions | tuple[Any, Any, str | None]]:
    out: list[ProbeOptions | tuple[Any, Any, str | None]] = []
    for t in targets:
        if isinstance(t, ProbeOptions):
            out.append(t)
        elif isinstance(t, dict):
            out.append((t.get("host"), t.get("port", 587), t.get("mode")))
        elif isinstance(t, (tuple, list)) and len(t) in (2, 3):
            out.append((t[0], t[1], t[2] if len(t) == 3 else None))
        else:
            raise ProbeInputError(f"a target is (host, port) or (host, port, mode), not {t!r}")
    return out


#: Probes in flight per host towards other people's servers, unless told otherwise.
DEFAULT_PER_HOST: Final = 4


class _RateLimiter:
    """At most ``rate`` new connections per second, spaced evenly (politeness for live probes)."""

    def __init__(self, rate: float | None) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self.next = 0.0
        self.lock = asyncio.Lock()

    async def wait(self) -> None:
        if not self.interval:
            return
        async with self.lock:
            loop = asyncio.get_running_loop()
            while (wait := self.next - loop.time()) > 0:
                await asyncio.sleep(wait)
            # from when this one really goes: a late wake-up must not shorten the next gap
            self.next = loop.time() + self.interval


def _in_notebook() -> bool:
    return "ipykernel" in sys.modules


def _progress_printer(total: int) -> Callable[[int, int, ProbeResult], None]:
    def show(done: int, total_: int, r: ProbeResult) -> None:
        end = "\n" if done == total_ else ""
        sys.stderr.write(f"\rprobed {done}/{total_}: {r.host}:{r.port} {r.outcome:<12}{end}")
        sys.stderr.flush()

    return show


def _lab_semaphores(opts: list[ProbeOptions]) -> dict[tuple[str, int], asyncio.Semaphore]:
    """One semaphore per lab probed, by the lab sockets behind it: a lab serves at most
    ``lab.probe_concurrency`` probes at once before it starts answering 421, so a probe through
    our own lab never records the lab's limit as the server's answer."""
    if not any(o.source == "lab" and o.connect_to for o in opts):
        return {}
    by_lab: dict[int, asyncio.Semaphore] = {}
    out: dict[tuple[str, int], asyncio.Semaphore] = {}
    for o in opts:
        lab = served_by(o.connect_to) if o.source == "lab" else None
        if lab is not None and o.connect_to is not None:
            key = id(lab)
            if key not in by_lab:
                by_lab[key] = asyncio.Semaphore(lab.probe_concurrency)
            out[o.connect_to] = by_lab[key]
    return out


async def aprobe_many(
    targets: Iterable[Any],
    *,
    concurrency: int = 64,
    per_host: int | None = None,
    rate: float | None = None,
    progress: bool | Callable[[int, int, ProbeResult], None] = False,
    on_phase: Callable[[int, str], None] | None = None,
    round_trips: RoundTrips | None = None,
    **kwargs: Any,
) -> list[ProbeResult]:
    """Probe many ``(host, port)`` targets (or :class:`ProbeOptions`) concurrently; results in
    input order.

    ``concurrency`` bounds probes in flight (through a lab, also its ``probe_concurrency``, so
    that the lab's own connection limit never decides an outcome); ``per_host`` bounds them
    per host (politeness: by default 4 towards other people's hosts, no bound of its own on
    loopback and in the lab,
    where 32 probes of a port that drops packets then cost one timeout, not eight);
    ``rate`` caps new connections per second (default: none in the lab or on loopback, 10 per
    second towards other hosts).
    All ports of a host run side by side, so a filtered port costs its timeout once.
    ``progress=True`` prints a counter; a callable gets ``(done, total, result)``.
    ``on_phase(i, phase)`` is called as target ``i`` enters each phase of its conversation
    (``"connect"``, ``"greeting"``, ``"ehlo"``, ``"starttls"``, ``"tls"``, ...).
    ``adaptive=True`` cuts a connect short once other ports of the same host answered far
    faster (nmap's timing, see :class:`~smtplab.engine.options.RoundTrips`; ``smtplab doctor``
    does it unless ``--patient``); ``round_trips`` shares the round trips seen with the caller
    (a display showing how long each connect may still take).
    """
    items = _targets(targets)
    if not isinstance(concurrency, int) or concurrency < 1:
        raise ProbeInputError("concurrency must be a whole number of at least 1")
    if per_host is not None and (not isinstance(per_host, int) or per_host < 1):
        raise ProbeInputError("per_host must be a whole number of at least 1")
    unknown = set(kwargs) - _MANY_OPTIONS
    if unknown:
        raise ProbeInputError(f"unknown option(s): {', '.join(sorted(unknown))}")
    mode_default = kwargs.pop("mode", "auto")
    opts = [
        item
        if isinstance(item, ProbeOptions)
        else ProbeOptions.create(item[0], item[1], mode=item[2] or mode_default, **kwargs)
        for item in items
    ]
    if rate is None and not all(o.source == "lab" or o.loopback for o in opts):
        rate = 10.0  # politeness towards other people's servers; our own machine needs none
    limiter = _RateLimiter(rate)
    sem = asyncio.Semaphore(concurrency)
    host_sems: dict[str, asyncio.Semaphore] = {}
    lab_sems = _lab_semaphores(opts)
    if progress is True:
        report = _progress_printer(len(opts)) if sys.stderr.isatty() or _in_notebook() else None
    else:
        report = progress or None
    done = 0
    if any(o.adaptive for o in opts):
        ROUND_TRIPS.set(round_trips or RoundTrips())  # this task's context; gather copies it
    results: list[ProbeResult | None] = [None] * len(opts)

    async def one(i: int, o: ProbeOptions) -> None:
        nonlocal done, report
        limit = per_host or (concurrency if o.source == "lab" or o.loopback else DEFAULT_PER_HOST)
        hs = host_sems.setdefault(o.host.lower(), asyncio.Semaphore(limit))
        lab_sem = lab_sems.get(o.connect_to) if o.source == "lab" and o.connect_to else None
        async with sem, hs, lab_sem or contextlib.nullcontext():
            await limiter.wait()
            watch = None if on_phase is None else functools.partial(on_phase, i)
            r = await run_probe(o, st=new_state(o, watch))
        results[i] = r
        done += 1
        if report:
            try:
                report(done, len(opts), r)
            except Exception:  # a broken progress display must not lose results: stop showing it
                report = None

    await asyncio.gather(*(one(i, o) for i, o in enumerate(opts)))
    return [r for r in results if r is not None]


def probe_many(
    targets: Iterable[Any],
    *,
    concurrency: int = 64,
    per_host: int | None = None,
    rate: float | None = None,
    progress: bool | Callable[[int, int, ProbeResult], None] = False,
    on_phase: Callable[[int, str], None] | None = None,
    round_trips: RoundTrips | None = None,
    **kwargs: Any,
) -> list[ProbeResult]:
    """Sync twin of :func:`aprobe_many` (works inside a running notebook too)."""
    items = list(targets)
    return run_sync(
        lambda: aprobe_many(
            items,
            concurrency=concurrency,
            per_host=per_host,
            rate=rate,
            progress=progress,
            on_phase=on_phase,
            round_trips=round_trips,
            **kwargs,
        )
    )
