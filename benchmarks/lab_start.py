"""How long does a lab scenario take to start, next to one bare aiosmtpd server?

Run on demand (not part of the tests):

    python benchmarks/lab_start.py [--repeat N]

Both are measured the same way, in the same run: a background thread with its own asyncio loop,
servers created with ``loop.create_server`` on loopback, timed from "start" until every socket
listens. The lab also binds its refused and filtered sockets and sets up TLS; its certificates are
made once per process, so the first (cold) start is reported apart.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import threading
import time

from aiosmtpd.smtp import SMTP

from smtplab import labworld
from smtplab.lab import Lab


class _Sink:
    async def handle_DATA(self, server: SMTP, session: object, envelope: object) -> str:
        return "250 OK"


def bare_aiosmtpd_start() -> float:
    """Seconds to start one aiosmtpd server on its own thread and loop (then stop it)."""
    start = time.perf_counter()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def serve() -> asyncio.base_events.Server:
        return await loop.create_server(
            lambda: SMTP(_Sink(), hostname="bare.example", loop=loop), "127.0.0.1", 0
        )

    server = asyncio.run_coroutine_threadsafe(serve(), loop).result()
    elapsed = time.perf_counter() - start

    async def close() -> None:
        server.close()
        await server.wait_closed()

    asyncio.run_coroutine_threadsafe(close(), loop).result()
    loop.call_soon_threadsafe(loop.stop)
    thread.join()
    loop.close()
    return elapsed


def lab_start(name: str) -> float:
    """Seconds for ``Lab(name).start()`` (then stop it)."""
    lab = Lab(name)
    start = time.perf_counter()
    lab.start()
    elapsed = time.perf_counter() - start
    lab.stop()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeat", type=int, default=21, help="starts per measurement (default 21)"
    )
    args = parser.parse_args()

    cold = lab_start(labworld.DEFAULT_SCENARIO)
    bare = statistics.median(bare_aiosmtpd_start() for _ in range(args.repeat))
    print(f"cold first lab start (makes the lab CA and certificates): {cold * 1000:8.1f} ms")
    print(f"one bare aiosmtpd server, median of {args.repeat}:          {bare * 1000:8.1f} ms")
    print()
    print(f"{'scenario':<18} {'endpoints':>9} {'listening':>9} {'median ms':>10} {'x bare':>8}")
    medians = []
    for name, sc in labworld.SCENARIOS.items():
        plans = labworld.plan(sc)
        median = statistics.median(lab_start(name) for _ in range(args.repeat))
        medians.append(median)
        listening = sum(p.listens for p in plans)
        ms = median * 1000
        print(f"{name:<18} {len(plans):>9} {listening:>9} {ms:>10.1f} {median / bare:>8.1f}")
    overall = statistics.median(medians)
    print()
    print(
        f"median scenario start {overall * 1000:.1f} ms = {overall / bare:.1f} x one bare aiosmtpd "
        f"server ({bare * 1000:.1f} ms)"
    )


if __name__ == "__main__":
    main()
