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
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

Raw = str | bytes


class FramePipeline:
    """Reader, handler and writer of one connection.

    Args:
        receive: the next frame, None when the client has gone.
        send: send one reply text.
        handle: the reply to one frame (awaited in frame order, one at a time).
        shed: the reply to a frame refused because too many wait.
        max_frames: frames waiting for ``handle`` before new ones are shed.
        max_bytes: their total size, bytes, before new ones are shed.
        max_replies: replies waiting to be sent before the reader pauses.
    """

    def __init__(
        self,
        *,
        receive: Callable[[], Awaitable[Raw | None]],
        send: Callable[[str], Awaitable[None]],
        handle: Callable[[Raw], Awaitable[str]],
        shed: Callable[[], str],
        max_frames: int = 64,
        max_bytes: int = 32 * 2**20,
        max_replies: int = 1024,
    ) -> None:
        self._receive, self._send, self._handle, self._shed = receive, send, handle, shed
        self.max_frames, self.max_bytes = max_frames, max_bytes
        self._work: asyncio.Queue[tuple[Raw, asyncio.Future[str]] | None] = asyncio.Queue()
        self._replies: asyncio.Queue[asyncio.Future[str]] = asyncio.Queue(max_replies)
        self._queued_bytes = 0

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

    async def _read_all(self) -> None:
        loop = asyncio.get_running_loop()
        while (raw := await self._receive()) is not None:
            reply: asyncio.Future[str] = loop.create_future()
            await self._replies.put(reply)  # waits only while the client reads no replies
            size = len(raw)
            full = self._work.qsize() >= self.max_frames
            if full or (self._queued_bytes + size > self.max_bytes and self._work.qsize()):
                reply.set_result(self._shed())
                continue
            self._queued_bytes += size
            self._work.put_nowait((raw, reply))

    async def _handle_all(self) -> None:
        while (item := await self._work.get()) is not None:
            raw, reply = item
            self._queued_bytes -= len(raw)
            reply.set_result(await self._handle(raw))

    async def _write_all(self) -> None:
        while True:
            reply = await self._replies.get()
            await self._send(await reply)
