"""Scorers: windows from any devices share one inference call (micro-batching).

:class:`BatchScorer` keeps ready windows, as :class:`WindowBatch` chunks, in a queue bounded
by a window count. One worker task takes what is there (up to ``max_batch`` windows,
waiting at most ``max_delay_s`` for more when the batch is not full), runs the model once
in a one-thread executor, so inference never blocks the event loop, and hands results on in
arrival order to a second task that awaits the sink (policy, then the store's commit). While
one batch is scored the next one gathers, and while a batch's events are committed the next
batch is scored, so batches grow with load and an alert waits for one model call ahead of
its own rather than for the previous batch's commit too. A full queue makes ingestion wait
(backpressure) instead of dropping windows.

:class:`InlineScorer` is the naive design kept for comparison (``scoring_mode="inline"``):
each window is scored by its own inference call while its request waits.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor
from typing import NamedTuple, Protocol

import numpy as np

from app.ml.predictor import Predictor, leak_scores
from app.services.windows import Window, WindowBatch

log = logging.getLogger(__name__)


class Scores(NamedTuple):
    """Scores of N windows: ``probability`` (N,) float64, the model's leak probability where
    the evidence gate is open and 0 elsewhere; ``evidence`` (N,) bool, the gate (the gas
    stands clearly above the device's level, :func:`app.ml.features.evidence`)."""

    probability: np.ndarray
    evidence: np.ndarray


ResultSink = Callable[[WindowBatch | Sequence[Window], Scores], Awaitable[None]]


class Scorer(Protocol):
    """What ingestion and the status endpoints need of a scorer (batched or inline)."""

    windows_scored: int
    batches: int
    errors: int
    last_batch_ms: float

    @property
    def pending(self) -> int: ...

    @property
    def windows_submitted(self) -> int: ...

    def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def drain(self) -> None: ...

    async def submit(self, windows: WindowBatch | Sequence[Window]) -> None: ...

    @property
    def submitted_total(self) -> int: ...

    async def wait_sunk(self, ticket: int) -> None: ...


def score_windows(predictor: Predictor, windows: WindowBatch | Sequence[Window]) -> Scores:
    """Score windows in one model call (runs in the inference thread).

    Args:
        predictor: the loaded model.
        windows: N windows, each (window, 3) float32 readings plus the device's signal
            (level, noise scale).

    Returns:
        :class:`Scores` of the N windows.
    """
    if not isinstance(windows, WindowBatch):
        windows = WindowBatch.of(windows)
    p, gate = leak_scores(predictor, windows.values, windows.signal)
    return Scores(p, gate)


class _Counters:
    """What ``/api/status`` and ``/metrics`` read from either scorer."""

    def __init__(self) -> None:
        self.windows_scored = 0
        self.batches = 0
        self.errors = 0
        self.last_batch_ms = 0.0
        self._submitted = 0  # windows ever submitted
        self._sunk = 0  # windows ever handed to the sink (or failed), in submission order

    @property
    def windows_submitted(self) -> int:
        """Windows accepted for scoring so far: each ends scored or counted in ``errors``."""
        return self._submitted

    @property
    def submitted_total(self) -> int:
        """Windows submitted so far: a ticket for :meth:`wait_sunk`."""
        return self._submitted

    @property
    def sunk_total(self) -> int:
        """Windows handed to the sink (or failed) so far, in submission order: during a
        sink call, the index of the batch's first window."""
        return self._sunk


class BatchScorer(_Counters):
    """Collects windows into batches and scores them off the event loop.

    Args:
        predictor: the model; only ever called from ``executor``.
        executor: a bounded executor (one worker thread) owned by the lifespan.
        sink: awaited on the event loop with each batch and its probabilities, by one task,
            before the next batch is handed on (so events keep their order); the next
            batch is scored meanwhile.
        max_batch: most windows per inference call.
        max_delay_s: longest the first window of a batch waits for more.
        queue_max: windows queued before :meth:`submit` waits.
    """

    def __init__(
        self,
        predictor: Predictor,
        *,
        executor: Executor,
        sink: ResultSink,
        max_batch: int,
        max_delay_s: float,
        queue_max: int,
    ) -> None:
        super().__init__()
        self.predictor = predictor
        self._executor = executor
        self._sink = sink
        self.max_batch = max_batch
        self.max_delay_s = max_delay_s
        self.queue_max = queue_max
        self._chunks: collections.deque[WindowBatch] = collections.deque()
        self._queued = 0  # windows in _chunks
        self._in_flight = 0  # windows taken but not yet handed to the sink
        self._changed = asyncio.Condition()
        # scored batches for the sink task, in order; one waits while the sink works, so
        # scoring runs at most one batch ahead of the commits (a slow store still backs up
        # scoring, then ingestion)
        self._scored: asyncio.Queue[tuple[WindowBatch, Scores | None]] = asyncio.Queue(1)
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def pending(self) -> int:
        """Windows waiting to be scored or being scored."""
        return self._queued + self._in_flight

    def start(self) -> None:
        """Start the worker and sink tasks on the running loop."""
        self._tasks = [
            asyncio.create_task(self._run(), name="batch-scorer"),
            asyncio.create_task(self._sink_all(), name="batch-sink"),
        ]

    def stopped(self) -> str | None:
        """Why scoring has stopped ("scorer not started", or which task ended and how);
        None while both tasks run (``/readyz``)."""
        if not self._tasks:
            return "scorer not started"
        for task in self._tasks:
            if task.done():
                why = "cancelled" if task.cancelled() else repr(task.exception())
                return f"scorer task {task.get_name()} ended: {why}"
        return None

    async def stop(self) -> None:
        """Score what is queued and hand it on, then stop the tasks."""
        await self.drain()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def submit(self, windows: WindowBatch | Sequence[Window]) -> None:
        """Queue windows for scoring, waiting while ``queue_max`` windows are queued.

        A chunk larger than ``queue_max`` is taken whole once the queue is empty.
        """
        if not len(windows):
            return
        batch = windows if isinstance(windows, WindowBatch) else WindowBatch.of(windows)
        n = len(batch)
        async with self._changed:
            await self._changed.wait_for(
                lambda: self._queued == 0 or self._queued + n <= self.queue_max
            )
            self._chunks.append(batch)
            self._queued += n
            self._submitted += n
            self._changed.notify_all()

    async def drain(self) -> None:
        """Wait until every queued window has been scored and handed on."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.pending == 0)

    async def wait_sunk(self, ticket: int) -> None:
        """Wait until the first ``ticket`` windows ever submitted have been handed to the
        sink (their events stored) or failed. Windows are handed on in submission order, so
        ``ticket = submitted_total`` right after a :meth:`submit` covers that submit's
        windows, whatever is submitted later (cluster mode acks its readings after this)."""
        async with self._changed:
            await self._changed.wait_for(lambda: self._sunk >= ticket)

    def _take(self, room: int) -> list[WindowBatch]:
        parts: list[WindowBatch] = []
        while room > 0 and self._chunks:
            chunk = self._chunks.popleft()
            if len(chunk) > room:
                self._chunks.appendleft(chunk[room:])
                chunk = chunk[:room]
            parts.append(chunk)
            room -= len(chunk)
            self._queued -= len(chunk)
            self._in_flight += len(chunk)
        return parts

    async def _run(self) -> None:
        while True:
            async with self._changed:
                await self._changed.wait_for(lambda: self._queued > 0)
                parts = self._take(self.max_batch)
                self._changed.notify_all()
            taken = sum(len(p) for p in parts)
            if taken < self.max_batch and self.max_delay_s > 0:
                await asyncio.sleep(self.max_delay_s)
                async with self._changed:
                    parts += self._take(self.max_batch - taken)
                    self._changed.notify_all()
            batch = WindowBatch.concat(parts)
            await self._scored.put((batch, await self._score(batch)))

    async def _score(self, batch: WindowBatch) -> Scores | None:
        """The batch's scores from the inference thread; None if the model call failed."""
        loop = asyncio.get_running_loop()
        t0 = time.perf_counter()
        try:
            probs = await loop.run_in_executor(self._executor, score_windows, self.predictor, batch)
        except Exception:
            self.errors += len(batch)
            log.exception("scoring failed for %d windows", len(batch))
            probs = None
        self.last_batch_ms = (time.perf_counter() - t0) * 1000
        return probs

    async def _sink_all(self) -> None:
        while True:
            batch, probs = await self._scored.get()
            await self._hand_on(batch, probs)

    async def _hand_on(self, batch: WindowBatch, probs: Scores | None) -> None:
        """Await the sink with a scored batch (batches in the order they were taken)."""
        try:
            if probs is not None:
                await self._sink(batch, probs)  # events durable and pushed first
                self.windows_scored += len(batch)
                self.batches += 1
        except Exception:
            log.exception("alert sink failed")
        finally:
            async with self._changed:
                self._in_flight -= len(batch)
                self._sunk += len(batch)
                self._changed.notify_all()


class InlineScorer(_Counters):
    """The naive design, for comparison: one inference call per window, awaited by the
    request that made the window due. Same interface and counters as :class:`BatchScorer`.
    """

    def __init__(self, predictor: Predictor, *, executor: Executor, sink: ResultSink) -> None:
        super().__init__()
        self.predictor = predictor
        self._executor = executor
        self._sink = sink
        self.pending = 0

    def start(self) -> None:
        """Nothing runs in the background."""

    async def stop(self) -> None:
        """Nothing is queued."""

    async def drain(self) -> None:
        """Nothing is queued."""

    async def wait_sunk(self, ticket: int) -> None:
        """Nothing to wait for: :meth:`submit` returns after the sink."""

    async def submit(self, windows: WindowBatch | Sequence[Window]) -> None:
        """Score each window now, one model call each, and hand it on."""
        loop = asyncio.get_running_loop()
        for w in windows:
            self._submitted += 1
            one = [w]
            self.pending += 1
            t0 = time.perf_counter()
            try:
                probs = await loop.run_in_executor(
                    self._executor, score_windows, self.predictor, one
                )
            except Exception:
                self.errors += 1
                self._sunk += 1
                log.exception("scoring failed for %s", w.device_id)
                continue
            finally:
                self.pending -= 1
            self.last_batch_ms = (time.perf_counter() - t0) * 1000
            try:
                await self._sink(one, probs)
            except Exception:
                log.exception("alert sink failed")
            self._sunk += 1
            self.windows_scored += 1
            self.batches += 1
