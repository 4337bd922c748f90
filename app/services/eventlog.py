"""The event log: every alert event is stored before anyone sees it.

:meth:`EventLog.publish` takes typed events, marks the ones a silence matches, serialises
them (``AlertEvent.to_wire``, the one place), and writes them in one transaction with the
per-device states that changed (leak policy, safety rules) and the webhook deliveries they
need (the outbox; none for silenced events), holding the store's write lock. Only then are
they handed to the fan-out hub and the listeners (webhook workers), still under the lock,
so ids reach everyone in order. An event a subscriber or webhook sees is in the store and
survives ``kill -9`` and power loss (the event's commit is fsync'd on SQLite). States that
changed without an event are written by a background task without fsync (they survive
``kill -9``), so no caller waits for them.

A write that fails for a transient reason (:data:`TRANSIENT`) is retried with backoff (up to
5 s) until it lands: events are never dropped, and while the store is down scoring waits,
which backs up ingestion. Any other error (a bug, such as a constraint violation) would
fail on every retry and blind every device, so it is logged with the events and raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from sqlalchemy.exc import InterfaceError, OperationalError

from app.alerting.events import AlertEvent, Severity, higher
from app.alerting.silences import Silences
from app.services.hub import Hub
from app.store import Store

log = logging.getLogger(__name__)
RETRY_MAX_S = 5.0
#: Errors worth retrying: the database is unreachable, locked, or out of space for now.
TRANSIENT = (OperationalError, InterfaceError, OSError, TimeoutError)


class StateSource(Protocol):
    """A state machine whose changed per-device states are persisted with its events."""

    def take_dirty(self) -> dict[str, dict[str, Any] | None]:
        """Device -> state to store, or None to delete; clears the changed set."""
        ...


class EventLog:
    """Stores events (then fans them out).

    Args:
        store: the durable store (event ids come from it).
        hub: the fan-out of stored events.
        silences: matched against each event at publication (wall clock).
        states: state kind ("leak", "safety") -> its state machine.
        webhook_urls: receivers that get a pending delivery per unsilenced event.
        clock: wall clock, epoch seconds (publication time, silences).
    """

    def __init__(
        self,
        *,
        store: Store,
        hub: Hub,
        silences: Silences | None = None,
        states: dict[str, StateSource] | None = None,
        webhook_urls: Sequence[str] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.hub = hub
        self.silences = Silences() if silences is None else silences
        self.states = dict(states or {})
        self.webhook_urls = list(webhook_urls)
        self.clock = clock
        self.listeners: list[Callable[[list[dict[str, Any]]], None]] = []
        #: Cluster mode (:mod:`app.cluster`): called with the committed events instead of
        #: ``hub.fan_out``; the hub then learns every replica's events from the store, in
        #: ``event_id`` order (:class:`app.cluster.follower.EventFollower`).
        self.on_commit: Callable[[list[dict[str, Any]]], None] | None = None
        #: Cluster mode: whether this replica may still write a device's events and states
        #: (it holds a fresh lease on its partition); others are dropped before each write
        #: attempt (:meth:`app.cluster.node.ClusterNode.may_write`).
        self.fence: Callable[[str], bool] | None = None
        self.fenced = 0  # events dropped by the fence
        self.published = 0
        self.write_failures = 0
        self._states_wanted = False
        self._states_task: asyncio.Task[None] | None = None

    @property
    def last_event_id(self) -> int:
        """Newest event id stored and fanned out (0 = none)."""
        return self.hub.last_event_id

    async def newest_id(self) -> int:
        """Newest event id, asking the store when the one fanned out here is older (another
        replica's events in cluster mode)."""
        return max(self.hub.last_event_id, await self.store.last_event_id())

    async def start(self) -> None:
        """Continue numbering after the newest stored event; the hub learns the highest
        severity of every open alert (its ``min_severity`` filter, :attr:`Hub.peaks`)."""
        self.hub.last_event_id = await self.store.last_event_id()
        self.hub.seed_peaks(await self.store.open_alert_peaks())

    async def read(
        self, after: int, *, device_ids: Sequence[str] | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Stored wire events after id ``after``, oldest first (silenced ones included)."""
        return await self.store.events_after(after, device_ids=device_ids, limit=limit)

    async def publish(self, events: Sequence[AlertEvent]) -> list[dict[str, Any]]:
        """Store events and the changed states durably, then fan them out.

        Without events there is nothing for anyone to see: the changed states are written
        by a background task (:meth:`flush_states`, on the store's no-fsync connections)
        and this returns at once, so the scorer and ingestion never wait for that commit.
        States changed meanwhile join it (or the next event's transaction).

        Returns:
            The published wire events (``event_id`` set, times RFC 3339).

        Raises:
            sqlalchemy.exc.SQLAlchemyError: the store refused the events for good.
        """
        if not events:
            self._states_wanted = True
            if self._states_task is None or self._states_task.done():
                self._states_task = asyncio.create_task(self._write_states(), name="states")
            return []
        async with self.store.write_lock:
            return await self.publish_locked(events)

    async def _write_states(self) -> None:
        while self._states_wanted:
            self._states_wanted = False
            # a permanent error is logged and counted by publish_locked (transient ones are
            # retried there); the next change tries again
            with contextlib.suppress(Exception):
                async with self.store.write_lock:
                    await self.publish_locked([])

    async def flush_states(self) -> None:
        """Write every changed state now, after any write in flight (shutdown)."""
        if self._states_task is not None:
            await asyncio.gather(self._states_task, return_exceptions=True)
        async with self.store.write_lock:
            await self.publish_locked([])

    async def publish_locked(self, events: Sequence[AlertEvent]) -> list[dict[str, Any]]:
        """:meth:`publish` for a caller that holds ``store.write_lock`` already."""
        states = {k: s for k, src in self.states.items() if (s := src.take_dirty())}
        if not events and not states:
            return []
        now = self.clock()
        marked = self._marked(events, now)
        records = [(e, e.to_wire(published_at=now)) for e in marked]
        delay = 0.05
        while True:
            if self.fence is not None:
                records, states = self._fenced(records, states)
                if not records and not states:
                    return []
            try:
                ids = await self.store.append(
                    records, states=states, now=now, webhook_urls=self.webhook_urls
                )
                break
            except TRANSIENT:
                self.write_failures += 1
                log.exception("store write failed; retrying in %.2f s", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)
            except Exception:
                self.write_failures += 1
                log.exception(
                    "store refused %d events, not retried: %r",
                    len(records),
                    [w for _, w in records],
                )
                raise
        out = [{"event_id": eid, **wire} for eid, (_, wire) in zip(ids, records, strict=True)]
        self.published += len(out)
        if self.on_commit is None:
            self.hub.fan_out(out)
        elif out:
            self.on_commit(out)
        if out:
            for listener in self.listeners:
                listener(out)
        return out

    def _marked(self, events: Sequence[AlertEvent], now: float) -> list[AlertEvent]:
        """``events`` with ``silenced`` set where a silence matches at ``now`` (epoch s).
        A silence's ``min_severity`` is judged on the alert's highest severity so far, that
        of the hub's ``min_severity`` filter (:attr:`Hub.peaks`, with the batch's earlier
        events of the same alert), so a silenced critical alarm's de-escalation and
        all-clear stay silenced. Cluster mode: the hub learns other replicas' events from
        the store (within a follower poll, 0.5 s), so an event published that soon after
        its alert escalated on another replica may be judged on its own severity."""
        peaks: dict[str, Severity] = {}
        out = []
        for e in events:
            before = peaks.get(e.alert_id, self.hub.peaks.get(e.alert_id))
            peaks[e.alert_id] = higher(e.severity, before)
            silenced = self.silences.matching(e.device_id, e.kind, e.severity, now, before)
            out.append(e.with_(silenced=silenced))
        return out

    def _fenced(
        self,
        records: list[tuple[AlertEvent, dict[str, Any]]],
        states: dict[str, dict[str, dict[str, Any] | None]],
    ) -> tuple[
        list[tuple[AlertEvent, dict[str, Any]]], dict[str, dict[str, dict[str, Any] | None]]
    ]:
        """Keep only the events and states of devices :attr:`fence` allows."""
        fence = self.fence
        assert fence is not None
        kept = [r for r in records if fence(r[0].device_id)]
        self.fenced += len(records) - len(kept)
        if len(kept) < len(records):
            log.warning("%d events of devices no longer owned dropped", len(records) - len(kept))
        kept_states = {
            k: {d: v for d, v in changed.items() if fence(d)} for k, changed in states.items()
        }
        return kept, {k: v for k, v in kept_states.items() if v}
