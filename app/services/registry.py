"""Device registry: profiles in memory (``app.alerting.profiles.Profiles``) backed by the
store's ``devices`` table; the read side of ``/api/devices``."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from app.alerting.profiles import (
    DEFAULT_HIGH_PCT_LEL,
    DEFAULT_LOW_PCT_LEL,
    DEFAULT_PROFILE,
    LEL_PCT_VOL,
    PER_PPM,
    POLARITIES,
    RAW_UNITS,
    UNITS,
    DeviceProfile,
    Profiles,
)
from app.errors import Conflict, GasleakError
from app.schemas.readings import GAS_RANGE
from app.services.eventlog import TRANSIENT
from app.store import Store
from app.store.registry import PROFILE_COLUMNS

log = logging.getLogger(__name__)


class InvalidProfile(GasleakError):
    """A profile whose set points cannot apply (see :func:`check_profile`)."""

    status = 422
    error = "invalid_request"


def check_profile(p: DeviceProfile) -> None:
    """Raises InvalidProfile, naming the field and the reason: an unknown unit or gas; %LEL
    set points on a ppm device without a gas; set points in the device's unit on a %LEL
    device, or only one of them, or on a ppm device beside %LEL ones; %LEL set points on a
    raw-unit device; low not below high (on a falling device: high not below low);
    ``zero`` or a ``falling`` polarity on a ppm or %LEL device (a concentration's zero is 0
    and it rises with gas); an unknown polarity; a zero outside the unit's range; a low set
    point not beyond the zero in the gas direction (:func:`_check_axis`)."""
    errors = _check_axis(p)
    if p.unit not in UNITS:
        errors.append({"field": "unit", "reason": f"unknown unit; one of {list(UNITS)}"})
    if p.gas is not None and p.gas not in LEL_PCT_VOL:
        errors.append({"field": "gas", "reason": f"unknown gas; one of {sorted(LEL_PCT_VOL)}"})
    pct_given = p.low_pct_lel is not None or p.high_pct_lel is not None
    raw_given = p.low_set_point is not None or p.high_set_point is not None
    if p.unit in PER_PPM and p.gas is None and pct_given:
        errors.append({"field": "gas", "reason": "set points in %LEL need the gas (its LEL)"})
    if p.unit in RAW_UNITS:
        if pct_given:
            field = "low_pct_lel" if p.low_pct_lel is not None else "high_pct_lel"
            errors.append(
                {
                    "field": field,
                    "reason": f"a {p.unit} device has no %LEL; give low_set_point and "
                    f"high_set_point in {p.unit}",
                }
            )
        if raw_given and (p.low_set_point is None or p.high_set_point is None):
            field = "low_set_point" if p.low_set_point is None else "high_set_point"
            errors.append({"field": field, "reason": "give both set points, or neither"})
        elif raw_given and p.polarity == "falling":
            if not p.high_set_point < p.low_set_point:  # type: ignore[operator]
                errors.append(
                    {
                        "field": "high_set_point",
                        "reason": f"must be below low_set_point ({p.low_set_point:g}) on a "
                        "falling device (polarity falling): its readings fall with gas, so "
                        "the critical set point (high_set_point) is the lower one, reached "
                        "after the warning one (low_set_point)",
                    }
                )
        elif raw_given and not p.low_set_point < p.high_set_point:  # type: ignore[operator]
            errors.append(
                {
                    "field": "low_set_point",
                    "reason": f"must be below high_set_point ({p.high_set_point:g})",
                }
            )
    elif raw_given and p.unit in PER_PPM:
        # a toxic gas's set points (H2S 10 / 50 ppm, CO 30 / 200 ppm) are no fraction of an
        # LEL: a ppm (ppb) device may give its own, in ppm (ppb) (newcomer of 1 Dec 14:10: a
        # 20 ppm H2S leak raised no threshold alarm, the only set points being 5,000 /
        # 12,500 ppm)
        if pct_given:
            field = "low_pct_lel" if p.low_pct_lel is not None else "high_pct_lel"
            errors.append(
                {
                    "field": field,
                    "reason": f"give set points in {p.unit} (low_set_point / "
                    "high_set_point) or in %LEL of the gas, not both",
                }
            )
        if p.low_set_point is None or p.high_set_point is None:
            field = "low_set_point" if p.low_set_point is None else "high_set_point"
            errors.append({"field": field, "reason": "give both set points, or neither"})
        elif not p.low_set_point < p.high_set_point:
            errors.append(
                {
                    "field": "low_set_point",
                    "reason": f"must be below high_set_point ({p.high_set_point:g})",
                }
            )
        elif p.low_set_point <= 0:
            errors.append({"field": "low_set_point", "reason": f"must be above 0 {p.unit}"})
    elif raw_given:
        field = "low_set_point" if p.low_set_point is not None else "high_set_point"
        errors.append(
            {
                "field": field,
                "reason": f"only for ppm, ppb or a raw unit (counts, mV); a {p.unit} device's set "
                "points are low_pct_lel / high_pct_lel",
            }
        )
    if p.unit in GAS_RANGE:
        lo, hi, why = GAS_RANGE[p.unit]
        for field in ("low_set_point", "high_set_point"):
            v = getattr(p, field)
            if v is not None and not lo <= v <= hi:
                errors.append(
                    {
                        "field": field,
                        "reason": f"{v:g} {p.unit} lies outside the range of unit {p.unit}, "
                        f"[{lo:,.0f}, {hi:,.0f}] {p.unit}: {why}",
                    }
                )
    low = DEFAULT_LOW_PCT_LEL if p.low_pct_lel is None else p.low_pct_lel
    high = DEFAULT_HIGH_PCT_LEL if p.high_pct_lel is None else p.high_pct_lel
    if not low < high:
        errors.append({"field": "low_pct_lel", "reason": f"must be below high_pct_lel ({high:g})"})
    if errors:
        raise InvalidProfile(errors)


def _check_axis(p: DeviceProfile) -> list[dict[str, str]]:
    """The errors of a profile's ``zero`` / ``polarity`` (see :func:`check_profile`). A
    falling device's set points alarm at or below them (:mod:`app.alerting.safety`), so
    its low (warning) set point must lie below its zero (0 when none is given), as a rising
    device's must lie above it: on the zero's side, clean air would alarm. They used to be
    refused, which left an oxygen deficiency (a falling O2 cell) with no alarm at all."""
    errors = []
    if p.polarity not in POLARITIES:
        errors.append(
            {"field": "polarity", "reason": f"unknown polarity; one of {list(POLARITIES)}"}
        )
    if p.unit not in RAW_UNITS:
        if p.zero is not None:
            errors.append(
                {
                    "field": "zero",
                    "reason": f"only for a raw unit (counts, mV): a {p.unit} reading's zero is 0",
                }
            )
        if p.polarity == "falling":
            errors.append(
                {
                    "field": "polarity",
                    "reason": f"only for a raw unit (counts, mV): a {p.unit} reading rises "
                    "with gas",
                }
            )
        return errors
    if p.zero is not None and p.unit in GAS_RANGE:
        lo, hi, why = GAS_RANGE[p.unit]
        if not lo <= p.zero <= hi:
            errors.append(
                {
                    "field": "zero",
                    "reason": f"{p.zero:g} {p.unit} lies outside the range of unit {p.unit}, "
                    f"[{lo:,.0f}, {hi:,.0f}] {p.unit}: {why}",
                }
            )
    if p.polarity == "falling" and p.low_set_point is not None:
        zero = p.zero or 0.0
        if not p.low_set_point < zero:
            errors.append(
                {
                    "field": "low_set_point",
                    "reason": f"must be below zero ({zero:g} {p.unit}, the reading at no gas"
                    + ("" if p.zero is not None else ": no zero given")
                    + "): a falling device alarms at or below its set points, so at or "
                    "above the zero clean air would alarm",
                }
            )
    elif p.zero is not None and p.low_set_point is not None and p.low_set_point <= p.zero:
        errors.append(
            {
                "field": "low_set_point",
                "reason": f"must be above zero ({p.zero:g} {p.unit}, the reading at no gas): "
                "at or below it clean air would alarm",
            }
        )
    return errors


class Registry:
    """Registers devices and changes their profiles, store first, then memory.

    Args:
        store: the store. profiles: the in-memory profiles the rules and policy read.
    """

    def __init__(self, *, store: Store, profiles: Profiles) -> None:
        self.store = store
        self.profiles = profiles
        #: Cluster mode: called after a profile change is stored, so the others reload.
        self.on_change: Callable[[], None] | None = None

    async def load(self) -> list[str]:
        """Read every registered device into memory (start-up); returns their ids."""
        rows = await self.store.devices.all()
        for r in rows:
            p = DeviceProfile(**{k: r[k] for k in PROFILE_COLUMNS})
            self.profiles.set(r["device_id"], DEFAULT_PROFILE if p == DEFAULT_PROFILE else p)
        return [r["device_id"] for r in rows]

    async def ensure(self, device_ids: Iterable[str]) -> None:
        """Register, with the default profile, the devices not registered yet.

        A transient store error is logged and the devices stay unregistered in memory, so
        their next reading tries again; their readings and alerts go on meanwhile (they
        use the default profile either way).
        """
        new = [d for d in device_ids if d not in self.profiles]
        if not new:
            return
        try:
            await self.store.devices.add(new, time.time())
        except TRANSIENT:
            log.warning(
                "registering %d devices failed; retried on their next reading",
                len(new),
                exc_info=True,
            )
            return
        for d in new:
            self.profiles.set(d, DEFAULT_PROFILE)

    async def put(self, device_id: str, profile: DeviceProfile) -> DeviceProfile:
        """Store and apply a device's whole profile.

        Raises:
            InvalidProfile: see :func:`check_profile`.
        """
        check_profile(profile)
        await self.store.devices.put(device_id, profile.to_dict(), time.time())
        self.profiles.set(device_id, profile)
        if self.on_change is not None:
            self.on_change()
        return profile

    async def patch(self, device_id: str, changes: dict[str, Any]) -> DeviceProfile:
        """Change some fields of a device's profile (registering it when unknown); see
        :meth:`merged`."""
        return await self.put(device_id, self.merged(device_id, changes))

    def merged(self, device_id: str, changes: dict[str, Any]) -> DeviceProfile:
        """The device's profile with ``changes`` applied (:meth:`unit_change`)."""
        return self.unit_change(device_id, changes)[0]

    def unit_change(
        self, device_id: str, changes: dict[str, Any]
    ) -> tuple[DeviceProfile, dict[str, Any]]:
        """The device's profile with ``changes`` applied, and what a change of ``unit`` did
        to the fields ``changes`` does not give: ``{"converted": {field: {"from", "to"}},
        "cleared": {field: old value}}`` (empty without a unit change), for the audit.

        Its own set points (``low_set_point`` / ``high_set_point``) are converted between
        ``ppm`` and ``ppb``, where the conversion is exact (x 1,000); any other unit change
        of a device with its own set points is refused unless ``changes`` gives them (new
        values, or null to remove them): counts 100 / 200 are not 100 / 200 mV, nor any ppm
        value, and dropping them silently left an H2S device at 10 / 50 ppm on the global
        set points, 5,000,000 / 12,500,000 ppb, effectively no alarm (newcomer of 2 Dec).
        A raw device's ``zero`` is refused alike on a change to the other raw unit; to a
        concentration (which has no zero) it is cleared, with the polarity back to
        ``rising``. The %LEL set points carry over between ``ppm``, ``ppb`` and ``%LEL``,
        where they mean the same, and are cleared on a change to a raw unit (it has no %LEL).

        Raises:
            Conflict: the unit changes, the device has its own set points (or a raw zero,
                to the other raw unit) that cannot be converted, and ``changes`` does not
                give them; naming ``unit``.
        """
        old = self.profiles.get(device_id)
        unit = changes.get("unit", old.unit)
        effects: dict[str, Any] = {}
        if unit == old.unit:
            return old.with_(**changes), effects
        cleared: dict[str, Any] = {"low_set_point": None, "high_set_point": None, "zero": None}
        if unit in RAW_UNITS:
            cleared |= {"low_pct_lel": None, "high_pct_lel": None}
        else:
            cleared["polarity"] = "rising"
        own = [f for f in ("low_set_point", "high_set_point") if getattr(old, f) is not None]
        if own and old.unit in PER_PPM and unit in PER_PPM:
            ratio = PER_PPM[unit] / PER_PPM[old.unit]
            converted = {f: getattr(old, f) * ratio for f in own if f not in changes}
            cleared |= converted
            effects["converted"] = {
                f: {"from": getattr(old, f), "to": v} for f, v in converted.items()
            }
        else:
            kept = [f for f in own if f not in changes]
            if old.zero is not None and unit in RAW_UNITS and "zero" not in changes:
                kept.append("zero")
            if kept:
                held = ", ".join(f"{f} {getattr(old, f):g}" for f in kept)
                raise Conflict(
                    [
                        {
                            "field": "unit",
                            "reason": f"device {device_id!r} has its own {held} in "
                            f"{old.unit}, which cannot be converted to {unit}: give "
                            f"{' and '.join(kept)} in {unit} in the same request, or null "
                            "to remove them",
                            "type": "unit_conversion",
                        }
                    ]
                )
        new = old.with_(**(cleared | changes))
        gone = {
            f: getattr(old, f)
            for f in cleared
            if f not in changes
            and f not in effects.get("converted", {})
            and getattr(old, f) != getattr(new, f)
        }
        if gone:
            effects["cleared"] = gone
        return new, effects
