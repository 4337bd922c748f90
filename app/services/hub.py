"""Alert events: written to the store first, then fanned out (after encode/broadcaster).

``publish`` writes a batch of events (with the policy states that changed and the webhook
deliveries they need) in one transaction while holding the store's write lock, and only
then hands them to subscribers and the webhook workers, still under the lock, so ids are
handed out in the order they are seen. An event that a subscriber or webhook sees is
therefore always in the store, and survives ``kill -9``.

Each subscriber gets its own bounded queue. Fan-out never waits: a subscriber whose queue is
full is marked overflowed and closed by its sender with the last event id it got, so it can
resume with ``?since=`` and lose nothing. One slow subscriber never delays the others.

Resuming: :meth:`AlertHub.subscribe` registers the live queue and notes the newest event id
(``replay_upto``) in one step with no await between; :meth:`AlertHub.replay` then reads
``since < event_id <= replay_upto`` from the store page by page; everything newer arrives on
the live queue. No gap and no duplicate at the seam. Delivery is at least once across
reconnects: a subscriber drops any event whose ``event_id`` it has already seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError

from app.schemas.readings import iso
from app.store import Store
from app.store.repo import SEVERITY_RANK

log = logging.getLogger(__name__)

StatesFn = Callable[[], dict[str, dict[str, Any] | None]]
RETRY_MAX_S = 5.0
#: Errors worth retrying: the database is unreachable, locked, or out of space for now.
TRANSIENT = (OperationalError, InterfaceError, OSError, TimeoutError)
#: Every event carries these keys (null when its producer has none): one shape on every path.
OPTIONAL = dict.fromkeys(("probability", "gas_ppm", "reason", "detail", "ack", "model_type"))


@dataclass(eq=False)
class Subscription:
    """One subscriber: filters, its bounded live queue, replay range, overflow flag."""

    device_ids: frozenset[str] | None
    queue: asyncio.Queue[dict[str, Any]]
    kinds: frozenset[str] | None = None
    min_severity: str | None = None
    since: int | None = None
    replay_upto: int = 0
    overflowed: asyncio.Event = field(default_factory=asyncio.Event)
    last_sent: int = 0

    def wants(self, event: dict[str, Any]) -> bool:
        """Whether the event passes this subscriber's filters."""
        if self.device_ids is not None and event["device_id"] not in self.device_ids:
            return False
        if self.kinds is not None and event["kind"] not in self.kinds:
            return False
        return self.min_severity is None or (
            SEVERITY_RANK.get(event["severity"], 0) >= SEVERITY_RANK[self.min_severity]
        )


def _default_state(type_: str) -> str:
    """The alert state an event implies when its producer does not say (safety rules)."""
    return "resolved" if type_ == "alert.resolved" else "active"


class AlertHub:
    """Numbers events through the store, then fans them out.

    Args:
        store: the durable store (event ids come from it).
        queue_max: live events buffered per subscriber before it is disconnected.
        replay_page: events read from the store per page when replaying.
        webhook_urls: receivers that get a pending delivery per event.
    """

    def __init__(
        self, *, store: Store, queue_max: int, replay_page: int = 500,
        webhook_urls: Sequence[str] = (),
    ) -> None:
        self.store = store
        self.queue_max = queue_max
        self.replay_page = replay_page
        self.webhook_urls = list(webhook_urls)
        self.listeners: list[Callable[[list[dict[str, Any]]], None]] = []
        self._subs: set[Subscription] = set()
        self.last_event_id = 0
        self.published = 0
        self.overflows = 0
        self.write_failures = 0

    async def start(self) -> None:
        """Continue numbering after the newest stored event."""
        self.last_event_id = await self.store.last_event_id()

    @property
    def subscribers(self) -> int:
        """Number of connected subscribers."""
        return len(self._subs)

    async def publish(
        self, bodies: Sequence[dict[str, Any]], *, states: StatesFn | None = None
    ) -> list[dict[str, Any]]:
        """Write events (and changed policy states) durably, then fan them out.

        Args:
            bodies: events without ``event_id``: ``type`` (``alert.raised`` opens an alert
                row, other types update it), ``alert_id``, ``device_id``, ``kind`` (free
                text: leak, threshold, sensor_fault), ``severity``, ``state`` (the alert's
                state after the event; default: resolved for ``alert.resolved``, else active),
                ``ts`` (epoch seconds); any other keys are kept.
            states: called under the write lock for the policy states to persist in the
                same transaction (see ``AlertPolicy.take_dirty``).

        Returns:
            The published events (``event_id`` set, times as RFC 3339).
        """
        async with self.store.write_lock:
            return await self.publish_locked(bodies, states=states)

    async def publish_locked(
        self, bodies: Sequence[dict[str, Any]], *, states: StatesFn | None = None
    ) -> list[dict[str, Any]]:
        """:meth:`publish` for a caller that holds ``store.write_lock`` already.

        A write that fails for a transient reason (:data:`TRANSIENT`) is retried (backoff
        up to 5 s) until it succeeds: events are never dropped, and while the store is down
        scoring waits, which backs up ingestion. Any other error (a bug, such as a
        constraint violation) would fail again on every retry and blind every device, so it
        is logged with the events and raised to the caller instead.

        Raises:
            sqlalchemy.exc.SQLAlchemyError: the store refused the events for good.
        """
        snapshot = states() if states else {}
        if not bodies and not snapshot:
            return []
        now = time.time()
        prepared = [{**OPTIONAL, **b, "state": b.get("state") or _default_state(b["type"]),
                     "ts": iso(b["ts"]), "published_at": iso(now), "ts_epoch": b["ts"]}
                    for b in bodies]
        delay = 0.05
        while True:
            try:
                ids = await self.store.append(prepared, states=snapshot, now=now,
                                              webhook_urls=self.webhook_urls)
                break
            except TRANSIENT:
                self.write_failures += 1
                log.exception("store write failed; retrying in %.2f s", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)
            except Exception:
                self.write_failures += 1
                log.exception("store refused %d events, not retried: %r", len(prepared), prepared)
                raise
        events = []
        for eid, e in zip(ids, prepared, strict=True):
            e.pop("ts_epoch")
            events.append({"event_id": eid, **e})
        self._fan_out(events)
        return events

    async def publish_one(self, body: dict[str, Any]) -> dict[str, Any]:
        """:meth:`publish` of one event (the safety rules' entry point)."""
        [event] = await self.publish([body])
        return event

    def _fan_out(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            self.last_event_id = event["event_id"]
            self.published += 1
            for sub in list(self._subs):
                if not sub.wants(event) or sub.overflowed.is_set():
                    continue
                try:
                    sub.queue.put_nowait(event)
                except asyncio.QueueFull:
                    self.overflows += 1
                    sub.overflowed.set()
        if events:
            for listener in self.listeners:
                listener(events)

    async def replay(self, sub: Subscription) -> AsyncIterator[dict[str, Any]]:
        """Stored events after ``sub.since`` up to ``sub.replay_upto`` that pass its filters."""
        if sub.since is None:
            return
        after = sub.since
        while after < sub.replay_upto:
            page = await self.store.events_after(
                after, upto=sub.replay_upto, device_ids=sub.device_ids, kinds=sub.kinds,
                min_severity=sub.min_severity, limit=self.replay_page)
            if not page:
                return
            for e in page:
                yield e
            after = page[-1]["event_id"]

    @contextlib.asynccontextmanager
    async def subscribe(
        self, device_ids: Iterable[str] | None = None, *, since: int | None = None,
        kinds: Iterable[str] | None = None, min_severity: str | None = None,
    ) -> AsyncIterator[Subscription]:
        """Register a subscriber for the block's duration; removed in ``finally``.

        Registration and reading ``replay_upto`` happen without an await in between; the
        caller sends ``replay(sub)`` first, then the live queue.
        """
        sub = Subscription(
            None if device_ids is None else frozenset(device_ids),
            asyncio.Queue(self.queue_max),
            kinds=None if kinds is None else frozenset(kinds),
            min_severity=min_severity, since=since, replay_upto=self.last_event_id,
        )
        self._subs.add(sub)
        try:
            yield sub
        finally:
            self._subs.discard(sub)
