"""Fan-out of stored events to live subscribers (after encode/broadcaster).

The hub only hands out events that the event log (``eventlog.py``) has stored. Each
subscriber gets its own bounded queue; fan-out never waits. A subscriber whose queue is full
is marked overflowed: its iterator yields what was queued, then ends, and
:attr:`Subscription.resume_id` says which ``since`` to resume with, so it loses nothing.

A minimum severity is judged on the alert, not on the event alone: once an alert has
reached it, every later event of that alert passes (:meth:`EventFilter.wants`), so a
``min_severity=critical`` subscriber hears a non-latching critical alarm de-escalate to
warning and resolve (it heard only the raise, and took the alarm for open forever: a
tester). The hub keeps the highest severity of each open alert for that (:attr:`Hub.peaks`,
loaded from the store at start-up); a replay applies the same rule in its query
(``Store.events_after``), so resuming with ``since`` gives what a live subscriber got.

A :class:`Subscription` is an async iterator: stored events after ``since`` up to the newest
id at subscription time (``replay_upto``, read in the same step as the queue is registered,
with no await in between), then live events. No gap and no duplicate at the seam. Delivery
is at least once across reconnects: a subscriber drops any ``event_id`` it has seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from app.alerting.events import Severity, higher, reaches

#: ``(after, upto, filter, limit)`` -> stored events, oldest first (``Store.events_after``).
ReplayFn = Callable[[int, int, "EventFilter", int], Awaitable[list[dict[str, Any]]]]


@dataclass(frozen=True, slots=True)
class EventFilter:
    """What a subscriber wants: devices, kinds, a minimum severity, silenced events or not."""

    device_ids: frozenset[str] | None = None
    kinds: frozenset[str] | None = None
    min_severity: Severity | None = None
    include_silenced: bool = False

    @classmethod
    def of(
        cls,
        device_ids: Iterable[str] | None = None,
        kinds: Iterable[str] | None = None,
        min_severity: str | None = None,
        include_silenced: bool = False,
    ) -> EventFilter:
        """Build from plain values (None = no filter)."""
        return cls(
            None if device_ids is None else frozenset(device_ids),
            None if kinds is None else frozenset(kinds),
            None if min_severity is None else Severity(min_severity),
            include_silenced,
        )

    def wants(self, event: dict[str, Any], peak: Severity | None = None) -> bool:
        """Whether a wire event passes this filter. ``peak``: the highest severity its alert
        has had up to and including this event (None: the event's own); ``min_severity``
        is judged on it, so the later events of an alert that once passed (a critical
        alarm's de-escalation to warning, its resolution) pass too."""
        if self.device_ids is not None and event["device_id"] not in self.device_ids:
            return False
        if self.kinds is not None and event["kind"] not in self.kinds:
            return False
        if event.get("silenced") and not self.include_silenced:
            return False
        return reaches(Severity(event["severity"]), peak, self.min_severity)


@dataclass(eq=False)
class Subscription:
    """One subscriber: iterate it for replayed, then live events, until it overflows.

    ``resume_id`` is the newest event id this iterator has yielded (or the ``since`` /
    ``replay_upto`` it started from): the ``since`` to resume with.
    """

    filter: EventFilter
    queue: asyncio.Queue[dict[str, Any]]
    replay: ReplayFn
    replay_page: int
    since: int | None = None
    replay_upto: int = 0
    overflowed: asyncio.Event = field(default_factory=asyncio.Event)
    resume_id: int = 0
    #: An event's wire text (:meth:`Hub.wire_text`: encoded once for all subscribers).
    wire_text: Callable[[dict[str, Any]], str] = field(default=lambda e: _encode(e))
    #: Resolved by :meth:`wake` while the iterator waits for a live event.
    _waiter: asyncio.Future[None] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.resume_id = self.replay_upto if self.since is None else self.since

    def wake(self) -> None:
        """Wake the iterator waiting for a live event (an event was queued, or the queue
        overflowed): its task runs at the loop's next turn."""
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._events()

    async def _events(self) -> AsyncIterator[dict[str, Any]]:
        if self.since is not None:
            after = self.since
            while after < self.replay_upto:
                page = await self.replay(after, self.replay_upto, self.filter, self.replay_page)
                if not page:
                    break
                for e in page:
                    self.resume_id = e["event_id"]
                    yield e
                after = page[-1]["event_id"]
            self.resume_id = max(self.resume_id, self.replay_upto)
        while True:
            event = await self._next_live()
            if event is None:
                return
            self.resume_id = event["event_id"]
            yield event

    async def _next_live(self) -> dict[str, Any] | None:
        """The next queued event; None once overflowed and drained.

        Waits on one future that :meth:`Hub.fan_out` resolves (:meth:`wake`): the task
        runs one loop turn after the fan-out. Waiting on the queue's ``get`` and the
        overflow event together (``asyncio.wait`` over two tasks) took three turns, 20 ms
        at p50 under the paced bench's load (README Performance)."""
        while True:
            if not self.queue.empty():
                return self.queue.get_nowait()
            if self.overflowed.is_set():
                return None
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None


def _encode(event: dict[str, Any]) -> str:
    """Starlette's ``WebSocket.send_json`` text of ``event``."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)


#: Wire texts of recent events a hub keeps for the subscribers still to send them (oldest
#: dropped first).
TEXTS_KEPT = 4096


class Hub:
    """Bounded fan-out of stored events.

    Args:
        queue_max: live events buffered per subscriber before it is ended (overflow).
        replay: reads stored events for a resuming subscriber.
        replay_page: events per replay read.
    """

    def __init__(self, *, queue_max: int, replay: ReplayFn, replay_page: int = 500) -> None:
        self.queue_max = queue_max
        self.replay = replay
        self.replay_page = replay_page
        self._subs: set[Subscription] = set()
        self.last_event_id = 0
        #: Alert id -> the highest severity of its events so far, for every alert not yet
        #: resolved that this hub has seen (or :meth:`seed_peaks` loaded): what
        #: ``min_severity`` is judged on. Memory: one entry an open alert (about 150 B;
        #: the rules and the leak policy hold more per open alert), dropped at its
        #: ``alert.resolved``.
        self.peaks: dict[str, Severity] = {}
        self.overflows = 0
        self._texts: dict[int, str] = {}

    def wire_text(self, event: dict[str, Any]) -> str:
        """``event`` as the JSON text a subscriber receives (Starlette's ``send_json``
        form), encoded once per event id for every subscriber of this hub (the newest
        :data:`TEXTS_KEPT` kept): with 500 subscribers, 300 alert events were 150,000
        encodings on the event loop (newcomer of 5 Dec)."""
        key = event.get("event_id")
        text = self._texts.get(key) if isinstance(key, int) else None
        if text is None:
            text = _encode(event)
            if isinstance(key, int):
                if len(self._texts) >= TEXTS_KEPT:
                    del self._texts[next(iter(self._texts))]
                self._texts[key] = text
        return text

    @property
    def subscribers(self) -> int:
        """Number of connected subscribers."""
        return len(self._subs)

    def seed_peaks(self, peaks: dict[str, Severity]) -> None:
        """Load the highest severity of each open alert's stored events (at start-up,
        before the first fan-out: ``Store.open_alert_peaks``)."""
        for aid, sev in peaks.items():
            self.peaks[aid] = self.peak_of(aid, sev)

    def peak_of(self, alert_id: str, severity: Severity) -> Severity:
        """The highest severity alert ``alert_id`` will have had once an event of
        ``severity`` is added to those this hub has fanned out (:attr:`peaks`), without
        recording it."""
        return higher(severity, self.peaks.get(alert_id))

    def _peak(self, event: dict[str, Any]) -> Severity:
        """The highest severity of ``event``'s alert up to and including it; remembered
        while the alert is open (:attr:`peaks`)."""
        aid, sev = event.get("alert_id"), Severity(event["severity"])
        if aid is None:
            return sev
        peak = self.peak_of(aid, sev)
        if event.get("type") == "alert.resolved":
            self.peaks.pop(aid, None)
        else:
            self.peaks[aid] = peak
        return peak

    def fan_out(self, events: list[dict[str, Any]]) -> None:
        """Queue stored events (``event_id`` set) for every subscriber that wants them."""
        for event in events:
            self.last_event_id = event["event_id"]
            peak = self._peak(event)
            for sub in list(self._subs):
                if sub.overflowed.is_set() or not sub.filter.wants(event, peak):
                    continue
                try:
                    sub.queue.put_nowait(event)
                except asyncio.QueueFull:
                    self.overflows += 1
                    sub.overflowed.set()
                sub.wake()

    @contextlib.asynccontextmanager
    async def subscribe(
        self, flt: EventFilter | None = None, *, since: int | None = None
    ) -> AsyncIterator[Subscription]:
        """Register a subscriber for the block's duration (removed in ``finally``)."""
        sub = Subscription(
            flt or EventFilter(),
            asyncio.Queue(self.queue_max),
            self.replay,
            self.replay_page,
            since=since,
            replay_upto=self.last_event_id,
            wire_text=self.wire_text,
        )
        self._subs.add(sub)
        try:
            yield sub
        finally:
            self._subs.discard(sub)
