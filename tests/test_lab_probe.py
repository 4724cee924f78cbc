"""Every scenario, probed: each endpoint gives the outcome word the lab promises.

This is the contract between the lab and the probe engine: ``Endpoint.expected`` is what
``smtplab.probe(host, port, lab=lab)`` reports there, with the logical host and port, the
vantage ``lab:<scenario>`` and source ``lab`` in the record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

import smtplab.engine as probe_module
from smtplab import labworld
from smtplab.lab import Lab

# Short enough to keep the file fast, long enough for loopback TLS on a busy CI runner. The slow
# host greets after SLOW (well inside TIMEOUT), so it must come out "open".
TIMEOUT = 1.5
SLOW = 0.4


@pytest.fixture(scope="module")
def labs() -> Iterator[dict[str, Lab]]:
    started = {name: Lab(name, slow_delay=SLOW).start() for name in labworld.SCENARIOS}
    try:
        yield started
    finally:
        for lab in started.values():
            lab.stop()


@pytest.fixture(scope="module")
def results(labs: dict[str, Lab]) -> dict[str, list]:
    """All scenarios probed side by side (each scenario's filtered ports cost one timeout)."""

    async def probe_all() -> list[list]:
        return await asyncio.gather(
            *(
                probe_module.aprobe_many(
                    [(e.host, e.port) for e in lab.endpoints], lab=lab, timeout=TIMEOUT
                )
                for lab in labs.values()
            )
        )

    return dict(zip(labs, asyncio.run(probe_all()), strict=False))


@pytest.mark.parametrize("name", list(labworld.SCENARIOS))
def test_every_endpoint_gives_the_expected_outcome(
    labs: dict[str, Lab], results: dict[str, list], name: str
) -> None:
    lab = labs[name]
    wrong = [
        f"{e.host}:{e.port} ({e.behaviour}) expected {e.expected}, got {r.outcome} {r.error or ''}"
        for e, r in zip(lab.endpoints, results[name], strict=False)
        if r.outcome != e.expected
    ]
    assert not wrong, "\n".join(wrong)
    for e, r in zip(lab.endpoints, results[name], strict=False):
        rec = r.to_record()
        assert (rec["host"], rec["port"]) == (e.host, e.port)
        assert rec["vantage"] == f"lab:{name}" and rec["source"] == "lab"


def test_probe_sees_each_profile(labs: dict[str, Lab], results: dict[str, list]) -> None:
    lab = labs["classroom"]
    by = {(e.host, e.port): r for e, r in zip(lab.endpoints, results["classroom"], strict=False)}
    sub = by["smtp.lab.example", 587]
    assert sub.tls_mode == "starttls" and sub.cert_verified is True
    assert not sub.auth_before_tls and set(sub.auth_after_tls) == {"PLAIN", "LOGIN"}
    implicit = by["smtp.lab.example", 465]
    assert implicit.tls_mode == "implicit" and set(implicit.auth_after_tls) == {"PLAIN", "LOGIN"}
    legacy = by["legacy.lab.example", 25]
    assert legacy.tls_mode == "none" and set(legacy.auth_before_tls) == {"PLAIN", "LOGIN"}
    relay = by["mx.lab.example", 25]
    assert relay.starttls_offered and not relay.auth_after_tls
    for host in ("expired.lab.example", "selfsigned.lab.example", "wronghost.lab.example"):
        for port in (465, 587):
            assert by[host, port].cert_verified is False, (host, port)
    hotel = labs["hotel-wifi"]
    intercepted = next(
        r
        for e, r in zip(hotel.endpoints, results["hotel-wifi"], strict=False)
        if (e.host, e.port) == ("mx.lab.example", 25)
    )
    assert "smtp.isp-filter.example" in (intercepted.banner or "")


def test_single_probe_through_the_lab(labs: dict[str, Lab]) -> None:
    r = probe_module.probe("smtp.lab.example", 587, lab=labs["home-isp"], timeout=TIMEOUT)
    assert r.outcome == "open" and r.to_record()["vantage"] == "lab:home-isp"
    r = probe_module.probe("mx.lab.example", 25, lab=labs["home-isp"], timeout=1.0)
    assert r.outcome == "filtered"


#: A lab session with clients that misbehave (garbage after a refused STARTTLS, resets in the
#: middle of TLS and of AUTH), probes beside them, then a clean stop.
_NOISY_SESSION = r"""
import socket, ssl, struct, gc
import smtplab

ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
with smtplab.Lab("open-internet", slow_delay=0.3) as lab:
    smtplab.probe_many([(e.host, e.port) for e in lab.endpoints], lab=lab, timeout=0.6)
    for e in lab.endpoints:
        for cut in ("garbage", "tls", "auth"):
            s = None
            try:
                s = socket.create_connection(lab.address(e.host, e.port), timeout=0.6)
                if e.implicit_tls:
                    s = ctx.wrap_socket(s, server_hostname=e.host)
                s.recv(1000)
                if not e.implicit_tls:
                    s.send(b"EHLO x\r\n"); s.recv(1000)
                    s.send(b"STARTTLS\r\n"); s.recv(1000)
                    if cut == "garbage":
                        s.send(b"\x16\x03\x01\x02\x00\x01")
                    else:
                        s = ctx.wrap_socket(s, server_hostname=e.host)
                        s.send(b"EHLO x\r\n"); s.recv(1000)
                if cut == "auth":
                    s.send(b"AUTH LOGIN\r\n"); s.recv(100)
            except OSError:
                pass
            if s is not None:
                try:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    s.close()
                except OSError:
                    pass
gc.collect()
print("done")
"""


def test_a_clean_stop_prints_nothing() -> None:
    """Issue 11 #14: no "Future exception was never retrieved", no aiosmtpd warning about what a
    client did: a lesson's output shows only what the lesson prints."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).parent.parent
    done = subprocess.run(
        [sys.executable, "-c", _NOISY_SESSION],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=root,
        env={**__import__("os").environ, "PYTHONPATH": str(root)},
        check=False,
    )
    assert done.returncode == 0 and done.stdout == "done\n", done.stderr[-2000:]
    assert done.stderr == ""


def test_on_phase_names_each_step_as_the_probe_enters_it(labs: dict[str, Lab]) -> None:
    """probe_many's on_phase hook (the command line's live lines use it): each target reports
    the steps it waits for, in order, and a probe of a dropped port never gets past connect."""
    import smtplab

    lab = labs["home-isp"]
    seen: dict[int, list[str]] = {0: [], 1: []}
    results = smtplab.probe_many(
        [("smtp.lab.example", 587), ("smtp.lab.example", 25)],
        lab=lab,
        timeout=1,
        on_phase=lambda i, phase: seen[i].append(phase),
    )
    assert [r.outcome for r in results] == ["open", "filtered"]
    steps = [p for i, p in enumerate(seen[0]) if i == 0 or seen[0][i - 1] != p]
    assert steps[:5] == ["connect", "greeting", "ehlo", "starttls", "tls"], seen[0]
    assert set(seen[1]) == {"connect"}, seen[1]


# --- a lab that does not run dry (issue 23) --------------------------------------------------


def test_short_timeout_probes_of_the_slow_host_give_every_slot_back() -> None:
    """The classroom lesson itself ran the lab dry: each probe of slow.lab.example with a short
    timeout kept 3 of the lab's slots for five minutes, and soon every host answered 421."""
    import time

    with Lab("classroom", max_connections=8) as lab:  # the real 2 s delay: the probes give up
        outcomes = [
            probe_module.probe("slow.lab.example", port, lab=lab, timeout=0.3).outcome
            for port in (25, 587, 25, 587, 25, 587)
        ]
        # what a hasty client calls a slow server ("filtered" only if a starved CI runner takes
        # longer than 0.3 s to connect); never the lab's own 421
        assert set(outcomes) <= {"silent", "filtered"} and "silent" in outcomes, outcomes
        deadline = time.monotonic() + 2.0
        while lab.active_connections() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert lab.active_connections() == 0
        r = probe_module.probe("mx.lab.example", 25, lab=lab, timeout=TIMEOUT)
        assert r.outcome == "open" and r.banner_code == 220, (r.outcome, r.banner)
        assert lab.connection_stats().turned_away == 0


def test_probe_many_never_meets_the_labs_own_limit() -> None:
    """At concurrency 512 (the default was 64, over the lab's limit of 50), 470 of 1,120
    outcomes were the lab's own 421 recorded as the server's answer. probe_many now keeps to
    what the lab can serve, and every outcome is the one the scenario promises."""
    repeats = 6
    with Lab("classroom", slow_delay=SLOW) as lab:
        targets = [(e.host, e.port) for e in lab.endpoints] * repeats
        expected = [e.expected for e in lab.endpoints] * repeats
        results = probe_module.probe_many(targets, lab=lab, timeout=3.0, concurrency=512)
        stats = lab.connection_stats()
    wrong = [
        f"{t[0]}:{t[1]} expected {want}, got {r.outcome} {r.error or ''}"
        for t, want, r in zip(targets, expected, results, strict=True)
        if r.outcome != want
    ]
    assert not wrong, f"{len(wrong)} of {len(targets)} wrong:\n" + "\n".join(wrong[:10])
    assert stats.turned_away == 0 and 0 < stats.peak <= lab.max_connections
    assert len(targets) > lab.max_connections  # enough to have overrun it


def test_an_ip_address_through_the_lab_is_not_called_unresolvable(labs: dict[str, Lab]) -> None:
    r = probe_module.probe("127.0.0.1", 587, lab=labs["classroom"], timeout=TIMEOUT)
    assert r.outcome == "dns_failed"  # the lab's world has names only
    said = " ".join([r.error or "", *(f.message for f in r.findings)])
    assert "resolved" not in said and "IP address" in said
