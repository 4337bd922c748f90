"""Fan-out of stored events to live subscribers (after encode/broadcaster).

The hub only hands out events that the event log (``eventlog.py``) has stored. Each
subscriber gets its own bounded queue; fan-out never waits. A subscriber whose queue is full
is not dropped: it switches to **catching up** (:attr:`Subscription.catching_up`). Fan-out
stops queueing for it; its iterator yields what was queued, then reads the stored events
after the last one it yielded from the store, a page (``replay_page`` events) at a time,
up to the newest event fanned out, and goes back to its queue once it has read up to that
id (checked and switched with no await in between, so the seam has no gap and no
duplicate). A burst of any size therefore reaches a subscriber that keeps reading, in
``event_id`` order; its memory stays bounded (``queue_max`` queued events, shared with the
other subscribers, plus one page of its own while it catches up). Before 2 Dec a full queue
ended the subscription, so an alarm flood of 2,500 events closed every subscriber at once,
fast or slow (a tester's ``t_burst.py``).

Only a subscriber that really falls behind ends: one whose backlog (the event ids fanned
out after the last one it was given) grew over each of :data:`BEHIND_WINDOWS` consecutive
windows of ``behind_s / BEHIND_WINDOWS`` seconds while catching up. Its iterator then ends
with :attr:`Subscription.ended` = ``"behind"`` and :attr:`Subscription.resume_id` says
which ``since`` to resume with, so it loses nothing. (A subscriber that stops reading
altogether blocks its sender instead: the WebSocket handler's send timeout closes it.)

One key may hold at most ``per_key`` subscriptions at once (:meth:`Hub.full`, checked by
the WebSocket handler with no await before :meth:`Hub.subscribe`), and a subscriber that
stops reading holds one replay page (``replay_page``, 50 events by default, about 4 KB an
event): 500 made a non-reading ``since=0`` subscriber 2.3 MB, and one viewer key's 200
such sockets took the server from 434 to 897 MB (newcomer of 2 Dec).

A minimum severity is judged on the alert, not on the event alone: once an alert has
reached it, every later event of that alert passes (:meth:`EventFilter.wants`), so a
``min_severity=critical`` subscriber hears a non-latching critical alarm de-escalate to
warning and resolve (it heard only the raise, and took the alarm for open forever: a
tester). The hub keeps the highest severity of each open alert for that (:attr:`Hub.peaks`,
loaded from the store at start-up); a replay applies the same rule in its query
(``Store.events_after``), so resuming with ``since`` gives what a live subscriber got.

A :class:`Subscription` is an async iterator: with ``since``, it starts catching up (the
stored events after ``since``, read up to the newest event fanned out by then, as above),
then live events. ``replay_upto`` is the newest id at subscription time (read in the same
step as the subscriber is registered, with no await in between), the ``last_event_id`` of
the ``subscribed`` frame. No gap and no duplicate at the seam. Delivery is at least once
across reconnects: a subscriber drops any ``event_id`` it has seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from app.alerting.events import Severity, higher, reaches

#: ``(after, upto, filter, limit)`` -> stored events, oldest first (``Store.events_after``).
ReplayFn = Callable[[int, int, "EventFilter", int], Awaitable[list[dict[str, Any]]]]

#: A catching-up subscriber ends when its backlog grew over this many consecutive windows
#: (each ``behind_s`` / this long): a single burst, however large, makes at most one or two
#: windows grow for a subscriber that keeps reading; one that cannot keep up grows in all.
BEHIND_WINDOWS = 3


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
    """One subscriber: iterate it for replayed, then live events, until it falls behind.

    ``resume_id`` is the newest event id this iterator has yielded (or the ``since`` /
    ``replay_upto`` it started from, or the end of a store range it read without a match):
    the ``since`` to resume with.

    Live events come from :attr:`queue`; while :attr:`catching_up` (a ``since`` replay, or
    after the queue overflowed) they come from the store through :attr:`replay`, up to
    ``head()`` (the newest event id fanned out). The iterator ends only when the subscriber
    falls behind (:attr:`ended` = ``"behind"``: see the module docstring).
    """

    filter: EventFilter
    queue: asyncio.Queue[dict[str, Any]]
    replay: ReplayFn
    replay_page: int
    since: int | None = None
    replay_upto: int = 0
    resume_id: int = 0
    #: An event's wire text (:meth:`Hub.wire_text`: encoded once for all subscribers).
    wire_text: Callable[[dict[str, Any]], str] = field(default=lambda e: _encode(e))
    #: The newest event id fanned out (:attr:`Hub.last_event_id`): where catching up ends.
    head: Callable[[], int] = field(default=lambda: 0)
    #: Seconds over which a catching-up subscriber whose backlog keeps growing is ended
    #: (:data:`BEHIND_WINDOWS` windows); 0 = never.
    behind_s: float = 30.0
    #: Monotonic clock, seconds.
    clock: Callable[[], float] = time.monotonic
    #: Fan-out does not queue for this subscriber: it reads the store up to ``head()``.
    catching_up: bool = False
    #: Why the iterator ended: ``"behind"``, or None while it runs.
    ended: str | None = None
    #: Times this subscriber's queue overflowed (each began a catch-up).
    overflows: int = 0
    #: Resolved by :meth:`wake` while the iterator waits for a live event.
    _waiter: asyncio.Future[None] | None = field(default=None, init=False, repr=False)
    #: Catch-up progress: (window start, backlog then, consecutive windows it grew).
    _window: tuple[float, int, int] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.resume_id = self.replay_upto if self.since is None else self.since
        self.catching_up = self.since is not None and self.since < self.replay_upto

    def wake(self) -> None:
        """Wake the iterator waiting for a live event (an event was queued, or the queue
        overflowed): its task runs at the loop's next turn."""
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def overflow(self) -> None:
        """The queue is full: stop taking live events and catch up from the store after
        the last queued one (called by :meth:`Hub.fan_out`)."""
        self.catching_up = True
        self.overflows += 1
        self._window = None  # a new catch-up: its windows start at its first step
        self.wake()

    @property
    def backlog(self) -> int:
        """Event ids fanned out after the last one this subscriber was given (its queue
        included), or 0."""
        return max(0, self.head() - self.resume_id)

    def __aiter__(self) -> AsyncGenerator[dict[str, Any], None]:
        return self._events()

    async def _events(self) -> AsyncGenerator[dict[str, Any], None]:
        while True:
            if not self.queue.empty():
                event = self.queue.get_nowait()
                self.resume_id = event["event_id"]
                yield event
            elif self.catching_up:
                async for event in self._catch_up():
                    yield event
                if self.ended is not None:
                    return
            else:
                self._waiter = asyncio.get_running_loop().create_future()
                try:
                    await self._waiter  # Hub.fan_out wakes it: one loop turn, not three
                finally:
                    self._waiter = None

    async def _catch_up(self) -> AsyncIterator[dict[str, Any]]:
        """Stored events after :attr:`resume_id` up to ``head()``, a page at a time, then
        back to the queue (no await between seeing ``head()`` reached and clearing
        :attr:`catching_up`, so fan-out queues the very next event); ends early, with
        :attr:`ended` set, once the subscriber falls behind."""
        while True:
            upto = self.head()
            if self.resume_id >= upto:
                self.catching_up = False  # the next fan-out queues for it again
                self._window = None
                return
            if self._fell_behind():
                self.ended = "behind"
                return
            page = await self.replay(self.resume_id, upto, self.filter, self.replay_page)
            for e in page:
                self.resume_id = e["event_id"]
                yield e
                if self._fell_behind():
                    self.ended = "behind"
                    return
            if len(page) < self.replay_page:
                self.resume_id = max(self.resume_id, upto)  # nothing more up to ``upto``

    def _fell_behind(self) -> bool:
        """Whether the backlog grew over each of the last :data:`BEHIND_WINDOWS` windows of
        ``behind_s / BEHIND_WINDOWS`` seconds of this catch-up."""
        if self.behind_s <= 0:
            return False
        now, backlog = self.clock(), self.backlog
        if self._window is None:
            self._window = (now, backlog, 0)
            return False
        start, before, grew = self._window
        if now - start < self.behind_s / BEHIND_WINDOWS:
            return False
        grew = grew + 1 if backlog > before else 0
        self._window = (now, backlog, grew)
        return grew >= BEHIND_WINDOWS


def _encode(event: dict[str, Any]) -> str:
    """Starlette's ``WebSocket.send_json`` text of ``event``."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)


#: Wire texts of recent events a hub keeps for the subscribers still to send them (oldest
#: dropped first).
TEXTS_KEPT = 4096


class Hub:
    """Bounded fan-out of stored events.

    Args:
        queue_max: live events buffered per subscriber; beyond that it catches up from the
            store (:meth:`Subscription.overflow`).
        replay: reads stored events for a resuming or catching-up subscriber.
        replay_page: events per replay read; a subscriber that stops reading holds one
            page (about 4 KB an event as dicts), so this bounds its memory.
        per_key: most subscribers of one key (:attr:`Subscription.owner`) at once; None =
            no bound (:meth:`full`).
        behind_s: a catching-up subscriber whose backlog grew over this many seconds
            (:data:`BEHIND_WINDOWS` consecutive windows) is ended; 0 = never.
        clock: monotonic clock, seconds.
    """

    def __init__(
        self,
        *,
        queue_max: int,
        replay: ReplayFn,
        replay_page: int = 50,
        per_key: int | None = None,
        behind_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.queue_max = queue_max
        self.replay = replay
        self.replay_page = replay_page
        self.per_key = per_key
        #: Owner -> its subscribers now (owners with none left out).
        self.by_owner: dict[str, int] = {}
        #: Subscriptions refused because their owner had ``per_key`` (:meth:`full`).
        self.refused = 0
        self.behind_s = behind_s
        self.clock = clock
        self._subs: set[Subscription] = set()
        self.last_event_id = 0
        #: Alert id -> the highest severity of its events so far, for every alert not yet
        #: resolved that this hub has seen (or :meth:`seed_peaks` loaded): what
        #: ``min_severity`` is judged on. Memory: one entry an open alert (about 150 B;
        #: the rules and the leak policy hold more per open alert), dropped at its
        #: ``alert.resolved``.
        self.peaks: dict[str, Severity] = {}
        #: Queue overflows (each switched a subscriber to catching up from the store).
        self.overflows = 0
        #: Subscribers closed as too slow or falling behind (counted by the handler).
        self.dropped = 0
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

    def full(self, owner: str) -> bool:
        """Whether ``owner`` already has ``per_key`` subscribers (counted in
        :attr:`refused`). Call it with no await before :meth:`subscribe`, so that the
        check and the registration are one step."""
        if self.per_key is None or self.by_owner.get(owner, 0) < self.per_key:
            return False
        self.refused += 1
        return True

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
        """Queue stored events (``event_id`` set) for every subscriber that wants them; a
        subscriber whose queue is full catches up from the store instead (never waits)."""
        for event in events:
            self.last_event_id = event["event_id"]
            peak = self._peak(event)
            for sub in list(self._subs):
                if sub.catching_up or not sub.filter.wants(event, peak):
                    continue  # catching up: it reads this event from the store
                try:
                    sub.queue.put_nowait(event)
                except asyncio.QueueFull:
                    self.overflows += 1
                    sub.overflow()
                    continue
                sub.wake()

    @contextlib.asynccontextmanager
    async def subscribe(
        self, flt: EventFilter | None = None, *, since: int | None = None, owner: str = ""
    ) -> AsyncIterator[Subscription]:
        """Register a subscriber of ``owner`` (an API key: :meth:`full`) for the block's
        duration (removed in ``finally``)."""
        sub = Subscription(
            flt or EventFilter(),
            asyncio.Queue(self.queue_max),
            self.replay,
            self.replay_page,
            since=since,
            replay_upto=self.last_event_id,
            wire_text=self.wire_text,
            head=lambda: self.last_event_id,
            behind_s=self.behind_s,
            clock=self.clock,
        )
        self._subs.add(sub)
        self.by_owner[owner] = self.by_owner.get(owner, 0) + 1
        try:
            yield sub
        finally:
            self._subs.discard(sub)
            left = self.by_owner.pop(owner, 1) - 1
            if left > 0:
                self.by_owner[owner] = left
