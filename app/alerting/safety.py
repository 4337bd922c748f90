"""Safety rules beside the model: gas set points and sensor faults, as alarm episodes.

They run on every accepted reading, whether a model is loaded or not. Each device has at most
one open alert per kind (issue 10): one ``threshold`` episode and one ``sensor_fault``
episode; everything that happens inside an episode is an ``alert.updated`` on its
``alert_id``. All times are reading times (epoch s) except the silence sweep's receive clock.

``kind="threshold"`` (set points from the device profile, in the device's unit: ppm, ppb, %LEL,
or a raw unit such as counts; a raw-unit device without set points of its own has no
threshold rule: ``profiles.py``). Everything below is said of a device whose reading rises
with gas; a falling one (``polarity`` falling: an oxygen cell whose reading falls as an
inert gas displaces the air) is its mirror image, the rule comparing ``-reading`` with
``-set point`` (:meth:`SafetyRules._sign`): it alarms at or below a set point, its
``low_set_point`` is the warning (the larger value, reached first) and its
``high_set_point`` the critical one (the smaller), each deadband, near reading and clear
limit lies above its set point, still measured from the device's zero (:func:`short_of`),
and the episode's peak is its lowest reading. The details say "at or below the warning
(critical) set point" and "gas above ..." there:

- The high set point has no delay: a reading at or above it raises (or escalates to)
  ``critical`` at once, a lone one too (a 0 -> 20,000 ppm step alarms on that reading).
- The low set point has an on-delay of one reading where a single reading could be a glitch
  (ISA-18.2 / IEC 62682 on-delay, the alarm-management remedy for chattering alarms; here
  the shortest one, so the warning is late by one reading interval at most): a reading
  between the set points whose previous reading is near (at least ``near_fraction``, half,
  of the low set point) raises at once; one that jumped there from further below is
  :class:`Pending` until the device's next reading. The next reading confirms it when it is
  near too (the ``warning`` is raised, at the pending reading's own time, the detail saying
  so), or when it comes more than ``CONFIRM_INTERVALS`` device intervals (at most
  ``confirm_max_s``) of reading time later; a device that sends nothing for
  ``confirm_max_s`` of receive time has it raised by :meth:`SafetyRules.due` (no reading is
  dropped for want of a neighbour; a pending reading is persisted with the episodes and a
  restored one is raised at the first sweep). A next reading far below denies it: the
  reading was one implausible reading between two far lower ones, a ``spike`` (below), not
  gas. A reading over the set point within ``RECUR_S`` (60 s) of a spike is not held: gas
  that comes and goes (every third reading over it) is gas, not a glitch. "Near" is
  measured from the device's zero (:func:`short_of`: ``zero + near_fraction * (low -
  zero)``, 0 for a device without one), so a raw device at its zero (a 16-bit ADC centred
  at 32,768 counts, set point 36,045) jumping over the set point is held as any other, and
  a negative set point of a raw unit works the same way. Readings refused for their stamp
  (:meth:`SafetyRules.check_late`) have no neighbour on the time line and raise at once.
  Newcomer: a 5,420 ppm glitch every 97 s on clean air gave 38 warnings an hour; gas that
  stays near the set point (issue 10's ``([5100] + [3900] * 5) * 10``) is still one alert
  raised on its first reading over it.
- Escalates warning -> critical on the first reading at or above the high set point; an
  acknowledged warning becomes ``active`` again (the danger alarm needs its own
  acknowledgement, as a detector's A2 alarm is not acknowledged by its A1's).
- Clear condition: gas below the clear limit, ``hysteresis`` (20 %) of the low set point's
  distance from the device's zero under the set point (:func:`short_of`: ``zero + (1 -
  hysteresis) * (low - zero)``; ``low * 0.8`` for every device whose zero is 0). The
  episode ends once the clear condition has held for ``off_delay_s`` of reading time
  (off-delay, never on one reading). The deadband used to be ``low * (1 - hysteresis)`` on
  the reading as sent: on a 16-bit ADC centred at 32,768 counts with set points
  36,045 / 40,960 that is 28,836 counts, under the zero, so a warning never cleared in
  clean air; at -800 mV it is -640 mV, inside the alarm zone, so a steady -700 mV
  cleared after 60 s and was raised again, every 600 s once chattering (a tester).
- Latching (``latch_critical``, on by default, as IEC 60079-29-1 / EN 50194 detectors latch
  their high alarm): once critical, the alarm does not end when the gas clears; it goes to
  ``cleared_unacked`` and resolves when acknowledged (an ack given while the gas is still
  up is remembered, and the clear then resolves it). Gas back above the low set point while
  ``cleared_unacked`` makes it ``active`` again. Without latching a critical alarm
  de-escalates to warning after the gas stays below the high set point's clear limit
  (:func:`short_of`, as above: ``high * 0.8`` with zero 0) for the off-delay. The full
  table is in README "Alarm states".
- Chattering (ANSI/ISA-18.2-2016's term for an alarm that returns soon after it cleared):
  a threshold alarm raised within ``chatter_window_s`` (600 s) of reading time after the
  device's last threshold all-clear keeps ``chatter_off_delay_s`` (600 s) as its off-delay
  instead of ``off_delay_s``, so gas cycling across the set point is one alarm that stays
  up, not one per cycle (newcomer: 4,500 + 700·sin(2πt/5 min) ppm at 1 Hz, 12 warnings in
  the hour with the 20 % deadband and the 60 s off-delay; 2 now). The longer off-delay is
  the ISA-18.2 / EEMUA 191 remedy for a chattering alarm; it only ever keeps an alarm up
  longer, never holds one back: an acknowledged one whose gas cleared for the plain
  off-delay is made ``active`` again with ``recurred`` when the gas returns, where the plain
  rule would have raised a new alarm (newcomer of 5 Dec: danger gas back at such an alarm
  raised no event at all). The last all-clear's time is persisted with the device's
  state, so a restart does not forget it. The ``sensor_fault`` episode follows the same
  rule with its own last all-clear, and announces each condition once an episode
  (``OpenEpisode.seen``): a %LEL zero drifting around -1.25 %LEL gave 161 fault events an
  hour (13 raised, 136 ``out_of_range`` updates), now 3 (newcomer of 1 Dec 13:45).

``kind="sensor_fault"``, one episode whose ``reason`` names the condition that raised or
updated it (conditions that start on the same reading are each told: the first, in
:data:`FAULTS` order, raises or updates, and each further one is an ``alert.updated`` of
that reading, :meth:`SafetyRules._fault_updates`); the episode ends when no condition has
held for ``off_delay_s``:

- "stuck": gas, temperature and humidity all exactly unchanged for ``stuck_readings``
  readings, on a device whose temperature or humidity has been seen to change at least once
  (the per-device ``ambient`` column). All three: an SGP30 sits at its 400 ppm floor for
  long stretches in clean air (smoke_iot rows 0-3177: 2,962 readings in a row) while its
  T/RH neighbour keeps moving, and a gas-only detector (a catalytic or infrared %LEL head)
  reads exactly 0.0 %LEL for hours in clean air (zero suppression), so a constant gas
  reading alone is clean air, not a fault. The T/RH part is evidence only from a live
  ambient sensor: a gas-only detector must send temperature and humidity (the wire
  contract) and sends constants, so a device whose T/RH never changed since its first
  reading is sending placeholders and is never found stuck (newcomer: 0.0 %LEL with
  constant T/RH raised ``stuck`` at 120 s, open for the hour). A live T/RH sensor that
  freezes together with the gas is stuck (smoke_iot's T/RH never stay exactly equal for
  more than 3 readings in a row). The cost: a device frozen before its first reading seen
  by this process is not found. Once raised, the episode remembers the live T/RH
  (:attr:`OpenEpisode.ambient`): a restored stuck fault holds until a changed reading
  (the run of unchanged readings is not persisted), as before the restart; one restored
  without it (saved before the rule had it) is judged afresh.
- "rate_of_change": a channel moved faster than ``max_rate_per_s``, measured against a
  reference reading: the previous reading once it is at least ``rate_min_span_s`` old
  (exactly the previous one at regular sampling), else the last such reference, else the
  device's first reading; the time between them counts as at least ``rate_min_span_s``. Two
  readings 10 ms apart with +0.1 °C are 0.1 °C/s, not 10 °C/s. Memory: one reading.
- "spike": a reading over the low set point that its next reading did not confirm (see
  above; issue 9: a single implausible reading may raise a sensor_fault); also one over
  the high set point, whose critical alarm was raised at once and stands. The condition
  holds for ``spike_memory_s`` after the last spike (:attr:`OpenEpisode.spike_ts`), so
  glitches that recur keep one fault open instead of raising one each.
- "out_of_range": a value outside the sensor's stated range. The gas range and the gas
  rate limit are in ppm and apply to ppm devices, and to ppb devices converted (x 1,000:
  60,000,000 ppb, 50,000,000 ppb/s; :data:`app.alerting.profiles.PER_PPM`), to no other
  unit (a 16-bit ADC's 65,535 counts is no fault). A %LEL reading below -1.25 %LEL
  (accepted down to -2.5 %LEL) is out of range too: under NAMUR NE 43's measuring range,
  a zero drifted too far, to be recalibrated (:data:`app.schemas.readings.GAS_UNDER_RANGE`);
  between -1.25 and 0 %LEL it is a drifting zero, no fault (the set points are far above
  it).
- "ambient_out_of_range": the reading's temperature or humidity reached the rules as NaN,
  unknown: the value sent was outside its physical range (-40 to 125 °C, 0 to 100 %RH
  beyond the 2 %RH clipped to it; :func:`app.schemas.readings.ambient_issues`), a failed or
  disconnected T/RH probe's error value (SHT3x raw 0 reads -45 °C). The reading's gas was
  taken and is judged as any other (such readings were refused whole, gas included, and
  a leak of 13,000 ppm raised nothing but ``silent``: newcomer of 2 Dec). It ends as the
  others do, once readings with known ambient values held for ``off_delay_s``.
- "silent": no reading for ``silent_s`` (receive time, found by :meth:`SafetyRules.silent`),
  or for :data:`SILENT_INTERVALS` of the device's own reading rhythm where that is longer
  (``intervals``: a 10-min LoRa node, an hourly device, a battery device waking every 15
  min); cleared by the next reading. With ``silent_s`` alone every device reporting less
  often than every 5 min had the fault raised at its first interval and open for good
  (newcomer of 2 Dec: a 320-s device).
- "clock": the device's clock is stuck or was reset, so its readings are placed at the
  server's receipt time (:data:`app.services.buffers.CLOCK_FAULT_S`; the caller says so per
  reading, ``check(clock=...)``); it ends once the readings advance their time line again
  for ``off_delay_s``.
- "dropout": the gas reads as a sensor at 0 (unplugged, dead, or a gateway sending 0 for
  a missing value): at or under 5 % of the device's clean level, for longer than a dropout
  (5 min), in a run that began with a step from at least half that level, against a level
  at least 20 noise scales above 0 (the signal model's
  :meth:`~app.ml.signal.SignalStates.dead_level`; the caller says so per reading,
  ``check(dropout=...)``). It ends ``off_delay_s`` after the gas is back. Before it, a
  sensor reading 0 ppm for hours raised nothing, and under a leak alert kept that alert
  open with nothing saying why (newcomers of 3 Dec).

Time: every rule runs on the device's time line, which is its readings' ``ts`` except where
the ring buffers placed a reading at the server's receipt time (a broken clock); a reading
refused as out of order (:meth:`SafetyRules.check_late`) raises at its receipt time, since
its stamp is not on the time line: an alert's ``opened_at`` is never a stamp the service
refused (a gateway clock reset to 2000-01-01 opened threshold alarms "in 2000": newcomer).
An off-delay timer whose reading time goes back (one outlier stamp ahead started it)
starts again at the earlier reading rather than waiting for the time line to catch up.
"""

from __future__ import annotations

import math
import time
import uuid
from array import array
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any, get_args

import numpy as np

from app.alerting.events import (
    Ack,
    AlertEvent,
    AlertState,
    EpisodeStats,
    EventType,
    Kind,
    Severity,
)
from app.alerting.profiles import PER_PPM, Profiles
from app.schemas.devices import FaultCondition
from app.schemas.readings import GAS_UNDER_RANGE, iso
from app.slab import Columns, SlotIndex

MODEL_TYPE = "safety rules"
#: The key of a pending low-set-point reading in a device's persisted state (beside kinds).
PENDING = "pending"
#: The key of the reading times of a device's last all-clear per kind (threshold,
#: sensor_fault) in its persisted state (the chatter rule's memory).
CLEARED = "cleared_at"
_CHANNELS = ("gas_ppm", "temperature_c", "humidity_pct")
#: The sensor_fault conditions, in the order of the API's ``FaultCondition`` literal.
FAULTS: tuple[str, ...] = get_args(FaultCondition)
#: A low-set-point reading waits for the next one at most this many device intervals of
#: reading time (``2``: one reading lost in transit is not yet a timeout), and at least
#: :data:`CONFIRM_MIN_S` seconds (a burst of readings 10 ms apart); never more than
#: :attr:`SafetyConfig.confirm_max_s`.
CONFIRM_INTERVALS = 2.0
CONFIRM_MIN_S = 2.0
#: A reading over the low set point within this many seconds (reading time) after a spike
#: is not held: two readings over the set point a minute apart are gas that comes and goes,
#: not a glitch (a design choice: a glitch every 97 s stays one ``spike`` fault, newcomer).
RECUR_S = 60.0
#: A device is ``silent`` once its readings are this many of its own intervals late (and
#: at least ``silent_s``): one or two lost radio packets (a LoRa node's uplink, a gateway's
#: failed poll) are no fault, a third in a row is.
SILENT_INTERVALS = 3.0
Vals = tuple[float, float, float]


def short_of(point: float, zero: float, keep: float) -> float:
    """The reading that stands ``keep`` (a fraction, 0-1) of set point ``point``'s distance
    from the device's ``zero`` (its reading at no gas), on the zero's side of the set point
    (both in the device's unit; the rule compares upwards: a reading at or above a set point
    alarms, so its deadband lies below it).

    ``zero + keep * (point - zero)`` for a set point above the zero (every ppm, ppb and
    %LEL device, zero 0: ``point * keep``, exactly as before zeros were taken into
    account). A set point under the zero (a raw device with negative set points and no
    ``zero`` given: -800 mV) keeps the distance as its size and reaches down from it:
    ``point - (1 - keep) * (zero - point)`` (-800 mV, ``keep`` 0.8: -960 mV). The
    clear limit is ``keep = 1 - hysteresis``, the near reading of the on-delay ``keep =
    near_fraction``. Pure; raises nothing (NaN in, NaN out).
    """
    dist = point - zero
    if dist >= 0.0:
        return zero + keep * dist
    return point + (1.0 - keep) * dist


def _reaches(sign: float, gas: float, point: float) -> bool:
    """Whether ``gas`` is at or beyond set point ``point`` in the gas direction: at or above
    it for a rising device (``sign`` +1), at or below it for a falling one (-1). False for
    NaN."""
    return sign * gas >= sign * point


def _reached(sign: float, gas: float, point: float, which: str, u: str) -> str:
    """The words of a reading ``gas`` at or beyond the ``which`` ("low" / "high") set point
    ``point``, unit ``u``: ``gas 5200 ppm >= set point 5000 ppm`` on a rising device, as
    always; on a falling one the comparison and which set point (warning / critical) it is,
    since "low" / "high" read backwards there."""
    if sign > 0:
        return f"gas {_num(gas)} {u} >= set point {_num(point)} {u}"
    role = "warning" if which == "low" else "critical"
    return (
        f"gas {_num(gas)} {u}, at or below the {role} set point {_num(point)} {u} "
        f"({which}_set_point; falling device: lower readings are more gas)"
    )


def _beyond(sign: float) -> str:
    """The side of a clear limit on which a reading counts towards the all-clear:
    "below" on a rising device, "above" on a falling one."""
    return "below" if sign > 0 else "above"


@dataclass(frozen=True, slots=True)
class SafetyConfig:
    """Parameters of :class:`SafetyRules` (see :class:`app.config.Settings` for sources).

    ``low_ppm`` / ``high_ppm`` are the set points of devices without a configured gas.
    ``confirm_max_s``: the longest a low-set-point reading waits for the next reading to
    confirm it (the on-delay's cap, s; 0 = every reading raises at once, as before);
    ``spike_memory_s``: how long after a spike the ``spike`` fault condition holds, s;
    ``near_fraction``: a neighbouring reading at or above this fraction of the low set point
    confirms a reading over it (see the module docstring). ``chatter_window_s`` /
    ``chatter_off_delay_s``: a threshold alarm (or sensor fault) raised within the window
    (reading-time s) after the device's last all-clear of its kind is chattering and clears
    only after the longer off-delay (s); window 0 = off (module docstring, "Chattering").
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
    confirm_max_s: float = 30.0
    spike_memory_s: float = 3600.0
    near_fraction: float = 0.5
    chatter_window_s: float = 600.0
    chatter_off_delay_s: float = 600.0


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
    spike_ts: float | None = None  # sensor_fault: reading time of the last spike
    chattering: bool = False  # raised within chatter_window_s of its kind's last clear
    held_back: bool = False  # threshold: cleared for off_delay_s, kept open as chattering
    seen: list[str] = field(default_factory=list)  # sensor_fault: conditions announced
    ambient: bool = False  # sensor_fault: its device's T/RH were seen to change (stuck)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OpenEpisode:
        """Inverse of ``asdict``; unknown keys are ignored."""
        kept = {f.name: d[f.name] for f in fields(cls) if f.name in d}
        if kept.get("episode") is not None:
            kept["episode"] = EpisodeStats.from_dict(kept["episode"])
        return cls(**kept)


@dataclass(slots=True)
class Pending:
    """A reading at or above the low set point that jumped there from far below it and waits
    for the next reading (stored for restart safety).

    ``ts``: its reading time, epoch s; ``gas``: its gas, device unit; ``prev``: the reading
    before it (NaN: none); ``wait_s``: reading-time on-delay (s); ``due``: receive time
    (monotonic s) at which the sweep raises it if no reading came (not stored: a restored
    one is due at once); ``raised``: at or above the high set point, so its alarm was raised
    at once and the next reading only tells whether it was also a ``spike``; ``since``: its
    receive time (monotonic s; not stored: NaN once restored); ``held_at``: its receive time
    on the server clock (epoch s; stored, so a restored one can say how long ago; NaN:
    unknown, a state saved before it was kept).
    """

    ts: float
    gas: float
    prev: float
    wait_s: float
    due: float = 0.0
    raised: bool = False
    since: float = math.nan
    held_at: float = math.nan


#: The per-slot fields of the rules (typecode, default): the last reading (gas ppm, °C, %RH,
#: its epoch s; NaN = none yet), the receive time of the last reading (monotonic s; inf = not
#: watched), the rate rule's reference reading (NaN = none), the run of unchanged readings,
#: whether the device is silent now and whether its temperature or humidity has ever changed
#: between two of its readings (``ambient``: a live T/RH sensor, not placeholders; the stuck
#: rule). 70 bytes a device: the reference's °C and %RH are float32 (the rate limits are
#: 5 °C/s and 15 %RH/s; float32 holds a reading to 1e-5 °C).
_FIELDS: dict[str, tuple[str, float]] = {
    "gas": ("d", math.nan),
    "temp": ("d", math.nan),
    "rh": ("d", math.nan),
    "last_ts": ("d", math.nan),
    "last_seen": ("d", math.inf),
    "ref_ts": ("d", math.nan),
    "ref_gas": ("d", math.nan),
    "ref_temp": ("f", math.nan),
    "ref_rh": ("f", math.nan),
    "same_run": ("i", 0),
    "silent": ("b", 0),
    "ambient": ("b", 0),
}


class _Rows(Columns):
    """The rules' per-device memory, one slot per device (see :data:`_FIELDS`)."""

    gas: array[float]
    temp: array[float]
    rh: array[float]
    last_ts: array[float]
    last_seen: array[float]
    ref_ts: array[float]
    ref_gas: array[float]
    ref_temp: array[float]
    ref_rh: array[float]
    same_run: array[int]
    silent: array[int]
    ambient: array[int]

    def __init__(self) -> None:
        super().__init__(_FIELDS)


@dataclass(slots=True)
class _Watched:
    """A device watched for silence that has no slot (known from the store, no reading
    since start-up, while the slots are the ring buffers')."""

    last_seen: float
    silent: bool = False


class SafetyRules:
    """Pure rule engine: feed readings, get :class:`AlertEvent` objects to publish.

    Not thread-safe: call it from the event loop. Devices whose open episodes or timers
    changed are collected in :attr:`dirty` (persist with :meth:`take_dirty`).

    Memory: the per-device values are columns of a slab (:class:`app.slab.Columns`) indexed
    by the device's slot, 70 bytes a device; only a device with an open episode has objects of
    its own (:class:`OpenEpisode`, in a dict by device id). In the service the slots are the
    ring buffers' (``index``): a device gets its row with its ring and loses it on eviction or
    hand-over. A device watched for silence without a slot (known from the store, no reading
    yet) is kept in a small dict until its first reading.

    Args:
        config: parameters. profiles: per-device set points and gas (default: the config's
            global set points for every device).
        index: the slots to share (the ring buffers'); default: an index of its own, in
            which every device checked, watched or restored gets a slot.
        wall: the server clock, epoch s: when a low-set-point reading was held, kept with
            it so that one restored after a restart states the real time since.
        intervals: each slot's own time between readings, s ((slots,) float64, NaN where
            unknown; :meth:`app.ml.signal.SignalStates.expected_intervals`), which sets
            its silence limit beside ``silent_s`` (:data:`SILENT_INTERVALS`); None: the
            ``silent_s`` alone.
    """

    def __init__(
        self,
        config: SafetyConfig | None = None,
        *,
        profiles: Profiles | None = None,
        index: SlotIndex | None = None,
        wall: Callable[[], float] = time.time,
        intervals: Callable[[], np.ndarray] | None = None,
    ) -> None:
        self.wall = wall
        self.intervals = intervals
        self.config = config or SafetyConfig()
        if profiles is None:
            profiles = Profiles(low_ppm=self.config.low_ppm, high_ppm=self.config.high_ppm)
        self.profiles = profiles
        self._own_index = index is None
        self.index = SlotIndex() if index is None else index
        self.rows = _Rows()
        self.index.attach(self.rows)
        self._open: dict[str, dict[str, OpenEpisode]] = {}  # device -> kind -> episode
        self._watched: dict[str, _Watched] = {}  # watched devices without a slot
        self._pending: dict[str, Pending] = {}  # device -> its unconfirmed low reading
        # device -> kind -> reading time of its last all-clear of that kind (the chatter
        # rule; only devices whose threshold alarm or sensor fault ever cleared have one)
        self._cleared: dict[str, dict[str, float]] = {}
        self.dirty: set[str] = set()

    # readings -------------------------------------------------------------------------------
    def check(
        self,
        device_id: str,
        ts: float,
        gas: float,
        temp: float,
        rh: float,
        *,
        now: float,
        clock: str | None = None,
        dropout: str | None = None,
    ) -> list[AlertEvent]:
        """Apply every rule to one accepted reading.

        Args:
            device_id: the device. ts: reading time, epoch s (time order per device).
            gas: ppm; temp: °C; rh: %RH.
            now: receive time, monotonic seconds (for the silence rule).
            clock: why the reading was placed at its receipt time (its device's clock is
                broken: the ``clock`` fault), or None.
            dropout: why the reading reads as a sensor at 0 (the ``dropout`` fault: the
                signal model's :meth:`~app.ml.signal.SignalStates.dead_level`), or None.

        Returns:
            Events in the order they happened, possibly empty.
        """
        s = self.index.get(device_id)
        if s is None:
            s = self.index.add(device_id)
        r = self.rows
        if self._watched:
            w = self._watched.pop(device_id, None)
            if w is not None:
                r.silent[s] = int(w.silent)
        out: list[AlertEvent] = []
        if self.profiles.enabled(device_id):
            decided, spike = self._decide(device_id, ts, gas)
            out += decided
            if spike is not None:
                out += self._spike(device_id, *spike)
            out += self._threshold(device_id, ts, gas, confirmed=False, prev=r.gas[s], now=now)
            out += self._faults(device_id, s, ts, (gas, temp, rh), clock, dropout)
        r.gas[s], r.temp[s], r.rh[s] = gas, temp, rh
        r.last_ts[s], r.last_seen[s] = ts, now
        return out

    def check_late(
        self,
        device_id: str,
        ts: float,
        gas: float,
        *,
        at: float | None = None,
        why: str = "out of order",
        clears: bool = False,
    ) -> list[AlertEvent]:
        """The threshold rule alone, for a reading refused as out of order: gas (ppm) at or
        above the low set point raises the alarm, or extends or escalates the open one (a
        reading must never be dangerous and unseen because its time stamp is behind its
        device's newest, e.g. after one stamped minutes ahead). Below the set point it does
        nothing: it neither clears an alarm nor touches the fault rules or the device's last
        reading, which stay in time order. With ``clears`` (a reading refused for another
        reason than its time, in its device's order: the device cap) a reading below the set
        point also counts towards the open alarm's clear condition: a device refused under
        the cap raised a critical alarm on 20,000 ppm that never cleared, every later clean
        reading being refused too (newcomer of 2 Dec); a device without an open alarm keeps
        no state.

        Args:
            ts: the reading's own stamp, epoch s (named in the events' detail).
            at: its receipt time, epoch s: the events' time (the stamp is not on the
                device's time line; a clock reset to 2000 must not open an alarm in 2000).
                None: ``ts`` (callers without a receipt clock).
            why: why the reading was refused, for the detail ("out of order", or "more than
                5 min ahead of the server clock" for one the schema refused).

        Returns:
            Events in the order they happened, possibly empty.
        """
        points = self.profiles.set_points(device_id)
        if not self.profiles.enabled(device_id) or points is None:
            return []
        reached = _reaches(self._sign(device_id), gas, points[0])
        if not reached and not (clears and Kind.THRESHOLD in self._open.get(device_id, {})):
            return []
        if at is None:
            return self._threshold(device_id, ts, gas)
        note = f"; reading stamped {iso(ts)}, {why}: placed at its receipt time"
        return [
            e.with_(detail=(e.detail or "") + note) for e in self._threshold(device_id, at, gas)
        ]

    def clock_refused(self, device_id: str, *, at: float, detail: str) -> list[AlertEvent]:
        """Raise the ``clock`` sensor_fault of a device whose reading was refused for its
        stamp (more than 5 min ahead of the server clock): none of its readings is stored,
        so without it operators never learned of the device (newcomer). Once: nothing
        while its open sensor_fault names ``clock`` already; an open fault with other
        conditions gets ``clock`` added (``alert.updated``). The device was heard from, so
        a ``silent`` condition ends (without an event, as an accepted reading ends it). The
        fault ends as the others do, once accepted readings show none for ``off_delay_s``.

        Args:
            at: the reading's receipt time, epoch s (the event time: its stamp is refused).
            detail: the refusal, for the event.
        """
        return self.refused(device_id, at=at, condition="clock", detail=detail)

    def refused(
        self, device_id: str, *, at: float, condition: str, detail: str
    ) -> list[AlertEvent]:
        """Raise the sensor_fault ``condition`` (one of :data:`FAULTS`) of a device whose
        reading was refused (none stored), as :meth:`clock_refused` does: once while its open
        fault names it, ``silent`` ended (the device was heard from), at receipt time
        ``at`` (epoch s). ``out_of_range`` for a reading refused for its gas (``-5`` ppm, a
        %LEL transmitter's failure signal): such a device was found ``silent``, "no reading
        for 318 s", although it reported every 10 s (newcomer of 2 Dec)."""
        if not self.profiles.enabled(device_id):
            return []
        self._set_silent(device_id, False)
        ep = self._open.get(device_id, {}).get(Kind.SENSOR_FAULT)
        if ep is not None and condition in ep.conditions and "silent" not in ep.conditions:
            return []
        held = [] if ep is None else ep.conditions
        found = {c: "" for c in held if c not in ("silent", "spike")} | {condition: detail}
        # (spike is kept by its memory, ``spike_ts``, not by ``found``)
        return self._fault_episode(device_id, at, None, found, False)

    def due(self, now: float) -> list[AlertEvent]:
        """Raise the threshold alarm of every pending low-set-point reading whose device sent
        nothing for ``confirm_max_s`` since (receive time): a device that falls silent after
        one high reading is alarmed, not forgotten (the next reading may never come).

        Args:
            now: the clock of ``check``'s ``now`` (monotonic s).

        Returns:
            The ``alert.raised`` events, at the pending readings' own times.
        """
        if not self._pending:
            return []
        out: list[AlertEvent] = []
        for d in [d for d, p in self._pending.items() if p.due <= now]:
            p = self._pending.pop(d)
            self.dirty.add(d)
            if p.raised or not self.profiles.enabled(d):
                continue
            why = f"; not confirmed: {self._waited(p, now)}"
            out += [
                e.with_(detail=(e.detail or "") + why)
                for e in self._threshold(d, p.ts, p.gas, confirmed=True)
            ]
        return out

    def _waited(self, p: Pending, now: float) -> str:
        """How long a pending reading waited for its next one, in words: the receive time
        that really passed (newcomer: after a restart the detail said "no reading for 30 s"
        when less had passed)."""
        if not math.isnan(p.since):
            return f"no reading for {round(now - p.since, 1):g} s after it"
        if math.isnan(p.held_at):
            return "the service restarted before its next reading (held for an unknown time)"
        return (
            "the service restarted before its next reading; "
            f"no reading for {round(max(0.0, self.wall() - p.held_at), 1):g} s after it"
        )

    def pending(self, device_id: str) -> Pending | None:
        """The device's low-set-point reading awaiting its next reading, or None."""
        return self._pending.get(device_id) if self._pending else None

    def settle(self, device_id: str, *, why: str) -> list[AlertEvent]:
        """Raise the threshold alarm of the device's pending low-set-point reading now, at
        its own time and in the unit it was read in, instead of waiting for a next reading
        that can no longer confirm it (the device's unit is changing: newcomer, a held
        reading was dropped). ``why`` ends the events' detail. Empty without one."""
        p = self._pending.pop(device_id, None) if self._pending else None
        if p is None:
            return []
        self.dirty.add(device_id)
        if p.raised or not self.profiles.enabled(device_id):
            return []
        return [
            e.with_(detail=(e.detail or "") + f"; not confirmed: {why}")
            for e in self._threshold(device_id, p.ts, p.gas, confirmed=True)
        ]

    def restart(self, device_id: str) -> None:
        """Forget the device's last reading as the rules' neighbour and reference (its unit
        changed: a value in the old unit must not confirm, deny or rate a new one). Its
        silence watch and open episodes are left alone."""
        s = self.index.get(device_id)
        if s is None:
            return
        r = self.rows
        r.gas[s] = r.temp[s] = r.rh[s] = math.nan
        r.ref_ts[s] = r.ref_gas[s] = r.ref_temp[s] = r.ref_rh[s] = math.nan
        r.same_run[s] = 0

    def silent(self, now: float, *, wall_ts: float) -> list[AlertEvent]:
        """Raise (or add to) the ``sensor_fault`` of watched devices silent for ``silent_s``.

        Args:
            now: the clock of ``check``'s ``now`` (monotonic s).
            wall_ts: epoch seconds, the event time of a device with no reading since start-up.
        """
        limit = self.config.silent_s
        r = self.rows
        quiet = now - r.view("last_seen")
        limits = np.full(quiet.shape, limit)
        if self.intervals is not None:
            own = self.intervals()[: len(limits)]
            limits[: len(own)] = np.fmax(limit, SILENT_INTERVALS * own)  # NaN: unknown
        due = np.flatnonzero((quiet > limits) & (r.view("silent") == 0)).tolist()
        del quiet
        out = []
        for s in due:
            d = self.index.owner(s)
            if d is None or not self.profiles.enabled(d):
                continue
            r.silent[s] = 1
            last_ts = r.last_ts[s]
            has_last = not math.isnan(last_ts)
            why = f"no reading for {now - r.last_seen[s]:.0f} s (limit {limits[s]:.0f} s)"
            gas = r.gas[s] if has_last else None
            out += self._fault_episode(
                d, last_ts if has_last else wall_ts, gas, {"silent": why}, True
            )
        for d, w in self._watched.items():
            if w.silent or now - w.last_seen <= limit or not self.profiles.enabled(d):
                continue
            w.silent = True
            why = f"no reading for {now - w.last_seen:.0f} s (limit {limit:.0f} s)"
            out += self._fault_episode(d, wall_ts, None, {"silent": why}, True)
        return out

    def watch(self, device_ids: list[str], *, now: float) -> None:
        """Watch devices with no reading yet (known from the store) for silence from ``now``."""
        for d in device_ids:
            self._watch(d, now)

    def heard(self, device_ids: list[str], *, now: float) -> None:
        """Devices heard from at receive time ``now`` although none of their readings was
        accepted (all refused for a stamp too far ahead): watched for silence from ``now``,
        so a device that keeps sending is never ``silent`` (newcomer: stamps 400 s ahead
        gave "no reading for 315 s" beside the ``clock`` fault). A ``silent`` condition it
        holds ends with its next :meth:`clock_refused`."""
        for d in device_ids:
            s = self.index.add(d) if self._own_index else self.index.get(d)
            if s is not None:
                self.rows.last_seen[s] = now
            elif d in self._watched:
                self._watched[d].last_seen = now
            else:
                self._watched[d] = _Watched(now)

    def _watch(self, d: str, now: float) -> None:
        """Watch ``d`` from ``now`` unless it is watched already."""
        s = self.index.add(d) if self._own_index else self.index.get(d)
        if s is not None:
            if math.isinf(self.rows.last_seen[s]):
                self.rows.last_seen[s] = now
        elif d not in self._watched:
            self._watched[d] = _Watched(now)

    def _set_silent(self, d: str, on: bool) -> None:
        s = self.index.get(d)
        if s is not None:
            self.rows.silent[s] = int(on)
        elif d in self._watched:
            self._watched[d].silent = on

    # threshold ------------------------------------------------------------------------------
    def _decide(
        self, d: str, ts: float, gas: float
    ) -> tuple[list[AlertEvent], tuple[float, float, str] | None]:
        """Decide the device's pending low-set-point reading at its next reading (``ts``,
        ``gas``): confirmed when this one is near (at or above ``near_fraction`` of the low
        set point), or when it came later than the pending one's wait (a timeout: raised all
        the same); else the pending reading was a lone spike. Returns the threshold events of
        a confirmed one (at its own time) and, for a denied one, the spike's own time, gas
        and the ``spike`` fault's detail (else None). A pending reading over the high set
        point was raised already: it only gives the ``spike`` details when denied."""
        p = self._pending.pop(d, None) if self._pending else None
        if p is None:
            return [], None
        self.dirty.add(d)
        points = self.profiles.set_points(d)
        if points is None:
            return [], None
        low = points[0]
        near = self._near(d, low)
        u = self.profiles.unit(d)
        sg = self._sign(d)
        late = ts - p.ts > p.wait_s
        is_near = _reaches(sg, gas, near)
        if p.raised and (is_near or late):
            return [], None
        if is_near or late:
            why = (
                f"; not confirmed: next reading {ts - p.ts:g} s later (wait {p.wait_s:g} s)"
                if late and not is_near
                else f"; confirmed by the next reading, {_num(gas)} {u}"
            )
            events = self._threshold(d, p.ts, p.gas, confirmed=True)
            return [e.with_(detail=(e.detail or "") + why) for e in events], None
        before = "none" if math.isnan(p.prev) else f"{p.prev:g} {u}"
        sp = points[1] if p.raised else low
        op = ">=" if sg > 0 else "<="
        return [], (
            p.ts,
            p.gas,
            f"gas {_num(p.gas)} {u} at {iso(p.ts)} {op} set point {_num(sp)} {u} for one reading: "
            f"before it {before}, after it {_num(gas)} {u}, both {_beyond(sg)} {near:g} {u}; "
            + (
                "its critical threshold alarm stands (the high set point never waits)"
                if p.raised
                else "no threshold alarm"
            ),
        )

    def _near(self, d: str, low: float) -> float:
        """The lowest reading of device ``d`` that counts as near its low set point ``low``
        (device unit): ``near_fraction`` of the way from the device's zero up to it
        (:func:`short_of`; zero 0 without one: 2,500 ppm for 5,000 ppm; a 16-bit ADC
        centred at 32,768 counts, set point 36,045: 34,406.5; a negative set point of a raw
        unit without a zero, -800 mV: -1,200)."""
        sg = self._sign(d)
        return sg * short_of(sg * low, sg * self.profiles.zero(d), self.config.near_fraction)

    def _sign(self, d: str) -> float:
        """+1 for a device whose reading rises with gas, -1 for a falling one (polarity
        falling): the threshold rule compares ``sign * reading`` with ``sign * set point``,
        so a falling device alarms at or below its set points and each deadband, measured
        from its zero as on a rising one (:func:`short_of`), lies above the set point."""
        return -1.0 if self.profiles.falling(d) else 1.0

    def _clear_limit(self, d: str, point: float) -> float:
        """The clear limit of device ``d``'s set point ``point`` (device unit): a reading
        under it counts towards the off-delay (the low set point) or the de-escalation (the
        high one). ``hysteresis`` of the set point's distance from the device's zero under
        it (:func:`short_of`): ``point * (1 - hysteresis)`` for a device whose zero is 0."""
        sg = self._sign(d)
        return sg * short_of(sg * point, sg * self.profiles.zero(d), 1.0 - self.config.hysteresis)

    def _recurring(self, d: str, ts: float) -> bool:
        """Whether device ``d`` had a spike (an unconfirmed reading over a set point) within
        :data:`RECUR_S` of reading time before ``ts``: a reading over the set point that
        follows it is gas that comes and goes (puffs, a leak at every third reading), not a
        lone glitch, and raises at once (newcomer: 30 readings of 8,000-11,000 ppm, each
        between two of 420, in 90 s gave one spike fault and no threshold alarm)."""
        opened = self._open.get(d)
        ep = None if opened is None else opened.get(Kind.SENSOR_FAULT)
        return ep is not None and ep.spike_ts is not None and ts - ep.spike_ts <= RECUR_S

    def _wait(self, interval: float) -> float:
        """Reading-time on-delay of a pending reading, s, given the device's last interval
        (s; NaN = unknown): ``CONFIRM_INTERVALS`` intervals, within
        [``CONFIRM_MIN_S``, ``confirm_max_s``]."""
        cap = self.config.confirm_max_s
        if not math.isfinite(interval):
            return cap
        return min(cap, max(CONFIRM_MIN_S, CONFIRM_INTERVALS * interval))

    def _chatter(self, d: str, kind: str, ts: float) -> tuple[float, bool]:
        """Seconds of reading time since device ``d``'s last all-clear of ``kind`` (NaN:
        none) and whether an alert of that kind raised at ``ts`` is chattering (within
        ``chatter_window_s`` of it)."""
        since = ts - self._cleared.get(d, {}).get(kind, math.nan)
        w = self.config.chatter_window_s
        return since, w > 0 and 0.0 <= since <= w

    def _threshold(
        self,
        d: str,
        ts: float,
        gas: float,
        *,
        confirmed: bool = True,
        prev: float = math.nan,
        now: float = 0.0,
    ) -> list[AlertEvent]:
        """The set-point rule on one reading. Unless ``confirmed``, a reading that would
        raise a warning after a previous reading (``prev``, NaN = none) far below it (under
        ``near_fraction`` of the low set point) is held as :class:`Pending` (receive time
        ``now``) instead."""
        c = self.config
        points = self.profiles.set_points(d)
        u = self.profiles.unit(d)
        opened = self._open.get(d)
        ep = None if opened is None else opened.get(Kind.THRESHOLD)
        if points is None:  # a raw-unit device without set points: no threshold rule
            if ep is None:
                return []
            self.dirty.add(d)  # one left open from before the profile changed ends now
            return self._clear(d, ep, ts, gas, f"no set point in the device's unit ({u})")
        low, high = points
        sg = self._sign(d)  # -1: a falling device, at or below its set points
        if ep is None:
            if not _reaches(sg, gas, low):
                return []
            crit = _reaches(sg, gas, high)
            if (
                not confirmed
                and c.confirm_max_s > 0
                and not _reaches(sg, prev, self._near(d, low))  # NaN (no previous reading) too
                and not (crit and math.isnan(prev))  # a spike needs a reading before it
                and not self._recurring(d, ts)
            ):
                s = self.index.get(d)
                last = math.nan if s is None else self.rows.last_ts[s]
                wait = self._wait(ts - last)
                due = now + c.confirm_max_s
                self._pending[d] = Pending(
                    ts, gas, prev, wait, due, raised=crit, since=now, held_at=self.wall()
                )
                self.dirty.add(d)
                if not crit:
                    return []  # the high set point never waits: raised below
            since, chatter = self._chatter(d, Kind.THRESHOLD, ts)
            ep = OpenEpisode(
                uuid.uuid4().hex,
                (Severity.CRITICAL if crit else Severity.WARNING),
                AlertState.ACTIVE,
                latched=crit and c.latch_critical,
                episode=EpisodeStats.open(ts, None, gas, by_probability=False),
                chattering=chatter,
            )
            self._open.setdefault(d, {})[Kind.THRESHOLD] = ep
            self.dirty.add(d)
            sp = high if crit else low
            why = (
                f"; back {since:g} s after its last all-clear: chattering (ISA-18.2), clears "
                f"after {c.chatter_off_delay_s:g} s {_beyond(sg)} {self._clear_limit(d, low):g} {u}"
                if chatter
                else ""
            )
            return [
                self._event(
                    EventType.RAISED,
                    d,
                    Kind.THRESHOLD,
                    ep,
                    ts,
                    gas,
                    "high" if crit else "low",
                    _reached(sg, gas, sp, "high" if crit else "low", u) + why,
                )
            ]
        if ep.episode is not None and ep.episode.observe(ts, None, gas, sign=sg):
            self.dirty.add(d)  # a new peak is stored (survives a restart)
        out: list[AlertEvent] = []
        if ep.state == AlertState.CLEARED_UNACKED and _reaches(sg, gas, low):
            ep.state = AlertState.ACTIVE
            out.append(
                self._updated(
                    d,
                    ep,
                    ts,
                    gas,
                    "gas_returned",
                    _reached(sg, gas, low, "low", u),
                )
            )
        if ep.severity == Severity.WARNING and _reaches(sg, gas, high):
            ep.severity, ep.latched, ep.high_clear_since = (
                Severity.CRITICAL,
                c.latch_critical,
                None,
            )
            # the danger alarm is a new alarm to acknowledge: an acknowledged warning that
            # escalates is active again (it stayed "acknowledged", so no reminder and out of
            # ?state=active: newcomer of 1 Dec 13:45)
            if ep.state == AlertState.ACKNOWLEDGED:
                ep.state = AlertState.ACTIVE
            out.append(
                self._updated(
                    d,
                    ep,
                    ts,
                    gas,
                    "escalated",
                    _reached(sg, gas, high, "high", u),
                )
            )
        high_clear = self._clear_limit(d, high)
        if (
            ep.severity == Severity.CRITICAL
            and not ep.latched
            and self._held(d, ep, "high_clear_since", sg * gas < sg * high_clear, ts)
        ):
            ep.severity, ep.high_clear_since = Severity.WARNING, None
            out.append(
                self._updated(
                    d,
                    ep,
                    ts,
                    gas,
                    "de-escalated",
                    f"gas {_beyond(sg)} {high_clear:g} {u} for {c.off_delay_s:g} s",
                )
            )
        if not out:
            out += self._recurred(d, ep, ts, gas, low, high, u)
        delay = c.chatter_off_delay_s if ep.chattering else c.off_delay_s
        low_clear = self._clear_limit(d, low)
        clear = sg * gas < sg * low_clear
        began = ep.clear_since
        if clear and not ep.held_back and began is not None and ts - began >= c.off_delay_s:
            ep.held_back = True  # the plain off-delay would have resolved it here
            self.dirty.add(d)
        if self._held(d, ep, "clear_since", clear, ts, delay):
            out += self._clear(
                d,
                ep,
                ts,
                gas,
                f"gas {_beyond(sg)} {low_clear:g} {u} for {delay:g} s"
                + (" (chattering: the longer off-delay)" if ep.chattering else ""),
            )
        if out:
            self.dirty.add(d)
        return out

    def _recurred(
        self, d: str, ep: OpenEpisode, ts: float, gas: float, low: float, high: float, u: str
    ) -> list[AlertEvent]:
        """Gas at or above a set point again after the clear condition held for the plain
        off-delay (``off_delay_s``), which only a chattering alarm's longer one kept open:
        an acknowledged alert is ``active`` again, with ``alert.updated`` ``recurred`` (an
        unacknowledged one is still active: nothing new to tell). The alarm would have
        resolved and a new one been raised; the chatter rule may keep it up, never hold the
        return back. Newcomer of 5 Dec: a latched critical alarm
        acknowledged at 13,000 ppm, its gas at 450 ppm for 120-500 s, then back at
        13,000 ppm for 30 min: no event at all (the same return on a first alarm raised a
        new one)."""
        sg = self._sign(d)
        if not ep.held_back or not _reaches(sg, gas, low):
            return []
        ep.held_back = False
        self.dirty.add(d)
        if ep.state != AlertState.ACKNOWLEDGED:
            return []  # still active: nothing an operator has not been told
        ep.state = AlertState.ACTIVE
        since = ep.clear_since
        crit = _reaches(sg, gas, high)
        sp = high if crit else low
        since = ts if since is None else since
        return [
            self._updated(
                d,
                ep,
                ts,
                gas,
                "recurred",
                _reached(sg, gas, sp, "high" if crit else "low", u)
                + f" again, {ts - since:g} s after it "
                + ("fell below" if sg > 0 else "rose above")
                + f" {self._clear_limit(d, low):g} {u} (chattering: the "
                "longer off-delay kept the alarm open)",
            )
        ]

    def _updated(
        self, d: str, ep: OpenEpisode, ts: float, gas: float | None, reason: str, detail: str
    ) -> AlertEvent:
        """``alert.updated`` of device ``d``'s threshold alarm ``ep`` (``reason``, the
        human-readable ``detail``) at reading time ``ts`` with gas ``gas``."""
        return self._event(EventType.UPDATED, d, Kind.THRESHOLD, ep, ts, gas, reason, detail)

    def _clear(
        self, d: str, ep: OpenEpisode, ts: float, gas: float | None, detail: str
    ) -> list[AlertEvent]:
        """The clear condition held for the off-delay: latch or resolve."""
        if ep.latched and ep.state == AlertState.ACTIVE:
            ep.state = AlertState.CLEARED_UNACKED
            return [
                self._updated(
                    d,
                    ep,
                    ts,
                    gas,
                    "cleared_unacked",
                    detail + "; latched until acknowledged",
                )
            ]
        if ep.state == AlertState.CLEARED_UNACKED:
            return []
        return [self._resolve(d, Kind.THRESHOLD, ts, gas, detail)]

    # sensor faults --------------------------------------------------------------------------
    def _spike(self, d: str, ts: float, gas: float, detail: str) -> list[AlertEvent]:
        """The ``spike`` condition of a reading its next one denied (:meth:`_decide`): the
        event is at the spike's own time with its own gas (``ts``, epoch s; ``gas``, device
        unit), not the next reading's (newcomer: the event carried the next reading's gas,
        the spike's value only in its detail). Opens the sensor_fault or adds ``spike`` to
        the open one (``alert.updated``); nothing new while spikes recur within
        ``spike_memory_s``, which counts from the last spike's own time."""
        opened = self._open.get(d)
        ep = None if opened is None else opened.get(Kind.SENSOR_FAULT)
        self.dirty.add(d)
        if ep is None:
            ep = OpenEpisode(
                uuid.uuid4().hex,
                Severity.WARNING,
                AlertState.ACTIVE,
                conditions=["spike"],
                episode=EpisodeStats.open(ts, None, gas, by_probability=False),
                spike_ts=ts,
                chattering=self._chatter(d, Kind.SENSOR_FAULT, ts)[1],
                seen=["spike"],
            )
            self._open.setdefault(d, {})[Kind.SENSOR_FAULT] = ep
            return [
                self._event(EventType.RAISED, d, Kind.SENSOR_FAULT, ep, ts, gas, "spike", detail)
            ]
        if ep.episode is not None:
            ep.episode.observe(ts, None, gas)
        ep.spike_ts = ts if ep.spike_ts is None else max(ep.spike_ts, ts)
        ep.clear_since = None  # a fault holds: the off-delay starts again once none does
        if "spike" in ep.conditions:
            return []  # one open fault while spikes recur, not one per spike
        ep.conditions = sorted([*ep.conditions, "spike"], key=FAULTS.index)
        if "spike" in ep.seen:
            return []  # announced in this episode already (see :meth:`_fault_episode`)
        ep.seen.append("spike")
        return [self._event(EventType.UPDATED, d, Kind.SENSOR_FAULT, ep, ts, gas, "spike", detail)]

    def _faults(
        self,
        d: str,
        s: int,
        ts: float,
        vals: Vals,
        clock: str | None = None,
        dropout: str | None = None,
    ) -> list[AlertEvent]:
        c = self.config
        r = self.rows
        found: dict[str, str] = {} if clock is None else {"clock": clock}
        if dropout is not None:
            found["dropout"] = dropout
        # the gas range and rate limits are in ppm: converted for a ppb device, they do not
        # apply to a %LEL or raw unit
        unit = self.profiles.unit(d)
        per = PER_PPM.get(unit)
        first = 0 if per is not None else 1
        lows, highs, rates = c.range_min, c.range_max, c.max_rate_per_s
        if per is not None and per != 1.0:
            lows, highs = (lows[0] * per, *lows[1:]), (highs[0] * per, *highs[1:])
            rates = (rates[0] * per, *rates[1:])
        bad = [
            f"{n} {_num(v)} outside [{_num(lo)}, {_num(hi)}]"
            for n, v, lo, hi in list(zip(_CHANNELS, vals, lows, highs, strict=True))[first:]
            if not lo <= v <= hi and not math.isnan(v)
        ]
        unknown = [n for n, v in zip(_CHANNELS[1:], vals[1:], strict=True) if math.isnan(v)]
        if unknown:
            found["ambient_out_of_range"] = (
                f"{' and '.join(unknown)} outside the physical range (the T/RH probe failed, is "
                "disconnected or reads an error value, such as -45 °C or 130 °C): taken as "
                "unknown, the gas still checked; check the probe"
            )
        under = GAS_UNDER_RANGE.get(unit)
        if under is not None and vals[0] < under[0]:
            bad.insert(0, f"gas_ppm {vals[0]:g} {unit} below {under[0]:g} {unit}: {under[1]}")
        if bad:
            found["out_of_range"] = "; ".join(bad)
        rate = self._rate(s, ts, vals, first, rates)
        if rate:
            found["rate_of_change"] = rate
        stuck = self._stuck(d, s, vals)
        if stuck:
            found["stuck"] = stuck
        r.silent[s] = 0
        out = self._fault_episode(d, ts, vals[0], found, False)
        ep = self._open.get(d, {}).get(Kind.SENSOR_FAULT)
        if stuck and ep is not None and not ep.ambient:
            ep.ambient = True  # kept with the episode: a restored stuck fault still holds
            self.dirty.add(d)
        return out

    def _stuck(self, d: str, s: int, vals: Vals) -> str | None:
        """The ``stuck`` condition's detail, or None (see the module docstring): all three
        channels unchanged for ``stuck_readings`` readings on a device whose T/RH were seen
        to change. An open fault that names ``stuck`` with that evidence
        (:attr:`OpenEpisode.ambient`) holds it until a changed reading, also across a
        restart, which loses the last reading and the run (the first reading after it
        holds it too)."""
        r = self.rows
        known = not math.isnan(r.temp[s])  # NaN: no previous reading (or a unit change)
        same = known and vals == (r.gas[s], r.temp[s], r.rh[s])
        if known and not r.ambient[s] and (vals[1], vals[2]) != (r.temp[s], r.rh[s]):
            r.ambient[s] = 1
        run = r.same_run[s] + 1 if same else 0
        r.same_run[s] = run
        detail = f"gas, temperature and humidity unchanged for {run + 1} readings"
        ep = self._open.get(d, {}).get(Kind.SENSOR_FAULT)
        if ep is not None and ep.ambient and "stuck" in ep.conditions and (same or not known):
            r.ambient[s] = 1  # the evidence was seen before (a restored episode)
            return detail
        if not r.ambient[s] or run < self.config.stuck_readings:
            return None
        return detail

    def _rate(
        self, s: int, ts: float, vals: Vals, first: int = 0, rates: Vals | None = None
    ) -> str | None:
        """Implausible changes against the reference reading (see the module docstring), of
        the channels from ``first`` on (1: not the gas, whose limit is in ppm), against
        ``rates`` per second (None: ``max_rate_per_s``; the gas's in the device's unit)."""
        span = self.config.rate_min_span_s
        r = self.rows
        last_ts = r.last_ts[s]
        if not math.isnan(last_ts) and (math.isnan(r.ref_ts[s]) or last_ts <= ts - span):
            r.ref_ts[s], r.ref_gas[s], r.ref_temp[s], r.ref_rh[s] = (
                last_ts,
                r.gas[s],
                r.temp[s],
                r.rh[s],
            )
        ref_ts = r.ref_ts[s]
        if math.isnan(ref_ts):
            return None
        ref = (r.ref_gas[s], r.ref_temp[s], r.ref_rh[s])
        dt = max(ts - ref_ts, span)
        limits = zip(_CHANNELS, vals, ref, rates or self.config.max_rate_per_s, strict=True)
        bad = [
            f"{n} changed {_num(abs(v - p) / dt)}/s over {dt:g} s (limit {_num(m)}/s)"
            for n, v, p, m in list(limits)[first:]
            if abs(v - p) / dt > m
        ]
        return "; ".join(bad) or None

    def _fault_episode(
        self, d: str, ts: float, gas: float | None, found: dict[str, str], silent: bool
    ) -> list[AlertEvent]:
        """Open, extend or end the device's sensor_fault episode given the conditions now
        holding (reason -> detail) and whether it is ``silent`` (which holds until a reading
        clears it)."""
        opened = self._open.get(d)
        ep = None if opened is None else opened.get(Kind.SENSOR_FAULT)
        if ep is None and not found and not silent:
            return []  # the common case: a healthy sensor
        on = set(found) | ({"silent"} if silent else set())
        if ep is not None and ep.spike_ts is not None:
            if ts - ep.spike_ts < self.config.spike_memory_s:
                on.add("spike")  # one open fault while spikes recur (:meth:`_spike`)
            else:
                ep.spike_ts = None
                self.dirty.add(d)
        now_on = sorted(on, key=FAULTS.index)
        if ep is None:
            if not now_on:
                return []
            ep = OpenEpisode(
                uuid.uuid4().hex,
                Severity.WARNING,
                AlertState.ACTIVE,
                conditions=now_on,
                episode=EpisodeStats.open(ts, None, gas, by_probability=False),
                chattering=self._chatter(d, Kind.SENSOR_FAULT, ts)[1],
                seen=list(now_on),
            )
            self._open.setdefault(d, {})[Kind.SENSOR_FAULT] = ep
            self.dirty.add(d)
            # the first condition raises; each further one that holds on the same reading
            # is an ``alert.updated`` naming it, as if it had come a reading later (only the
            # first was told: 420 -> 65,000 ppm in 1 s raised ``rate_of_change``, and
            # ``out_of_range`` held for 300 readings unannounced: a tester)
            first, *more = now_on
            return [
                self._event(
                    EventType.RAISED, d, Kind.SENSOR_FAULT, ep, ts, gas, first, found.get(first)
                ),
                *self._fault_updates(d, ep, ts, gas, more, found),
            ]
        if ep.episode is not None and ep.episode.observe(ts, None, gas):
            self.dirty.add(d)  # a new peak is stored (survives a restart)
        # a condition is announced once an episode (``seen``): a zero drifting around the
        # -1.25 %LEL limit made 136 ``out_of_range`` updates an hour, one each time it came
        # back within the open fault (newcomer of 1 Dec 13:45); but a silent device heard
        # again is news, whatever it holds
        back = "silent" in ep.conditions and "silent" not in now_on
        new = [r for r in now_on if r not in ep.conditions and (back or r not in ep.seen)]
        ep.seen += new
        if now_on != ep.conditions:
            ep.conditions = now_on
            self.dirty.add(d)
        out = []
        if new and ep.state == AlertState.ACKNOWLEDGED:
            # a new condition is a new problem to acknowledge (as an escalation is): it was
            # told as an update of an alert that stayed "acknowledged" (newcomer of 2 Dec)
            ep.state = AlertState.ACTIVE
            self.dirty.add(d)
        out += self._fault_updates(d, ep, ts, gas, new, found)
        c = self.config
        delay = c.chatter_off_delay_s if ep.chattering else c.off_delay_s
        if self._held(d, ep, "clear_since", not now_on, ts, delay):
            why = " (chattering: the longer off-delay)" if ep.chattering else ""
            out.append(
                self._resolve(d, Kind.SENSOR_FAULT, ts, gas, f"no fault for {delay:g} s{why}")
            )
        return out

    def _fault_updates(
        self,
        d: str,
        ep: OpenEpisode,
        ts: float,
        gas: float | None,
        reasons: list[str],
        found: dict[str, str],
    ) -> list[AlertEvent]:
        """One ``alert.updated`` of the sensor_fault ``ep`` per condition in ``reasons``
        (in :data:`FAULTS` order), its ``reason`` naming the condition and its ``detail``
        the condition's (``found``; None for ``spike`` and ``silent`` held from before)."""
        return [
            self._event(EventType.UPDATED, d, Kind.SENSOR_FAULT, ep, ts, gas, r, found.get(r))
            for r in reasons
        ]

    # lifecycle ------------------------------------------------------------------------------
    def _held(
        self,
        d: str,
        ep: OpenEpisode,
        attr: str,
        ok: bool,
        ts: float,
        delay: float | None = None,
    ) -> bool:
        """Off-delay timer ``attr`` of ``ep``: started by the first ``ok`` reading, stopped by
        a bad one; True once it has run ``delay`` seconds (None: ``off_delay_s``)."""
        since: float | None = getattr(ep, attr)
        if not ok:
            if since is not None:
                setattr(ep, attr, None)
                self.dirty.add(d)
            return False
        if since is None or ts < since:  # ts < since: time went back (an outlier stamp ahead)
            setattr(ep, attr, ts)
            self.dirty.add(d)
            since = ts
        return ts - since >= (self.config.off_delay_s if delay is None else delay)

    def _resolve(
        self,
        d: str,
        kind: Kind,
        ts: float,
        gas: float | None,
        detail: str,
        reading_ts: float | None = None,
    ) -> AlertEvent:
        """End an episode at ``ts`` (the event time). ``reading_ts``: the device's reading
        time of the all-clear (default ``ts``), which the chatter rule compares with later
        readings: an acknowledgement's resolve happens at the server clock, and a device
        whose clock ran 60 s behind it re-raised "90 s after" a clear that its own time
        line put in the future, so the chatter rule missed it (newcomer of 1 Dec 13:45)."""
        opened = self._open[d]
        ep = opened.pop(kind)
        if not opened:
            del self._open[d]
        ep.state = AlertState.RESOLVED
        self.dirty.add(d)
        if self.config.chatter_window_s > 0:
            self._cleared.setdefault(d, {})[kind] = ts if reading_ts is None else reading_ts
        return self._event(EventType.RESOLVED, d, kind, ep, ts, gas, "all clear", detail)

    def close(
        self,
        device_id: str,
        *,
        ts: float,
        reason: str,
        detail: str,
        kinds: frozenset[str] | None = None,
    ) -> list[AlertEvent]:
        """Resolve the device's open safety alerts now, latched ones included (an operator
        disabled the device: its rules no longer run, so the alerts could never change; or
        removed its set points: a threshold alarm could never clear). ``ts``: epoch s (wall
        clock of the change); ``kinds``: only these kinds (None: every kind, and a pending
        low-set-point reading is dropped). Returns the ``alert.resolved`` events, carrying
        ``reason`` and ``detail``."""
        if kinds is None and self._pending.pop(device_id, None) is not None:
            self.dirty.add(device_id)
        opened = self._open.get(device_id)
        if not opened:
            return []
        closing = [k for k in opened if kinds is None or k in kinds]
        if not closing:
            return []
        self.dirty.add(device_id)
        if Kind.SENSOR_FAULT in closing:
            self._set_silent(device_id, False)
        out = []
        for kind in closing:
            ep = opened.pop(kind)
            ep.state = AlertState.RESOLVED
            last = None if ep.episode is None else ep.episode.last_gas_ppm
            out.append(
                self._event(EventType.RESOLVED, device_id, Kind(kind), ep, ts, last, reason, detail)
            )
        if not opened:
            del self._open[device_id]
        return out

    def acknowledge(
        self, device_id: str, alert_id: str, *, ack: Ack, ts: float
    ) -> list[AlertEvent] | None:
        """Acknowledge an open safety alert: ``alert.acknowledged``, then ``alert.resolved`` for
        a latched alarm that has cleared already. None when ``alert_id`` is not open here."""
        for kind, ep in list(self._open.get(device_id, {}).items()):
            if ep.alert_id != alert_id:
                continue
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
                s = self.index.get(device_id)
                last = math.nan if s is None else self.rows.last_ts[s]
                out.append(
                    self._resolve(
                        device_id,
                        Kind(kind),
                        ts,
                        ev,
                        "acknowledged after the gas cleared",
                        reading_ts=None if math.isnan(last) else last,
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
            gas_unit=self.profiles.unit(d),
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
            kept: dict[str, Any] = {k: asdict(ep) for k, ep in self._open.get(d, {}).items()}
            p = self._pending.get(d)
            if p is not None:
                kept[PENDING] = {
                    "ts": p.ts,
                    "gas": p.gas,
                    "prev": None if math.isnan(p.prev) else p.prev,  # JSON has no NaN
                    "wait_s": p.wait_s,
                    "raised": p.raised,
                    "held_at": None if math.isnan(p.held_at) else p.held_at,
                }
            if d in self._cleared:
                kept[CLEARED] = dict(self._cleared[d])
            out[d] = kept or None
        self.dirty.clear()
        return out

    def restore(self, saved: dict[str, dict[str, Any]], *, now: float) -> None:
        """Load persisted open episodes and pending readings (at start-up); those devices are
        watched from ``now``."""
        for d, kinds in saved.items():
            self._watch(d, now)
            for kind, data in kinds.items():
                if kind == CLEARED:
                    if isinstance(data, int | float):  # saved as the threshold's time alone
                        data = {Kind.THRESHOLD.value: data}
                    self._cleared[d] = {k: float(v) for k, v in data.items()}
                    continue
                if kind == PENDING:  # due at the first sweep unless a reading comes first
                    kept = {k: v for k, v in data.items() if k not in ("due", "since")}
                    nan = {k: math.nan for k in ("prev", "held_at") if kept.get(k) is None}
                    self._pending[d] = Pending(**(kept | nan), due=now)
                    continue
                ep = OpenEpisode.from_dict(data)
                self._open.setdefault(d, {})[kind] = ep
                self._set_silent(d, "silent" in ep.conditions)

    def restore_open(
        self, device_id: str, kind: str, severity: str, state: str, alert_id: str, *, now: float
    ) -> None:
        """Re-open a stored open alert that has no saved episode (a store written before
        episodes were saved), so it is carried on instead of raised again."""
        self._watch(device_id, now)
        opened = self._open.setdefault(device_id, {})
        if kind not in opened:
            opened[kind] = OpenEpisode(
                alert_id,
                severity,
                state,
                latched=severity == Severity.CRITICAL and self.config.latch_critical,
            )

    def open_alerts(self, device_id: str) -> dict[str, OpenEpisode]:
        """Kind -> open episode of one device (a copy of the mapping)."""
        return dict(self._open.get(device_id, {}))

    def count_open(self) -> int:
        """Open safety alerts over all devices."""
        return sum(len(kinds) for kinds in self._open.values())

    def with_open(self) -> set[str]:
        """Devices with at least one open safety alert."""
        return {d for d, kinds in self._open.items() if kinds}

    def device_ids(self) -> set[str]:
        """Every device the rules hold anything for (watched, checked, with an open alert or
        a pending reading)."""
        watched = np.flatnonzero(np.isfinite(self.rows.view("last_seen"))).tolist()
        owner = self.index.owner
        out = {d for s in watched if (d := owner(s)) is not None}
        return out | set(self._watched) | set(self._open) | set(self._pending)

    def release(self, device_ids: list[str]) -> None:
        """Drop devices from memory without persisting anything (cluster mode: another
        replica owns them now and restores their state from the store)."""
        self.forget(device_ids)
        for d in device_ids:
            self.dirty.discard(d)

    def forget(self, device_ids: list[str]) -> None:
        """Drop the memory of devices (evicted ones: call only for devices without open
        alerts). Their rows are cleared; with an index of its own, their slots are freed."""
        for d in device_ids:
            self._open.pop(d, None)
            self._pending.pop(d, None)
            self._cleared.pop(d, None)
            self._watched.pop(d, None)
            s = self.index.get(d)
            if s is None:
                continue
            if self._own_index:
                self.index.remove(d)  # clears the row
            else:
                self.rows.clear(s)


def _num(x: float) -> str:
    """``x`` as ``:g`` writes it, but a number of a million or more in full, to 0.1 (a ppb
    device's 60,000,000 ppb range and 6,000,000 ppb readings, not 6e+07 and 6e+06)."""
    if math.isfinite(x) and abs(x) >= 1e6:
        return f"{x:.1f}".removesuffix(".0")
    return f"{x:g}"


def _last(ep: OpenEpisode) -> float | None:
    return None if ep.episode is None else ep.episode.last_gas_ppm
