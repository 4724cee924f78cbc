"""Every scenario, probed: each endpoint gives the outcome word the lab promises.

This is the contract between the lab and the probe engine: ``Endpoint.expected`` is what
``smtplab.probe(host, port, lab=lab)`` reports there, with the logical host and port, the
vantage ``lab:<scenario>`` and source ``lab`` in the record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from smtplab.lab import Lab, catalog

probe_module = pytest.importorskip("smtplab.probe", reason="smtplab.probe is not importable yet")

# Short enough to keep the file fast, long enough for loopback TLS on a busy CI runner. The slow
# host greets after SLOW (well inside TIMEOUT), so it must come out "open".
TIMEOUT = 1.5
SLOW = 0.4


@pytest.fixture(scope="module")
def labs() -> Iterator[dict[str, Lab]]:
    started = {name: Lab(name, slow_delay=SLOW).start() for name in catalog.SCENARIOS}
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


@pytest.mark.parametrize("name", list(catalog.SCENARIOS))
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
