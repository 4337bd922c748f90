"""The per-device view (``GET /api/devices[/{id}]``) and profile changes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from app.alerting.events import Kind
from app.alerting.profiles import RAW_UNITS, DeviceProfile, lel_ppm
from app.alerting.view import DeviceAlertView
from app.errors import Conflict, NotFound, bad_cursor
from app.schemas.devices import DeviceInfo, DevicePage, OpenAlertOut, Profile, ProfilePatch
from app.schemas.readings import iso
from app.schemas.times import shown
from app.services.buffers import DeviceBuffers
from app.services.registry import Registry, check_profile


class DeviceService:
    """Args: buffers (readings in memory), registry (profiles), view (open alerts)."""

    def __init__(
        self,
        *,
        buffers: DeviceBuffers,
        registry: Registry,
        view: DeviceAlertView,
        scores: Callable[[str], float | None],
    ) -> None:
        self.buffers = buffers
        self.registry = registry
        self.view = view
        self.scores = scores
        #: (device id, detail, reason) -> resolve the device's open alerts
        #: (``AlertService.close_device``; wired in ``app/state.py``).
        self.close_alerts: Callable[[str, str, str], Awaitable[object]] | None = None
        #: devices whose warm-up an operator restarted -> saved now (``Snapshots.save_devices``,
        #: wired in ``app/state.py``; None: no snapshots)
        self.on_restart: Callable[[list[str]], Awaitable[object]] | None = None

    def known(self, device_id: str) -> bool:
        """Whether the device is registered or in memory (what :meth:`get` needs)."""
        return self.buffers.info(device_id) is not None or device_id in self.registry.profiles

    def get(self, device_id: str) -> DeviceInfo:
        """One device: profile, open alerts of every kind, buffer info while in memory.

        Raises:
            NotFound: neither registered nor in memory.
        """
        info = self.buffers.info(device_id)
        if info is None and device_id not in self.registry.profiles:
            raise NotFound(f"device {shown(device_id)} is not known")
        return self._info(device_id, info)

    def _info(self, device_id: str, info: dict[str, Any] | None) -> DeviceInfo:
        profiles = self.registry.profiles
        p = profiles.get(device_id)
        state, worst = self.view.summary(device_id)
        points = profiles.set_points(device_id)
        extra: dict[str, Any] = {}
        if info is not None:
            cfg = self.buffers.signals.cfg
            ref = self.view.leak_reference(device_id, cfg.z_hold, cfg.min_log_ratio)
            extra = {
                **info,
                "signal": {
                    **info["signal"],
                    "leak_reference": ref,
                    "raise_windows": self.view.raise_windows(device_id, info["last_ts"]),
                },
                "last_ts": iso(info["last_ts"]),
                "gas_pct_lel": profiles.pct_lel(device_id, info["last_reading"]["gas_ppm"]),
                "gas_baseline": profiles.as_sent(device_id, info["signal"]["level"]),
                "last_probability": self.scores(device_id),
            }
        return DeviceInfo(
            device_id=device_id,
            profile=Profile(**p.to_dict()),
            lel_ppm=None if p.gas is None else lel_ppm(p.gas),
            unit=p.unit,
            set_points=points,
            set_points_ppm=points if p.unit == "ppm" else None,
            alert_state=state,
            alert_id=None if worst is None else worst.alert_id,
            severity=None if worst is None else worst.severity.value,
            alerts=[
                OpenAlertOut(
                    alert_id=a.alert_id,
                    kind=a.kind,
                    severity=a.severity,
                    state=a.state,
                    conditions=None if a.conditions is None else list(a.conditions),
                )
                for a in self.view.of(device_id)
            ],
            **extra,
        )

    def list(
        self, *, states: list[str] | None, kinds: list[str] | None, cursor: str | None, limit: int
    ) -> DevicePage:
        """Registered devices by id, filtered by summary state and by kind of open alert.

        Raises:
            InvalidRequest: ``cursor`` is not a registered device id (devices are never
                removed from the registry, so a cursor handed out stays valid), with the
                cursor reason of every list (:func:`app.errors.bad_cursor`, type
                ``cursor``; it was type ``invalid_request``, unlike /api/alerts, /api/audit
                and /api/webhooks/deliveries; newcomer of 2 Dec).
        """
        ids = self.registry.profiles.ids()
        if states:
            ids = [d for d in ids if self.view.summary(d)[0] in states]
        if kinds:
            ids = [d for d in ids if any(a.kind in kinds for a in self.view.of(d))]
        total = len(ids)
        if cursor is not None and cursor not in self.registry.profiles:
            raise bad_cursor("the ids of registered devices (next_cursor of the last page)")
        if cursor is not None:
            ids = [d for d in ids if d > cursor]
        page = ids[:limit]
        return DevicePage(
            devices=[self._info(d, self.buffers.info(d)) for d in page],
            next_cursor=page[-1] if len(ids) > limit else None,
            total=total,
        )

    async def put(
        self,
        device_id: str,
        body: Profile,
        *,
        by: str = "?",
        reason: str | None = None,
        force: bool = False,
    ) -> DeviceInfo:
        """Replace a device's profile (registering it when unknown); see :meth:`_apply`."""
        await self._apply(device_id, _profile(body.model_dump()), by, reason, force)
        return self.get(device_id)

    async def patch(
        self,
        device_id: str,
        body: ProfilePatch,
        *,
        by: str = "?",
        reason: str | None = None,
        force: bool = False,
    ) -> tuple[DeviceInfo, dict[str, Any]]:
        """Change the given fields of a device's profile; see :meth:`_apply`. A unit change
        converts the device's own set points between ppm and ppb, refuses (409) one that
        would drop set points (or a raw zero) it cannot convert, and clears what the new
        unit cannot have (:meth:`Registry.unit_change`). Returns the device's view and what
        the unit change converted or cleared (for the audit; empty without one)."""
        new, effects = self.registry.unit_change(device_id, body.model_dump(exclude_unset=True))
        await self._apply(device_id, new, by, reason, force)
        return self.get(device_id), effects

    async def _apply(
        self, device_id: str, new: DeviceProfile, by: str, reason: str | None, force: bool
    ) -> None:
        """Store and apply ``new``; a unit change first goes through :meth:`_unit_changed`,
        a change of the detection axis (``zero`` / ``polarity``) through
        :meth:`_axis_changed`, a device switched off then through :meth:`_disabled`.

        Raises:
            InvalidProfile: see :func:`app.services.registry.check_profile` (before any
                change is made).
            Conflict: a unit change while the device has open alerts, an axis change while
                it has an open leak alert, or set points removed while it has an open
                threshold alarm, without ``force``.
        """
        check_profile(new)
        old = self.registry.profiles.get(device_id)
        axis_changed = new.axis() != old.axis()
        had_leak = False
        if new.unit != old.unit:
            await self._unit_changed(device_id, old.unit, new.unit, by, reason, force)
        else:
            if axis_changed:
                had_leak = await self._axis_changed(device_id, old, new, by, reason, force)
            if _has_set_points(old) and not _has_set_points(new):
                await self._set_points_removed(device_id, new.unit, by, reason, force)
        await self.registry.put(device_id, new)
        if new.unit != old.unit:
            await self._after_unit_change(device_id, old.unit, new.unit, by, reason)
        if axis_changed:  # after the put: no reading on the old axis enters the new warm-up
            # a leak alert forced closed by a zero change: the old clean level, moved onto
            # the new axis, stays the warm-up's reference, so the leak is not learned as the
            # new level (it was: a 0.5 mV zero change during a +120 mV leak, newcomer of
            # 1 Dec 13:45); a polarity change mirrors the axis, and keeps none
            keep = had_leak and old.polarity == new.polarity
            sign = -1.0 if new.polarity == "falling" else 1.0
            shift = sign * ((old.zero or 0.0) - (new.zero or 0.0))
            self.buffers.signals.reset(device_id, keep_reference=keep, shift=shift)
            await self._restarted(device_id)
        await self._disabled(device_id, old.enabled, by, reason)

    async def _axis_changed(
        self,
        device_id: str,
        old: DeviceProfile,
        new: DeviceProfile,
        by: str,
        reason: str | None,
        force: bool,
    ) -> bool:
        """A raw device's ``zero`` or ``polarity`` is about to change: leak detection will
        see its gas on another axis (:func:`app.alerting.profiles.detected_gas`), so its
        learned level and noise scale, and an open leak alert's kept level, mean nothing
        any more. An open leak alert: refused (409, naming it) unless ``force``; forced, it
        is resolved now (reason ``zero_changed``). Its warm-up restarts in any case (as for
        a unit change, by :meth:`_apply`, after the new profile is in place). Threshold
        alarms stay: their readings and set points are as sent, on no axis.

        Returns:
            True when an open leak alert was resolved (forced).

        Raises:
            Conflict: an open leak alert, and not ``force``.
        """
        leak = [a for a in self.view.of(device_id) if a.kind == Kind.LEAK]
        if not leak:
            return False
        what = (
            f"zero {old.zero if old.zero is not None else 0:g} -> "
            f"{new.zero if new.zero is not None else 0:g} {new.unit}, polarity "
            f"{old.polarity} -> {new.polarity}"
        )
        if not force:
            held = _holding(leak, None, new.unit, kind=False)
            raise Conflict(
                [
                    {
                        "field": "zero" if old.zero != new.zero else "polarity",
                        "reason": f"device {shown(device_id)} has an open leak alert: "
                        f"{'; '.join(held)}; its levels are measured from the old zero "
                        f"({what}). Resolve it first, or send force=true to resolve it now "
                        "as zero_changed",
                    }
                ]
            )
        await self._force_close(device_id, f"{what} by {by}", reason, "zero_changed")
        return True

    async def _unit_changed(
        self, device_id: str, old: str, new: str, by: str, reason: str | None, force: bool
    ) -> None:
        """A device's readings are about to be read in another unit. Its open alerts (any
        kind) and a low-set-point reading awaiting confirmation hold values and set points
        in the old unit: refused (409, naming them) unless ``force``; forced, they are
        resolved now, in the old unit (reason ``unit_changed``, the detail naming who and
        why; the pending reading raised first, so it is not dropped). Its clean-air level
        is in the old unit too: its warm-up restarts (as a baseline reset), with or without
        alerts, once the new unit is in place (:meth:`_after_unit_change`). Newcomer: a
        unit change resolved a threshold warning as "all clear", relabelled its values with
        the new unit and dropped a held reading.

        Raises:
            Conflict: open alerts or a pending reading, and not ``force``.
        """
        alerts = self.view.of(device_id)
        pending = self.view.rules.pending(device_id)
        if (alerts or pending is not None) and not force:
            held = _holding(alerts, pending, old, kind=True)
            raise Conflict(
                [
                    {
                        "field": "unit",
                        "reason": f"device {shown(device_id)} has open alerts in {old}: "
                        f"{'; '.join(held)}; their values and set points are in {old}, not "
                        f"{new}. Resolve them first, or send force=true to resolve them now "
                        "as unit_changed",
                    }
                ]
            )
        if alerts or pending is not None:
            await self._force_close(
                device_id, f"unit changed from {old} to {new} by {by}", reason, "unit_changed"
            )

    async def _after_unit_change(
        self, device_id: str, old: str, new: str, by: str, reason: str | None
    ) -> None:
        """Once the new unit is in place: an alert its readings opened in the old unit while
        the change was being made (between :meth:`_unit_changed` and the registry's write,
        each an await) is resolved as ``unit_changed`` too, and the warm-up restarts now,
        so that no reading read in the old unit is in it (as for an axis change). Before,
        a device posting 30 in a tight loop while forced from %LEL to ppm opened a new
        critical threshold alarm "30 %LEL >= set point 25 %LEL" right after its alerts were
        resolved, latched, in 2 of 3 runs (README newcomer of 10 Dec)."""
        if self.view.of(device_id) or self.view.rules.pending(device_id) is not None:
            await self._force_close(
                device_id,
                f"unit changed from {old} to {new} by {by} (opened in {old} during the change)",
                reason,
                "unit_changed",
            )
        self.buffers.signals.reset(device_id)  # its level and noise scale are in the old unit
        await self._restarted(device_id)

    async def _restarted(self, device_id: str) -> None:
        """The device's warm-up was restarted by an operator: save its snapshot now."""
        if self.on_restart is not None:
            await self.on_restart([device_id])

    async def _set_points_removed(
        self, device_id: str, unit: str, by: str, reason: str | None, force: bool
    ) -> None:
        """A raw-unit device's set points are about to be removed (no threshold rule left):
        an open threshold alarm could never clear, and ended at its next reading "all
        clear" (``no set point in the device's unit``) though no clean air was seen. Refused
        (409, naming it) unless ``force``; forced, it is resolved now as
        ``set_points_removed`` (a pending low-set-point reading raised first).

        Raises:
            Conflict: an open threshold alarm or a pending reading, and not ``force``.
        """
        alerts = [a for a in self.view.of(device_id) if a.kind == Kind.THRESHOLD]
        pending = self.view.rules.pending(device_id)
        if not alerts and pending is None:
            return
        if not force:
            held = _holding(alerts, pending, unit, kind=False)
            raise Conflict(
                [
                    {
                        "field": "low_set_point",
                        "reason": f"device {shown(device_id)} has an open threshold alarm: "
                        f"{'; '.join(held)}; without set points nothing could clear it. "
                        "Resolve it first, or send force=true to resolve it now as "
                        "set_points_removed",
                    }
                ]
            )
        await self._force_close(
            device_id, f"set points removed by {by}", reason, "set_points_removed"
        )

    async def _force_close(
        self, device_id: str, what: str, reason: str | None, resolution: str
    ) -> None:
        """Resolve the device's open alerts now as ``resolution`` (an operator's forced
        change), the detail saying what was done, by whom and why."""
        if self.close_alerts is not None:
            detail = what + (f": {reason}" if reason else "")
            await self.close_alerts(
                device_id, detail + "; ended by the operator, not by clean air", resolution
            )

    async def _disabled(self, device_id: str, was: bool, by: str, reason: str | None) -> None:
        """A device switched from enabled to disabled: its open alerts of every kind are
        resolved (``reason`` ``device_disabled``, ``detail`` naming ``by`` and ``reason``),
        since nothing evaluates its readings any more and an "active" alert that can no
        longer change would mislead the operator."""
        if not was or self.registry.profiles.enabled(device_id) or self.close_alerts is None:
            return
        detail = f"device disabled by {by}" + (f": {reason}" if reason else "")
        await self.close_alerts(
            device_id, detail + "; its readings are not evaluated while off", "device_disabled"
        )


def _profile(d: dict[str, Any]) -> DeviceProfile:
    return DeviceProfile(**d)


def _has_set_points(p: DeviceProfile) -> bool:
    """Whether a profile gives its device a threshold rule (``Profiles.set_points``): every
    ppm or %LEL device; a raw-unit one only with both set points of its own."""
    return p.unit not in RAW_UNITS or (p.low_set_point is not None and p.high_set_point is not None)


def _holding(alerts: Sequence[Any], pending: Any, unit: str, *, kind: bool) -> list[str]:
    """What a forced change would end: each open alert (id, kind when ``kind``, severity,
    state) and a low-set-point reading awaiting confirmation (``pending``: its ``gas`` in
    ``unit``), for a 409's reason."""
    held = [
        f"{a.alert_id} ({f'{a.kind}, ' if kind else ''}{a.severity}, {a.state})" for a in alerts
    ]
    if pending is not None:
        held.append(f"a reading of {pending.gas:g} {unit} awaiting confirmation")
    return held
