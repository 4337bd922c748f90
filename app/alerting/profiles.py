"""Device profiles: the gas a device measures, its set points in %LEL, and whether it is on.

Lower explosive limits (LEL, % by volume in air) from IEC 60079-20-1:2010 (Explosive
atmospheres - Material characteristics for gas and vapour classification), Table B.1 (the
"LFL" column), as transcribed into this table (not re-checked against the standard's text
in this repository: verify against your copy before relying on a value). LPG is a mixture
without one LEL: we use n-butane's 1.4 % vol, the lowest of its main components, so a given
ppm reads as the highest (safest) %LEL. The default set points,
10 % LEL (low, warning) and 25 % LEL (high, critical), are the usual alarm set points of
EN 60079-29-1 / IEC 60079-29-2 practice.

A device whose gas is not configured uses the global set points in ppm (``Settings``
``threshold_low_ppm`` / ``threshold_high_ppm``) and has no %LEL.

The profile's ``unit`` says what the device's ``gas_ppm`` field really carries:

- ``ppm`` (the default): the rules above.
- ``ppb`` (a toxic-gas or VOC cell that reports parts per billion): a concentration like
  ppm, 1 ppm = 1,000 ppb (:data:`PER_PPM`). Everything in ppm is converted: the global set
  points and the %LEL ones (the LEL in ppb), the leak policy's concentration escalation,
  and the sensor-fault gas range and rate limits (``app/alerting/safety.py``); a ppb
  device's own ``low_set_point`` / ``high_set_point`` are in ppb. Leak detection sees its
  gas in ppb, as sent (no detection axis, :meth:`DeviceProfile.axis`): the evidence gate's
  ratio adds 1 gas unit to the gas and the level (``log((gas + 1) / (level + 1))``, so that
  a sensor at 0 has one), and that unit is 1 ppb, so a cell at 5 ppb is judged as a ppm
  sensor at 5 ppm is (x2, 10 ppb, is +83 % in that ratio). It used to see ppm (``reading /
  1,000``): the 1 added was then 1,000 ppb, and the +22 % bound asked about +220 ppb over
  any clean level of a few ppb, so a cell at 5 ppb never raised x2-x40 leaks and one at 50
  ppb raised x10 after 41 s (a newcomer; ``python -m bench.ppb_axis``). Everything the leak
  policy and the signal model report is in ppb too (the device view's ``signal`` section,
  the dropout fault's level); the policy's concentration escalation is converted x 1,000
  (:meth:`Profiles.critical_gas`). Readings, set points and alerts stay in ppb, as sent.
  Before it a ppb sensor could only be declared ppm, and got ppm's fault limits (70,000 ppb
  out of the 60,000 ppm range) and set points (a tester). A ppm sensor whose clean air is
  far under 1 ppm (a PID VOC sensor at 0.005 ppm) is still judged with 1 ppm added: the
  README's "Evidence gate" says what that costs.
- ``%LEL`` (a catalytic or infrared LEL head that reports % of the LEL itself): the set
  points are ``low_pct_lel`` / ``high_pct_lel`` compared with the reading as it is, default
  10 / 25 %LEL (as above); the gas is optional (it only names the LEL).
- ``counts`` or ``mV`` (a raw ADC value or a voltage, not a concentration): no set point at
  all, since a ppm or %LEL value means nothing in that unit, unless the operator gives
  ``low_set_point`` / ``high_set_point`` in the device's unit. The global ppm set points
  never apply (a 12-bit ADC reading 5,000+ counts on clean air must not alarm).

A raw-unit device may also give ``zero``, its reading at no gas (a 4-20 mA loop read as
1,000 mV, a 12-bit ADC at 819 counts, a 16-bit ADC centred at 32,768), and ``polarity``,
the direction its output moves with gas: ``rising`` (default) or ``falling`` (an mV output
driven more negative, a MOX sensor's resistance). Leak detection (the signal model, the
windows the model scores, the evidence gate and the leak policy) then sees the gas as the
distance from zero in the gas direction, :func:`detected_gas`: ``reading - zero`` rising,
``zero - reading`` falling. The evidence gate judges a rise as a ratio of the level
(``log((gas + 1) / (level + 1))``): measured from the offset, a 3 %LEL leak on a 4-20 mA
loop read at 1,000 mV (+120 mV) is +12 %, under the +22 % bound; measured from zero it is
far over it. Readings are stored and shown as sent, and the set points stay in the device's
unit as sent: a rising device alarms at or above them, a falling one at or below them (an
oxygen cell read as 10.0 mV at 20.9 %vol, zero 10.0: set points 9.33 / 8.61 mV are 19.5 /
18.0 %vol, the OSHA 29 CFR 1910.146 oxygen-deficient atmosphere and a second, lower alarm
as EN 50104 oxygen detectors have). On a falling device ``low_set_point`` is still the
warning (the first reached, the larger value) and ``high_set_point`` the critical one (the
smaller value, further from the zero); both lie below the zero, and each deadband lies
above its set point (:mod:`app.alerting.safety`, :meth:`Profiles.falling`). Before,
set points on a falling device were refused, so an oxygen deficiency had no alarm at all
beside leak detection, whose learned level follows a slow depletion (a newcomer).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from app.slab import Columns, SlotIndex

#: Gas -> LEL in % by volume (IEC 60079-20-1:2010 Table B.1; LPG: see the module docstring).
LEL_PCT_VOL: dict[str, float] = {
    "methane": 4.4,
    "ethane": 2.4,
    "propane": 1.7,
    "n-butane": 1.4,
    "isobutane": 1.3,
    "lpg": 1.4,
    "hydrogen": 4.0,
    "ammonia": 15.0,
    "ethylene": 2.3,
    "acetylene": 2.3,
}
DEFAULT_LOW_PCT_LEL = 10.0
DEFAULT_HIGH_PCT_LEL = 25.0
PPM_PER_PCT_VOL = 10_000.0
#: The units a profile may declare for its device's gas reading (see the module docstring).
UNITS = ("ppm", "ppb", "%LEL", "counts", "mV")
RAW_UNITS = ("counts", "mV")
#: The concentration units (parts of the air by volume): readings of that unit per ppm.
#: Limits and set points given in ppm are multiplied by it for a device of that unit.
PER_PPM: dict[str, float] = {"ppm": 1.0, "ppb": 1_000.0}
#: The directions a raw-unit device's output may move with gas (see the module docstring).
POLARITIES = ("rising", "falling")

#: (zero, gain): a device's detection axis, gas as detected = ``gain * (reading - zero)``;
#: kept only for devices whose axis is not the reading itself (``(0.0, 1.0)``). The gain is
#: the polarity's sign (-1 falling); a ppb device has none (detection sees ppb, as sent:
#: the module docstring).
Axis = tuple[float, float]


def detected_gas(gas: Any, axis: Axis) -> Any:
    """The gas as leak detection sees it: ``gain * (gas - zero)`` for ``axis`` = (zero,
    gain), the reading's distance from the device's zero in the gas direction (may be
    negative: noise under zero; the features clip it at 0).

    Args:
        gas: a reading, or an array of them, in the device's unit (float).
        axis: (zero in the device's unit, gain: +1.0 rising, -1.0 falling).

    Returns:
        The same shape, float, in the device's unit.
    """
    zero, gain = axis
    return gain * (gas - zero)


def sent_gas(gas: Any, axis: Axis) -> Any:
    """Inverse of :func:`detected_gas`: a detected gas value back as the device's reading
    (``zero + gas / gain``), same shape, in the device's unit."""
    zero, gain = axis
    return zero + gas / gain


def lel_ppm(gas: str) -> float:
    """The LEL of ``gas`` in ppm (1 % vol = 10,000 ppm). Raises KeyError for an unknown gas."""
    return LEL_PCT_VOL[gas] * PPM_PER_PCT_VOL


@dataclass(frozen=True, slots=True)
class DeviceProfile:
    """What the operator says about one device.

    ``unit`` is the unit of its gas reading (one of :data:`UNITS`). ``low_pct_lel`` /
    ``high_pct_lel`` are % of the gas's LEL (a ppm or ppb device needs a ``gas`` for them);
    None means the default (10 / 25 %LEL, or the global ppm set points, in ppb for a ppb
    device, for one without a gas). ``low_set_point`` / ``high_set_point`` are in the
    device's own unit: a raw unit (counts, mV), where without them it has no set point, or
    ppm / ppb (a toxic gas's, instead of the %LEL or global ones). ``zero`` (the
    reading at no gas, in that raw unit; None = 0) and ``polarity`` (one of
    :data:`POLARITIES`) set its detection axis (:meth:`axis`); only for a raw unit.
    """

    name: str | None = None
    location: str | None = None
    gas: str | None = None
    low_pct_lel: float | None = None
    high_pct_lel: float | None = None
    enabled: bool = True
    unit: str = "ppm"
    low_set_point: float | None = None
    high_set_point: float | None = None
    zero: float | None = None
    polarity: str = "rising"

    def axis(self) -> Axis | None:
        """(zero, gain) of :func:`detected_gas`, or None when detection sees the reading as
        it is (no zero, or zero 0, and rising: every ppm, ppb and %LEL device; a ppb
        device's gas is detected in ppb, see the module docstring)."""
        zero = self.zero or 0.0
        gain = -1.0 if self.polarity == "falling" else 1.0
        return None if zero == 0.0 and gain == 1.0 else (zero, gain)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy (the store's columns)."""
        return {f: getattr(self, f) for f in self.__dataclass_fields__}

    def with_(self, **changes: Any) -> DeviceProfile:
        """A copy with some fields changed."""
        return replace(self, **changes)


class Profiles:
    """Registered devices and their profiles, in memory (the store holds the same rows).

    Memory: most devices have the default profile. Those with a slot in ``index`` (tracked by
    the ring buffers) are marked registered by one byte in a slot column; the others (known
    from the store, or evicted) are in a set; only non-default profiles are kept by id.

    Args:
        low_ppm, high_ppm: global set points, ppm, for devices without a configured gas.
        index: the ring buffers' slots (default: none; every registration is kept by id).
    """

    def __init__(self, *, low_ppm: float, high_ppm: float, index: SlotIndex | None = None) -> None:
        self.low_ppm = low_ppm
        self.high_ppm = high_ppm
        self._by_id: dict[str, DeviceProfile] = {}  # non-default profiles
        self._units: dict[str, str] = {}  # the devices whose unit is not ppm: id -> unit
        self._axes: dict[str, Axis] = {}  # the devices with a detection axis: id -> axis
        self._default: set[str] = set()  # default profile, no slot (or not marked yet)
        self._marks = Columns({"registered": ("b", 0)})
        self._registered = self._marks.col("registered")
        self.index = index
        if index is not None:
            index.attach(self)

    def grow(self, capacity: int) -> None:
        """Slot index listener: room for ``capacity`` slots."""
        self._marks.grow(capacity)
        self._registered = self._marks.col("registered")  # growing makes a new array

    def clear(self, slot: int) -> None:
        """Slot index listener: the slot's device leaves; it stays registered, by id."""
        if self._registered[slot] and self.index is not None:
            d = self.index.owner(slot)
            if d is not None:
                self._default.add(d)
        self._registered[slot] = 0

    def _slot(self, device_id: object) -> int | None:
        if self.index is None or not isinstance(device_id, str):
            return None
        return self.index.get(device_id)

    def __contains__(self, device_id: object) -> bool:
        s = self._slot(device_id)
        if s is not None and self._registered[s]:
            return True
        if device_id in self._default:
            if s is not None:  # it has a slot now: one byte instead of a set entry
                self._default.discard(device_id)
                self._registered[s] = 1
            return True
        return device_id in self._by_id

    def __len__(self) -> int:
        return len(self._by_id) + len(self._default) + int(self._marks.view("registered").sum())

    def ids(self) -> list[str]:
        """Registered device ids, sorted."""
        marked = np.flatnonzero(self._marks.view("registered")).tolist()
        owner = self.index.owner if self.index is not None else (lambda _s: None)
        out = {d for s in marked if (d := owner(s)) is not None}
        return sorted(out | self._default | set(self._by_id))

    def get(self, device_id: str) -> DeviceProfile:
        """The device's profile (the default one when it is not registered)."""
        return self._by_id.get(device_id) or DEFAULT_PROFILE

    def set(self, device_id: str, profile: DeviceProfile) -> None:
        """Register or replace a device's profile."""
        s = self._slot(device_id)
        if profile.unit == "ppm":
            self._units.pop(device_id, None)
        else:
            self._units[device_id] = profile.unit
        axis = profile.axis()
        if axis is None:
            self._axes.pop(device_id, None)
        else:
            self._axes[device_id] = axis
        if profile == DEFAULT_PROFILE:
            self._by_id.pop(device_id, None)
            if s is None:
                self._default.add(device_id)
            else:
                self._registered[s] = 1
                self._default.discard(device_id)
        else:
            self._by_id[device_id] = profile
            self._default.discard(device_id)
            if s is not None:
                self._registered[s] = 0

    def enabled(self, device_id: str) -> bool:
        """False for a device switched off by an operator (no alerts, not watched)."""
        return self.get(device_id).enabled

    def unit(self, device_id: str) -> str:
        """The unit of the device's gas readings (one of :data:`UNITS`)."""
        return self.get(device_id).unit

    def other_units(self) -> dict[str, str]:
        """The devices whose unit is not ppm: device id -> unit (the live mapping, for a
        reading's range check per unit, :func:`app.schemas.readings.gas_out_of_range`; do
        not change it)."""
        return self._units

    def axes(self) -> dict[str, Axis]:
        """The devices whose leak detection does not see the reading as it is (a raw
        device's zero / polarity): device id -> (zero, sign) of :func:`detected_gas` (the
        live mapping, for the ring buffers, :attr:`app.services.buffers.DeviceBuffers.axes`;
        do not change it)."""
        return self._axes

    def as_sent(self, device_id: str, gas: float | None) -> float | None:
        """A gas value of the detection axis (an alert's gas, the signal model's level) as
        the device's reading (:func:`sent_gas`), as the shortest decimal of its float32 (the
        ring buffers keep float32: 1,120.3 mV, not 1120.300003); itself for a device
        without an axis."""
        axis = self._axes.get(device_id)
        if gas is None or axis is None:
            return gas
        return float(str(np.float32(sent_gas(gas, axis))))

    def zero(self, device_id: str) -> float:
        """The device's reading at no gas, in its unit (:meth:`unit`): its profile's
        ``zero``, 0.0 when none is given (every ppm, ppb and %LEL device). What the safety
        rules measure a set point's deadband from (:func:`app.alerting.safety.short_of`)."""
        return self.get(device_id).zero or 0.0

    def falling(self, device_id: str) -> bool:
        """Whether the device's reading falls with gas (``polarity`` falling, a raw unit
        only): its set points alarm at or below them, and their deadbands lie above them
        (:meth:`app.alerting.safety.SafetyRules._sign`)."""
        return self.get(device_id).polarity == "falling"

    def set_points(self, device_id: str) -> tuple[float, float] | None:
        """(low, high) set points of the device, in its unit (:meth:`unit`); None for a
        raw-unit device (counts, mV) without set points of its own. A ppm (ppb) device's
        own ``low_set_point`` / ``high_set_point`` (ppm: a toxic gas's, H2S 10 / 50) come
        before its gas's %LEL ones and the global ones; those are in ppm, converted to ppb
        for a ppb device (:data:`PER_PPM`)."""
        p = self.get(device_id)
        low_pct = DEFAULT_LOW_PCT_LEL if p.low_pct_lel is None else p.low_pct_lel
        high_pct = DEFAULT_HIGH_PCT_LEL if p.high_pct_lel is None else p.high_pct_lel
        if p.unit == "%LEL":
            return low_pct, high_pct
        if p.unit in RAW_UNITS:
            if p.low_set_point is None or p.high_set_point is None:
                return None
            return p.low_set_point, p.high_set_point
        if p.low_set_point is not None and p.high_set_point is not None:
            return p.low_set_point, p.high_set_point  # a ppm device's own (a toxic gas's)
        per = PER_PPM[p.unit]
        if p.gas is None:
            return self.low_ppm * per, self.high_ppm * per
        lel = lel_ppm(p.gas) * per
        return lel * low_pct / 100, lel * high_pct / 100

    def critical_gas(self, device_id: str, critical_ppm: float | None) -> float | None:
        """The leak policy's concentration escalation (``critical_ppm``, the setting
        ``GASLEAK_ALERT_CRITICAL_GAS_PPM``) in the device's own unit, or None (no
        concentration escalation for this device):

        - ``ppm``: ``critical_ppm`` itself; ``ppb``: x 1,000 (:data:`PER_PPM`), since the
          policy sees a ppb device's gas in ppb, as sent (it used to see ppm, and the
          ppm value was returned as it is).
        - ``%LEL`` with a configured gas: the same concentration in %LEL,
          ``100 * critical_ppm / LEL`` with the LEL of :data:`LEL_PCT_VOL` (IEC 60079-20-1:2010
          Table B.1; methane 4.4 % vol = 44,000 ppm, so 5,000 ppm is 11.4 %LEL). Without a
          gas the LEL is unknown: the device's high set point (``high_pct_lel``, default
          25 %LEL, the level its threshold alarm calls critical).
        - ``counts`` / ``mV``: the profile's ``high_set_point`` in that unit, when given,
          on the detection axis the policy compares with (``high_set_point - zero``, see
          :func:`detected_gas`); otherwise None (a ppm value means nothing in a raw unit).

        None whenever ``critical_ppm`` is None (the escalation is off for every unit).
        """
        if critical_ppm is None:
            return None
        p = self.get(device_id)
        if p.unit in PER_PPM:
            return critical_ppm * PER_PPM[p.unit]
        if p.unit == "%LEL":
            if p.gas is not None:
                return 100.0 * critical_ppm / lel_ppm(p.gas)
            return DEFAULT_HIGH_PCT_LEL if p.high_pct_lel is None else p.high_pct_lel
        if p.high_set_point is None:  # a raw unit: only a set point in that unit
            return None
        axis = p.axis()
        return p.high_set_point if axis is None else float(detected_gas(p.high_set_point, axis))

    def pct_lel(self, device_id: str, gas_ppm: float | None) -> float | None:
        """The device's gas reading as %LEL: the reading itself for a ``%LEL`` device, a ppm
        (ppb) reading over its gas's LEL; None when the gas is unknown or the unit is raw."""
        p = self.get(device_id)
        if gas_ppm is None or p.unit in RAW_UNITS:
            return None
        if p.unit == "%LEL":
            return gas_ppm
        if p.gas is None:
            return None
        return 100.0 * gas_ppm / (lel_ppm(p.gas) * PER_PPM[p.unit])


#: The profile of every device nobody configured; one shared (frozen) object, so a device
#: registered with it costs a mark (see :class:`Profiles`), not an object of its own.
DEFAULT_PROFILE = DeviceProfile()
