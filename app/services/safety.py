"""Safety rules beside the model: fixed gas set points and sensor-fault checks.

They run on every accepted reading, always, whether a model is loaded or not, and publish
through the same hub as leak alerts. Each rule has its own alert lifecycle (``alert.raised``
then ``alert.resolved``, one ``alert_id``), and never uses ``kind`` "leak":

- ``kind="threshold"``: gas at or above the low set point (severity "warning") or the high
  set point (severity "critical"). The two set points latch independently, like the A1/A2
  alarm relays of a commercial fixed gas detector. Raised at the first reading at or above the
  set point; resolved with hysteresis, after ``clear_readings`` consecutive readings below
  ``set point * (1 - hysteresis)``.
- ``kind="sensor_fault"`` with ``reason``:
  - "stuck": gas, temperature and humidity all exactly unchanged for ``stuck_readings``
    readings. All three channels, because an SGP30 sits at its 400 ppm floor for long
    stretches in clean air (smoke_iot rows 0-3177: 2,962 equal gas readings in a row) while
    its T/RH neighbour keeps moving; resolved by the first reading that differs.
  - "rate_of_change": a channel changed faster than physically plausible between two
    readings (per second); resolved after ``clear_readings`` plausible steps.
  - "out_of_range": a value outside the sensor's stated range; resolved after
    ``clear_readings`` readings in range.
  - "silent": no reading for longer than ``silent_s`` (receive time, checked by the periodic
    sweep :meth:`SafetyRules.silent_devices`); resolved by the next reading.

Set point defaults (methane, ppm): LEL 5 % vol = 50,000 ppm (IEC 60079-20-1); low 10 % LEL =
5,000 ppm and high 25 % LEL = 12,500 ppm, the usual alarm set points of EN 60079-29-1 practice.
They stay far above clean indoor air (smoke_iot rows 0-3177: 400-462 ppm eCO2; the demo
simulator: ~420 ppm).
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from typing import Any

MODEL_TYPE = "safety rules"
_CHANNELS = ("gas_ppm", "temperature_c", "humidity_pct")


@dataclass(frozen=True, slots=True)
class SafetyConfig:
    """Parameters of :class:`SafetyRules` (see :class:`app.config.Settings` for sources)."""

    low_ppm: float = 5_000.0
    high_ppm: float = 12_500.0
    hysteresis: float = 0.2
    clear_readings: int = 5
    stuck_readings: int = 120
    max_rate_per_s: tuple[float, float, float] = (50_000.0, 5.0, 15.0)
    range_min: tuple[float, float, float] = (0.0, -40.0, 0.0)
    range_max: tuple[float, float, float] = (60_000.0, 85.0, 100.0)
    silent_s: float = 300.0


@dataclass(slots=True)
class _Device:
    """Per-device memory of the rules: last reading, counters, active alerts by rule key."""

    last: tuple[float, float, float] | None = None
    last_ts: float = math.nan
    last_seen: float = 0.0
    same_run: int = 0
    calm_run: dict[str, int] = field(default_factory=dict)
    active: dict[str, str] = field(default_factory=dict)  # rule key -> alert_id


class SafetyRules:
    """Pure rule engine: feed readings, get event bodies (without ``event_id``) to publish.

    Not thread-safe: call it from the event loop. Memory is one small record per device;
    call :meth:`forget` for evicted devices.
    """

    def __init__(self, config: SafetyConfig | None = None) -> None:
        self.config = config or SafetyConfig()
        self.devices: dict[str, _Device] = {}

    def check(
        self, device_id: str, ts: float, gas: float, temp: float, rh: float, *, now: float
    ) -> list[dict[str, Any]]:
        """Apply every rule to one accepted reading.

        Args:
            device_id: the device.
            ts: reading time, epoch seconds (readings arrive in time order per device).
            gas: ppm; temp: °C; rh: %RH.
            now: receive time in seconds (monotonic clock), for the silence rule.

        Returns:
            Event bodies, in the order raised/resolved, possibly empty.
        """
        st = self.devices.setdefault(device_id, _Device())
        vals = (gas, temp, rh)
        out: list[dict[str, Any]] = []
        if "silent" in st.active:
            out.append(self._resolve(device_id, st, "silent", ts, "readings resumed"))
        out += self._threshold(device_id, st, ts, gas)
        out += self._range(device_id, st, ts, vals)
        out += self._rate(device_id, st, ts, vals)
        out += self._stuck(device_id, st, ts, vals)
        st.last, st.last_ts, st.last_seen = vals, ts, now
        for event in out:
            event["gas_ppm"] = gas
        return out

    def silent_devices(self, now: float) -> list[dict[str, Any]]:
        """Raise ``sensor_fault``/"silent" for devices with no reading for ``silent_s``.

        Args:
            now: the same clock as ``check``'s ``now`` (monotonic seconds).
        """
        out = []
        for d, st in self.devices.items():
            quiet = now - st.last_seen
            if st.last is not None and quiet > self.config.silent_s and "silent" not in st.active:
                why = f"no reading for {quiet:.0f} s (limit {self.config.silent_s:.0f} s)"
                out.append(self._raise(d, st, "silent", "sensor_fault", "warning", st.last_ts,
                                       why, reason="silent"))  # fmt: skip
                out[-1]["gas_ppm"] = st.last[0]  # the last reading before the silence
        return out

    def active(self, device_id: str) -> dict[str, str]:
        """Rule key -> alert id of a device's active safety alerts (a copy)."""
        st = self.devices.get(device_id)
        return dict(st.active) if st else {}

    def count_active(self) -> int:
        """Number of active safety alerts over all devices."""
        return sum(len(st.active) for st in self.devices.values())

    def with_active(self) -> set[str]:
        """Devices with at least one active safety alert."""
        return {d for d, st in self.devices.items() if st.active}

    def restore_active(self, device_id: str, kind: str, severity: str, reason: str | None,
                       alert_id: str) -> None:  # fmt: skip
        """Re-open a stored active alert after a restart, so the rule resolves it instead of
        raising a duplicate (counters start afresh)."""
        if kind == "threshold":
            key = "threshold_high" if severity == "critical" else "threshold_low"
        elif reason:
            key = reason
        else:
            return
        self.devices.setdefault(device_id, _Device()).active[key] = alert_id

    def forget(self, device_ids: list[str]) -> None:
        """Drop the state of evicted devices."""
        for d in device_ids:
            self.devices.pop(d, None)

    # rules ---------------------------------------------------------------------------------
    def _threshold(self, d: str, st: _Device, ts: float, gas: float) -> list[dict[str, Any]]:
        c, out = self.config, []
        for key, sev, sp in (("threshold_low", "warning", c.low_ppm),
                             ("threshold_high", "critical", c.high_ppm)):  # fmt: skip
            if key not in st.active:
                if gas >= sp:
                    out.append(self._raise(d, st, key, "threshold", sev, ts,
                                           f"gas {gas:g} ppm >= set point {sp:g} ppm"))  # fmt: skip
            elif self._calm(st, key, gas < sp * (1 - c.hysteresis)):
                out.append(self._resolve(d, st, key, ts, f"gas {gas:g} ppm below "
                                         f"{sp * (1 - c.hysteresis):g} ppm"))  # fmt: skip
        return out

    def _range(self, d: str, st: _Device, ts: float, vals: tuple) -> list[dict[str, Any]]:
        c = self.config
        bad = [f"{n} {v:g} outside [{lo:g}, {hi:g}]" for n, v, lo, hi in
               zip(_CHANNELS, vals, c.range_min, c.range_max, strict=True) if not lo <= v <= hi]
        return self._fault(d, st, ts, "out_of_range", bad)

    def _rate(self, d: str, st: _Device, ts: float, vals: tuple) -> list[dict[str, Any]]:
        dt = ts - st.last_ts
        if st.last is None or not dt > 0:
            return self._fault(d, st, ts, "rate_of_change", None)
        bad = [f"{n} changed {abs(v - p) / dt:g}/s (limit {m:g}/s)" for n, v, p, m in
               zip(_CHANNELS, vals, st.last, self.config.max_rate_per_s, strict=True)
               if abs(v - p) / dt > m]  # fmt: skip
        return self._fault(d, st, ts, "rate_of_change", bad)

    def _stuck(self, d: str, st: _Device, ts: float, vals: tuple) -> list[dict[str, Any]]:
        st.same_run = st.same_run + 1 if vals == st.last else 0
        n = self.config.stuck_readings
        if st.same_run >= n and "stuck" not in st.active:
            return [self._raise(d, st, "stuck", "sensor_fault", "warning", ts,
                                f"gas, temperature and humidity unchanged for {n + 1} readings",
                                reason="stuck")]  # fmt: skip
        if st.same_run == 0 and "stuck" in st.active:
            return [self._resolve(d, st, "stuck", ts, "readings change again")]
        return []

    def _fault(self, d: str, st: _Device, ts: float, reason: str, bad: list[str] | None
               ) -> list[dict[str, Any]]:  # fmt: skip
        """Raise on the first bad reading; resolve after ``clear_readings`` good ones.
        ``bad`` None means "cannot judge this reading" (no counter change)."""
        if bad is None:
            return []
        if reason not in st.active:
            if bad:
                return [self._raise(d, st, reason, "sensor_fault", "warning", ts, "; ".join(bad),
                                    reason=reason)]  # fmt: skip
            return []
        if self._calm(st, reason, not bad):
            return [self._resolve(d, st, reason, ts, "plausible again")]
        return []

    # lifecycle -----------------------------------------------------------------------------
    def _calm(self, st: _Device, key: str, ok: bool) -> bool:
        st.calm_run[key] = st.calm_run.get(key, 0) + 1 if ok else 0
        return st.calm_run[key] >= self.config.clear_readings

    def _raise(self, d: str, st: _Device, key: str, kind: str, severity: str, ts: float,
               detail: str, reason: str | None = None) -> dict[str, Any]:  # fmt: skip
        st.active[key] = uuid.uuid4().hex
        st.calm_run[key] = 0
        return _event("alert.raised", st.active[key], d, kind, severity, ts, detail, reason)

    def _resolve(self, d: str, st: _Device, key: str, ts: float, detail: str) -> dict[str, Any]:
        alert_id = st.active.pop(key)
        kind = "threshold" if key.startswith("threshold") else "sensor_fault"
        severity = "critical" if key == "threshold_high" else "warning"
        reason = None if kind == "threshold" else key
        return _event("alert.resolved", alert_id, d, kind, severity, ts, detail, reason)


def _event(type_: str, alert_id: str, device_id: str, kind: str, severity: str, ts: float,
           detail: str, reason: str | None) -> dict[str, Any]:  # fmt: skip
    """An event body shaped like the leak policy's (``probability`` is None: no model)."""
    return {"type": type_, "alert_id": alert_id, "device_id": device_id, "kind": kind,
            "severity": severity, "probability": None, "ts": ts, "model_type": MODEL_TYPE,
            "reason": reason, "detail": detail}  # fmt: skip
