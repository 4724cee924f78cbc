"""Synthetic probe records for benchmarks and tests, honestly labelled ``source="synthetic"``.

Scan-sized datasets are not something a course can ship, so benchmarks and tests make them:

>>> from smtplab.synthetic import synthetic_records, write_synthetic_jsonl
>>> recs = list(synthetic_records(1000, seed=7))     # dicts in the record schema
>>> write_synthetic_jsonl("big.jsonl", 1_000_000)    # doctest: +SKIP

The records are varied the way a real scan is, not copies of one record: thousands of hosts
under reserved names (RFC 2606 ``.example``/``.test``), addresses from the documentation
ranges (RFC 5737, RFC 3849), a dozen vantages whose networks block ports differently, every
outcome word, STARTTLS and implicit TLS, TLS 1.0 to 1.3, certificates that verify or fail in
the usual ways, findings that follow from all that (the codes of :mod:`smtplab.findings`),
transcripts of 2 to 40 lines, and timings drawn from long-tailed (log-normal) distributions.
Every record has ``source="synthetic"``: they never mix with the recordings in ``data/``.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from smtplab._synthetic_servers import (
    _J,
    _PORT_WEIGHTS,
    _PORTS,
    _START,
    _VANTAGE_NAMES,
    _VANTAGES,
    _failure_template,
    _Hosts,
    _open_template,
    _Template,
)
from smtplab.schema import SCHEMA_VERSION

__all__ = ["SOURCE", "synthetic_records", "synthetic_table", "write_synthetic_jsonl"]

SOURCE = "synthetic"

# ---- records, a block at a time ------------------------------------------------------------
#
# A record is assembled as JSON text from a template (what the server says: the host's own for
# an open port, worked out once per host and port; the outcome's for a failure) and the values
# drawn afresh for every probe with numpy, a block of records at a time: host, vantage, port,
# outcome, time, probe id, every timing and every transcript line's clock.

#: Records drawn per block.  Blocks are always drawn whole (and the output cut to ``n``), so the
#: first records of a seed are the same whatever ``n`` is.
_BLOCK = 4096
#: Open-port templates kept at once (then the cache starts again: memory stays bounded).
_CACHE_LIMIT = 100_000
_OUTCOME_WORDS = (
    "open",
    "filtered",
    "refused",
    "silent",
    "rejected",
    "not_smtp",
    "tls_failed",
    "dns_failed",
    "unreachable",
    "error",
    "reset",
)
_O = {word: i for i, word in enumerate(_OUTCOME_WORDS)}
_DNS = _O["dns_failed"]
_RARE = np.array([_O[w] for w in ("dns_failed", "unreachable", "error", "reset")])
_CLOSED = np.array([_O[w] for w in ("refused", "refused", "filtered")])
_DROP = np.array([drop for drop, _ in _VANTAGES.values()])
_REJECT = np.array([reject for _, reject in _VANTAGES.values()])


class _Generator:
    """Records of one seed, block by block: numpy draws, then JSON text from templates."""

    def __init__(self, seed: int, n: int, hosts: int | None) -> None:
        self.seed = seed
        self.hosts = _Hosts(random.Random(seed), hosts or max(50, n // 20)).hosts
        count = len(self.hosts)
        self.cum = np.cumsum(1.0 / np.arange(1, count + 1) ** 0.8)  # a Zipf-like tail
        self.has_port = np.array([[p in h["ports"] for p in _PORTS] for h in self.hosts])
        self.names = [_J(h["host"]) for h in self.hosts]
        self.addresses = [_J(h["address"]) for h in self.hosts]
        self.open: dict[tuple[int, int], _Template] = {}
        self.failed: dict[tuple[int, int, int], _Template] = {}

    def template(self, host: int, port: int, outcome: int, variant: int) -> _Template:
        if outcome == 0:
            tpl = self.open.get((host, port))
            if tpl is None:
                if len(self.open) >= _CACHE_LIMIT:
                    self.open.clear()
                tpl = self.open[host, port] = _open_template(self.hosts[host], port)
            return tpl
        key = (outcome, variant, port)
        tpl = self.failed.get(key)
        if tpl is None:
            tpl = self.failed[key] = _failure_template(_OUTCOME_WORDS[outcome], variant, port)
        return tpl

    def outcomes(self, rng: np.random.Generator, host: Any, vantage: Any, port: Any) -> Any:
        """The outcome of each probe: the vantage's network, then the host's open ports."""
        b = len(host)
        x = rng.random((3, b))
        rare, closed = rng.integers(0, 4, b), rng.integers(0, 3, b)
        out = np.full(b, -1)
        is25 = _PORTS_A[port] == 25
        drop, reject = _DROP[vantage], _REJECT[vantage]
        out[is25 & (x[0] < drop + reject)] = _O["refused"]
        out[is25 & (x[0] < drop)] = _O["filtered"]
        todo = out < 0
        out[todo & (x[1] < 0.006)] = _RARE[rare[todo & (x[1] < 0.006)]]
        todo = out < 0
        shut = todo & ~self.has_port[host, port]
        out[shut] = _CLOSED[closed[shut]]
        todo = out < 0
        tls_port = np.isin(_PORTS_A[port], (465, 587))
        for limit, word, where in (
            (0.015, "silent", todo),
            (0.025, "rejected", todo),
            (0.03, "not_smtp", todo),
            (0.04, "tls_failed", todo & tls_port),
        ):
            hit = where & (out < 0) & (x[2] < limit)
            out[hit] = _O[word]
        out[out < 0] = _O["open"]
        return out

    def block(self, k: int) -> Any:
        """Block ``k`` of this seed: :data:`_BLOCK` JSON lines, each ending in a newline, as
        an Arrow string array (assembled column-wise by Arrow, not line by line in Python)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        rng = np.random.default_rng([self.seed, k])
        b = _BLOCK
        host = np.minimum(
            np.searchsorted(self.cum, rng.random(b) * self.cum[-1], side="right"), len(self.cum) - 1
        )
        vantage = rng.integers(0, len(_VANTAGE_NAMES), b)
        port = rng.choice(len(_PORTS), b, p=_PORT_WEIGHTS)
        outcome = self.outcomes(rng, host, vantage, port)
        variant = rng.integers(0, 6, b)
        started = np.datetime_as_string(
            _START64 + (rng.random(b) * _SPAN_US).astype("timedelta64[us]"), unit="us"
        )
        ids = rng.integers(0, 256, (b, 16), dtype=np.uint8)
        ids[:, 6] = (ids[:, 6] & 0x0F) | 0x40  # a version 4 UUID
        ids[:, 8] = (ids[:, 8] & 0x3F) | 0x80
        hexes = ids.tobytes().hex()
        waits = np.stack(
            [
                np.zeros(b),
                rng.lognormal(3.3, 0.7, b),  # connect
                rng.lognormal(3.5, 1.0, b),  # greeting
                rng.lognormal(3.0, 0.6, b),  # TLS handshake
                np.full(b, 5000.0),  # a timeout
            ]
        )
        ehlo = rng.lognormal(2.5, 0.8, b)
        hosts, ports, outcomes = host.tolist(), _PORTS_A[port].tolist(), outcome.tolist()
        tpls = [
            self.template(h, p, o, v)
            for h, p, o, v in zip(hosts, ports, outcomes, variant.tolist(), strict=True)
        ]
        clocks, ends = _clocks(rng, waits, tpls)
        total = np.round(clocks[ends - 1] + rng.uniform(0.1, 3.0, b), 3)
        said: list[str] = []
        for h, p, tpl in zip(hosts, ports, tpls, strict=True):
            address = self.hosts[h]["address"]
            said.append(
                f',"dir":"event","text":"connecting to {address} port {p}","kind":"connecting"'
                f',"data":{{"address":"{address}","port":{p},"lab":false}}}}'
            )
            said.extend(tpl.lines)
        lines = pc.binary_join_element_wise('{"t":', _text(clocks), pa.array(said), "")
        starts = np.concatenate([[0], ends]).astype(np.int32)
        transcript = pc.binary_join(pa.ListArray.from_arrays(starts, lines), ",")
        on = np.array([tpl.timings for tpl in tpls]).T
        timing = [
            _text(values, on[i]) for i, values in enumerate((waits[1], waits[2], ehlo, waits[3]))
        ]
        parts: list[Any] = [
            f'{{"schema_version":{SCHEMA_VERSION},"probe_id":"',
            pa.array([hexes[i : i + 32] for i in range(0, 32 * b, 32)]),
            '","started_at":"',
            pa.array(started),
            '+00:00","vantage":"',
            pa.array(_VANTAGE_NAMES).take(pa.array(vantage)),
            f'","source":"{SOURCE}","host":',
            pa.array(self.names).take(pa.array(host)),
            ',"address":',
            pa.array(
                [
                    self.addresses[h] if o != _DNS else "null"
                    for h, o in zip(hosts, outcomes, strict=True)
                ]
            ),
            ',"port":',
            pa.array(ports).cast(pa.string()),
            ',"mode":"auto","timeout":null,"deadline":null,"checks":null,"tls_mode":"',
            pa.array([tpl.tls_mode for tpl in tpls]),
            '","outcome":"',
            pa.array(_OUTCOME_WORDS).take(pa.array(outcome)),
            '","role":"',
            pa.array([tpl.role for tpl in tpls]),
            '","connect_ms":',
            timing[0],
            ',"banner_ms":',
            timing[1],
            ',"ehlo_ms":',
            timing[2],
            ',"tls_ms":',
            timing[3],
            ',"total_ms":',
            _text(total),
            ",",
            pa.array([tpl.middle for tpl in tpls]),
            ',"transcript":[',
            transcript,
            "]}\n",
        ]
        return pc.binary_join_element_wise(*parts, "")


def _text(values: Any, on: Any = None) -> Any:
    """Numbers as JSON text (shortest round-trip form); ``null`` where ``on`` is False."""
    import pyarrow as pa

    arr = pa.array(values, mask=None if on is None else ~on).cast(pa.string())
    return arr.fill_null("null") if on is not None else arr


_PORTS_A = np.array(_PORTS)
_START64 = np.datetime64(_START.replace(tzinfo=None), "us")
_SPAN_US = 30 * 86400 * 1_000_000


def _clocks(rng: np.random.Generator, waits: Any, tpls: list[_Template]) -> tuple[Any, Any]:
    """Every transcript line's clock (ms since the probe began), and where each record's end.

    A line comes a little (0.01 to 0.5 ms) after the one before, plus what it waited for."""
    kinds = np.concatenate([tpl.kinds for tpl in tpls])
    sizes = np.array([len(tpl.kinds) for tpl in tpls])
    ends = np.cumsum(sizes)
    owner = np.repeat(np.arange(len(tpls)), sizes)
    steps = waits[kinds, owner] + rng.uniform(0.01, 0.5, len(kinds))
    steps[ends - sizes] += rng.uniform(0.1, 2.0, len(tpls))  # the clock starts a little late
    run = np.cumsum(steps)
    before = np.concatenate([[0.0], run[ends[:-1] - 1]])  # each record's clock starts at 0
    return np.round(run - np.repeat(before, sizes), 3), ends


def _blocks(n: int, seed: int, hosts: int | None) -> Iterator[Any]:
    """The first ``n`` lines of a seed, as Arrow string arrays of up to :data:`_BLOCK`."""
    gen = _Generator(seed, n, hosts)
    for k in range(-(-n // _BLOCK)):
        yield gen.block(k)[: n - k * _BLOCK]


def synthetic_records(
    n: int, *, seed: int = 1, hosts: int | None = None
) -> Iterator[dict[str, Any]]:
    """``n`` varied records (dicts in the record schema, ``source="synthetic"``), reproducible.

    ``hosts`` is the size of the host pool (default: about one host per 20 records, at least
    50); hosts are picked with a long tail, as a few big providers dominate real scans.  The
    records are the lines :func:`write_synthetic_jsonl` writes, parsed.
    """
    for block in _blocks(n, seed, hosts):
        yield from map(json.loads, block.to_pylist())


def write_synthetic_jsonl(
    path: str | os.PathLike[str], n: int, *, seed: int = 1, hosts: int | None = None
) -> Path:
    """Write ``n`` synthetic records as JSON Lines (replacing the file); return its path."""
    path = Path(path)
    with open(path, "wb") as f:
        for block in _blocks(n, seed, hosts):
            if len(block):
                _, offsets, data = block.buffers()  # the lines, back to back
                ends = np.frombuffer(offsets, np.int32)[[block.offset, block.offset + len(block)]]
                f.write(memoryview(data)[ends[0] : ends[1]])
    return path


def synthetic_table(n: int, *, seed: int = 1, hosts: int | None = None) -> Any:
    """``n`` synthetic records as an Arrow table in :func:`smtplab.records.arrow_schema`."""
    import pyarrow as pa

    from smtplab.records import arrow_schema
    from smtplab.records.check import check_fields

    schema = arrow_schema()
    batches = []
    chunk: list[dict[str, Any]] = []
    for rec in synthetic_records(n, seed=seed, hosts=hosts):
        chunk.append(check_fields(rec)[0])
        if len(chunk) >= 50_000:
            batches.append(pa.Table.from_pylist(chunk, schema=schema))
            chunk = []
    batches.append(pa.Table.from_pylist(chunk, schema=schema))
    return pa.concat_tables(batches)
