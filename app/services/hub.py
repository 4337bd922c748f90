"""Fan-out of alert events to WebSocket subscribers, after encode/broadcaster.

Each subscriber gets its own bounded queue. Publishing never waits: a subscriber whose queue
is full is marked overflowed and disconnected by its sender with a reason that tells it the
last event it got, so it can resume with ``?since=`` and lose nothing. One slow or dead
subscriber therefore never delays the others, nor ingestion.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

from app.schemas.readings import iso


@dataclass(eq=False)
class Subscription:
    """One subscriber: its filter, its bounded queue, and whether it overflowed."""

    device_ids: frozenset[str] | None
    queue: asyncio.Queue[dict[str, Any]]
    overflowed: asyncio.Event = field(default_factory=asyncio.Event)
    last_sent: int = 0

    def wants(self, event: dict[str, Any]) -> bool:
        """Whether the event passes this subscriber's filter."""
        return self.device_ids is None or event["device_id"] in self.device_ids


class AlertHub:
    """Numbers events, keeps the recent ones, and fans them out.

    Args:
        queue_max: events buffered per subscriber before it is disconnected.
        recent_max: events kept in memory for ``GET /api/alerts`` and ``since`` replay.
    """

    def __init__(self, *, queue_max: int, recent_max: int) -> None:
        self.queue_max = queue_max
        self._subs: set[Subscription] = set()
        self.recent: collections.deque[dict[str, Any]] = collections.deque(maxlen=recent_max)
        self.last_event_id = 0
        self.published = 0
        self.overflows = 0

    @property
    def subscribers(self) -> int:
        """Number of connected subscribers."""
        return len(self._subs)

    def publish(self, body: dict[str, Any]) -> dict[str, Any]:
        """Number an event, keep it, and queue it for every interested subscriber.

        Args:
            body: the event without ``event_id``; ``ts`` in epoch seconds.

        Returns:
            The published event (``event_id`` set, ``ts`` as RFC 3339).
        """
        self.last_event_id += 1
        event = {"event_id": self.last_event_id, **body, "ts": iso(body["ts"])}
        event["published_at"] = iso(time.time())
        self.recent.append(event)
        self.published += 1
        for sub in list(self._subs):
            if not sub.wants(event) or sub.overflowed.is_set():
                continue
            try:
                sub.queue.put_nowait(event)
            except asyncio.QueueFull:
                self.overflows += 1
                sub.overflowed.set()
        return event

    def since(self, event_id: int, device_ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Kept events after ``event_id``, oldest first, optionally for some devices."""
        wanted = None if device_ids is None else set(device_ids)
        return [
            e
            for e in self.recent
            if e["event_id"] > event_id and (wanted is None or e["device_id"] in wanted)
        ]

    @contextlib.asynccontextmanager
    async def subscribe(
        self, device_ids: Iterable[str] | None = None, *, since: int | None = None
    ) -> AsyncIterator[Subscription]:
        """Register a subscriber for the block's duration; removed in ``finally``.

        With ``since``, kept events after that id are queued first; registration and replay
        happen without an await in between, so there is no gap and no duplicate at the seam.
        """
        ids = None if device_ids is None else frozenset(device_ids)
        sub = Subscription(ids, asyncio.Queue(self.queue_max))
        if since is not None:
            backlog = self.since(since, ids)
            sub.queue = asyncio.Queue(self.queue_max + len(backlog))
            for e in backlog:
                sub.queue.put_nowait(e)
        self._subs.add(sub)
        try:
            yield sub
        finally:
            self._subs.discard(sub)
