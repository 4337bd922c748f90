"""Alert lifecycle queries, acknowledgement and reminders, over the store and the event log."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from app.alerting.events import (
    Ack,
    AlertEvent,
    AlertState,
    EventType,
    Kind,
    Severity,
    ppm_or_none,
)
from app.alerting.leak import AlertPolicy
from app.alerting.safety import SafetyRules
from app.alerting.silences import Silences
from app.errors import Conflict, NotFound, cursor_position
from app.schemas.alerts import (
    Acknowledgement,
    Alert,
    AlertDetail,
    AlertPage,
    EpisodeOut,
    EventOut,
)
from app.schemas.readings import iso
from app.schemas.times import shown
from app.services.eventlog import EventLog
from app.store import Store

#: Default :attr:`AlertService.page_size`.
PAGE_SIZE = 500


def to_alert(row: dict[str, Any]) -> Alert:
    """A store row -> the wire model (epoch seconds -> RFC 3339)."""
    ack = None
    if row["ack_at"] is not None:
        ack = Acknowledgement(
            author=row["ack_author"], comment=row["ack_comment"] or "", at=iso(row["ack_at"])
        )
    return Alert(
        alert_id=row["alert_id"],
        device_id=row["device_id"],
        kind=row["kind"],
        state=row["state"],
        severity=row["severity"],
        peak_severity=row.get("peak_severity") or row["severity"],
        probability=row["probability"],
        gas=row["gas_ppm"],
        gas_unit=row["gas_unit"],
        gas_ppm=ppm_or_none(row["gas_ppm"], row["gas_unit"]),
        gas_pct_lel=row["gas_pct_lel"],
        opened_at=iso(row["opened_ts"]),
        updated_at=iso(row["updated_ts"]),
        resolved_at=None if row["resolved_ts"] is None else iso(row["resolved_ts"]),
        acknowledged=ack,
        last_event_id=row["last_event_id"],
        episode=None if row["episode"] is None else EpisodeOut(**row["episode"]),
        silenced=bool(row["silenced"]),
    )


def _peak(row: dict[str, Any]) -> Severity | None:
    """An alert row's highest severity so far (None: a row stored without one)."""
    peak = row.get("peak_severity")
    return None if peak is None else Severity(peak)


def _from_row(
    row: dict[str, Any],
    type_: EventType,
    *,
    ts: float,
    reason: str,
    detail: str | None = None,
    ack: Ack | None = None,
) -> AlertEvent:
    """An event about a stored alert that no state machine holds (reminders; acks of alerts
    whose device state is gone, such as a leak alert of an evicted device)."""
    return AlertEvent(
        type=type_,
        alert_id=row["alert_id"],
        device_id=row["device_id"],
        kind=Kind(row["kind"]),
        severity=Severity(row["severity"]),
        state=AlertState.ACKNOWLEDGED if ack else AlertState(row["state"]),
        ts=ts,
        probability=row["probability"],
        gas_ppm=row["gas_ppm"],
        gas_unit=row["gas_unit"],
        gas_pct_lel=row["gas_pct_lel"],
        reason=reason,
        detail=detail,
        ack=ack,
    )


class AlertService:
    """Reads alerts, records acknowledgements, sends reminders.

    Args:
        store: the store. log: publishes events. policy, rules: told about acks, so later
        events carry the state. silences: reminders are not sent for silenced alerts.
        clock: wall clock, epoch seconds.
    """

    def __init__(
        self,
        *,
        store: Store,
        log: EventLog,
        policy: AlertPolicy,
        rules: SafetyRules,
        silences: Silences,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.log = log
        self.policy = policy
        self.rules = rules
        self.silences = silences
        self.clock = clock
        #: Alert rows read per query, and published per hold of the write lock, by
        #: :meth:`remind` and :meth:`announce_unsilenced` (which page through all of them).
        self.page_size = PAGE_SIZE
        #: Cluster mode: reminders only for the devices this replica owns (one sender each).
        self.owns: Callable[[str], bool] | None = None
        #: Ids of the silences ended as of the last :meth:`sweep_silences` (None: not run).
        self._ended_seen: set[str] | None = None
        #: Cluster mode: ``(device_id, alert_id, author, comment)`` -> the owner of the
        #: device's partition acknowledges (its policy and rules hold the alert's state).
        self.forward_ack: Callable[[str, str, str, str], Awaitable[None]] | None = None

    async def list(
        self,
        *,
        device_ids: Sequence[str] | None,
        states: Sequence[str] | None,
        kinds: Sequence[str] | None,
        severities: Sequence[str] | None,
        opened_from: float | None,
        opened_to: float | None,
        cursor: str | None,
        limit: int,
    ) -> AlertPage:
        """Alerts newest first matching every given filter; ``cursor`` from the last page.

        Raises:
            InvalidRequest: ``cursor`` is not an alert ``seq`` from 1 to the newest
                (:func:`app.errors.cursor_position`).
        """
        before = None
        if cursor is not None:
            before = cursor_position(cursor, await self.store.newest_alert_seq())
        rows = await self.store.list_alerts(
            device_ids=device_ids,
            states=states,
            kinds=kinds,
            severities=severities,
            opened_from=opened_from,
            opened_to=opened_to,
            before_seq=before,
            limit=limit + 1,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        return AlertPage(
            alerts=[to_alert(self._live(r)) for r in rows],
            next_cursor=str(rows[-1]["seq"]) if more else None,
            last_event_id=self.log.last_event_id,
        )

    async def get(self, alert_id: str) -> AlertDetail:
        """One alert with its events.

        Raises:
            NotFound: no such alert.
        """
        row = await self.store.get_alert(alert_id)
        if row is None:
            raise NotFound(f"alert {shown(alert_id)} does not exist")
        events = await self.store.events_of_alert(alert_id)
        return AlertDetail(
            **to_alert(self._live(row)).model_dump(),
            events=[EventOut.model_validate(e) for e in events],
        )

    def _live(self, row: dict[str, Any]) -> dict[str, Any]:
        """``row`` with the running episode (last and peak values so far) of its alert while
        this process holds it open; the stored row's episode is that of its last event. A
        leak alert open for 3 h showed peak = last = 1,404.79 ppm, its opening reading, while
        the gas had reached 1,483.75 (newcomer of 1 Dec 06:30)."""
        if row["state"] == AlertState.RESOLVED or row["episode"] is None:
            return row
        device, alert_id = row["device_id"], row["alert_id"]
        episode = None
        if row["kind"] == Kind.LEAK:
            st = self.policy.open_alert(device)
            if st is not None and st.alert_id == alert_id:
                episode = st.episode
        else:
            for ep in self.rules.open_alerts(device).values():
                if ep.alert_id == alert_id:
                    episode = ep.episode
        if episode is None:
            return row
        return {**row, "episode": episode.freeze().to_wire(row["gas_unit"])}

    async def acknowledge(self, alert_id: str, *, author: str, comment: str) -> AlertDetail:
        """Acknowledge an open alert: ``alert.acknowledged`` (stored, then pushed), and for a
        latched alarm whose gas has cleared (``cleared_unacked``) its ``alert.resolved``.

        Raises:
            NotFound: no such alert.
            Conflict: the alert is resolved or already acknowledged.
            Unavailable: cluster mode, the owner of the device did not answer.
        """
        if self.owns is not None and self.forward_ack is not None:
            row = await self.store.get_alert(alert_id)
            if row is not None and not self.owns(row["device_id"]):
                await self.forward_ack(row["device_id"], alert_id, author, comment)
                return await self.get(alert_id)
        async with self.store.write_lock:
            row = await self.store.get_alert(alert_id)
            if row is None:
                raise NotFound(f"alert {shown(alert_id)} does not exist")
            if row["state"] == AlertState.RESOLVED:
                raise Conflict(f"alert {shown(alert_id)} is resolved; nothing to acknowledge")
            if row["state"] == AlertState.ACKNOWLEDGED:
                raise Conflict(
                    f"alert {shown(alert_id)} was already acknowledged by "
                    f"{shown(row['ack_author'])} at {iso(row['ack_at'])}"
                )
            ack, now, device = Ack(author, comment), self.clock(), row["device_id"]
            events: list[AlertEvent] | None
            if row["kind"] == Kind.LEAK:
                one = self.policy.acknowledge(device, alert_id, ack=ack, ts=now)
                events = None if one is None else [one]
            else:
                events = self.rules.acknowledge(device, alert_id, ack=ack, ts=now)
            if events is None:
                events = [
                    _from_row(row, EventType.ACKNOWLEDGED, ts=now, reason="acknowledged", ack=ack)
                ]
            await self.log.publish_locked(events)
        return await self.get(alert_id)

    async def close_device(
        self, device_id: str, *, detail: str, reason: str = "device_disabled"
    ) -> int:
        """Resolve every open alert of a device (leak and safety kinds), with ``reason`` and
        ``detail`` (who and why): ``device_disabled``, its readings no longer evaluated, so
        an alert left open could never change again; ``unit_changed``, its readings about
        to be read in another unit, so an alert's values and set points would no longer
        mean what they say (its pending low-set-point reading is raised first, in its own
        unit, and the rules forget its last reading); ``set_points_removed``, its threshold
        alarm only (and a pending reading, raised first), which could never clear;
        ``zero_changed``, its leak alert only (a raw device's zero or polarity changed, so
        the level kept with it is on another axis; threshold alarms are as sent). Stored
        and published like every event, in the device's current unit; returns how many
        alerts were closed."""
        async with self.store.write_lock:
            now = self.clock()
            events: list[AlertEvent] = []
            kinds = None
            if reason == "unit_changed":
                events += self.rules.settle(device_id, why="the device's unit was changed")
                self.rules.restart(device_id)
            elif reason == "set_points_removed":
                events += self.rules.settle(device_id, why="the device's set points were removed")
                kinds = frozenset({Kind.THRESHOLD.value})
            elif reason == "zero_changed":
                kinds = frozenset()
            if kinds is None or reason == "zero_changed":
                leak = self.policy.close(device_id, ts=now, reason=reason, detail=detail)
                events += [] if leak is None else [leak]
            events += self.rules.close(device_id, ts=now, reason=reason, detail=detail, kinds=kinds)
            if events or self.rules.dirty:
                await self.log.publish_locked(events)
        return sum(e.type == EventType.RESOLVED for e in events)

    async def close_disabled(self) -> int:
        """:meth:`close_device` for every disabled device that still has an open alert held
        here: at start-up (a device disabled before disabling closed alerts) and, in cluster
        mode, after a profile change made on another replica (this one owns the device).
        Returns how many alerts were closed."""
        profiles = self.rules.profiles
        held = set(self.policy.active()) | self.rules.with_open()
        n = 0
        for d in sorted(held):
            if not profiles.enabled(d):
                n += await self.close_device(
                    d, detail="device disabled; its readings are not evaluated while off"
                )
        return n

    async def announce_unsilenced(self) -> int:
        """Announce to subscribers and webhooks every alert owed its current state that no
        silence matches now (``unannounced``: its last event was silenced, and it is open
        or an earlier event of it was announced), as soon as the silence ends (expired or
        deleted), not at the next reminder or change:

        * an open alert: ``alert.updated``, ``reason`` ``"silence_ended"``, with its stored
          state, severity and values (reminders count from it);
        * an alert announced before and resolved under the silence: its ``alert.resolved``
          again, ``reason`` ``"silence_ended"``, ``ts`` its resolution time (the
          ``resolved_at`` it keeps). Before, only open alerts were announced: a warning
          heard raised, silenced, then cleared, was never told as resolved, and subscribers
          and webhooks kept a phantom active alarm (tester, 2 Dec). One raised and resolved
          under silences was never heard and is not announced.

        Events are stored like every event. Every owed alert is announced however many
        others a silence still matches: rows are read in pages of :attr:`page_size` by
        ``seq`` (a keyset cursor over ``ix_alerts_unannounced``), each page read and
        published under one hold of the write lock, released between pages. So one pass
        holds at most one page in memory and the lock for one page at a time, with one
        query per page of alerts owed (the open ones and the resolutions not yet told).
        It used to read the oldest 500 only: with 700 alerts under one silence, 200 were
        never announced, and 500 older alerts still silenced kept any other from being
        announced at all (tester, 2 Dec). Returns how many events were published.
        """
        return await self._paged(
            lambda after: self.store.unannounced_alerts(after_seq=after, limit=self.page_size),
            self._silence_ended,
        )

    def _silence_ended(self, row: dict[str, Any], now: float) -> AlertEvent:
        """The event that tells an alert row's current state once its silence has ended
        (:meth:`announce_unsilenced`); ``now``: epoch s."""
        if row["state"] != AlertState.RESOLVED:
            return _from_row(
                row,
                EventType.UPDATED,
                ts=now,
                reason="silence_ended",
                detail=(
                    f"raised or changed while silenced (last change "
                    f"{iso(row['updated_ts'])}); the silence has ended"
                ),
            )
        resolved = row["resolved_ts"] if row["resolved_ts"] is not None else now
        peak = _peak(row)
        if peak is not None:
            # the hub forgot the alert at its silenced resolution: a min_severity
            # subscriber judges this one on the alert's peak, as it judged the raise
            self.log.hub.seed_peaks({row["alert_id"]: peak})
        return _from_row(
            row,
            EventType.RESOLVED,
            ts=resolved,
            reason="silence_ended",
            detail=f"resolved while silenced at {iso(resolved)}; the silence has ended",
        )

    async def sweep_silences(self) -> int:
        """:meth:`announce_unsilenced` when a silence has ended since the last call (by id:
        a silence another replica ended counts once its reload arrives), and at the first
        call (a silence that ended while the service was down). Returns events published."""
        now = self.clock()
        ended = {s.silence_id for s in self.silences.all() if s.ends_at <= now}
        if self._ended_seen is not None and ended <= self._ended_seen:
            return 0
        self._ended_seen = ended
        return await self.announce_unsilenced()

    async def remind(self, interval_s: float) -> int:
        """Publish ``alert.reminder`` for each open, unacknowledged, unsilenced critical
        alert last notified ``interval_s`` or more ago (wall clock); returns how many.

        Every due alert is reminded however many others are silenced (or, in cluster mode,
        another replica's): the due rows are read in pages of :attr:`page_size` by ``seq``
        (a keyset cursor), each page read and published under one hold of the write lock
        (an acknowledgement in between is seen, not raced), released between pages. One
        pass holds one page in memory and runs one query per page of due alerts (bounded
        by the open critical alerts). It used to read the 500 longest unnotified only, and
        500 older silenced alarms, whose notification time never moves, held those slots
        for good: no reminder for anyone else (tester, 2 Dec)."""
        notified_before = self.clock() - interval_s
        return await self._paged(
            lambda after: self.store.due_reminders(
                notified_before=notified_before, after_seq=after, limit=self.page_size
            ),
            lambda r, now: _from_row(
                r,
                EventType.REMINDER,
                ts=now,
                reason="reminder",
                detail=f"critical and not acknowledged since {iso(r['opened_ts'])}",
            ),
        )

    async def _paged(
        self,
        page: Callable[[int], Awaitable[Sequence[dict[str, Any]]]],
        make: Callable[[dict[str, Any], float], AlertEvent],
    ) -> int:
        """For each page ``page(after_seq)`` of alert rows (``seq`` order, at most
        :attr:`page_size`), until a short one: under the write lock, publish ``make(row,
        now)`` for each row of a device this node owns that no silence matches now (epoch
        s). Returns how many events were published."""
        after, n = 0, 0
        while True:
            async with self.store.write_lock:
                now = self.clock()
                rows = await page(after)
                n += await self._publish_unsilenced(rows, now, make)
            if len(rows) < self.page_size:
                return n
            after = rows[-1]["seq"]

    async def _publish_unsilenced(
        self,
        rows: Sequence[dict[str, Any]],
        now: float,
        make: Callable[[dict[str, Any], float], AlertEvent],
    ) -> int:
        """Publish ``make(row, now)`` for each alert row of a device this node owns that no
        silence matches now (the caller holds the write lock); returns how many."""
        events = [
            make(r, now)
            for r in rows
            if (self.owns is None or self.owns(r["device_id"]))
            and not self.silences.matching(
                r["device_id"], Kind(r["kind"]), Severity(r["severity"]), now, _peak(r)
            )
        ]
        if events:
            await self.log.publish_locked(events)
        return len(events)
