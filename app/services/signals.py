"""The signal models of all tracked devices: one slot each in a
:class:`app.ml.signal.SignalStates` slab, indexed by the ring buffers' :class:`SlotIndex`."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from app.alerting.profiles import Axis, detected_gas, sent_gas
from app.ml.features import ambient_allowance, needed_z
from app.ml.signal import DEAD_FRACTION, SignalConfig, SignalStates
from app.slab import Columns, SlotIndex

#: (i) -> the raw readings (gas, °C, %RH) of the device of reading ``i`` of a
#: :meth:`SignalBank.learn` call, the last ``warmup`` of them up to and including reading
#: ``i``, oldest first: shape (warmup, 3), float32 (the ring buffer's rows).
Recent = Callable[[int], np.ndarray]

log = logging.getLogger(__name__)


class SignalBank:
    """The signal model of each device with a slot in ``index``, created in its default state
    with the slot and cleared when the slot is freed (eviction, cluster hand-over).

    Also keeps each device's last leak probability (:attr:`scores` column ``probability``,
    NaN = not scored yet; :meth:`probability`): 8 bytes a slot rather than a dict entry and a
    float object per device.

    Args:
        cfg: the signal model's parameters (from the model manifest).
    """

    def __init__(self, cfg: SignalConfig) -> None:
        self.cfg = cfg
        self.states = SignalStates(cfg)
        self.scores = Columns({"probability": ("d", math.nan)})
        self.index = SlotIndex()
        self.index.attach(self.states)
        self.index.attach(self.scores)
        #: device -> the last operator reset {device_id, by, reason, at, readings_to_warm}
        self.last_reset: dict[str, dict[str, Any]] = {}

    def bind(self, index: SlotIndex) -> None:
        """Use ``index`` (the ring buffers') for the slots; call before any reading.

        Raises:
            RuntimeError: the bank already holds devices in its own index.
        """
        if len(self.index):
            raise RuntimeError("bind the signal bank before it learns anything")
        self.index = index
        index.attach(self.states)
        index.attach(self.scores)

    def __len__(self) -> int:
        return len(self.index)

    def learn(
        self,
        slots: Sequence[int],
        ts: Sequence[float],
        values: Sequence[Sequence[float]],
        recent: Recent,
    ) -> np.ndarray:
        """Learn readings (gas, °C, %RH) in time order per slot; one output array.

        Args:
            slots: m slots (a slot may repeat; its readings in time order).
            ts: m epoch seconds. values: m rows (gas, temperature_c, humidity_pct).
            recent: the raw readings a warm-up that completes at reading ``i`` starts from.

        Returns:
            (m, 6) float64: level, scale, t_level, rh_level, the evidence gate's log-ratio
            bound (:meth:`app.ml.signal.SignalStates.ratio_bound`; all NaN while warming up)
            and readings since the device's last (re)start, after each reading.
        """
        out = []
        st, w = self.states, self.cfg.warmup
        learn, n, bound = st.learn, st.n, st.ratio_bound
        for i, (s, t, (g, temp, rh)) in enumerate(zip(slots, ts, values, strict=True)):
            _, level, scale, t_level, rh_level = learn(s, g, t, temp, rh)
            k = n[s]
            if k == w:
                level, scale, t_level, rh_level = st.warm_up(s, recent(i))
                if st.kept:
                    self._note_kept(s)
            out.append((level, scale, t_level, rh_level, bound(s, temp, rh), k))
        return np.asarray(out, dtype=np.float64).reshape(-1, 6)

    def hold(self, device_id: str, on: bool) -> None:
        """Hold a device's level while its leak episode is open (ignored if unknown)."""
        s = self.index.get(device_id)
        if s is not None:
            self.states.held[s] = int(on)

    def held(self, device_id: str) -> bool:
        """Whether the device's level is held by an open leak episode (False if unknown)."""
        s = self.index.get(device_id)
        return s is not None and bool(self.states.held[s])

    def pace(self, device_id: str) -> float:
        """A device's reading time per reading, s, where its time stamps are coarse
        (:meth:`app.ml.signal.SignalStates.coarse_pace`); NaN where they are exact, or the
        device is unknown."""
        s = self.index.get(device_id)
        return math.nan if s is None else self.states.coarse_pace(s)

    def interval(self, device_id: str) -> float:
        """A device's typical interval between readings, s (the signal model's ``dt``,
        :class:`app.ml.signal.SignalStates`); NaN while unknown, or the device is unknown."""
        s = self.index.get(device_id)
        return math.nan if s is None else float(self.states.dt[s])

    def rebase(self, device_id: str, gas: float) -> None:
        """A device's leak alert ended: see :meth:`app.ml.signal.SignalStates.rebase`
        (ignored if unknown)."""
        s = self.index.get(device_id)
        if s is not None:
            self.states.rebase(s, gas)

    def _note_kept(self, s: int) -> None:
        """The warm-up of slot ``s`` kept the level from before an operator's reset or a
        reading gap: say so in the device's reset record (device view; a
        reset's only) and the log."""
        kept = self.states.kept.pop(s, None)
        device = self.index.owner(s)
        if kept is None or device is None:
            return
        learned, old = kept
        record = self.last_reset.get(device)
        if record is not None:
            record["level_kept"] = {"learned": round(learned, 6), "kept": round(old, 6)}
        log.warning(
            "warm-up of %s (after a baseline reset without trust_new_level, or a reading gap) "
            "learned %.6g, far above the %.6g before it (a leak's own gas); the old level is "
            "kept",
            device,
            learned,
            old,
        )

    def reset(self, device_id: str, keep_reference: bool = False, shift: float = 0.0) -> bool:
        """Restart a device's warm-up (operator's baseline reset); False if unknown.
        ``keep_reference``, ``shift``: see :meth:`app.ml.signal.SignalStates.reset`."""
        s = self.index.get(device_id)
        if s is None:
            return False
        self.states.reset(s, keep_reference, shift)
        return True

    def keeps_reference(self, device_id: str) -> bool:
        """Whether the device's next warm-up has a reference level (from before an
        operator's reset or a reading gap, :meth:`app.ml.signal.SignalStates.reset`): a
        level it learns at least the evidence bound above that one is not taken. False for
        an unknown device."""
        s = self.index.get(device_id)
        return s is not None and s in self.states.before_reset

    def forget(self, device_ids: Iterable[str]) -> None:
        """Drop what is kept by id for evicted devices (their slots are cleared on release)."""
        for d in device_ids:
            self.last_reset.pop(d, None)

    def dropout(
        self, device_id: str, gas: float, axis: Axis | None = None, unit: str = ""
    ) -> str | None:
        """Why the device's reading ``gas`` (as sent, in its ``unit``) reads as a sensor at 0
        (the ``dropout`` sensor fault: :meth:`app.ml.signal.SignalStates.dead_level`), or
        None (no such reading, or an unknown device). ``axis``: the device's detection axis
        (:func:`app.alerting.profiles.detected_gas`: a raw device's zero / polarity), on
        which its level is learned, or None. Every number of the detail is as sent, with
        the unit; on a device with an axis the 5 % rule is on the distance from its zero,
        and the detail says so with both distances (it compared a reading of 10.002 mV
        with a level of 7.67 mV "at or under 5 %" of it: the level's distance from the
        zero, 2.33 mV, was meant; a newcomer)."""
        s = self.index.get(device_id)
        if s is None:
            return None
        level = self.states.dead_level(s, gas if axis is None else detected_gas(gas, axis))
        if level is None:
            return None
        u = f" {unit}" if unit else ""
        pct = f"{100 * DEAD_FRACTION:g} %"
        if axis is None:
            what = (
                f"gas reads {gas:g}{u}, at or under {pct} of the device's clean level of "
                f"{level:.6g}{u}"
            )
        else:
            zero, gain = axis
            way = "below" if gain < 0 else "above"
            if gas == zero:
                where = f"at the device's zero of {zero:g}{u}"
            else:
                side = "below" if gas < zero else "above"
                where = f"{abs(gas - zero):.6g}{u} {side} the device's zero of {zero:g}{u}"
            what = (
                f"gas reads {gas:g}{u}, {where}: at or under {pct} of the clean level's "
                f"distance from the zero in the direction of gas ({level:.6g}{u} {way} it; "
                f"the clean level reads {float(sent_gas(level, axis)):.6g}{u})"
            )
        return (
            f"{what} for more than a dropout: is the sensor unplugged or dead, "
            "or is the gateway sending 0 for a missing value? Leaks are not seen meanwhile"
        )

    def set_probability(self, device_id: str, p: float) -> None:
        """Remember a device's latest leak probability (ignored if it has no slot)."""
        s = self.index.get(device_id)
        if s is not None:
            self.scores.col("probability")[s] = p

    def probability(self, device_id: str) -> float | None:
        """The device's latest leak probability, or None (unknown or not scored yet)."""
        s = self.index.get(device_id)
        if s is None:
            return None
        p = self.scores.col("probability")[s]
        return None if math.isnan(p) else p

    def info(
        self,
        device_id: str,
        gas: float | None = None,
        temp: float = math.nan,
        rh: float = math.nan,
    ) -> dict[str, Any] | None:
        """The device view's ``signal`` section, or None for an unknown device. ``gas``,
        ``temp``, ``rh``: the last reading (gas units, °C, %RH), for ``z`` and ``gate``."""
        s = self.index.get(device_id)
        if s is None:
            return None
        st = self.states
        warm = st.warm(s)
        z = st.score(s, gas) if (warm and gas is not None) else math.nan
        gate = None if math.isnan(z) or gas is None else self._gate(s, gas, z, temp, rh)
        return {
            "state": "ready" if warm else "warming_up",
            "readings_to_warm": max(self.cfg.warmup - st.n[s], 0),
            "settling": warm and st.settling(s),
            "level": None if not warm else round(st.level[s], 6),
            "noise_scale": None if not warm else round(st.scale[s], 6),
            "z": None if math.isnan(z) else round(z, 3),
            "held": bool(st.held[s]),
            "restarts": st.restarts[s],
            "ambient_gain": round(st.ambient_gain(s), 4),
            "last_reset": self.last_reset.get(device_id),
            "gate": gate,
        }

    def _gate(self, s: int, gas: float, z: float, temp: float, rh: float) -> dict[str, Any]:
        """The evidence gate's two bounds for the last reading ``gas`` (``z`` noise scales
        over the level), as :func:`app.ml.features.evidence` applies them to the filtered
        reading: ``rise_pct`` over the level, ``needs_rise_pct`` (the ratio bound in force,
        larger while settling, plus what the temperature and humidity change since the
        level was learned explains; None at a level at or below 0, where no ratio exists),
        ``needs_z`` (doubled at a 0 floor) and ``open`` (both met)."""
        st, cfg = self.states, self.cfg
        level = float(st.level[s])
        lr = math.log((max(gas, 0.0) + 1.0) / (max(level, 0.0) + 1.0))
        allow = ambient_allowance(temp, rh, float(st.t_level[s]), float(st.rh_level[s]), cfg)
        bound = st.ratio_bound(s, temp, rh) + allow
        needs_z = float(needed_z(level, cfg))
        ratio_ok = level <= 0.0 or lr >= bound
        return {
            "rise_pct": round(100.0 * math.expm1(lr), 2),
            "needs_rise_pct": None if level <= 0.0 else round(100.0 * math.expm1(bound), 2),
            "needs_z": needs_z,
            "open": bool(z >= needs_z and ratio_ok),
        }
