"""Runs the safety rules on accepted readings: registers unknown devices, applies the rules,
and publishes what they raise through the event log (one store transaction per message)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from app.alerting.events import AlertEvent
from app.alerting.safety import SafetyRules
from app.schemas.readings import MAX_FUTURE_S, iso
from app.services.eventlog import EventLog
from app.services.registry import Registry

Row = tuple[str, float, float, float, float]  # device_id, ts, gas ppm, °C, %RH


class SafetyService:
    """The ingestor's per-reading hook.

    Args:
        rules: the pure rule engine. log: where events go. registry: device profiles.
        monotonic: receive clock for the silence rule (seconds).
        wall: the server clock, epoch seconds: the receipt time of a reading refused as out
            of order, at which its threshold alarm is placed.
    """

    def __init__(
        self,
        *,
        rules: SafetyRules,
        log: EventLog,
        registry: Registry,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.rules = rules
        self.log = log
        self.registry = registry
        self.monotonic = monotonic
        self.wall = wall

    async def on_readings(
        self,
        rows: Sequence[Row],
        clock: Sequence[str | None] | None = None,
        dropout: Sequence[str | None] | None = None,
    ) -> None:
        """Apply the rules to accepted readings (time order per device) and publish.

        A device seen for the first time is registered with the default profile first.
        ``clock``: per row, why it was placed at its receipt time (the ``clock`` fault), or
        None; None for all rows. ``dropout``: per row, why it reads as a sensor at 0 (the
        ``dropout`` fault), or None; None for all rows.
        """
        await self.registry.ensure({r[0] for r in rows})
        now = self.monotonic()
        events: list[AlertEvent] = []
        for i, (d, ts, gas, temp, rh) in enumerate(rows):
            why = None if clock is None else clock[i]
            dead = None if dropout is None else dropout[i]
            events += self.rules.check(d, ts, gas, temp, rh, now=now, clock=why, dropout=dead)
        if events or self.rules.dirty:
            await self.log.publish(events)

    async def on_late(
        self,
        rows: Sequence[tuple[str, float, float]],
        *,
        why: str = "out of order",
        clears: bool = False,
    ) -> None:
        """Readings refused for their time stamp (or, with ``clears``, in time order but
        refused under the device cap), (device_id, ts, gas ppm) each: a gas at or above a set
        point still raises (or extends) the threshold alarm, and with ``clears`` one below it
        counts towards the open alarm's all-clear (:meth:`SafetyRules.check_late`), at their
        receipt time, and the events are published. ``why``: the refusal, named in the
        events' detail."""
        events: list[AlertEvent] = []
        at = self.wall()
        for d, ts, gas in rows:
            events += self.rules.check_late(d, ts, gas, at=at, why=why, clears=clears)
        if events or self.rules.dirty:
            await self.log.publish(events)

    async def on_ahead(self, rows: Sequence[tuple[str, float, float]]) -> None:
        """Readings refused only for a stamp more than
        :data:`~app.schemas.readings.MAX_FUTURE_S` ahead of the server clock,
        (device_id, stamp epoch s, gas) each, of devices admitted under the device cap and
        the key's quota (``Ingestor.admit_ahead``). None is stored, but the device is
        registered and watched for silence by receive time, heard from now (a device whose
        every reading is refused was never heard of: no ``silent`` fault followed; one that
        keeps sending is not silent beside its ``clock`` fault: newcomer), its gas is
        checked against the set points at the receipt time (:meth:`on_late`), and its
        ``clock`` sensor fault is raised once (:meth:`SafetyRules.clock_refused`)."""
        devices = list(dict.fromkeys(d for d, _, _ in rows))
        await self.registry.ensure(devices)
        self.rules.heard(devices, now=self.monotonic())
        at = self.wall()
        why = f"more than {MAX_FUTURE_S:.0f} s ahead of the server clock"
        events: list[AlertEvent] = []
        for d, ts, gas in rows:
            events += self.rules.check_late(d, ts, gas, at=at, why=why)
            detail = (
                f"reading stamped {iso(ts)} is {ts - at:.0f} s ahead of the server clock "
                f"(at most {MAX_FUTURE_S:.0f} s): refused, not stored; check the gateway's clock"
            )
            events += self.rules.clock_refused(d, at=at, detail=detail)
        if events or self.rules.dirty:
            await self.log.publish(events)

    async def on_refused(self, rows: Sequence[tuple[str, str]]) -> None:
        """Readings of tracked devices refused for their gas, (device_id, the refusal) each
        (``Ingestor.refused_gas_faults``): none is stored, but the device was heard from now
        (it is not ``silent``) and its ``out_of_range`` sensor fault is raised once, naming
        the refusal (:meth:`SafetyRules.refused`), at the receipt time."""
        if not rows:
            return
        self.rules.heard(list(dict.fromkeys(d for d, _ in rows)), now=self.monotonic())
        at = self.wall()
        events: list[AlertEvent] = []
        for d, why in rows:
            detail = f"reading refused for its gas, not stored: {why}"
            events += self.rules.refused(d, at=at, condition="out_of_range", detail=detail)
        if events or self.rules.dirty:
            await self.log.publish(events)

    async def sweep_pending(self) -> int:
        """Raise the threshold alarm of low-set-point readings left unconfirmed for
        ``confirm_max_s`` (:meth:`SafetyRules.due`); returns how many events."""
        events = self.rules.due(self.monotonic())
        if events or self.rules.dirty:
            await self.log.publish(events)
        return len(events)

    async def sweep_silent(self, wall_ts: float) -> int:
        """Raise the ``silent`` fault of devices quiet for ``silent_s``; returns how many."""
        events = self.rules.silent(self.monotonic(), wall_ts=wall_ts)
        if events or self.rules.dirty:
            await self.log.publish(events)
        return len(events)
