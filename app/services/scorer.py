"""Batching scorer: windows ready at the same moment, from any devices, share one inference.

Windows wait in a bounded asyncio queue; one worker task takes what is there (up to
``max_batch``, waiting at most ``max_delay_s`` for more), stacks it into one (B, window, 3)
array and runs the model in a one-thread executor, so inference never blocks the event
loop. Results are handed on in arrival order. A full queue makes ingestion wait
(backpressure) instead of dropping windows.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor

import numpy as np

from app.ml.predictor import Predictor
from app.services.buffers import Window

log = logging.getLogger(__name__)

ResultSink = Callable[[Sequence[Window], np.ndarray], Awaitable[None]]


def score_windows(predictor: Predictor, windows: Sequence[Window]) -> np.ndarray:
    """Score windows in one model call.

    Args:
        predictor: the loaded model.
        windows: N snapshots, each ``values`` (window, 3) float32.

    Returns:
        shape (N,), float64 leak probabilities in [0, 1].
    """
    x = np.stack([w.values for w in windows])
    b = np.fromiter((w.baseline for w in windows), dtype=np.float32, count=len(windows))
    return np.asarray(predictor.predict_proba(x, b), dtype=np.float64)


class BatchScorer:
    """Collects windows into batches and scores them off the event loop.

    Args:
        predictor: the model; only ever called from ``executor``.
        executor: a bounded executor (one worker thread) owned by the lifespan.
        sink: awaited on the event loop with each batch and its probabilities, before the
            next batch is handed on (so events keep their order).
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
        self.predictor = predictor
        self._executor = executor
        self._sink = sink
        self.max_batch = max_batch
        self.max_delay_s = max_delay_s
        self._queue: asyncio.Queue[Window] = asyncio.Queue(queue_max)
        self._task: asyncio.Task[None] | None = None
        self.windows_scored = 0
        self.batches = 0
        self.errors = 0
        self.last_batch_ms = 0.0

    @property
    def pending(self) -> int:
        """Windows waiting to be scored."""
        return self._queue.qsize()

    def start(self) -> None:
        """Start the worker task on the running loop."""
        self._task = asyncio.create_task(self._run(), name="batch-scorer")

    async def stop(self) -> None:
        """Score what is queued, then stop the worker."""
        await self._queue.join()
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def submit(self, windows: Sequence[Window]) -> None:
        """Queue windows for scoring, waiting while the queue is full."""
        for w in windows:
            if self._queue.full():
                await self._queue.put(w)
            else:
                self._queue.put_nowait(w)

    async def drain(self) -> None:
        """Wait until every queued window has been scored and handed on."""
        await self._queue.join()

    def _take(self, batch: list[Window]) -> None:
        while len(batch) < self.max_batch and not self._queue.empty():
            batch.append(self._queue.get_nowait())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            self._take(batch)
            if len(batch) < self.max_batch and self.max_delay_s > 0:
                await asyncio.sleep(self.max_delay_s)
                self._take(batch)
            t0 = time.perf_counter()
            try:
                probs = await loop.run_in_executor(
                    self._executor, score_windows, self.predictor, batch
                )
            except Exception:
                self.errors += len(batch)
                log.exception("scoring failed for %d windows", len(batch))
                probs = None
            self.last_batch_ms = (time.perf_counter() - t0) * 1000
            try:
                if probs is not None:
                    await self._sink(batch, probs)  # events durable and pushed first
                    self.windows_scored += len(batch)
                    self.batches += 1
            except Exception:
                log.exception("alert sink failed")
            finally:
                for _ in batch:
                    self._queue.task_done()
