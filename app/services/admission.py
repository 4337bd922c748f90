"""Admission control for ingestion: beyond capacity the service sheds messages, cheaply and
with a reason, instead of queueing without bound.

A message (HTTP body or WebSocket frame) is checked *before* it is decoded:

- ``rate_limited``: its client went over ``ingest_rate_limit`` (:mod:`app.services.ratelimit`);
- ``scoring_queue_full``: ``score_queue_max`` windows already wait for the model;
- ``history_queue_full``: ``readings_queue_max`` readings already wait for the store;
- ``event_loop_behind``: the event loop ran more than ``overload_loop_lag_s`` late at each of
  its last 3 checks (it cannot keep up with decoding and storing; one late wake-up, such as
  the process being descheduled once, is not enough);
- ``connection_backlog``: 64 frames of one WebSocket already wait to be handled
  (:mod:`app.services.frames`);
- ``after_refusal``: a frame of one WebSocket sent after one of its frames was refused and
  before that refusal's ``retry_after_s`` passed (:mod:`app.services.frames`: readings
  stay in time order when the refused frame is sent again).

A message first waits up to ``overload_wait_s`` for the condition to clear (backpressure:
the sender's reply is simply later; at most 64 messages wait at once), and only then is
refused: :class:`app.errors.Overloaded`: HTTP 429 with ``Retry-After``, or an
``{"error": "overloaded", ...}`` frame on ``/ws/readings`` (the connection stays open).
Nothing of it was accepted. Shedding costs reading the bytes only, so the server keeps up
with every socket (keepalive pings are answered) however fast producers send. A message
that is admitted may still wait for room in the scoring queue (backpressure: the reply, and
a well-behaved producer's next message, come only once its readings are queued).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from typing import Protocol

from app.errors import Overloaded
from app.services.ratelimit import RateLimiter

TICK_S = 0.1  # event-loop lag probe period
LAG_PROBES = 3  # the loop is behind when each of the last 3 probes ran late
MAX_WAITERS = 64  # messages that may wait for room at once; more are shed at once


class _Pending(Protocol):
    @property
    def pending(self) -> int: ...


class _Scorer(_Pending, Protocol):
    windows_scored: int


class Admission:
    """Decides whether ingestion takes a message now; counts what it sheds.

    Args:
        scorer: its ``pending`` windows and ``windows_scored`` (for the retry estimate).
        recorder: the readings-history writer (``pending`` readings), or None.
        score_queue_max: windows pending at which messages are shed.
        readings_queue_max: history readings pending at which messages are shed.
        lag_max_s: event-loop lag, s, above which messages are shed.
        limiter: the per-key rate limit, or None for none.
        wait_max_s: how long a message may wait for the overload to clear before it is
            shed (backpressure first), s; 0 = shed at once.
    """

    def __init__(
        self,
        *,
        scorer: _Scorer,
        recorder: _Pending | None,
        score_queue_max: int,
        readings_queue_max: int,
        lag_max_s: float,
        limiter: RateLimiter | None,
        wait_max_s: float = 0.0,
    ) -> None:
        self.scorer = scorer
        self.recorder = recorder
        self.score_queue_max = score_queue_max
        self.readings_queue_max = readings_queue_max
        self.lag_max_s = lag_max_s
        self.limiter = limiter
        self.wait_max_s = wait_max_s
        self.waiting = 0  # messages waiting for room now
        self.lag_s = 0.0
        self._lags: collections.deque[float] = collections.deque([0.0] * LAG_PROBES, LAG_PROBES)
        self.scored_per_s = 0.0
        #: (transport, reason) -> messages shed
        self.shed: collections.Counter[tuple[str, str]] = collections.Counter()
        self.last_shed_at = 0.0
        self._task: asyncio.Task[None] | None = None

    @property
    def shed_total(self) -> int:
        """Messages shed since start, every reason."""
        return sum(self.shed.values())

    def reason_now(self) -> str | None:
        """Why a message would be shed now (rate limits aside), or None."""
        if self.scorer.pending >= self.score_queue_max:
            return "scoring_queue_full"
        if self.recorder is not None and self.recorder.pending >= self.readings_queue_max:
            return "history_queue_full"
        if min(self._lags) > self.lag_max_s:  # sustained, not one descheduling hiccup
            return "event_loop_behind"
        return None

    def shedding(self, within_s: float = 5.0) -> bool:
        """Whether a message was shed in the last ``within_s`` seconds."""
        return time.monotonic() - self.last_shed_at < within_s

    async def admit(self, key: str, transport: str) -> None:
        """Take one message from ``key`` or refuse it.

        Raises:
            Overloaded: the reason (field "(body)") and the seconds to wait.
        """
        reason = self.reason_now()
        if reason is not None:
            reason = await self._wait_for_room(reason)
        if reason is not None:
            raise self.refuse(transport, reason)
        if self.limiter is not None:
            wait = await self.limiter.hit(key)
            if wait is not None:
                self._count(transport, "rate_limited")
                raise Overloaded(
                    [{"field": "(body)", "reason": _TEXT["rate_limited"], "type": "rate_limited"}],
                    retry_after_s=round(max(wait, 0.1), 3),
                )

    async def _wait_for_room(self, reason: str) -> str | None:
        """Backpressure first: wait up to ``wait_max_s`` for the reason to clear (polled every
        50 ms), unless ``MAX_WAITERS`` messages already wait. The reason still in force after
        that, or None."""
        if self.waiting >= MAX_WAITERS or self.wait_max_s <= 0:
            return reason
        self.waiting += 1
        try:
            deadline = time.monotonic() + self.wait_max_s
            while (now_reason := self.reason_now()) is not None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            return now_reason
        finally:
            self.waiting -= 1

    def refuse(self, transport: str, reason: str) -> Overloaded:
        """Count one message shed for ``reason``; the error that tells its sender."""
        self._count(transport, reason)
        return Overloaded(
            [{"field": "(body)", "reason": _TEXT[reason], "type": reason}],
            retry_after_s=self._retry_after(reason),
        )

    def _count(self, transport: str, reason: str) -> None:
        self.shed[(transport, reason)] += 1
        self.last_shed_at = time.monotonic()

    def _retry_after(self, reason: str) -> float:
        """Seconds until the queue has drained halfway at the recent scoring rate, 0.5-10 s."""
        if reason == "scoring_queue_full" and self.scored_per_s > 0:
            return round(min(10.0, max(0.5, self.scorer.pending / 2 / self.scored_per_s)), 3)
        return 1.0

    def start(self) -> None:
        """Start the event-loop lag probe on the running loop."""
        self._task = asyncio.create_task(self._probe(), name="admission-probe")

    async def stop(self) -> None:
        """Stop the probe and the rate limiter's storage."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.limiter is not None:
            await self.limiter.close()

    async def _probe(self) -> None:
        loop = asyncio.get_running_loop()
        scored = self.scorer.windows_scored
        while True:
            t0 = loop.time()
            await asyncio.sleep(TICK_S)
            elapsed = loop.time() - t0
            self.lag_s = max(0.0, elapsed - TICK_S)
            self._lags.append(self.lag_s)
            now_scored = self.scorer.windows_scored
            rate = (now_scored - scored) / elapsed
            self.scored_per_s = 0.8 * self.scored_per_s + 0.2 * rate  # ~0.5 s memory
            scored = now_scored


_TEXT = {
    "scoring_queue_full": "overloaded: the scoring queue is full; nothing of this message "
    "was accepted, send it again after retry_after_s",
    "history_queue_full": "overloaded: the readings-history writer is behind; nothing of "
    "this message was accepted, send it again after retry_after_s",
    "event_loop_behind": "overloaded: the service is behind with decoding readings; nothing "
    "of this message was accepted, send it again after retry_after_s",
    "connection_backlog": "overloaded: too many frames of this connection wait to be "
    "handled; nothing of this message was accepted, send it again after retry_after_s",
    "rate_limited": "over this client's rate limit (ingest_rate_limit); nothing of this "
    "message was accepted, send it again after retry_after_s",
    "after_refusal": "overloaded: an earlier frame of this connection was refused, and frames "
    "sent before it is sent again are refused too (their readings would stand ahead of its "
    "readings, which would then be out of order); nothing of this message was accepted, send "
    "it again after retry_after_s, after the earlier one",
}
