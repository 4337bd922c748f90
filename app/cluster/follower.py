"""Every replica's hub serves every replica's events, in ``event_id`` order.

In cluster mode :class:`app.services.eventlog.EventLog` does not fan out what it commits;
it wakes this follower (and tells the other replicas over NATS). The follower reads
``event_id > hub.last_event_id`` from the shared store and fans those out. Event inserts
hold a PostgreSQL advisory lock until commit (:data:`app.store.repo.EVENT_ID_LOCK`), so ids
become visible in order and reading "after the newest seen" never skips one. A poll every
``poll_s`` covers a lost notification. Events are still stored before anyone sees them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from app.services.hub import Hub
from app.store import Store

log = logging.getLogger(__name__)


class EventFollower:
    """Fans out stored events of every replica to this replica's subscribers.

    Args:
        store: the shared store. hub: this replica's fan-out.
        poll_s: longest time between two reads when no notification comes, s.
        page: events read per query.
    """

    def __init__(self, store: Store, hub: Hub, *, poll_s: float = 0.5, page: int = 1000) -> None:
        self.store = store
        self.hub = hub
        self.poll_s = poll_s
        self.page = page
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.reads = 0
        #: Called with each page of events fanned out (the webhook workers' wake-up).
        self.listeners: list[Callable[[list[dict[str, Any]]], None]] = []

    def wake(self) -> None:
        """New events may be committed: read now."""
        self._wake.set()

    def start(self) -> None:
        """Start the follower task on the running loop."""
        self._task = asyncio.create_task(self._run(), name="event-follower")

    async def stop(self) -> None:
        """Stop the task."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def catch_up(self) -> int:
        """Fan out every committed event after the hub's newest; returns how many."""
        n = 0
        while True:
            rows = await self.store.events_after(self.hub.last_event_id, limit=self.page)
            self.reads += 1
            if not rows:
                return n
            self.hub.fan_out(rows)
            for listener in self.listeners:
                listener(rows)
            n += len(rows)
            if len(rows) < self.page:
                return n

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_s)
            self._wake.clear()
            try:
                await self.catch_up()
            except Exception:  # store outage: the next round retries
                log.exception("reading new events failed")
                await asyncio.sleep(self.poll_s)
