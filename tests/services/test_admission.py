"""Admission control: what it sheds, when, and what it tells the client."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import pytest

from app.errors import Overloaded
from app.services.admission import Admission
from app.services.ratelimit import RateLimiter


@dataclass
class Queue:
    """Stands in for the scorer and the history writer: only their counters are read."""

    pending: int = 0
    windows_scored: int = 0


def _admission(scorer: Queue, recorder: Queue, **kw: object) -> Admission:
    args: dict = {"score_queue_max": 10, "readings_queue_max": 10, "lag_max_s": 0.2}
    return Admission(scorer=scorer, recorder=recorder, limiter=None, **{**args, **kw})


async def test_full_queues_shed_with_a_reason_and_a_retry_time() -> None:
    scorer, recorder = Queue(), Queue()
    a = _admission(scorer, recorder)
    await a.admit("k", "ws")
    scorer.pending = 10
    with pytest.raises(Overloaded) as exc:
        await a.admit("k", "ws")
    assert exc.value.detail[0]["type"] == "scoring_queue_full"
    assert exc.value.status == 429 and 0.5 <= exc.value.retry_after_s <= 10
    scorer.pending, recorder.pending = 0, 10
    with pytest.raises(Overloaded, match="history"):
        await a.admit("k", "http")
    recorder.pending = 0
    await a.admit("k", "http")
    assert a.shed == {("ws", "scoring_queue_full"): 1, ("http", "history_queue_full"): 1}
    assert a.shedding() and a.shed_total == 2


async def test_a_blocked_event_loop_is_seen_and_shed_until_it_recovers() -> None:
    a = _admission(Queue(), Queue(), lag_max_s=0.2)
    a.start()
    try:
        await asyncio.sleep(0.15)
        time.sleep(0.5)  # one hiccup (the process descheduled once) is not overload
        await asyncio.sleep(0.01)
        assert a.lag_s > 0.2 and a.reason_now() is None
        for _ in range(4):  # the loop stays stuck (as under a flood of frames to decode)
            time.sleep(0.35)
            await asyncio.sleep(0.01)
        assert a.reason_now() == "event_loop_behind"
        with pytest.raises(Overloaded):
            await a.admit("k", "ws")
        await asyncio.sleep(0.5)  # probes on time again
        assert a.reason_now() is None
    finally:
        await a.stop()


async def test_rate_limit_per_key() -> None:
    a = Admission(
        scorer=Queue(),
        recorder=None,
        score_queue_max=10,
        readings_queue_max=10,
        lag_max_s=1.0,
        limiter=RateLimiter("2/second"),
    )
    try:
        await a.admit("gw-1", "ws")
        await a.admit("gw-1", "ws")
        with pytest.raises(Overloaded) as exc:
            await a.admit("gw-1", "ws")
        assert exc.value.detail[0]["type"] == "rate_limited"
        assert 0 < exc.value.retry_after_s <= 1.0
        await a.admit("gw-2", "ws")  # another key has its own budget
    finally:
        await a.stop()


async def test_backpressure_first_a_message_waits_for_room_then_is_shed() -> None:
    scorer = Queue(pending=10)
    a = _admission(scorer, Queue(), wait_max_s=0.5)

    async def drain() -> None:
        await asyncio.sleep(0.2)
        scorer.pending = 3

    t0 = time.monotonic()
    await asyncio.gather(a.admit("k", "http"), drain())  # taken once the queue had room
    assert 0.15 < time.monotonic() - t0 < 0.5 and a.shed_total == 0
    scorer.pending = 10
    t0 = time.monotonic()
    with pytest.raises(Overloaded):
        await a.admit("k", "http")  # still full after wait_max_s: shed
    assert time.monotonic() - t0 >= 0.5 and a.shed_total == 1 and a.waiting == 0
