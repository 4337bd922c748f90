"""Readings history: accepted readings are written to the store in batches by one task.

``record`` appends to an in-memory buffer and returns at once unless ``queue_max`` readings
are already waiting, when it waits (backpressure on ingestion rather than dropping). The
writer flushes whatever is buffered, at most every ``interval_s`` (100 ms), in transactions
of at most :data:`WRITE_CHUNK` readings, so a steady stream costs one commit per interval and
a burst of 10,000 readings ten short ones, between which alert events take the store's write
lock. Readers of the history call :meth:`ReadingsRecorder.flush` first, so they see every
accepted reading.
Readings older than the retention time are pruned periodically. A ``kill -9`` loses at most
the readings buffered but not yet written (up to ``interval_s`` worth); alert events and
policy state do not go through this path.
"""

from __future__ import annotations

import asyncio
import logging
import time

from app.store import Store
from app.store.readings import ReadingTuple

log = logging.getLogger(__name__)
#: Most readings written in one transaction. Each holds the store's write lock, which alert
#: events wait for: 1,000 rows take ~10 ms on SQLite here, 8,000 took 183 ms (measured with
#: ``ReadingsRepo.add`` on this 2-core box), so a backlog (a gateway flushing its buffer
#: after an outage) is written in chunks with events let in between.
WRITE_CHUNK = 1000


class ReadingsRecorder:
    """Buffers accepted readings and writes them in batches; prunes old ones.

    Args:
        store: the store.
        queue_max: readings buffered before :meth:`record` waits.
        retention_s: readings older than this (reading time), seconds, are deleted.
        interval_s: shortest time between two writes, s (readings gather meanwhile).
    """

    def __init__(
        self, store: Store, *, queue_max: int, retention_s: float, interval_s: float = 0.1
    ) -> None:
        self.store = store
        self.interval_s = interval_s
        self.queue_max = queue_max
        self.retention_s = retention_s
        self._buf: list[ReadingTuple] = []
        self._ready = asyncio.Event()
        self._space = asyncio.Event()
        self._flushing = asyncio.Lock()  # flush() returns only once earlier writes landed
        self._tasks: list[asyncio.Task[None]] = []
        self.written = 0
        self.pruned = 0

    @property
    def pending(self) -> int:
        """Readings waiting to be written."""
        return len(self._buf)

    async def record(self, rows: list[ReadingTuple]) -> None:
        """Buffer readings for the writer; waits while ``queue_max`` are pending."""
        while len(self._buf) >= self.queue_max:
            self._space.clear()
            await self._space.wait()
        self._buf.extend(rows)
        self._ready.set()

    def start(self) -> None:
        """Start the writer and the pruner."""
        self._tasks = [
            asyncio.create_task(self._write_forever(), name="readings-writer"),
            asyncio.create_task(self._prune_forever(), name="readings-pruner"),
        ]

    async def stop(self) -> None:
        """Flush what is buffered, then stop."""
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.flush()

    async def flush(self) -> None:
        """Write everything buffered now (retrying until the store takes it); also waits for
        a write already in flight."""
        async with self._flushing:
            await self._flush()

    async def _flush(self) -> None:
        delay = 0.05
        while self._buf:
            batch, self._buf = self._buf[:WRITE_CHUNK], self._buf[WRITE_CHUNK:]
            try:
                await self.store.readings.add(batch)
                self.written += len(batch)
            except Exception:
                self._buf = batch + self._buf
                log.exception("readings write failed; retrying in %.2f s", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            self._space.set()

    async def prune(self) -> int:
        """Delete readings older than the retention time; returns how many."""
        n = await self.store.readings.prune(time.time() - self.retention_s)
        self.pruned += n
        return n

    async def _write_forever(self) -> None:
        while True:
            await self._ready.wait()
            self._ready.clear()
            await self.flush()
            await asyncio.sleep(self.interval_s)

    async def _prune_forever(self) -> None:
        period = min(3600.0, self.retention_s / 10)
        while True:
            try:
                n = await self.prune()
                if n:
                    log.info("pruned %d readings older than %.0f s", n, self.retention_s)
            except Exception:
                log.exception("readings prune failed")
            await asyncio.sleep(period)
