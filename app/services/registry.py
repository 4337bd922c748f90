"""Device registry: profiles in memory (``app.alerting.profiles.Profiles``) backed by the
store's ``devices`` table; the read side of ``/api/devices``."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from app.alerting.profiles import LEL_PCT_VOL, DeviceProfile, Profiles
from app.errors import GasleakError
from app.store import Store
from app.store.registry import PROFILE_COLUMNS


class InvalidProfile(GasleakError):
    """A profile whose set points cannot apply (no gas, or low not below high)."""

    status = 422
    error = "invalid_request"


def check_profile(p: DeviceProfile) -> None:
    """Raises InvalidProfile: set points without a gas, an unknown gas, or low >= high."""
    errors = []
    if p.gas is not None and p.gas not in LEL_PCT_VOL:
        errors.append({"field": "gas", "reason": f"unknown gas; one of {sorted(LEL_PCT_VOL)}"})
    if p.gas is None and (p.low_pct_lel is not None or p.high_pct_lel is not None):
        errors.append({"field": "gas", "reason": "set points in %LEL need the gas (its LEL)"})
    low = 10.0 if p.low_pct_lel is None else p.low_pct_lel
    high = 25.0 if p.high_pct_lel is None else p.high_pct_lel
    if not low < high:
        errors.append({"field": "low_pct_lel", "reason": f"must be below high_pct_lel ({high:g})"})
    if errors:
        raise InvalidProfile(errors)


class Registry:
    """Registers devices and changes their profiles, store first, then memory.

    Args:
        store: the store. profiles: the in-memory profiles the rules and policy read.
    """

    def __init__(self, *, store: Store, profiles: Profiles) -> None:
        self.store = store
        self.profiles = profiles

    async def load(self) -> list[str]:
        """Read every registered device into memory (start-up); returns their ids."""
        rows = await self.store.devices.all()
        for r in rows:
            self.profiles.set(r["device_id"], DeviceProfile(**{k: r[k] for k in PROFILE_COLUMNS}))
        return [r["device_id"] for r in rows]

    async def ensure(self, device_ids: Iterable[str]) -> None:
        """Register, with the default profile, the devices not registered yet."""
        new = [d for d in device_ids if d not in self.profiles]
        if new:
            await self.store.devices.add(new, time.time())
            for d in new:
                self.profiles.set(d, DeviceProfile())

    async def put(self, device_id: str, profile: DeviceProfile) -> DeviceProfile:
        """Store and apply a device's whole profile.

        Raises:
            InvalidProfile: see :func:`check_profile`.
        """
        check_profile(profile)
        await self.store.devices.put(device_id, profile.to_dict(), time.time())
        self.profiles.set(device_id, profile)
        return profile

    async def patch(self, device_id: str, changes: dict[str, Any]) -> DeviceProfile:
        """Change some fields of a device's profile (registering it when unknown)."""
        return await self.put(device_id, self.profiles.get(device_id).with_(**changes))
