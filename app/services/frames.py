"""The frame pipeline of one ``/ws/readings`` connection: the socket is always read, frames
are handled one at a time in order, replies go out in frame order.

Why: uvicorn stops reading a WebSocket while its handler is busy, and the client's answer
to a keepalive ping is read only with the frames before it. A handler that waited for room
in the scoring queue, or scored inline, for longer than the ping timeout (20 s) lost the
connection (``1011 keepalive ping timeout``) under overload. Here a reader task keeps
reading; up to ``max_frames`` frames (``max_bytes`` in all) wait for the handler, and a
frame beyond that is answered at once with ``shed()`` (an ``overloaded`` reply: nothing of
it accepted), still in its place among the replies. A client that sends without reading
its replies is no longer read once ``max_replies`` replies wait for it.

Once a frame is refused (shed, or ``handle`` returned a :class:`Refusal`), every later frame
that arrived before that refusal's ``retry_after_s`` passed is refused too (``again()``),
whether it waits already or comes later. Without it a client that sent 200 frames at once
had frames 65-117 shed, frame 118 accepted (the handler had made room) and 119-199 shed:
sent again as told, 65-117 stood behind 118's readings and were refused as out of order,
72 of 600 readings lost for good (README newcomer of 9 Dec). A client that sends the refused
frames again in order, after ``retry_after_s``, has them all stored in order.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

Raw = str | bytes


@dataclass(frozen=True)
class Refusal:
    """A reply that refuses its frame: ``text`` (sent to the client) and ``retry_after_s``,
    how long later frames of the connection are refused too (module doc)."""

    text: str
    retry_after_s: float


class FramePipeline:
    """Reader, handler and writer of one connection.

    Args:
        receive: the next frame, None when the client has gone.
        send: send one reply text.
        handle: the reply to one frame (awaited in frame order, one at a time); a
            :class:`Refusal` when it refused the frame.
        shed: the reply to a frame refused because too many wait.
        again: the reply to a frame refused because an earlier one was (module doc), given
            the seconds until such frames are taken again.
        clock: monotonic seconds (tests may pass their own).
        max_frames: frames waiting for ``handle`` before new ones are shed.
        max_bytes: their total size, bytes, before new ones are shed.
        max_replies: replies waiting to be sent before the reader pauses.
    """

    def __init__(
        self,
        *,
        receive: Callable[[], Awaitable[Raw | None]],
        send: Callable[[str], Awaitable[None]],
        handle: Callable[[Raw], Awaitable[str | Refusal]],
        shed: Callable[[], Refusal],
        again: Callable[[float], Refusal] | None = None,
        max_frames: int = 64,
        max_bytes: int = 32 * 2**20,
        max_replies: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._receive, self._send, self._handle, self._shed = receive, send, handle, shed
        self._again = again or (lambda _: shed())
        self._clock = clock
        self.max_frames, self.max_bytes = max_frames, max_bytes
        # frames waiting: (raw, its reply, its number, its arrival time)
        self._work: asyncio.Queue[tuple[Raw, asyncio.Future[str], int, float] | None] = (
            asyncio.Queue()
        )
        self._replies: asyncio.Queue[asyncio.Future[str]] = asyncio.Queue(max_replies)
        self._queued_bytes = 0
        # the latest refusal: its frame's number, and until when later frames are refused
        self._refused_seq, self._refused_until = -1, -math.inf

    async def run(self) -> None:
        """Until the client goes: the frame being handled is finished (its readings are
        queued for scoring), frames not yet started are dropped unanswered.

        Raises:
            Exception: whatever ``handle`` raised (the connection then ends).
        """
        reader = asyncio.create_task(self._read_all())
        handler = asyncio.create_task(self._handle_all())
        writer = asyncio.create_task(self._write_all())
        try:
            await asyncio.wait({reader, handler, writer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            while not self._work.empty():  # not started: the client cannot be answered
                self._work.get_nowait()
            self._work.put_nowait(None)
            await asyncio.gather(handler, return_exceptions=True)  # never half-ingested
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
        if handler.done() and not handler.cancelled() and handler.exception() is not None:
            raise handler.exception()  # type: ignore[misc]

    def _refused(self, seq: int, r: str | Refusal) -> str:
        """The text of reply ``r`` to frame ``seq``; a refusal (not :meth:`_out_of_turn`'s
        own, which would keep a client that never pauses refused for good) refuses the
        frames after it."""
        if not isinstance(r, Refusal):
            return r
        now = self._clock()
        if now < self._refused_until:  # within a wait: the earliest refused frame counts
            self._refused_seq = min(self._refused_seq, seq)
        else:
            self._refused_seq = seq
        self._refused_until = max(self._refused_until, now + r.retry_after_s)
        return r.text

    def _out_of_turn(self, seq: int, arrived: float) -> bool:
        """Frame ``seq``, arrived at ``arrived``, came after a refused frame and before that
        refusal's ``retry_after_s`` passed."""
        return seq > self._refused_seq and arrived < self._refused_until

    async def _read_all(self) -> None:
        loop = asyncio.get_running_loop()
        seq = 0
        while (raw := await self._receive()) is not None:
            seq += 1
            arrived = self._clock()
            reply: asyncio.Future[str] = loop.create_future()
            await self._replies.put(reply)  # waits only while the client reads no replies
            if self._out_of_turn(seq, arrived):
                reply.set_result(self._again(self._refused_until - arrived).text)
                continue
            size = len(raw)
            full = self._work.qsize() >= self.max_frames
            if full or (self._queued_bytes + size > self.max_bytes and self._work.qsize()):
                reply.set_result(self._refused(seq, self._shed()))
                continue
            self._queued_bytes += size
            self._work.put_nowait((raw, reply, seq, arrived))

    async def _handle_all(self) -> None:
        while (item := await self._work.get()) is not None:
            raw, reply, seq, arrived = item
            self._queued_bytes -= len(raw)
            if self._out_of_turn(seq, arrived):
                reply.set_result(self._again(self._refused_until - self._clock()).text)
                continue
            reply.set_result(self._refused(seq, await self._handle(raw)))

    async def _write_all(self) -> None:
        while True:
            reply = await self._replies.get()
            await self._send(await reply)
