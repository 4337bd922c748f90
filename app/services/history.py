"""Readings history: accepted readings are written to the store in batches by one task.

``record`` appends to an in-memory buffer and returns at once unless ``queue_max`` readings
are already waiting, when it waits (backpressure on ingestion rather than dropping). The
buffer is columnar (:class:`_Pending`): a message's device ids joined in one string and its
numbers in one ``array('d')``, ~40 B a waiting reading where a tuple of boxed floats held
~180 B; the tuples the store takes are built 1,000 at a time as they are written. The
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
from array import array
from collections import deque
from collections.abc import Sequence

from app.store import Store
from app.store.readings import ReadingTuple

log = logging.getLogger(__name__)
#: Most readings written in one transaction. Each holds the store's write lock, which alert
#: events wait for: 1,000 rows take ~10 ms on SQLite here, 8,000 took 183 ms (measured with
#: ``ReadingsRepo.add`` on this 2-core box), so a backlog (a gateway flushing its buffer
#: after an outage) is written in chunks with events let in between.
WRITE_CHUNK = 1000


class _Pending:
    """Readings waiting for the writer, in arrival order, held compactly.

    A burst (gateways flushing their buffers after an outage, or ``python -m bench``'s
    memory phase adding 100,000 devices) queues up to ``queue_max`` readings. Held as
    ``ReadingTuple`` rows (a 5-tuple with four boxed floats: ~180 B a reading besides its id)
    they were the service's largest short-lived heap, and the allocator kept the freed room:
    in-process, 1,432 B of resident memory a new device with them, 1,252 B with this buffer
    (``bench/memory.py``'s load, RSS instead of tracemalloc). Here a message's readings are
    one chunk: its device ids joined by a space (a device id never holds one:
    :data:`app.schemas.readings.DEVICE_ID_PATTERN`) and its ts, gas, °C, %RH in one
    ``array('d')`` (32 B a reading).
    """

    def __init__(self) -> None:
        self._chunks: deque[tuple[str, array[float]]] = deque()
        self.n = 0

    def push(self, rows: Sequence[ReadingTuple], *, first: bool = False) -> None:
        """Append ``rows`` (device, ts, gas ppm, °C, %RH) as one chunk (``first``: put
        them first in line instead).

        Raises:
            ValueError: a device id holds a space (never one that passed validation).
        """
        if not rows:
            return
        ids = " ".join(r[0] for r in rows)
        if ids.count(" ") != len(rows) - 1:
            raise ValueError("device_id: a space in a device id (DEVICE_ID_PATTERN)")
        vals: array[float] = array("d")
        for _, ts, g, t, h in rows:
            vals.extend((ts, g, t, h))
        if first:
            self._chunks.appendleft((ids, vals))
        else:
            self._chunks.append((ids, vals))
        self.n += len(rows)

    def pop(self, k: int) -> list[ReadingTuple]:
        """Remove and return the oldest ``k`` readings (fewer if fewer wait), as tuples."""
        out: list[ReadingTuple] = []
        while self._chunks and len(out) < k:
            ids, vals = self._chunks.popleft()
            names = ids.split(" ")
            take = min(len(names), k - len(out))
            if take < len(names):  # the rest of the chunk stays first in line
                self._chunks.appendleft((" ".join(names[take:]), vals[4 * take :]))
            v = vals.tolist()
            out.extend(
                (names[i], v[4 * i], v[4 * i + 1], v[4 * i + 2], v[4 * i + 3]) for i in range(take)
            )
        self.n -= len(out)
        return out


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
        self._buf = _Pending()
        self._ready = asyncio.Event()
        self._space = asyncio.Event()
        self._flushing = asyncio.Lock()  # flush() returns only once earlier writes landed
        self._tasks: list[asyncio.Task[None]] = []
        self.written = 0
        self.pruned = 0

    @property
    def pending(self) -> int:
        """Readings waiting to be written."""
        return self._buf.n

    async def record(self, rows: list[ReadingTuple]) -> None:
        """Buffer readings for the writer; waits while ``queue_max`` are pending."""
        while self._buf.n >= self.queue_max:
            self._space.clear()
            await self._space.wait()
        self._buf.push(rows)
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
        while self._buf.n:
            batch = self._buf.pop(WRITE_CHUNK)
            try:
                await self.store.readings.add(batch)
                self.written += len(batch)
            except Exception:
                self._buf.push(batch, first=True)  # first in line again
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
