"""Safety rules beside the model: gas set points and sensor faults, as alarm episodes.

They run on every accepted reading, whether a model is loaded or not. Each device has at most
one open alert per kind (issue 10): one ``threshold`` episode and one ``sensor_fault``
episode; everything that happens inside an episode is an ``alert.updated`` on its
``alert_id``. All times are reading times (epoch s) except the silence sweep's receive clock.

``kind="threshold"`` (set points from the device profile: ``profiles.py``):

- Raised at the first reading at or above the low set point; severity ``critical`` at once
  when it is at or above the high set point (a 0 -> 20,000 ppm step alarms on that reading).
- Escalates warning -> critical on the first reading at or above the high set point.
- Clear condition: gas below ``low * (1 - hysteresis)``. The episode ends once the clear
  condition has held for ``off_delay_s`` of reading time (off-delay, never on one reading).
- Latching (``latch_critical``, on by default, as IEC 60079-29-1 / EN 50194 detectors latch
  their high alarm): once critical, the alarm does not end when the gas clears; it goes to
  ``cleared_unacked`` and resolves when acknowledged (an ack given while the gas is still
  up is remembered, and the clear then resolves it). Gas back above the low set point while
  ``cleared_unacked`` makes it ``active`` again. Without latching a critical alarm
  de-escalates to warning after the gas stays below ``high * (1 - hysteresis)`` for the
  off-delay. The full table is in README "Alarm states".

``kind="sensor_fault"``, one episode whose ``reason`` names the condition that raised or
updated it; the episode ends when no condition has held for ``off_delay_s``:

- "stuck": gas, temperature and humidity all exactly unchanged for ``stuck_readings``
  readings (all three: an SGP30 sits at its 400 ppm floor for long stretches in clean air,
  smoke_iot rows 0-3177, while its T/RH neighbour keeps moving).
- "rate_of_change": a channel moved faster than ``max_rate_per_s``, measured against a
  reference reading: the previous reading once it is at least ``rate_min_span_s`` old
  (exactly the previous one at regular sampling), else the last such reference, else the
  device's first reading; the time between them counts as at least ``rate_min_span_s``. Two
  readings 10 ms apart with +0.1 °C are 0.1 °C/s, not 10 °C/s. Memory: one reading.
- "out_of_range": a value outside the sensor's stated range.
- "silent": no reading for ``silent_s`` (receive time, found by :meth:`SafetyRules.silent`);
  cleared by the next reading.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from app.alerting.events import (
    Ack,
    AlertEvent,
    AlertState,
    EpisodeStats,
    EventType,
    Kind,
    Severity,
)
from app.alerting.profiles import Profiles

MODEL_TYPE = "safety rules"
_CHANNELS = ("gas_ppm", "temperature_c", "humidity_pct")
FAULTS = ("stuck", "rate_of_change", "out_of_range", "silent")
Vals = tuple[float, float, float]


@dataclass(frozen=True, slots=True)
class SafetyConfig:
    """Parameters of :class:`SafetyRules` (see :class:`app.config.Settings` for sources).

    ``low_ppm`` / ``high_ppm`` are the set points of devices without a configured gas.
    """

    low_ppm: float = 5_000.0
    high_ppm: float = 12_500.0
    hysteresis: float = 0.2
    off_delay_s: float = 60.0
    latch_critical: bool = True
    stuck_readings: int = 120
    max_rate_per_s: Vals = (50_000.0, 5.0, 15.0)
    rate_min_span_s: float = 1.0
    range_min: Vals = (0.0, -40.0, 0.0)
    range_max: Vals = (60_000.0, 85.0, 100.0)
    silent_s: float = 300.0


@dataclass(slots=True)
class OpenEpisode:
    """One open threshold or sensor_fault alert of a device (stored for restart safety)."""

    alert_id: str
    severity: str
    state: str
    clear_since: float | None = None
    high_clear_since: float | None = None
    latched: bool = False
    conditions: list[str] = field(default_factory=list)
    episode: EpisodeStats | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OpenEpisode:
        """Inverse of ``asdict``; unknown keys are ignored."""
        kept = {f.name: d[f.name] for f in fields(cls) if f.name in d}
        if kept.get("episode") is not None:
            kept["episode"] = EpisodeStats.from_dict(kept["episode"])
        return cls(**kept)


@dataclass(slots=True)
class _Device:
    """Per-device memory: last and reference readings, counters, open episodes by kind."""

    last: Vals | None = None
    last_ts: float = math.nan
    last_seen: float = 0.0
    same_run: int = 0
    silent: bool = False
    ref: tuple[float, Vals] | None = None  # the rate rule's reference reading
    open: dict[str, OpenEpisode] = field(default_factory=dict)  # kind -> episode


class SafetyRules:
    """Pure rule engine: feed readings, get :class:`AlertEvent` objects to publish.

    Not thread-safe: call it from the event loop. Devices whose open episodes or timers
    changed are collected in :attr:`dirty` (persist with :meth:`take_dirty`).

    Args:
        config: parameters. profiles: per-device set points and gas (default: the config's
            global set points for every device).
    """

    def __init__(
        self, config: SafetyConfig | None = None, *, profiles: Profiles | None = None
    ) -> None:
        self.config = config or SafetyConfig()
        if profiles is None:
            profiles = Profiles(low_ppm=self.config.low_ppm, high_ppm=self.config.high_ppm)
        self.profiles = profiles
        self.devices: dict[str, _Device] = {}
        self.dirty: set[str] = set()

    # readings -------------------------------------------------------------------------------
    def check(
        self, device_id: str, ts: float, gas: float, temp: float, rh: float, *, now: float
    ) -> list[AlertEvent]:
        """Apply every rule to one accepted reading.

        Args:
            device_id: the device. ts: reading time, epoch s (time order per device).
            gas: ppm; temp: °C; rh: %RH.
            now: receive time, monotonic seconds (for the silence rule).

        Returns:
            Events in the order they happened, possibly empty.
        """
        st = self.devices.get(device_id) or self.devices.setdefault(device_id, _Device())
        vals = (gas, temp, rh)
        out: list[AlertEvent] = []
        if self.profiles.enabled(device_id):
            out += self._threshold(device_id, st, ts, gas)
            out += self._faults(device_id, st, ts, vals)
        st.last, st.last_ts, st.last_seen = vals, ts, now
        return out

    def silent(self, now: float, *, wall_ts: float) -> list[AlertEvent]:
        """Raise (or add to) the ``sensor_fault`` of watched devices silent for ``silent_s``.

        Args:
            now: the clock of ``check``'s ``now`` (monotonic s).
            wall_ts: epoch seconds, the event time of a device with no reading since start-up.
        """
        out = []
        for d, st in self.devices.items():
            quiet = now - st.last_seen
            if st.silent or quiet <= self.config.silent_s or not self.profiles.enabled(d):
                continue
            st.silent = True
            ts = wall_ts if math.isnan(st.last_ts) else st.last_ts
            why = f"no reading for {quiet:.0f} s (limit {self.config.silent_s:.0f} s)"
            gas = None if st.last is None else st.last[0]
            out += self._fault_episode(d, st, ts, gas, {"silent": why})
        return out

    def watch(self, device_ids: list[str], *, now: float) -> None:
        """Watch devices with no reading yet (known from the store) for silence from ``now``."""
        for d in device_ids:
            self.devices.setdefault(d, _Device(last_seen=now))

    # threshold ------------------------------------------------------------------------------
    def _threshold(self, d: str, st: _Device, ts: float, gas: float) -> list[AlertEvent]:
        c = self.config
        low, high = self.profiles.set_points(d)
        ep = st.open.get(Kind.THRESHOLD)
        if ep is None:
            if gas < low:
                return []
            crit = gas >= high
            ep = OpenEpisode(
                uuid.uuid4().hex,
                (Severity.CRITICAL if crit else Severity.WARNING),
                AlertState.ACTIVE,
                latched=crit and c.latch_critical,
                episode=EpisodeStats.open(ts, None, gas, by_probability=False),
            )
            st.open[Kind.THRESHOLD] = ep
            self.dirty.add(d)
            sp = high if crit else low
            return [
                self._event(
                    EventType.RAISED,
                    d,
                    Kind.THRESHOLD,
                    ep,
                    ts,
                    gas,
                    "high" if crit else "low",
                    f"gas {gas:g} ppm >= set point {sp:g} ppm",
                )
            ]
        if ep.episode is not None and ep.episode.observe(ts, None, gas):
            self.dirty.add(d)  # a new peak is stored (survives a restart)
        out: list[AlertEvent] = []
        if ep.state == AlertState.CLEARED_UNACKED and gas >= low:
            ep.state = AlertState.ACTIVE
            out.append(
                self._event(
                    EventType.UPDATED,
                    d,
                    Kind.THRESHOLD,
                    ep,
                    ts,
                    gas,
                    "gas_returned",
                    f"gas {gas:g} ppm >= set point {low:g} ppm",
                )
            )
        if ep.severity == Severity.WARNING and gas >= high:
            ep.severity, ep.latched, ep.high_clear_since = (
                Severity.CRITICAL,
                c.latch_critical,
                None,
            )
            out.append(
                self._event(
                    EventType.UPDATED,
                    d,
                    Kind.THRESHOLD,
                    ep,
                    ts,
                    gas,
                    "escalated",
                    f"gas {gas:g} ppm >= set point {high:g} ppm",
                )
            )
        if (
            ep.severity == Severity.CRITICAL
            and not ep.latched
            and self._held(d, ep, "high_clear_since", gas < high * (1 - c.hysteresis), ts)
        ):
            ep.severity, ep.high_clear_since = Severity.WARNING, None
            out.append(
                self._event(
                    EventType.UPDATED,
                    d,
                    Kind.THRESHOLD,
                    ep,
                    ts,
                    gas,
                    "de-escalated",
                    f"gas below {high * (1 - c.hysteresis):g} ppm for {c.off_delay_s:g} s",
                )
            )
        if self._held(d, ep, "clear_since", gas < low * (1 - c.hysteresis), ts):
            out += self._clear(
                d,
                st,
                ep,
                ts,
                gas,
                f"gas below {low * (1 - c.hysteresis):g} ppm for {c.off_delay_s:g} s",
            )
        if out:
            self.dirty.add(d)
        return out

    def _clear(
        self, d: str, st: _Device, ep: OpenEpisode, ts: float, gas: float | None, detail: str
    ) -> list[AlertEvent]:
        """The clear condition held for the off-delay: latch or resolve."""
        if ep.latched and ep.state == AlertState.ACTIVE:
            ep.state = AlertState.CLEARED_UNACKED
            return [
                self._event(
                    EventType.UPDATED,
                    d,
                    Kind.THRESHOLD,
                    ep,
                    ts,
                    gas,
                    "cleared_unacked",
                    detail + "; latched until acknowledged",
                )
            ]
        if ep.state == AlertState.CLEARED_UNACKED:
            return []
        return [self._resolve(d, st, Kind.THRESHOLD, ts, gas, detail)]

    # sensor faults --------------------------------------------------------------------------
    def _faults(self, d: str, st: _Device, ts: float, vals: Vals) -> list[AlertEvent]:
        c = self.config
        found: dict[str, str] = {}
        bad = [
            f"{n} {v:g} outside [{lo:g}, {hi:g}]"
            for n, v, lo, hi in zip(_CHANNELS, vals, c.range_min, c.range_max, strict=True)
            if not lo <= v <= hi
        ]
        if bad:
            found["out_of_range"] = "; ".join(bad)
        rate = self._rate(st, ts, vals)
        if rate:
            found["rate_of_change"] = rate
        st.same_run = st.same_run + 1 if vals == st.last else 0
        if st.same_run >= c.stuck_readings:
            found["stuck"] = (
                f"gas, temperature and humidity unchanged for {st.same_run + 1} readings"
            )
        st.silent = False
        return self._fault_episode(d, st, ts, vals[0], found)

    def _rate(self, st: _Device, ts: float, vals: Vals) -> str | None:
        """Implausible changes against the reference reading (see the module docstring)."""
        span = self.config.rate_min_span_s
        if st.last is not None and (st.ref is None or st.last_ts <= ts - span):
            st.ref = (st.last_ts, st.last)
        if st.ref is None:
            return None
        ref_ts, ref = st.ref
        dt = max(ts - ref_ts, span)
        bad = [
            f"{n} changed {abs(v - p) / dt:g}/s over {dt:g} s (limit {m:g}/s)"
            for n, v, p, m in zip(_CHANNELS, vals, ref, self.config.max_rate_per_s, strict=True)
            if abs(v - p) / dt > m
        ]
        return "; ".join(bad) or None

    def _fault_episode(
        self, d: str, st: _Device, ts: float, gas: float | None, found: dict[str, str]
    ) -> list[AlertEvent]:
        """Open, extend or end the device's sensor_fault episode given the conditions now
        holding (reason -> detail); ``silent`` stays among them until a reading clears it."""
        ep = st.open.get(Kind.SENSOR_FAULT)
        if ep is None and not found and not st.silent:
            return []  # the common case: a healthy sensor
        now_on = sorted(set(found) | ({"silent"} if st.silent else set()), key=FAULTS.index)
        if ep is None:
            if not now_on:
                return []
            ep = OpenEpisode(
                uuid.uuid4().hex,
                Severity.WARNING,
                AlertState.ACTIVE,
                conditions=now_on,
                episode=EpisodeStats.open(ts, None, gas, by_probability=False),
            )
            st.open[Kind.SENSOR_FAULT] = ep
            self.dirty.add(d)
            return [
                self._event(
                    EventType.RAISED,
                    d,
                    Kind.SENSOR_FAULT,
                    ep,
                    ts,
                    gas,
                    now_on[0],
                    found.get(now_on[0]),
                )
            ]
        if ep.episode is not None and ep.episode.observe(ts, None, gas):
            self.dirty.add(d)  # a new peak is stored (survives a restart)
        new = [r for r in now_on if r not in ep.conditions]
        if now_on != ep.conditions:
            ep.conditions = now_on
            self.dirty.add(d)
        out = []
        if new:
            out.append(
                self._event(
                    EventType.UPDATED, d, Kind.SENSOR_FAULT, ep, ts, gas, new[0], found.get(new[0])
                )
            )
        if self._held(d, ep, "clear_since", not now_on, ts):
            out.append(
                self._resolve(
                    d, st, Kind.SENSOR_FAULT, ts, gas, f"no fault for {self.config.off_delay_s:g} s"
                )
            )
        return out

    # lifecycle ------------------------------------------------------------------------------
    def _held(self, d: str, ep: OpenEpisode, attr: str, ok: bool, ts: float) -> bool:
        """Off-delay timer ``attr`` of ``ep``: started by the first ``ok`` reading, stopped by
        a bad one; True once it has run ``off_delay_s``."""
        since: float | None = getattr(ep, attr)
        if not ok:
            if since is not None:
                setattr(ep, attr, None)
                self.dirty.add(d)
            return False
        if since is None:
            setattr(ep, attr, ts)
            self.dirty.add(d)
            since = ts
        return ts - since >= self.config.off_delay_s

    def _resolve(
        self, d: str, st: _Device, kind: Kind, ts: float, gas: float | None, detail: str
    ) -> AlertEvent:
        ep = st.open.pop(kind)
        ep.state = AlertState.RESOLVED
        self.dirty.add(d)
        return self._event(EventType.RESOLVED, d, kind, ep, ts, gas, "all clear", detail)

    def acknowledge(
        self, device_id: str, alert_id: str, *, ack: Ack, ts: float
    ) -> list[AlertEvent] | None:
        """Acknowledge an open safety alert: ``alert.acknowledged``, then ``alert.resolved`` for
        a latched alarm that has cleared already. None when ``alert_id`` is not open here."""
        st = self.devices.get(device_id)
        for kind, ep in st.open.items() if st else ():
            if ep.alert_id != alert_id:
                continue
            assert st is not None
            self.dirty.add(device_id)
            cleared = ep.state == AlertState.CLEARED_UNACKED
            ep.state = AlertState.ACKNOWLEDGED
            ev = _last(ep)
            out = [
                self._event(
                    EventType.ACKNOWLEDGED,
                    device_id,
                    Kind(kind),
                    ep,
                    ts,
                    ev,
                    "acknowledged",
                    None,
                    ack=ack,
                )
            ]
            if cleared:
                out.append(
                    self._resolve(
                        device_id, st, Kind(kind), ts, ev, "acknowledged after the gas cleared"
                    )
                )
            return out
        return None

    def _event(
        self,
        type_: EventType,
        d: str,
        kind: Kind,
        ep: OpenEpisode,
        ts: float,
        gas: float | None,
        reason: str | None,
        detail: str | None,
        *,
        ack: Ack | None = None,
    ) -> AlertEvent:
        return AlertEvent(
            type=type_,
            alert_id=ep.alert_id,
            device_id=d,
            kind=kind,
            severity=Severity(ep.severity),
            state=AlertState(ep.state),
            ts=ts,
            gas_ppm=gas,
            gas_pct_lel=self.profiles.pct_lel(d, gas),
            reason=reason,
            detail=detail,
            ack=ack,
            model_type=None if ack else MODEL_TYPE,
            episode=None if ep.episode is None else ep.episode.freeze(),
        )

    # state ----------------------------------------------------------------------------------
    def take_dirty(self) -> dict[str, dict[str, Any] | None]:
        """Open episodes changed since the last call: device -> {kind: episode}, or None."""
        out: dict[str, dict[str, Any] | None] = {}
        for d in self.dirty:
            st = self.devices.get(d)
            out[d] = {k: asdict(ep) for k, ep in st.open.items()} if st and st.open else None
        self.dirty.clear()
        return out

    def restore(self, saved: dict[str, dict[str, Any]], *, now: float) -> None:
        """Load persisted open episodes (at start-up); those devices are watched from ``now``."""
        for d, kinds in saved.items():
            st = self.devices.setdefault(d, _Device(last_seen=now))
            for kind, data in kinds.items():
                ep = OpenEpisode.from_dict(data)
                st.open[kind] = ep
                st.silent = "silent" in ep.conditions

    def restore_open(
        self, device_id: str, kind: str, severity: str, state: str, alert_id: str, *, now: float
    ) -> None:
        """Re-open a stored open alert that has no saved episode (a store written before
        episodes were saved), so it is carried on instead of raised again."""
        st = self.devices.setdefault(device_id, _Device(last_seen=now))
        if kind not in st.open:
            st.open[kind] = OpenEpisode(
                alert_id,
                severity,
                state,
                latched=severity == Severity.CRITICAL and self.config.latch_critical,
            )

    def open_alerts(self, device_id: str) -> dict[str, OpenEpisode]:
        """Kind -> open episode of one device (a copy of the mapping)."""
        st = self.devices.get(device_id)
        return dict(st.open) if st else {}

    def count_open(self) -> int:
        """Open safety alerts over all devices."""
        return sum(len(st.open) for st in self.devices.values())

    def with_open(self) -> set[str]:
        """Devices with at least one open safety alert."""
        return {d for d, st in self.devices.items() if st.open}

    def release(self, device_ids: list[str]) -> None:
        """Drop devices from memory without persisting anything (cluster mode: another
        replica owns them now and restores their state from the store)."""
        for d in device_ids:
            self.devices.pop(d, None)
            self.dirty.discard(d)

    def forget(self, device_ids: list[str]) -> None:
        """Drop the memory of evicted devices (call only for devices without open alerts)."""
        for d in device_ids:
            self.devices.pop(d, None)


def _last(ep: OpenEpisode) -> float | None:
    return None if ep.episode is None else ep.episode.last_gas_ppm
