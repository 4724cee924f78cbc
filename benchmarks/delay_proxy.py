"""A TCP proxy on loopback that adds a round-trip time, for kernels without netem.

Loopback hides what users feel: across the internet a probe pays a round trip for every command
it waits on. ``DelayProxy`` listens on one loopback address and port, connects each client to an
upstream loopback address and port, and forwards every chunk in each direction half a round trip
after it arrived, keeping the order of the bytes.

One thing a user-space proxy cannot delay is the TCP handshake: the kernel completes it on
loopback at once. On a real path the server's greeting arrives two round trips after the client
sent its SYN (SYN → SYN-ACK → ACK, then the greeting comes back), so the proxy holds the first
bytes from the server until two round trips after it accepted the client. A client therefore
sees ``connect()`` return early and the greeting late, by the same total as on a real path.

Only loopback addresses are accepted: benchmarks never leave the machine.

    with DelayProxy(("127.0.0.2", 587), ("127.0.0.1", 587), rtt=0.050):
        ...  # connect to 127.0.0.2:587 and pay 50 ms per round trip
"""

from __future__ import annotations

import asyncio
import ipaddress
import threading
import time
from types import TracebackType

#: Bytes read at once from either side; small enough that one read is one TCP segment's worth
#: of SMTP, large enough that a TLS handshake flight is forwarded whole.
_CHUNK = 65536


def _loopback(address: tuple[str, int]) -> tuple[str, int]:
    if not ipaddress.ip_address(address[0]).is_loopback:
        raise ValueError(f"{address[0]} is not a loopback address; benchmarks stay on loopback")
    return address


def _quiet_cancel(loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
    """Stopping the proxy cancels its connections; asyncio's stream callback would log each."""
    if not isinstance(context.get("exception"), asyncio.CancelledError):
        loop.default_exception_handler(context)


class DelayProxy:
    """Forward ``listen`` → ``upstream`` on a background thread, adding ``rtt`` seconds per RTT."""

    def __init__(self, listen: tuple[str, int], upstream: tuple[str, int], *, rtt: float) -> None:
        self.listen = _loopback(listen)
        self.upstream = _loopback(upstream)
        self.rtt = rtt
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self._loop.set_exception_handler(_quiet_cancel)

    def __enter__(self) -> DelayProxy:
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        fut.result(timeout=10)
        return self

    def __exit__(
        self,
        et: type[BaseException] | None,
        ev: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._serve, *self.listen, reuse_address=True)

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _serve(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        accepted = time.monotonic()
        try:
            u_reader, u_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            c_writer.close()
            return
        half = self.rtt / 2
        up = self._pump(c_reader, u_writer, half, not_before=0.0)
        # The server's first bytes wait out the handshake round trips the kernel skipped.
        down = self._pump(u_reader, c_writer, half, not_before=accepted + 2 * self.rtt - half)
        await asyncio.gather(up, down, return_exceptions=True)

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        delay: float,
        *,
        not_before: float,
    ) -> None:
        """Copy reader → writer, each chunk ``delay`` seconds after it arrived, in order."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def read() -> None:
            while True:
                data = await reader.read(_CHUNK)
                queue.put_nowait((max(time.monotonic(), not_before) + delay, data))
                if not data:
                    return

        async def write() -> None:
            while True:
                due, data = await queue.get()
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()

        reading = asyncio.ensure_future(read())
        try:
            await write()
        except (ConnectionError, OSError):
            pass
        finally:
            reading.cancel()
            writer.close()
