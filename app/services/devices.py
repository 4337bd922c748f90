"""The per-device view (``GET /api/devices[/{id}]``) and profile changes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from app.alerting.profiles import DeviceProfile, lel_ppm
from app.alerting.view import DeviceAlertView
from app.errors import GasleakError, NotFound
from app.schemas.devices import DeviceInfo, DevicePage, OpenAlertOut, Profile, ProfilePatch
from app.schemas.readings import iso
from app.services.buffers import DeviceBuffers
from app.services.registry import Registry


class BadDeviceCursor(GasleakError):
    """A cursor that is not a device id from the last page."""

    status = 422
    error = "invalid_request"


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
        #: (device id, detail) -> resolve the device's open alerts (``AlertService.close_device``;
        #: wired in ``app/state.py``).
        self.close_alerts: Callable[[str, str], Awaitable[object]] | None = None

    def get(self, device_id: str) -> DeviceInfo:
        """One device: profile, open alerts of every kind, buffer info while in memory.

        Raises:
            NotFound: neither registered nor in memory.
        """
        info = self.buffers.info(device_id)
        if info is None and device_id not in self.registry.profiles:
            raise NotFound(f"device {device_id!r} is not known")
        return self._info(device_id, info)

    def _info(self, device_id: str, info: dict[str, Any] | None) -> DeviceInfo:
        profiles = self.registry.profiles
        p = profiles.get(device_id)
        state, worst = self.view.summary(device_id)
        points = profiles.set_points(device_id)
        extra: dict[str, Any] = {}
        if info is not None:
            extra = {
                **info,
                "last_ts": iso(info["last_ts"]),
                "gas_pct_lel": profiles.pct_lel(device_id, info["last_reading"]["gas_ppm"]),
                "gas_baseline": info["signal"]["level"],
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
                OpenAlertOut(alert_id=a.alert_id, kind=a.kind, severity=a.severity, state=a.state)
                for a in self.view.of(device_id)
            ],
            **extra,
        )

    def list(
        self, *, states: list[str] | None, kinds: list[str] | None, cursor: str | None, limit: int
    ) -> DevicePage:
        """Registered devices by id, filtered by summary state and by kind of open alert.

        Raises:
            BadDeviceCursor: ``cursor`` is not a registered device id (devices are never
                removed from the registry, so a cursor handed out stays valid).
        """
        ids = self.registry.profiles.ids()
        if states:
            ids = [d for d in ids if self.view.summary(d)[0] in states]
        if kinds:
            ids = [d for d in ids if any(a.kind in kinds for a in self.view.of(d))]
        total = len(ids)
        if cursor is not None and cursor not in self.registry.profiles:
            raise BadDeviceCursor([{"field": "cursor", "reason": "not a cursor from this API"}])
        if cursor is not None:
            ids = [d for d in ids if d > cursor]
        page = ids[:limit]
        return DevicePage(
            devices=[self._info(d, self.buffers.info(d)) for d in page],
            next_cursor=page[-1] if len(ids) > limit else None,
            total=total,
        )

    async def put(
        self, device_id: str, body: Profile, *, by: str = "?", reason: str | None = None
    ) -> DeviceInfo:
        """Replace a device's profile (registering it when unknown); see :meth:`_disabled`."""
        was = self.registry.profiles.enabled(device_id)
        await self.registry.put(device_id, _profile(body.model_dump()))
        await self._disabled(device_id, was, by, reason)
        return self.get(device_id)

    async def patch(
        self, device_id: str, body: ProfilePatch, *, by: str = "?", reason: str | None = None
    ) -> DeviceInfo:
        """Change the given fields of a device's profile; see :meth:`_disabled`."""
        was = self.registry.profiles.enabled(device_id)
        await self.registry.patch(device_id, body.model_dump(exclude_unset=True))
        await self._disabled(device_id, was, by, reason)
        return self.get(device_id)

    async def _disabled(self, device_id: str, was: bool, by: str, reason: str | None) -> None:
        """A device switched from enabled to disabled: its open alerts of every kind are
        resolved (``reason`` ``device_disabled``, ``detail`` naming ``by`` and ``reason``),
        since nothing evaluates its readings any more and an "active" alert that can no
        longer change would mislead the operator."""
        if not was or self.registry.profiles.enabled(device_id) or self.close_alerts is None:
            return
        detail = f"device disabled by {by}" + (f": {reason}" if reason else "")
        await self.close_alerts(device_id, detail + "; its readings are not evaluated while off")


def _profile(d: dict[str, Any]) -> DeviceProfile:
    return DeviceProfile(**d)
