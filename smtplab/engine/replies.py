"""The conversation's side of one connection: bytes from a stream go into the reply parser.

The parser is the conversation's own (:class:`~smtplab.protocol.ReplyParser`), not the wire's:
a stream only moves bytes, so a live socket, a recording and an in-memory server all go through
the very same framing. Each line is written to the transcript as the parser takes it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Final

from smtplab.engine.result import ProbeState
from smtplab.engine.wire import Stream, WireClosed, WireTimeout
from smtplab.protocol import ProtocolError, Reply, ReplyParser

__all__ = ["MAX_QUEUED_REPLIES", "READ_SIZE", "Replies"]

#: Replies received and not yet read: an honest server sends one reply per command (a few with
#: PIPELINING); more than this unasked-for is a flood, and we stop reading.
MAX_QUEUED_REPLIES: Final = 32

#: Bytes asked of the stream at a time (a socket read's usual size).
READ_SIZE: Final = 65536


class Replies:
    """Replies as they come over ``stream``, framed by a parser of our own, bounded."""

    def __init__(self, st: ProbeState, stream: Stream) -> None:
        self.st = st
        self.stream = stream
        self.replies: deque[Reply] = deque()
        self.error: ProtocolError | None = None
        self.received = 0
        self._asked = False
        self.parser = self._new_parser()

    def _new_parser(self) -> ReplyParser:
        return ReplyParser(on_line=self._line)

    def restart(self, stream: Stream) -> None:
        """Over a new (TLS) stream: forget every byte and reply read so far, since nothing read
        before TLS may be trusted after it (RFC 3207 §5)."""
        self.stream = stream
        self.parser = self._new_parser()
        self.replies.clear()

    def _line(self, text: str) -> None:
        self.st.server(text)
        m = text[:3]
        if m.isdigit() and (len(text) == 3 or text[3] != "-"):
            self.st.redactor.server(int(m))

    def feed(self, data: bytes) -> None:
        self.received += len(data)
        self.st.bytes_in_phase += len(data)
        if self.error is not None:
            return
        self.parser.feed(data)
        try:
            while (reply := self.parser.next_reply()) is not None:
                self.replies.append(reply)
                if len(self.replies) > MAX_QUEUED_REPLIES:
                    raise ProtocolError(
                        f"server sent more than {MAX_QUEUED_REPLIES} replies nobody asked for"
                    )
        except ProtocolError as exc:
            self.error = exc

    async def read_reply(self, timeout: float) -> Reply:
        """The next reply; raises :class:`WireTimeout`, :class:`WireClosed` or
        :class:`ProtocolError`."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            if self.replies:
                return self.replies.popleft()
            if self.error is not None:
                await self._peers_account()
                raise self.error
            remaining = end - loop.time()
            if remaining <= 0:
                raise WireTimeout()
            self.feed(await self.stream.read(READ_SIZE, remaining))

    async def _peers_account(self) -> None:
        """Once the parser has found the peer out of protocol, ask the stream once more without
        waiting: a live one has nothing to say about it, but a recording knows the very words
        the live parser used (a transcript keeps a line readable, not its exact bytes, so a
        replayed line may break SMTP in other words), and those are the error."""
        if self._asked:
            return
        self._asked = True
        try:
            await self.stream.read(READ_SIZE, 0)
        except ProtocolError as exc:
            self.error = exc
        except (WireTimeout, WireClosed):
            pass

    async def drain(self) -> None:
        """Take in whatever has already arrived, without waiting (before a command, so that a
        reply nobody asked for is seen; after STARTTLS's 220, so that an injection is)."""
        try:
            while self.error is None:
                self.feed(await self.stream.read(READ_SIZE, 0))
        except (WireTimeout, WireClosed):
            pass
        except ProtocolError as exc:
            self.error = exc

    def pending(self) -> int:
        """Whole replies received and not asked for yet."""
        return len(self.replies)

    def leftover(self) -> int:
        """Replies or bytes received and not asked for (a STARTTLS injection shows here)."""
        return len(self.replies) + self.parser.buffered

    def reply_started(self) -> bool:
        """True if what was received so far is the beginning of an SMTP reply."""
        return self.parser.started_reply()
