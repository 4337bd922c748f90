"""Leak policy: turns each device's stream of leak probabilities into alert events.

Debounce on raise (probability >= ``raise_p`` for ``raise_n`` consecutive windows, the seed
design's 0.7 x 3, spanning at least ``raise_min_s`` of reading time: the alarm delay) and
hysteresis on resolve. A leak that comes and goes (a plume swept by a draught, a valve that
cycles) is raised by a second, k-of-n path: at least ``dense_k`` of the device's last
``dense_n`` windows high, spanning at least ``raise_min_s`` (:class:`PolicyConfig`). Then
hysteresis on resolve: a window is *clear* when its probability is below ``clear_p`` and the
caller does not flag the gas as still ``elevated`` above the device's pre-episode baseline; the
alert resolves once ``clear_n`` consecutive windows were clear and the first of them is at
least ``off_delay_s`` of reading time old. One alert per device episode; a leak that returns
after resolving is a new alert with a new ``alert_id``.

Lifecycle: ``active`` -> ``acknowledged`` (an operator's ack, held until the alert resolves)
-> ``resolved``. A warning escalates to critical once (never back: a model alarm is not
latched, but neither does it flap) when the probability reaches ``critical_p``, the gas
reaches ``critical_gas_ppm`` (converted to the device's unit by its profile,
:meth:`app.alerting.profiles.Profiles.critical_gas`), or the alert has been open
``escalate_after_s`` of reading time while its gas is still there (not on a clear window:
the gas has returned and the alert waits out its off-delay);
each escalation is an ``alert.updated`` event on the same ``alert_id``. An open alert whose
leak worsens materially (:meth:`AlertPolicy._maybe_worsened`: its gas rise over the clean
level kept at the raise reaches ``worsen_factor`` times the rise last announced) is
re-alarmed: an ``alert.updated`` with reason ``worsened``, state ``active`` again even after an
acknowledgement (ISA-18.2's re-alarm of an acknowledged alarm), and the new level.

Only a device in a non-default state (a high run, an open alert) has a
:class:`DeviceAlertState` in :attr:`AlertPolicy.states`; a device scored low all along keeps
nothing here. Every device whose state changed is remembered in :attr:`AlertPolicy.dirty`,
so the caller persists exactly those states in the same transaction as the events (restart
safety). Counters only move when they matter (``high_run`` while no alert is open, ``low_run`` while
one is), so a quiet device costs no writes. The episode context (first/last/peak) is saved
with the state on a new peak, an event or a counter change (the last values may be a few
windows old after a restart; the peak never is).
"""

from __future__ import annotations

import math
import uuid
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Protocol

from app.alerting.events import (
    Ack,
    AlertEvent,
    AlertState,
    EpisodeStats,
    EventType,
    Kind,
    Severity,
)

KIND = Kind.LEAK
#: A high run whose readings all carry the same time (a gateway with a stuck clock) raises
#: after this many times ``raise_n`` windows instead of waiting for ``raise_min_s`` of reading
#: time that never passes (at 1 Hz, 12 windows span 11 s, past the 5 s alarm delay anyway).
STALLED_CLOCK_FACTOR = 4
#: A high window stamped later than the run's latest one by less than this fraction of the
#: device's typical reading interval (and more than 0) is another sample of the same moment,
#: not one more reading of the run: it lengthens the run's span but counts neither in the
#: run's windows nor in the k-of-n history. A gateway that sends a burst of samples (3 taken
#: 0.2-1 s apart every 30-300 s) made each burst three windows, so two bursts met the 3
#: windows and the 8 s alarm delay that one sample per interval meets only at its third:
#: clean +25-40 % bumps of 40-90 s raised 93 leak alerts in 72 device-hours at 30 s (one
#: sample per 30 s: 2) and 14 in 480 at 300 s (one sample: 0; newcomer of 9 Dec, both
#: models, live; ``python -m bench.field_kinds --only bursts``: 110, 23 and 164 at 30, 60
#: and 300 s before, 3, 0 and 11 now, the one-sample control 1). 0.1, as the rule for a
#: reading delivered twice (:data:`app.services.buffers.TWICE_FRACTION`): a regular
#: device's interval varies by far less. Readings stamped alike (gap 0: coarse stamps) are
#: left to the pace rule (:meth:`AlertPolicy._span`). A leak on such a device is raised at
#: its third burst, as on a one-sample device (60 s at 30 s; 30 s before). Measured from
#: the run's latest window counted as a moment of its own (``moment_ts``), not the latest
#: window: a detector that reports every 300 or 900 s in clean air and every 10 s once it
#: reads gas (alarm mode) learns its new interval 5 % a reading, and each 10-s reading lay
#: within a tenth of the one before, so a leak was raised 230-234 and 450-454 s after its
#: onset; now 80-94 and 140-144 s (always 10 s: 40-50; ``python -m bench.field_kinds --only
#: alarmmode``; newcomer of 2 Dec 19:45).
SAME_SAMPLE_FRACTION = 0.1


@dataclass(slots=True)
class DeviceAlertState:
    """Debounce counters and the open alert of one device (``alert_id`` None = no alert)."""

    high_run: int = 0
    high_since: float | None = None  # reading time of the first window of the high run
    low_run: int = 0
    alert_id: str | None = None
    severity: str | None = None
    state: str | None = None  # "active" | "acknowledged" while an alert is open
    raised_ts: float | None = None
    clear_since: float | None = None  # reading time of the first clear window of the run
    episode: EpisodeStats | None = None
    # the device's clean-air level and noise scale when the alert was raised (gas units):
    # the alert clears only once the gas is back near them, even after the device's signal
    # model restarted (a restart of the service, a data gap) and relearned its level mid-leak
    base_level: float | None = None
    base_scale: float | None = None
    # what the temperature and humidity change explained at the raise (log ratio): a later
    # change explains no more of an open alert's gas (:meth:`still_above`)
    base_explained: float | None = None
    # the highest recent gas level (median of the last readings, gas units) of the open
    # alert: gas come down from it is the leak ending (:meth:`still_above`)
    peak_level: float | None = None
    # k-of-n raise (:attr:`PolicyConfig.dense_k`): bit i set = the window i windows ago was
    # high (the last ``dense_n`` windows, newest in bit 0), and the reading times of those
    # high windows, oldest first (as many as bits set)
    recent: int = 0
    recent_ts: list[float] = field(default_factory=list)
    # an open alert's gas level (gas units) last announced (:func:`_announced`): at the
    # raise, the acknowledgement or the latest re-alarm; and the latest median seen
    told_gas: float | None = None
    recent_gas: float | None = None
    # learned debounce (:class:`PolicyConfig` ``burst_*``): the length in windows of the
    # current run of high windows (an open alert's too; 0 = none, -1 = past a burst's
    # limits) and its first window's reading time; and the device's recent bursts, runs of
    # high windows that ended by themselves within those limits: [reading time of the
    # end, windows], oldest first
    burst_run: int = 0
    burst_since: float | None = None
    bursts: list[list[float]] = field(default_factory=list)
    # chatter (:class:`PolicyConfig` ``chatter_*``): reading time of the device's last
    # all-clear, and whether its open alert came within ``chatter_window_s`` of it (its
    # off-delay is then ``chatter_off_delay_s``)
    resolved_ts: float | None = None
    chattering: bool = False
    # recurrence (:meth:`AlertPolicy._maybe_recurred`): the open alert's gas had returned
    # (``clear_n`` clear windows in a row, its off-delay running) at this reading time;
    # ``high_run`` / ``recent`` then count the windows of a leak that comes back
    returned_ts: float | None = None
    # the device's reading time per reading (s; the signal model's ``pace``), last given:
    # what a run of windows can span (:meth:`AlertPolicy._span`)
    pace: float | None = None
    # reading time of the latest high window whose own last reading stood above the gate
    # (not only its running median: ``trailing`` in :meth:`AlertPolicy.update`), and the
    # device's typical reading interval (s) last given: where a run's span ends
    # (:meth:`AlertPolicy._lead`)
    lead_ts: float | None = None
    step: float | None = None
    # reading time of the run's latest high window counted as a moment of its own (not
    # another sample of the one before: :data:`SAME_SAMPLE_FRACTION`)
    moment_ts: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy, for the store."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeviceAlertState:
        """Inverse of :meth:`to_dict`; unknown keys (from a newer version) are ignored."""
        names = {f.name for f in fields(cls)}
        kept = {k: v for k, v in data.items() if k in names}
        if kept.get("episode") is not None:
            kept["episode"] = EpisodeStats.from_dict(kept["episode"])
        return cls(**kept)

    def still_above(
        self, gas: float, z_hold: float, min_log_ratio: float, explained: float = 0.0
    ) -> bool:
        """Whether ``gas`` (gas units) still stands at or above :meth:`clear_bound`: at least
        :data:`CLEAR_FRACTION` of the evidence gate's two bounds
        (:func:`app.ml.features.evidence`) above the level kept at the raise, ``z_hold`` of
        the kept noise scales and ``min_log_ratio`` in log ratio, after taking off
        ``explained`` (log ratio: what the change of temperature and humidity since the level
        was learned can explain, :func:`app.ml.features.ambient_allowance`, as the gate
        does), but no more than it explained at the raise (:attr:`base_explained`) while
        the gas has come down less than :data:`RECEDE_SHARE` of the alert's rise (at least
        ``CLEAR_FRACTION * min_log_ratio``, -10 %) from the level it last announced
        (:attr:`told_gas`, else the highest recent level, :attr:`peak_level`): a x1.3
        leak raised in still air closed "all clear" 500-1,140 s after the room's humidity
        rose 25-35 %RH or its temperature 10 °C, the gas still up for hours and the sensor
        not following (newcomer of 5 Dec, 18 of 18 runs at 1-60 s). Gas that has come down
        that far from it is the leak ending, and the whole change may explain the clean air
        left (a room 6 °C warmer and 30 %RH more humid, clean air +26 % after a leak:
        newcomer of 1 Dec; a sensor that follows the warmer room, its leak ended: the
        regression newcomer of 5 Dec). False without an open alert or a kept level (alerts
        raised before these fields existed)."""
        top = self.told_gas if self.told_gas is not None else self.peak_level
        receded = top is not None and math.log(
            (max(top, 0.0) + 1.0) / (max(gas, 0.0) + 1.0)
        ) >= max(CLEAR_FRACTION * min_log_ratio, RECEDE_SHARE * self._rise(top))
        if self.base_explained is not None and not receded:
            explained = min(explained, self.base_explained)
        bound = self.clear_bound(z_hold, min_log_ratio, explained)
        return bound is not None and gas >= bound

    def _rise(self, top: float) -> float:
        """How far ``top`` (gas units) stands above the level kept at the raise, log ratio
        (offset 1 gas unit, as :func:`app.ml.features.gas_rise`); 0 without a kept level."""
        if self.base_level is None:
            return 0.0
        return math.log((max(top, 0.0) + 1.0) / (max(self.base_level, 0.0) + 1.0))

    def clear_bound(
        self, z_hold: float, min_log_ratio: float, explained: float = 0.0
    ) -> float | None:
        """The gas (gas units) under which an open leak alert may clear: the larger of the
        kept level plus ``CLEAR_FRACTION * z_hold`` kept scales and the gas whose log ratio
        over it (offset 1 gas unit, as :func:`app.ml.features.gas_rise`) is
        ``CLEAR_FRACTION * min_log_ratio`` plus ``explained``; the first alone at a kept level
        at or below 0 (no ratio exists there, as in the gate). None without an open alert or
        a kept level."""
        if self.alert_id is None or self.base_level is None or not self.base_scale:
            return None
        by_scale = self.base_level + CLEAR_FRACTION * z_hold * self.base_scale
        if self.base_level <= 0.0:
            return by_scale
        r = CLEAR_FRACTION * min_log_ratio + max(explained, 0.0)
        by_ratio = (self.base_level + 1.0) * math.exp(r) - 1.0
        return max(by_scale, by_ratio)

    def reference(self, z_hold: float, min_log_ratio: float) -> dict[str, float] | None:
        """Why an open leak alert stays open, for the device view: the level and noise scale
        kept at the raise and ``clears_below``, the gas (gas units; median of the last
        :data:`STILL_ABOVE_READINGS` readings) under which it may clear with no temperature
        or humidity change (:meth:`clear_bound`; a change raises it by what it explains).
        None without an open alert or a kept level."""
        bound = self.clear_bound(z_hold, min_log_ratio)
        if bound is None or self.base_level is None or self.base_scale is None:
            return None
        return {
            "level": round(self.base_level, 6),
            "noise_scale": round(self.base_scale, 6),
            "clears_below": round(bound, 6),
        }

    def is_default(self) -> bool:
        """True when there is nothing worth persisting."""
        return self.at_rest() and not self.bursts and self.resolved_ts is None

    def at_rest(self) -> bool:
        """True with no open alert and no run under way: only the learned bursts and the
        last all-clear's time (if any) are kept, and a window under ``raise_p`` changes
        nothing (they stay until the device's next high window)."""
        return (
            self.alert_id is None
            and self.high_run == 0
            and self.low_run == 0
            and not self.recent
            and self.burst_run == 0
        )

    def push_window(self, high: bool, ts: float, n: int) -> None:
        """Record one window in the k-of-n history of the last ``n`` windows."""
        if (self.recent >> (n - 1)) & 1:
            self.recent_ts.pop(0)  # the oldest high window leaves the last n
        self.recent = ((self.recent << 1) | int(high)) & ((1 << n) - 1)
        if high:
            self.recent_ts.append(ts)


#: Hysteresis of an open leak alert's "still above" test: the alert stays open while the gas
#: stands this fraction of the raise's bounds (``z_hold`` scales and ``min_log_ratio``) above
#: the level kept at the raise, so it clears only once the gas is back *near* that level (a
#: deadband between raise and clear, as ANSI/ISA-18.2-2016 asks of analog alarms). With the
#: raise's own bounds (1.0) a leak that went on closed "all clear" once a clean background
#: under it fell: a ±15 % two-hour cycle under a +500 ppm leak closed it 36 min after the
#: raise at twice the clean value, a daily ±15 % cycle under +250 ppm after 9.4 h (newcomer of
#: 1 Dec; ``bench.detection_probe``'s cycle probes). What a change of temperature and
#: humidity since the level was learned explains is taken off first, as in the gate: without
#: it methane_chamber_afc's first session stayed in alert after the chamber was opened (the
#: sensor reads ~300 mV in the warmer, more humid room against ~240 mV before: +22 %, of
#: which the +3.5 °C and +20 %RH explain +19 %). (Holding an alert open also while the gas
#: stood the raise's whole bounds up with nothing taken off kept such alerts open for good
#: when the warmer, more humid air explained the whole shift: newcomer of 1 Dec; removed.)
CLEAR_FRACTION = 0.5

#: The share of an open leak alert's rise (the gas level it last announced over the level
#: kept at the raise, log ratio) the gas must have come down from that announced level
#: before the whole change of temperature and humidity since the level was learned may
#: explain what is left (:meth:`DeviceAlertState.still_above`; before, 10 % down from the
#: highest level seen). A leak that lasts for days under a room's ordinary day (T ±3 °C,
#: RH ∓8 %RH, the clean gas ±3-8 %) came down 10 % at each daily trough, the day's whole
#: ambient change then explained up to +21 %, and a x1.3 or x1.5 leak closed "all clear"
#: 5-34 h after its raise, the gas still up, never raised again (newcomer of 10 Dec: 11 of
#: 18 runs at x1.3 and 3 of 6 at x1.5 over 3 days, live both models). Half the way back, in
#: log ratio: a leak that ended has come down by all of it. From the announced level, not
#: the highest: the highest holds the day's swing and the noise, which a trough then
#: "came down" by (``python -m bench.field_kinds --svm --only days``: 15 runs of 36 closed
#: with the gas up before, 8 measured from the highest level, 5 from the announced one).
RECEDE_SHARE = 0.5


#: An open leak alert's "still above" test (:meth:`DeviceAlertState.still_above`) takes the
#: median of the device's last this-many readings, not its last reading: a clear needs
#: ``clear_n`` (10) windows in a row, and on a sensor whose clean air sits at a floor (a
#: methane sensor at 0 ppm, noise sd 2) about 11 % of single clean readings stood above the
#: bound kept at the raise (4 scales of 0.46 ppm), so the clear count kept starting again and
#: the alert never resolved; with 5 % lone spikes it resolved 33 min after the gas returned
#: (newcomer's probes). The median of 10 is above the bound only while most recent readings
#: are: a persisting leak keeps its alert, noise runs and lone spikes do not.
STILL_ABOVE_READINGS = 10


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    """Thresholds of :class:`AlertPolicy` (see :class:`app.config.Settings` for sources).

    ``off_delay_s``: reading-time seconds the clear condition must hold before a resolve
    (0 = only ``clear_n`` windows, the pre-issue-10 behaviour; the offline evaluation used it
    until 1 Dec, :func:`app.alerting.configure.evaluation_policy`).
    ``raise_min_s``: the alarm delay, reading-time seconds the high run must span (its first
    to its latest window) besides ``raise_n`` windows before an alert is raised (0 = windows
    only).
    ``raise_span_s``: a run of 2 high windows (at least; fewer than ``raise_n``) that spans
    this many reading-time seconds also raises, on a device without learned bursts. The
    alarm delay is time (ISA-18.2 on-delays are seconds), and ``raise_n`` windows cost a
    slow device ``raise_n`` of its intervals on top of the median-of-3 filter's reading:
    a 2x step on a 5-min device was raised 18.75 min after its onset, on a 1-min device
    after 180-225 s (newcomer of 1 Dec 03:30). 120 s: only devices reporting every 2 min or
    slower are touched; the filter already needs two readings over the gate. Measured on
    the hourly air_quality_uci benchmark (``python main.py --mode evaluate``): recall
    >= 3 sd 0.727 -> 0.864, median delay 14,400 -> 10,800 s, its untouched sessions (3,493
    device-hours) still 0 false alarms with the shipped model (the leave-one-out model
    trained without them: 1 -> 2); a 2x step at 5 min 900 -> 600 s, no false alarm in 24
    clean hours (offline replays, 6 seeds). With 60 s a 1-min device's 2x step took 120 s
    instead of 180 s, but a 1-min sensor with lone +4x spikes at 3 % of its readings raised
    a leak alert on a pair of them (``python -m bench.clean_fuzz 500 1 --svm``: 4 -> 5 of
    500 sensors), so 1-min devices keep their 3 windows. 0 turns it off.

    ``dense_k`` of the last ``dense_n`` windows high (their first to the latest spanning
    ``raise_min_s`` too) also raise, on a high window: a k-of-n rule (binary integration, the
    "M-of-N" detector of radar practice, Skolnik, *Introduction to Radar Systems*; in alarm
    management the on-delay that a chattering signal defeats, ANSI/ISA-18.2 and EEMUA 191, needs
    such a count that a short return to normal does not restart). The consecutive rule alone
    missed every leak that comes and goes: with 5 s on / 5 s off the median-of-3 filtered gate
    is open for 5 windows spanning 4 s, then closed (probability 0) for 5, so the run restarted
    below the 5 s delay for ever (newcomer: 4,000 ppm at 5/5 s, 1,200 ppm at random 1-5 s on and
    off, 10 min, no alert). 10 of 30: a third of the last 30 windows (30 s at 1 Hz, half a
    window). Leaks flickering 5/5, 3/3, 2/2, 1/1 and 2/4 s on/off are high in a third to a half
    of their windows and are raised 15-26 s after their onset (one-off online replays with the
    shipped model; ``python -m bench.detection_probe``'s two flicker leaks: 15 and 18 s, either
    model); a lone puff of 8 readings (smoke_iot rows 55045-55052) is 8 high windows, under 10,
    and 3-reading bursts every 5 min are 3. Real clean stretches raise as many false alarms as
    without the path (``python -m bench.realarms``: 3 with the LSTM+SVM, 2 with the pure SVM,
    the same alarms as before, one of them 4 s earlier: smoke_iot rows 51147-55975 row 4529, was
    4533). Not covered: a leak on for single readings (1 s on / 2 s off) never opens the
    evidence gate, whose median-of-3 filter drops lone readings by design. ``dense_k`` 0 turns
    the path off.

    ``worsen_factor``: an open alert is re-alarmed when the rise of its gas (median of the last
    readings) over the clean level kept at its raise reaches this many times the rise last
    announced (:func:`_announced`: at the raise, the acknowledgement or the last re-alarm),
    and at least :data:`WORSEN_MIN_SCALES` kept noise scales. 2: a doubling of the leak's excess
    concentration (a choice, not fitted; alarm practice re-alarms on a set worsening, not on
    every new peak): a 600 ppm leak over a 400 ppm level re-alarms from 800 ppm on, one of 4,800
    ppm from 9,200. ``python -m bench.realarms`` (either model): no re-alarm in the real clean
    stretches' false alarms, one in the smoke_iot gas-fire session (row 454) and one in its
    label-0 gas event (row 184), 2 and 3 over the methane chamber's 40-110 min rises, none for a
    1/min step to 3,000 ppm. None turns it off.

    ``burst_*``: the learned debounce. A *burst* is a run of high windows that began with no
    alert open and ended by itself within ``burst_max_windows`` windows and ``burst_max_s``
    s of reading time (:meth:`AlertPolicy._track_burst`). Once a device has shown
    ``burst_count`` bursts in the last ``burst_memory_s`` s, the consecutive rule needs
    twice the longest of them, at most ``burst_max_windows`` + 1 windows
    (:meth:`AlertPolicy.needed_run`). Why: the median-of-3 filter drops lone readings, but a
    sensor whose spikes last 2-3 readings (a MOX sensor's) shows them as 2-3 high windows,
    and on a device reading every 10 s three windows span 20 s, past the 8 s alarm delay: a
    noisy MOX sensor with 1-3-reading spikes at 1 % of its readings raised 11 critical leak
    alerts in 14 device-hours, each closing minutes later (newcomer of 1 Dec 06:40;
    ``python -m bench.detection_probe``'s spiky MOX probe: 50 alerts over its 4 such 14-h
    devices before, 2 with it, either model). A device's spikes are then learned like its
    noise. The cost, only on a device that has shown bursts: a leak needs up to
    ``burst_max_windows`` + 1 windows (6: a doubling on that probe is raised 6 readings in,
    was 3; 50 s on a 10-s device, 5 min on a 1-min one; nothing at 1 Hz, where the alarm
    delay already needs 9; a 5-min device's 2 windows span 300 s, over ``burst_max_s``, so
    it learns none). The dense k-of-n rule is unchanged: bursts that make 10 of 30 windows
    are a flickering leak. The defaults are choices, not fitted: 5 windows is the longest
    run a 3-reading spike with a neighbour gives through the median-of-3, 120 s two
    intervals of a 1-min device, a day of memory the daily cycle of people and heating.
    ``burst_max_windows`` 0 turns it off.

    ``chatter_*``: an alert raised within ``chatter_window_s`` of the device's last
    all-clear is *chattering* (ANSI/ISA-18.2-2016's term for an alarm that returns soon
    after it cleared), and its off-delay is ``chatter_off_delay_s`` instead of
    ``off_delay_s``: a leak that comes and goes in puffs minutes apart stays one open alert
    instead of one alert per puff; each puff after the first is told as the open alert's
    ``recurred`` update (:meth:`AlertPolicy._maybe_recurred`). Off by default
    (``chatter_window_s`` 0); an operator sets it (``GASLEAK_ALERT_CHATTER_WINDOW_S``, 600 s
    tried). Measured with 600 s (``python -m bench.detection_probe``'s puff-train rows, x3
    for 20 s every 2 min at 1 Hz, an hour): 30 alerts -> 2 alerts and 28 ``recurred``
    updates (30 s every 5 min: 12 -> 2 and 10). The evaluation counts a ``recurred``
    update as the detection of a leak that starts under an open alert (and as a false
    alarm on clean air), so with it on the figures hold: recall >= 3 sd on the 1 Hz smoke
    benchmark 0.497 with it, 0.487 without, LODO methane_chamber_afc 0.971 either way, 0
    false alarms on every real clean stretch (``python main.py --mode evaluate ...``, 1 Dec; before
    ``recurred`` existed it cost 0.506 -> 0.335). Why it stays off: an open alert holds the
    signal model, and a chattering alert's 600 s off-delay outlasts a clean cycle's period,
    so a wide clean cycle that a fresh device raised twice before learning it (400 + 100
    sin, 3.1 and 6.3 min periods) is never learned: one alert open for the rest of the hour
    (time in alert 0.07 -> 0.96 and 0.14 -> 0.93) re-announced at every peak (17 and 7
    ``recurred`` updates). Also the all-clear of a chattering alert comes
    ``chatter_off_delay_s`` after the gas last returned, not 60 s.
    """

    raise_p: float = 0.7
    raise_n: int = 3
    raise_min_s: float = 8.0
    raise_span_s: float = 120.0
    clear_p: float = 0.3
    clear_n: int = 10
    critical_p: float = 0.9
    critical_gas_ppm: float | None = None
    escalate_after_s: float | None = None
    off_delay_s: float = 0.0
    dense_k: int = 10
    dense_n: int = 30
    worsen_factor: float | None = 2.0
    burst_max_windows: int = 5
    burst_max_s: float = 120.0
    burst_count: int = 1
    burst_memory_s: float = 86400.0
    chatter_window_s: float = 0.0
    chatter_off_delay_s: float = 600.0

    def __post_init__(self) -> None:
        if not 0 <= self.dense_k <= self.dense_n <= 62:
            raise ValueError(
                f"dense_k, dense_n: need 0 <= dense_k <= dense_n <= 62, "
                f"got {self.dense_k}, {self.dense_n}"
            )
        top = min(self.raise_n * STALLED_CLOCK_FACTOR, BURSTS_KEPT)
        if not 0 <= self.burst_max_windows < top:
            raise ValueError(
                f"burst_max_windows: need 0 <= burst_max_windows < {top} (raise_n x "
                f"{STALLED_CLOCK_FACTOR} and BURSTS_KEPT), got {self.burst_max_windows}"
            )
        if self.worsen_factor is not None and not self.worsen_factor > 1:
            raise ValueError(f"worsen_factor: must be > 1, got {self.worsen_factor}")


def _announced(level: float | None, gas: float | None) -> float | None:
    """The gas level an event announces: the higher of the recent level (median of the last
    readings) and the event's own reading (None when both are unknown). The median lags a
    step: a 1/min device's leak of 3,000 ppm was raised while the median of its last 10
    readings still read 421 ppm, and re-alarmed on the next two windows (1,702, then 2,988)
    when the level announced was the median alone."""
    known = [x for x in (level, gas) if x is not None]
    return max(known) if known else None


#: Bursts a device keeps for the learned debounce (:meth:`AlertPolicy._track_burst`): past
#: it the oldest burst whose length a newer one repeats goes, so the newest of each length
#: stays (``burst_max_windows`` must stay under it).
BURSTS_KEPT = 12


#: A re-alarm needs the gas to stand at least this many of the noise scales kept at the raise
#: above the level last announced, besides ``worsen_factor`` (the evidence gate's ``z_hold``,
#: :class:`app.ml.signal.SignalConfig`): on a sensor at a 0 ppm floor a rise of a few ppm
#: is not a doubling of a leak.
WORSEN_MIN_SCALES = 4.0


class _AllPpm:
    """The units of a policy without profiles: every device reads ppm, with no %LEL."""

    @staticmethod
    def unit(_device: str) -> str:
        return "ppm"

    @staticmethod
    def pct_lel(_device: str, _gas: float | None) -> float | None:
        return None

    @staticmethod
    def critical_gas(_device: str, critical_ppm: float | None) -> float | None:
        return critical_ppm

    @staticmethod
    def as_sent(_device: str, gas: float | None) -> float | None:
        return gas


class GasUnits(Protocol):
    """What the policy asks of the device profiles (:class:`app.alerting.profiles.Profiles`):
    the unit of a device's gas, its %LEL, and ``critical_gas_ppm`` in its unit."""

    def unit(self, device_id: str) -> str:
        """The unit of the device's gas readings (ppm, ppb, %LEL, counts, mV)."""
        ...

    def pct_lel(self, device_id: str, gas_ppm: float | None) -> float | None:
        """The device's gas reading in %LEL, or None."""
        ...

    def critical_gas(self, device_id: str, critical_ppm: float | None) -> float | None:
        """``critical_ppm`` in the device's unit, or None (no concentration escalation)."""
        ...

    def as_sent(self, device_id: str, gas: float | None) -> float | None:
        """A gas value of the policy (the detection axis: a raw device's distance from its
        zero, :func:`app.alerting.profiles.detected_gas`) as the device's reading."""
        ...


@dataclass
class AlertPolicy:
    """Per-device leak alert state machine. Not thread-safe: call it from the event loop.

    Args:
        config: thresholds.
        model_type: written on every event ("PyTorch LSTM+SVM", "Pure SVM").
        units: the device profiles (``Profiles``): each device's gas unit, %LEL and
            concentration escalation in its unit (default: every device reads ppm).
    """

    config: PolicyConfig
    model_type: str
    units: GasUnits = field(default_factory=_AllPpm)
    states: dict[str, DeviceAlertState] = field(default_factory=dict)
    dirty: set[str] = field(default_factory=set)

    def quiet(self, device_id: str, prob: float) -> bool:
        """Whether :meth:`update` with this probability would change nothing and return
        None whatever the other arguments: the device is at rest (no debounce run, no open
        alert; its learned bursts may be kept) and ``prob`` is under ``raise_p``. Callers
        skip the rest of their per-window work for such windows (most of them, in clean
        air)."""
        if prob >= self.config.raise_p:
            return False
        st = self.states.get(device_id)
        return st is None or st.at_rest()

    def update(
        self,
        device_id: str,
        prob: float,
        ts: float,
        gas_ppm: float | None = None,
        *,
        elevated: bool = False,
        level: float | None = None,
        scale: float | None = None,
        gas_level: float | None = None,
        explained: float | None = None,
        pace: float | None = None,
        trailing: bool = False,
        interval: float | None = None,
    ) -> AlertEvent | None:
        """Feed one window's leak probability.

        Args:
            device_id: the device.
            prob: leak probability of its latest window, in [0, 1].
            ts: epoch seconds of the window's last reading.
            gas_ppm: gas of that reading, in the device's unit (``units.unit``; None = unknown).
            elevated: the device's gas is still far above its pre-episode baseline; while an
                alert is open such a window never counts as clear.
            level, scale: the device's clean-air level and noise scale (gas units), kept
                with an alert raised by this window (:attr:`DeviceAlertState.base_level`).
            explained: what the temperature and humidity change explains at this window
                (log ratio, :func:`app.ml.features.ambient_allowance`; None = unknown),
                kept with an alert it raises (:attr:`DeviceAlertState.base_explained`).
            pace: the device's reading time per reading (s, the signal model's mean of the
                intervals between its readings, 0 for readings stamped alike; None or NaN =
                unknown): a run of windows spans at most that many seconds a window
                (:meth:`_span`).
            gas_level: the device's recent gas level (the median of its last
                :data:`STILL_ABOVE_READINGS` readings, gas units; None = unknown): what an
                open alert's re-alarm on worsening compares (:meth:`_maybe_worsened`).
            trailing: the window stands high only through the running median of three: its
                own last reading is under the evidence gate
                (:func:`app.ml.features.trailing`). It keeps a run of high windows going,
                but lengthens the run's span by at most ``interval`` past its latest window
                that is not trailing (:meth:`_lead`).
            interval: the device's typical interval between readings (s, the signal
                model's ``dt``; None or NaN = unknown, then a trailing window lengthens
                nothing).

        Returns:
            The event when the alert is raised, escalated or re-alarmed (``alert.updated``)
            or resolved.
        """
        c = self.config
        st = self.states.get(device_id)
        if st is None:
            if prob < c.raise_p:
                return None  # the default state stays default: nothing is kept per device
            st = self.states[device_id] = DeviceAlertState()
        if pace is not None and pace >= 0.0:  # False for NaN
            st.pace = pace
        step = interval if interval is not None and interval > 0.0 else None
        before = (st.high_run, st.low_run, len(st.recent_ts), st.burst_run, len(st.bursts))
        high = prob >= c.raise_p
        self._track_burst(st, high, ts)
        if st.alert_id is None:
            self._count(st, high, ts, trailing, step)
            event = self._maybe_raise(device_id, st, prob, ts, gas_ppm)
            if event is not None:
                st.base_level, st.base_scale = level, scale
                st.base_explained = explained
                st.recent_gas = st.peak_level = gas_level
                st.told_gas = _announced(gas_level, gas_ppm)
        else:
            if gas_level is not None:
                st.recent_gas = gas_level  # not persisted for itself: it moves every window
                if st.peak_level is None or gas_level > st.peak_level:
                    st.peak_level = gas_level
            if prob < c.clear_p and not elevated:
                st.low_run += 1
                if st.clear_since is None:
                    st.clear_since = ts
            else:
                st.low_run, st.clear_since = 0, None
            if st.episode is not None and st.episode.observe(ts, prob, gas_ppm):
                self.dirty.add(device_id)  # a new peak is stored (survives a restart)
            if st.low_run >= c.clear_n and st.returned_ts is None:
                st.returned_ts = st.clear_since  # the gas returned: watch for it coming back
                st.high_run, st.high_since, st.recent, st.recent_ts = 0, None, 0, []
            event = None
            if st.returned_ts is not None:
                event = self._maybe_recurred(
                    device_id, st, prob, ts, gas_ppm, gas_level, trailing, step
                )
            if event is None and gas_level is not None:
                event = self._maybe_worsened(device_id, st, prob, ts, gas_ppm)
            if event is None:
                event = self._maybe_resolve_or_escalate(device_id, st, prob, ts, gas_ppm)
        after = (st.high_run, st.low_run, len(st.recent_ts), st.burst_run, len(st.bursts))
        if event is not None or after != before:
            self.dirty.add(device_id)
        if st.is_default():
            self.states.pop(device_id, None)  # back to the default state: nothing to keep
        return event

    def _maybe_raise(
        self, device_id: str, st: DeviceAlertState, prob: float, ts: float, gas: float | None
    ) -> AlertEvent | None:
        if not (self._run_raises(st, ts) or self._dense_raises(st, prob, ts)):
            return None
        st.high_run, st.high_since = 0, None
        st.recent, st.recent_ts = 0, []
        last = st.resolved_ts
        st.chattering = last is not None and ts - last <= self.config.chatter_window_s
        st.resolved_ts = None
        st.alert_id = uuid.uuid4().hex
        st.state = AlertState.ACTIVE.value
        st.raised_ts = ts
        st.episode = EpisodeStats.open(ts, prob, gas, by_probability=True)
        reason = self._critical_reason(device_id, st, prob, ts, gas)
        st.severity = (Severity.CRITICAL if reason else Severity.WARNING).value
        return self._event(EventType.RAISED, device_id, st, prob, ts, gas, reason)

    def _track_burst(self, st: DeviceAlertState, high: bool, ts: float) -> None:
        """Follow the device's runs of high windows for the learned debounce
        (:class:`PolicyConfig` ``burst_*``): a run that began with no alert open and ended
        (a window under ``raise_p``) within ``burst_max_windows`` windows and
        ``burst_max_s`` s is a burst, kept ``burst_memory_s`` of reading time (at most
        :data:`BURSTS_KEPT`). A run that began while an alert was open (a leak that flickers
        under its alert) is not one."""
        c = self.config
        if c.burst_count <= 0 or c.burst_max_windows <= 0:
            return
        if not high:
            if st.burst_run > 0:  # a burst ended: forget those past the memory, keep it
                st.bursts = [b for b in st.bursts if ts - b[0] <= c.burst_memory_s]
                st.bursts.append([ts, float(st.burst_run)])
                if len(st.bursts) > BURSTS_KEPT:  # drop the oldest that a newer one repeats
                    newest = {b[1]: i for i, b in enumerate(st.bursts)}
                    del st.bursts[next(i for i, b in enumerate(st.bursts) if newest[b[1]] != i)]
            st.burst_run, st.burst_since = 0, None
            return
        if st.burst_run == 0:
            st.burst_run, st.burst_since = (0, ts) if st.alert_id is None else (-1, None)
        if st.burst_run >= 0:
            st.burst_run += 1
            since = ts if st.burst_since is None else st.burst_since
            if st.burst_run > c.burst_max_windows or ts - since > c.burst_max_s:
                st.burst_run, st.burst_since = -1, None  # longer than a burst

    def needed_run(self, st: DeviceAlertState, ts: float) -> int:
        """High windows in a row the consecutive rule needs of this device now: ``raise_n``,
        or, once the device has shown ``burst_count`` bursts in the last ``burst_memory_s``
        (:meth:`_track_burst`), twice the longest of them, at most ``burst_max_windows`` + 1."""
        c = self.config
        live = self._live_bursts(st, ts)
        if not live:
            return c.raise_n
        return max(c.raise_n, min(c.burst_max_windows + 1, 2 * int(max(live))))

    def _live_bursts(self, st: DeviceAlertState, ts: float) -> list[float]:
        """The lengths (windows) of the device's bursts within ``burst_memory_s`` of ``ts``,
        or [] while fewer than ``burst_count`` (the learned debounce is then off for it)."""
        c = self.config
        live = [b[1] for b in st.bursts if ts - b[0] <= c.burst_memory_s]
        return live if c.burst_count > 0 and len(live) >= c.burst_count else []

    def _run_raises(self, st: DeviceAlertState, ts: float) -> bool:
        """The consecutive rule: :meth:`needed_run` high windows in a row (``raise_n``, more
        for a device with bursts) spanning ``raise_min_s`` (or a stalled clock's
        :data:`STALLED_CLOCK_FACTOR` times ``raise_n``); or, on a device without bursts, 2 or
        more spanning ``raise_span_s`` (a slow device)."""
        c = self.config
        since = ts if st.high_since is None else st.high_since
        need = self.needed_run(st, ts)
        span = self._lead(st, ts, since) - since
        if (
            c.raise_span_s > 0
            and 2 <= st.high_run < need
            and not self._live_bursts(st, ts)
            and self._span(st, span, st.high_run - 1) >= max(c.raise_span_s, c.raise_min_s)
        ):
            return True
        if st.high_run < need:
            return False
        stalled = ts == since and st.high_run >= c.raise_n * STALLED_CLOCK_FACTOR
        return self._span(st, span, st.high_run - 1) >= c.raise_min_s or stalled

    @staticmethod
    def _lead(st: DeviceAlertState, ts: float, since: float) -> float:
        """Where a run of high windows that began at reading time ``since`` ends for its
        span, s: the window at ``ts`` itself, unless it stands high only through the running
        median of three (``trailing``); then at most one typical reading interval after the
        run's latest window whose own reading stood above the evidence gate
        (:attr:`DeviceAlertState.lead_ts`; ``since`` itself when it has none), the interval
        as it was at that window (:attr:`DeviceAlertState.step`: the one given with the
        trailing window has learned the pause before it already).

        Why: the median of a reading after a lost packet or a pause still takes its value
        from the two readings before it, so a clean 8-reading spike at 1 Hz followed by one
        lost reading was a run of high windows spanning 8 s, the alarm delay, and raised a
        critical leak alert; with nothing lost the same spike spans 7 s and raises nothing
        (newcomer of 8 Dec, lossy LoRa/Zigbee links: 4-11 alerts in 12 device-hours at
        10-50 % loss, 0 without loss; a 5-reading spike followed by 5-290 s of silence
        raised too). With nothing lost a trailing window comes one interval after the
        lead, so the span is as before; a leak's readings stand above the gate themselves.
        (A first version stopped the span at the lead: a x3 ramp on wandering air whose
        first run of 5 windows ended on a trailing one was no longer raised, and was
        learned: ``bench.detection_probe --svm``. A second took the interval given with the
        trailing window, which had learned 0.05 of a 119-s pause: a 5-reading spike and
        the pause raised again.)"""
        lead = st.lead_ts
        if lead is not None and lead >= ts:
            return ts
        if lead is None or lead < since:
            return since
        return lead if st.step is None else min(ts, lead + st.step)

    @staticmethod
    def _span(st: DeviceAlertState, stamped: float, intervals: int) -> float:
        """The reading time a run of windows spans, s: ``stamped`` (its first window's time
        to its latest's), but at most ``intervals`` (windows after its first) times the
        device's reading time per reading (:attr:`DeviceAlertState.pace`), where known.

        Why: a gateway that stamps coarsely (times truncated to 10 s, or a batch of readings
        sent without ``ts``, each stamped with its receipt) puts a run of 6 readings at 1 Hz
        across a stamp boundary, where it "spans" 10 s: past the 8 s alarm delay, so clean
        transients of 6-8 readings (a relay's glitch, a breath on a CO2 sensor), silent with
        exact stamps, raised a critical leak alert at most transients (newcomer of 6 Dec:
        33 of 69 at L = 6 readings, 49 of 69 at L = 8, either model)."""
        pace = st.pace
        if pace is None or intervals < 0:
            return stamped
        return min(stamped, intervals * pace)

    def _dense_raises(self, st: DeviceAlertState, prob: float, ts: float) -> bool:
        """The k-of-n rule (:class:`PolicyConfig` ``dense_k``): on a high window, at least
        ``dense_k`` of the last ``dense_n`` windows high, the first of them ``raise_min_s``
        or more of reading time before this one."""
        c = self.config
        return (
            c.dense_k > 0
            and prob >= c.raise_p
            and len(st.recent_ts) >= c.dense_k
            and self._span(
                st,
                self._lead(st, ts, st.recent_ts[0]) - st.recent_ts[0],
                st.recent.bit_length() - 1,
            )
            >= c.raise_min_s
        )

    def _maybe_recurred(
        self,
        device_id: str,
        st: DeviceAlertState,
        prob: float,
        ts: float,
        gas: float | None,
        gas_level: float | None,
        trailing: bool = False,
        step: float | None = None,
    ) -> AlertEvent | None:
        """Re-announce an open alert whose gas had returned (``clear_n`` clear windows in a
        row: only its off-delay kept it open) when the leak comes back: the raise rules
        (consecutive and k-of-n, as for a new alert) counted from the return. The alert
        becomes ``active`` again (an acknowledgement no longer holds: the gas came back
        after it), may escalate, and the announced level becomes the new one. Without it a
        leak that came back within the off-delay (60 s; 600 s for a chattering alert) was
        never told: the alert stayed open and said nothing."""
        c = self.config
        self._count(st, prob >= c.raise_p, ts, trailing, step)
        if not (self._run_raises(st, ts) or self._dense_raises(st, prob, ts)):
            return None
        back = ts - (st.returned_ts if st.returned_ts is not None else ts)
        st.high_run, st.high_since, st.recent, st.recent_ts = 0, None, 0, []
        st.returned_ts = None
        st.state = AlertState.ACTIVE.value
        st.told_gas = _announced(gas_level, gas)
        if st.severity == Severity.WARNING and self._critical_reason(device_id, st, prob, ts, gas):
            st.severity = Severity.CRITICAL.value
        detail = (
            f"the leak came back {back:g} s after the gas had returned; the alert stayed open "
            f"for its off-delay ({self._off_delay(st):g} s"
            + (", chattering" if st.chattering else "")
            + ")"
        )
        return self._event(
            EventType.UPDATED, device_id, st, prob, ts, gas, "recurred", detail=detail
        )

    def _count(
        self, st: DeviceAlertState, high: bool, ts: float, trailing: bool, step: float | None
    ) -> None:
        """One window (``high``: at or over ``raise_p``) into the raise rules' counters: the
        run of high windows in a row and its first window's time, the k-of-n history (a high
        window that is another sample of the run's latest moment counts in neither,
        :data:`SAME_SAMPLE_FRACTION`), and, for a high window that is not ``trailing``, its
        time and the device's reading interval then (``step``, s; None = unknown), where
        the run's span may end (:meth:`_lead`)."""
        c = self.config
        moment = st.moment_ts
        again = (
            high
            and st.high_run > 0
            and moment is not None
            and step is not None
            and 0.0 < ts - moment < SAME_SAMPLE_FRACTION * step
        )
        if high:
            if not trailing:
                st.lead_ts, st.step = ts, step
            if st.high_run == 0:
                st.high_since = ts
            if not again:  # another sample of the same moment: :data:`SAME_SAMPLE_FRACTION`
                st.high_run = min(st.high_run + 1, c.raise_n * STALLED_CLOCK_FACTOR)
                st.moment_ts = ts
        else:
            st.high_run, st.high_since = 0, None
        if c.dense_k and not again:
            st.push_window(high, ts, c.dense_n)

    def _off_delay(self, st: DeviceAlertState) -> float:
        """The off-delay of the device's open alert, s: ``chatter_off_delay_s`` when it is
        chattering, else ``off_delay_s``."""
        c = self.config
        return c.chatter_off_delay_s if st.chattering else c.off_delay_s

    def _maybe_worsened(
        self, device_id: str, st: DeviceAlertState, prob: float, ts: float, gas: float | None
    ) -> AlertEvent | None:
        """Re-alarm an open alert whose leak worsened materially: the rise of the recent gas
        level (:attr:`DeviceAlertState.recent_gas`) over the clean level kept at the raise
        is at least ``worsen_factor`` times the rise last announced
        (:attr:`DeviceAlertState.told_gas`) and :data:`WORSEN_MIN_SCALES` kept noise scales
        above it. The alert becomes ``active`` again (an acknowledgement no longer holds: the
        operator acknowledged a smaller leak), may escalate to critical in the same event,
        and the announced level becomes the new one. Without a kept level (none was given at
        the raise) the rise is measured from 0. Called only for a window that brought a level."""
        f, g = self.config.worsen_factor, st.recent_gas
        if f is None or g is None:
            return None
        if st.told_gas is None:  # an alert raised before this field existed
            st.told_gas = g
            return None
        base, scale = st.base_level or 0.0, st.base_scale or 0.0
        told_rise = st.told_gas - base
        if g - base < f * told_rise or g - st.told_gas < WORSEN_MIN_SCALES * scale:
            return None
        if g <= st.told_gas:  # told_rise <= 0: a level at or below the clean one
            return None
        detail = (
            f"gas level {g:g} (median of the last {STILL_ABOVE_READINGS} readings) stands "
            f"{(g - base) / max(told_rise, 1e-12):.3g}x as far above the clean level "
            f"{base:g} as the {st.told_gas:g} last announced"
        )
        st.told_gas = _announced(g, gas)
        st.state = AlertState.ACTIVE.value
        if st.severity == Severity.WARNING and self._critical_reason(device_id, st, prob, ts, gas):
            st.severity = Severity.CRITICAL.value
        return self._event(
            EventType.UPDATED, device_id, st, prob, ts, gas, "worsened", detail=detail
        )

    def _maybe_resolve_or_escalate(
        self, device_id: str, st: DeviceAlertState, prob: float, ts: float, gas: float | None
    ) -> AlertEvent | None:
        c = self.config
        off_delay = self._off_delay(st)
        if (
            st.low_run >= c.clear_n
            and st.clear_since is not None
            and ts - st.clear_since >= off_delay
        ):
            st.state = AlertState.RESOLVED.value
            event = self._event(EventType.RESOLVED, device_id, st, prob, ts, gas, "all clear")
            self._reset(device_id, st, resolved_ts=ts)
            return event
        if st.severity == Severity.WARNING:
            reason = self._critical_reason(device_id, st, prob, ts, gas)
            if reason:
                st.severity = Severity.CRITICAL.value
                # the critical alarm is a new alarm to acknowledge, as a threshold warning's
                # escalation (app/alerting/safety.py): an acknowledged warning stayed
                # "acknowledged", with no reminder and out of ?state=active (newcomer of 2 Dec)
                st.state = AlertState.ACTIVE.value
                return self._event(EventType.UPDATED, device_id, st, prob, ts, gas, reason)
        return None

    def _reset(
        self, device_id: str, st: DeviceAlertState, resolved_ts: float | None = None
    ) -> None:
        """Back to the default state after an alert resolves: only the device's learned
        bursts (:meth:`_track_burst`) and the time of an all-clear (``resolved_ts``, epoch
        s, for the chatter rule) stay; with neither the state is dropped."""
        keep = self.config.chatter_window_s > 0 and resolved_ts is not None
        fresh = DeviceAlertState(bursts=st.bursts, resolved_ts=resolved_ts if keep else None)
        if fresh.is_default():
            del self.states[device_id]
        else:
            self.states[device_id] = fresh

    def _critical_reason(
        self, device_id: str, st: DeviceAlertState, prob: float, ts: float, gas: float | None
    ) -> str | None:
        """Why the device's open warning (or the one being raised) is critical at this
        window, or None: ``probability`` (``prob`` at or over ``critical_p``),
        ``concentration`` (``gas``, device unit, at or over ``critical_gas_ppm`` in that
        unit) or ``duration`` (open ``escalate_after_s`` of reading time at ``ts``, epoch
        s). ``duration`` is not about the gas now, so it does not apply while the gas has
        returned: a window counted clear (:attr:`DeviceAlertState.clear_since` set, the
        off-delay running). An acknowledged warning whose gas cleared at t=250 s was
        escalated by it at t=308 s (raised at 8 s, ``escalate_after_s`` 300 s), two
        seconds before its all-clear: ``active`` again, its acknowledgement lost and its
        peak severity critical for a leak that had ended (a tester, 2 Dec). It escalates
        once the gas is there again (a window not clear) and the alert still open."""
        c = self.config
        if prob >= c.critical_p:
            return "probability"
        if gas is not None and c.critical_gas_ppm is not None:
            limit = self.units.critical_gas(device_id, c.critical_gas_ppm)
            if limit is not None and gas >= limit:
                return "concentration"
        if (
            c.escalate_after_s is not None
            and st.raised_ts is not None
            and st.clear_since is None  # not while the gas has returned (the docstring)
            and ts - st.raised_ts >= c.escalate_after_s
        ):
            return "duration"
        return None

    def acknowledge(
        self, device_id: str, alert_id: str, *, ack: Ack, ts: float
    ) -> AlertEvent | None:
        """Acknowledge the device's open alert: the ``alert.acknowledged`` event, or None when
        ``alert_id`` is not the device's open leak alert."""
        st = self.states.get(device_id)
        if st is None or st.alert_id != alert_id:
            return None
        st.state = AlertState.ACKNOWLEDGED.value
        seen = _announced(st.recent_gas, st.episode.last_gas_ppm if st.episode else None)
        if seen is not None:  # the operator has seen the leak at this level
            st.told_gas = seen if st.told_gas is None else max(st.told_gas, seen)
        self.dirty.add(device_id)
        ep = st.episode
        last_p = ep.last_probability if ep else None
        last_g = ep.last_gas_ppm if ep else None
        return self._event(
            EventType.ACKNOWLEDGED,
            device_id,
            st,
            last_p,
            ts,
            last_g,
            "acknowledged",
            ack=ack,
            model=None,
        )

    def take_dirty(self) -> dict[str, dict[str, Any] | None]:
        """States changed since the last call: device -> state dict, or None to delete."""
        out: dict[str, dict[str, Any] | None] = {}
        for d in self.dirty:
            st = self.states.get(d)
            out[d] = None if st is None or st.is_default() else st.to_dict()
        self.dirty.clear()
        return out

    def restore(self, saved: dict[str, dict[str, Any]]) -> None:
        """Load persisted states (at start-up)."""
        for d, data in saved.items():
            self.states[d] = DeviceAlertState.from_dict(data)

    def active(self) -> dict[str, str]:
        """Device id -> open (active or acknowledged) alert id."""
        return {d: s.alert_id for d, s in self.states.items() if s.alert_id}

    def close(self, device_id: str, *, ts: float, reason: str, detail: str) -> AlertEvent | None:
        """Resolve the device's open leak alert now, whatever its readings (an operator
        disabled the device: it is no longer scored, so the alert could never change);
        its debounce counters go too. The ``alert.resolved`` event carries ``reason`` and
        ``detail`` and the episode's last probability and gas; None without an open alert.
        ``ts``: epoch s (wall clock of the operator's change)."""
        st = self.open_alert(device_id)
        if st is None:
            return None
        st.state = AlertState.RESOLVED.value
        ep = st.episode
        last_p, last_g = (ep.last_probability, ep.last_gas_ppm) if ep else (None, None)
        event = self._event(EventType.RESOLVED, device_id, st, last_p, ts, last_g, reason)
        self._reset(device_id, st)
        self.dirty.add(device_id)
        return event.with_(detail=detail, model_type=None)

    def open_alert(self, device_id: str) -> DeviceAlertState | None:
        """The device's state while it has an open leak alert, else None."""
        st = self.states.get(device_id)
        return st if st is not None and st.alert_id is not None else None

    def release(self, device_ids: list[str]) -> None:
        """Drop devices from memory without persisting anything (cluster mode: another
        replica owns them now and restores their state from the store)."""
        for d in device_ids:
            self.states.pop(d, None)
            self.dirty.discard(d)

    def forget(self, device_ids: list[str]) -> None:
        """Drop the state of evicted devices (persisted as deletions)."""
        for d in device_ids:
            if self.states.pop(d, None) is not None:
                self.dirty.add(d)

    def _event(
        self,
        type_: EventType,
        device_id: str,
        st: DeviceAlertState,
        prob: float | None,
        ts: float,
        gas: float | None,
        reason: str | None,
        *,
        ack: Ack | None = None,
        model: str | None | bool = True,
        detail: str | None = None,
    ) -> AlertEvent:
        assert st.alert_id is not None and st.severity is not None and st.state is not None
        # the policy's gas is on the detection axis; an event shows the device's readings
        sent = self.units.as_sent
        ep = None if st.episode is None else st.episode.freeze()
        if ep is not None:
            ep = replace(
                ep,
                opened_gas_ppm=sent(device_id, ep.opened_gas_ppm),
                last_gas_ppm=sent(device_id, ep.last_gas_ppm),
                peak_gas_ppm=sent(device_id, ep.peak_gas_ppm),
            )
        gas = sent(device_id, gas)
        return AlertEvent(
            type=type_,
            alert_id=st.alert_id,
            device_id=device_id,
            kind=KIND,
            severity=Severity(st.severity),
            state=AlertState(st.state),
            ts=ts,
            probability=prob,
            gas_ppm=gas,
            gas_unit=self.units.unit(device_id),
            gas_pct_lel=self.units.pct_lel(device_id, gas),
            reason=reason,
            detail=detail,
            ack=ack,
            model_type=self.model_type if model is True else None,
            episode=ep,
        )
