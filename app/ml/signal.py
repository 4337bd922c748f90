"""Per-device model of the gas signal in clean air, learned online (river style).

Each device has a :class:`DeviceSignal` with ``learn_one`` / ``score_one``: a robust clean-air
**level** (the baseline), the device's own **noise scale**, a warm-up counter and a gap
detector. The leak model sees gas relative to the level *and* in units of the noise scale,
so a quiet sensor and a noisy one, ppm and millivolts, look alike to it.

- **Level**: a Huber M-estimate of location, updated one reading at a time with a step that
  is clipped at ``huber_c`` noise scales (Huber 1964, "Robust estimation of a location
  parameter"): one outlier (a 0 ppm glitch, a lone spike) moves it by a negligible amount.
  It follows the signal down with time constant ``tau_down_s`` and up with ``tau_up_s``
  (the asymmetry of automatic baseline correction in NDIR CO2 sensors and the SGP30's own
  baseline compensation: gas only adds to clean air). Rises within the device's own noise
  above its resolution floors (``level_sym_z`` times the deviation estimate less the floor)
  are followed as fast as falls: otherwise the level of a noisy sensor sinks to the lower
  edge of its noise (1.4 sd below its centre for Gaussian noise, where rises and falls
  balance at the 36:1 rate ratio), the scale measured from there grows to 1.8 sd, and a
  +60 % leak on sd 20 % noise stood 3.3 scales up, below the evidence bound (newcomer). On a
  quiet sensor (noise under the floors, as the SGP30 at 400 ppm) this band is 0: unchanged;
  while the recent readings stand far above the level (**Rising**, below) it is 0 too.
- **Dropouts**: a reading ``z_hold`` scales below the level, or ``huber_c`` scales below it
  and at most half of it, is a sensor fault (a dropout to 0 ppm), not clean air: it moves
  neither the level nor the scale while such readings have lasted less than
  ``dropout_max_s`` (then it is a real fall, and is learned). Readings of 0 ppm for 2 min
  of every 10 otherwise pulled the level down and grew the scale without end (after 3 h:
  level 55 ppm, scale 320 ppm at a 400 ppm sensor), and a +60 % leak went unseen. A fall
  that outlasts ``dropout_max_s`` moves the level to it at once (crawling down in Huber
  steps taught the deviation the fall itself: 0.6x for 20 min grew the scale 4 -> 73 ppm,
  and a x2 leak on the dipped air was never raised). The level before such a fall is kept
  (a day; for a sensor at 0, until a day after it is back): clean air that comes back to it
  puts it back (and its scale), and a rise part way, at once or over a room's time
  constant, carries the level with it (:meth:`SignalStates._return`). The level follows a
  fall within ``tau_down_s`` but a rise only within ``tau_up_s`` (6 h), so the return of
  clean air after 40 min or more at 0 (or a dip to 0.6x: a purge fan) stood far above the
  fallen level and raised a critical leak alert that never cleared (newcomer of 2 Dec: 14
  of 24 such returns). A rise that passes above that level's band (+10.5 %) is judged from
  the fallen level after a dip (a x2 leak on air dipped to 0.6x), from the old level after
  a sensor at 0, and so is one that stops for 10 min under 0.75x of the old level. A leak
  on dipped air that lifts it to 0.75x-1.1x of the old level is taken for clean air coming
  back while the old level is kept (``bench.detection_probe``'s ``limit:`` row).
  Under an open leak alert a dropout teaches nothing however long it lasts, and counts as
  no clean air (:func:`reads_dropout`).
- **Noise scale**: an exponentially weighted mean absolute deviation from the level, clipped
  like the level, times sqrt(pi/2) (mean absolute deviation -> standard deviation for
  Gaussian noise), floored at ``rel_floor`` of the level (sensor resolution: smoke_iot's
  SGP30 has sd ~ 5 ppm at its 400 ppm floor, 1.25 %; methane_chamber_afc's Figaro sensor
  1.4826 * MAD = 2.2 mV at 165 mV, 1.3 %).
- **Floors from the data**: the scale is never below the tracked 97.5 % quantile of the
  baseline-relative signal over ``z_hold`` (so at least 97.5 % of clean readings stand below
  the evidence bound), nor below the sensor's **resolution**, the smallest non-zero step
  between two consecutive raw readings seen (up to 5 % of the reading, 25 % for a toggle a,
  b, a; a larger toggle once alike ones recur: :data:`RES_TOGGLE_REPEATS`). The quantile
  starts at that of the warm-up readings and follows with a Robbins-Monro step (Robbins &
  Monro 1951; ``TAIL_GAIN`` scales per time constant; readings far above are excluded, as
  from the scale). Without them the MAD collapses on sensors whose clean air sits on a floor
  or moves in whole steps: a methane or %LEL sensor reading 0-5 ppm (half its readings 0),
  an integer-ppm sensor toggling 0/1. The scale fell to 0.1 or the 0.001 floor, ordinary
  readings stood tens to thousands of scales up, and such probes raised 39 and 30 false leak
  alarms in one clean hour (``bench.detection_probe``). For Gaussian noise neither floor
  binds (the quantile over 4 is half a standard deviation), so ordinary sensors see no
  change.
- **Slow sampling**: every time constant is at least ``min_memory`` readings long, so an
  hourly device (air_quality_uci) keeps 30 readings of memory instead of forgetting its
  noise scale between two readings.
- **Pace** (``pace``, ``tied``): the reading time per reading, a mean over the intervals
  between distinct stamps each shared by the readings stamped alike before it (times
  truncated to 10 s, a batch stamped at its send time). Where it is under
  :data:`COARSE_PACE` of the typical interval between distinct stamps (``dt``) the stamps
  are coarse, and the alert policy counts a run of windows as spanning at most its
  readings' time (:meth:`SignalStates.coarse_pace`,
  :meth:`app.alerting.leak.AlertPolicy._span`).
- **Warm-up**: the first ``warmup`` readings after a (re)start are not scored; then the
  level starts at their median (of the readings rounded to float32, as the service's ring
  buffer holds them: see :class:`SignalStates`) and the scale at 1.4826 * MAD (the
  consistency constant of the MAD for Gaussian data, Rousseeuw & Croux 1993). A warm-up
  holding an excursion far above the rest that ended in it (a breath on a new sensor:
  :func:`_warm_clean`) learns from the rest.
- **Gap**: a reading more than ``max(gap_min_s, gap_factor * typical interval)`` after the
  previous one restarts the warm-up: a level learned hours ago says little about the sensor
  now (methane_chamber_afc's logger pauses for 3 h and comes back 30 % higher). After a
  gap of up to :data:`GAP_KEEP_FACTOR` times that, the level before it stays the warm-up's
  reference: a warm-up level far above it is a leak's, and the old level is kept. The
  second interval after a (re)start never restarts: the typical interval then rests on the
  first alone, and a second one past the gap shows that the first was no typical interval
  (a copy of the first reading delivered again seconds later), so it is learned afresh from
  the second. Before, a 600-s device whose every reading came again 1-5 s later took 3 s
  as its interval, the next 600 s restarted the warm-up, and so on: 199 restarts in 200
  readings, never scored (newcomer of 9 Dec). A pause like the one before it (within
  :data:`PAUSE_ALIKE`, at most :data:`PAUSE_MAX_S`) after fewer readings than the warm-up
  is the device's reporting rhythm, not a gap: it restarts nothing and leaves the typical
  interval as it was (a battery device waking every 10 min to send 10 readings 1 s apart was
  never warm: newcomer of 10 Dec); the pause counts as reading time, as any interval does.
- **Evidence**: a leak alarm needs the gas at least ``z_hold`` noise scales and
  ``min_log_ratio`` (0.2: +22 %) above the level (:func:`app.ml.features.evidence`). The
  second bound is the clean-air wander of real sensors: smoke_iot's label-0 rows reach +17 %
  for a minute and more (rows 53300-54500: 400 -> 472 ppm eCO2), while the real methane
  releases of methane_chamber_afc stand +30 % above their level within 3 min of the
  labelled onset. A second route for a smaller rise that persists (every one of the last
  ``sustain_readings`` readings ``sustain_z`` scales and ``sustain_log_ratio`` up:
  :func:`app.ml.features.sustained_rise`) is off (``sustain_readings`` 0): measured, it
  catches no leak of 3-10 sd on the 1 Hz benchmark at any setting that keeps the clean
  probes quiet, and its gain on larger leaks comes with an alarm on the room-filling probe
  (README, gate sweep).
- **Ambient**: recent temperature and humidity (``t_level_``, ``rh_level_``: means with time
  constant ``tau_ambient_s``, held with the level). They are the T and RH the level was
  learned at: while the gas stands more than ``ambient_hold_z`` noise scales above the level
  (which then learns the rise with ``tau_up_s``), they follow with ``tau_up_s`` too. With
  ``tau_ambient_s`` alone the allowance for a humidity step faded in minutes while the level
  took hours to learn the gas that followed it: RH 45 -> 85 % in 5 min with a MOX reading
  +30-40 % after it raised a critical leak alert 4.5-14 min into the plateau (newcomer;
  ``bench.detection_probe``'s humid and warm plateau probes). ``ambient_hold_z`` 0 restores
  that. A leak that arrives with a humidity change is discounted by what the change
  explains, as long as the gas stays up: +50 % with +10 %RH is raised at once, +30 % with
  +15 %RH (explained: +10 %) is not. A rise of the gas that a sudden change of
  temperature or humidity can explain is not evidence of gas: up to ``sens_t_per_c`` per °C plus
  ``sens_rh_per_pct`` per %RH in log ratio, each change by its size whatever its sign (a
  sensor's sign is its own: :func:`app.ml.features.ambient_explained`). Source:
  least-squares fits of 2-minute changes of log CH4_1 on 2-minute changes of T and RH over
  methane_chamber_afc session 0 (a Figaro methane sensor; a person at the chamber or a door
  moves RH and the sensor together): 0.0175 / °C and 0.0065 / %RH on its first part (890
  readings), 0.033 and 0.015 on the night (37,131 readings; the levels fit gives 0.037 and
  0.020). The smallest is used: it removes only what
  an ambient change surely explains, since the sensor's humidity response lags (in session 1
  RH rose 10 %RH before the first injection and the signal only 7 %).
  The change counts as the larger of the change now and the change seen through a
  first-order lag of ``tau_lag_s`` (300 s; ``t_lag``, ``rh_lag``; one implausible reading
  moves it little): a sensor follows T and RH through its own thermal and humidity lag, and
  the allowance for a temperature step went at once when T stepped back while the gas was
  still up (:meth:`SignalStates.lag_allowance`).
  Both parts of the allowance can be multiplied by the device's own **ambient gain**
  (``amb_gain``, >= 1, capped at ``ambient_gain_max``; **off by default**, 1): the
  multiple of the configured sensitivities its gas has shown, learned from readings taken
  at least 3 °C or 8 %RH away from the ambient levels while the gate is shut and no alert
  holds the device (:meth:`SignalStates.ambient_gain`). With a cap of 3, a MOX sensor at
  +1-1.5 %/%RH in a bathroom, or one at +5 %/°C on a thermostat's 10 °C steps, which raise
  a leak alert at every shower or warm phase (``bench.ambient_lag``: 30 and 13 alerts in 8
  runs each), raise 1 and 0. It is off because a leak still under the gate that arrives
  with a temperature or humidity change teaches the gain too, and the gain then hides it:
  a newcomer's grid of x1.3-x2 leaks at +6/+15 °C heat steps on sensors at 0-1 %/°C (1 s
  and 10 s, 144 runs) raised 133 with it off and 96 with it on, the rest later (mean
  317 -> 973 s); a x1.3 ramp 15 min after a +15 °C heater on a sensor with no response
  at all was lost (0 of 4), and the air-quality benchmark lost one of 22 leaks >= 3 sd. A
  deployment whose sensors are known to follow T or RH strongly, and whose rooms' heat
  does not come with gas, can set ``ambient_gain_max`` in its manifest's ``signal``
  section.
- **Dips** (``dip``, ``dip_tau_s``): the deepest recent fall of the filtered gas under the
  level (log ratio; a reading at or under half the level, a dropout, counts as a dip to
  half the level: see below), fading
  with time constant ``dip_tau_s`` (120 s, at least 2 readings), lifts the gate's ratio
  bound by as much as it exceeds the device's own noise (``z_hold`` scales below the level;
  :meth:`SignalStates.ratio_bound`). Interference swings the reading as far below the level
  as above it, and gas only adds: a motor near a 420 ppm sensor (2-5 min bursts of AR(1)
  noise with a 20-s time constant, 3 an hour, 1 Hz) raised 37 leak alerts in 48
  device-hours at sd 50 ppm and 110 at sd 80; now 26 and 57 (``python -m
  bench.field_kinds --only interference``; newcomer of 5 Dec). What is left are mostly a
  burst's first swings, up before any dip: in the gas alone the start of a leak. Only a
  fall far below the level (``z_hold`` scales) for :data:`DIP_MIN_S` and
  :data:`DIP_MIN_READINGS` counts, so 2-3-reading glitches do not. The cost (the
  regression newcomer of 6 Dec, 216 leaks right after a 1-4 min fall to 0.7x or 0.85x):
  33 raised later, none missed; a x1.3 leak straight after a 0.7x dip at 1 Hz in 144-160 s
  instead of 9, x1.5 in 46 s, at 10 s in 170-180 s instead of 30, at 60 s in 300 s
  instead of 180. ``bench.detection_probe``, ``bench.return_grid`` and the regression
  newcomer's grids of 5 Dec print the same as before; ``dip_tau_s`` 0 turns it off.
  A dropout that lasts as long (:data:`DROPOUT_FRACTION`) lifts the bound as a fall to
  half the level does: uncapped, a fall to 0 would lift it by the whole log ratio of the
  level (x500 at 500 ppm); not counted (until 2 Dec), a sampling pump that stalls or a PID
  lamp's self-clean (0-0.45x for 30-90 s, back +30-50 % for a minute) raised 2-22 leak
  alerts in 72 device-hours per kind, now 0 (``python -m bench.field_kinds --only stalls``;
  newcomer of 2 Dec). The cost, the same bench: a leak that begins as a 90-s dropout ends,
  at 10 s, x1.3 in 250 s instead of 50-120, x1.5 150 instead of 40, x2 60 instead of 30;
  at 1 Hz within 15 s of before (that path was slow already: the return rule).
- **Plateaus** (``plateau``, ``plateau_s``): readings that stand at least ``huber_c``
  scales above the level yet under ``min_log_ratio`` (the gate's +22 %), every one of them
  for ``plateau_s`` (30 min) of reading time with no leak alert open, become the level at
  once (and the temperature and humidity now its ambient levels). The level learns a rise
  that far up by ``huber_c`` scales per ``tau_up_s`` only, so clean steps of +12-15 % one
  to two hours apart (an NDIR sensor's automatic baseline corrections, HVAC stages) added up
  to a critical leak alert that never cleared (4 of 4 seeds, each kind; newcomer of 5 Dec);
  now none (``python -m bench.field_kinds --only stairs``). The cost, measured by the same
  bench's ``growth`` grid (243 leaks): a leak whose first +12-16 % stands 30 min or more
  before it grows to x1.3 is not raised (the first stage is learned; 0 of 3 in each such
  cell), x1.5 and x2 are; 239 -> 200 raised in all. In the gas alone such a leak and the
  clean steps are the same; smooth clean ramps of that size were learned silently before.
  Clean air that comes back under such a plateau (a fall that outlasts a dropout, to
  within ``z_hold`` scales of the level before it, within a day) puts that level and its
  ambient levels back, and no fall is kept (:meth:`SignalStates._plateau_ended`): kept,
  the plateau's level hid x1.25-x1.35 leaks near it for a day (the regression newcomer
  of 6 Dec: 64 of 400 missed, 16 of 144 after a heater or humidifier; now 0 and 0).
  ``plateau_s`` 0 turns it off.
- **Hold**: while a leak episode is open (:meth:`DeviceSignal.hold`) the level does not move
  up and the scale does not grow, so a persistent leak never becomes the baseline. Without
  an episode, readings ``z_hold`` or more noise scales up never grow the scale, and move the
  level up by at most ``huber_c`` scales per ``tau_up_s`` (a benign level shift is learned
  in hours; a leak the model flags is held from its first alert).
- **Rising**: nor does the scale grow (deviation or tail) while the recent readings stand
  far above the level, before any episode: an exponential mean of the baseline-relative
  readings over ``recent_readings`` readings (clipped at ``z_hold`` scales) reaching
  ``recent_z`` scales stops it, and it learns again once that mean is back under
  ``recent_off_z`` scales. A leak's readings that fall short of ``z_hold`` scales
  otherwise grew the scale with the leak (a +60 % leak on sd 20 % noise: 90 -> 310 ppm in
  15 min), and a slow rise grew it as fast as it rose. Over 3 h of clean noise (Gaussian,
  log-normal, Student t, AR(1), waves; ``bench.detection_probe``'s clean probes) that mean
  stayed under 2.4 scales, mostly under 1. **Off by default** (``recent_z`` 0): with 2.0 a
  slow rise (420 -> 1,000 ppm over an hour) is raised at +24 %, but so is a room filling
  with people's CO2 (450 -> 1,500 ppm in an hour) at +13 %, 207 s in, and people in a room
  are clean air (issue 9); in the gas alone the two are the same signal. The +60 % leak on
  sd 20-25 % noise is caught either way (``level_sym_z`` does that; ``bench.detection_probe``).
  A model whose sensors never see people (a plant room's methane) can set ``recent_z`` in
  its manifest's ``signal`` section.

- **Settling**: for ``settle_s`` (10 min) after the warm-up, by the readings since it times
  the typical interval, the device is scored, but the gate's ratio bound is
  ``settle_log_ratio`` (0.4: +49 %) instead of ``min_log_ratio``, and an excursion far above
  the level (readings the tail does not learn from: ``z_hold`` scales and twice the tail up)
  that lasts at least ``settle_min_readings`` readings and ends by itself (a reading back
  under the tail) with no leak episode open raises the tail to its peak: clean air that
  rose and fell again is the device's own wander. A 60-reading warm-up sees one minute of a
  1 Hz device: a fresh device whose warm-up saw a slow cycle on its way down learned its
  level at the trough, every peak stood +22 % and many scales above it, and the tail took
  about 16 min to cover it (400 ± 50 ppm with a 6.3-min period: 3 critical leak alerts;
  5 of 8 warm-up phases raised; ventilation switching 420 <-> 520 ppm every 5 min from the
  start: 6 in the hour). Measured (``bench.detection_probe``, ``bench.clean_fuzz``): those
  probes raise 0 (±25 % on that cycle still raises, +49 % over the trough, and at every
  peak: an open alert holds the model, so a raised excursion is never learned), and no leak
  probe, real clean stretch or real event changes but methane_chamber_afc session 1's
  release, whose onset falls in its settling period: 93 -> 116 s. The cost: a leak of
  +22-49 % that starts in a fresh device's first 11 min is raised when the settling ends (a
  +30 % step 90 s in: at 667 s instead of 9 s in); larger ones at once; a leak that does not
  end is never learned; a +22-49 % leak that starts and ends while settling is learned as
  the device's wander (the 1 Hz smoke benchmark, whose replicates are 53-min fresh devices:
  recall >= 3 sd 0.535 -> 0.506). Source of the 10 min: the slow cycles above (periods of
  5-6 min, HVAC cycling) and methane_chamber_afc, whose first releases come 9-10 min into
  a session; 5 min left the ventilation probe's 6 alarms, 15 min delayed those releases to
  278-434 s. ``settle_s`` 0 turns it off.

  An excursion that no alert held is learned only if it lasted ``settle_min_s`` (20 s) of
  reading time too:
  a commissioning bump test (x5 test gas for 8 readings at 1 Hz, under the 8 s alarm delay,
  so no alert) was learned as the device's wander and hid x2 leaks for about 2 h (newcomer
  of 2 Dec). An excursion that short never raises an alert itself, so learning it protects
  nothing; the probes' ±24 % 3-min clean cycles hold excursions of 20-30 s, and 30 s let one
  of them raise a third alert in the hour (it raised the 1 Hz benchmark's recall >= 3 sd
  0.484 -> 0.503: its short injected puffs were no longer learned).

  **A clean cycle raised while settling** (±25 % and more with a 3-6 min period, its
  warm-up on the way down) raised a leak alert at every peak for as long as it ran: the
  open alert holds the model, so no peak was ever learned (400 ± 100 ppm, 6.3-min period:
  10 alerts in the hour; a ±30 % 5-min cycle of the clean fuzz: 17 in 4 h). Learning any
  raised excursion that ends would stop it, but a leak puff raised and ended in a fresh
  device's first minutes would then hide the leaks after it (tried: the 1 Hz smoke
  benchmark's recall >= 3 sd fell 0.481 -> 0.335, and >= x2 leaks 0.98 -> 0.70: its
  replicates are fresh devices with puffs from the start). So an excursion that an open
  alert held is learned only when the one held before it, also begun while settling, was
  held by another alert (that one resolved in between) and peaked within
  ``settle_recur_log_ratio`` (0.223: ±25 %) of it: a cycle's peaks are alike and each
  clears, two leak puffs rarely are alike, and the swings of one gas event under one open
  alert are never learned (without that condition the smoke_iot gas-fire rows' swings
  taught the tail 50,000 ppm while its alert stayed open). Measured: that cycle 10 -> 2
  alerts, the four ±25-37 % 3-min waves of ``bench.detection_probe --waves`` 4-5 -> 2 each
  in the hour, the clean fuzz 20 -> 5 alerts (the ±30 % cycle 17 -> 2), every other probe,
  the evaluation's figures (real clean air, real events, the benchmarks' recall) unchanged.
  The cost: two alike leak puffs, each raised and ended within a fresh device's settling
  period, teach it their height, and a smaller leak after them is not raised until the
  tail shrinks back (hours). ``settle_recur_log_ratio`` 0 turns it off.

  **A learned excursion that does not recur is forgotten** after 30 min
  (:data:`LEARNED_KEEP_SETTLES` settling periods without an excursion to at least half of
  its peak whose own peak is within ``settle_recur_log_ratio`` of it): the tail falls back
  to its value before the learn. The tail otherwise took hours to come down (the 97.5 %
  quantile falls at 1/40 of its learning rate): a one-off clean excursion to +45 % in a
  fresh 1 Hz device's first minutes hid a +28 % leak 35 min later for good
  (``tests/ml/test_detection_probes.py``), and on the 1 Hz benchmark a +61 % puff just after
  a fresh device's warm-up set its scale to 63 ppm at a 400 ppm floor, under which a +50 %
  leak 28 min later was never raised. A cycle's alike peaks keep it. Measured: ``python -m
  bench.detection_probe`` (and ``--waves``), ``python -m bench.clean_fuzz`` (3 of 500) and
  ``python -m bench.clean_fuzz 500 1 --svm`` (4 of 500) print the same as before; the
  evaluation's recall >= 3 sd is unchanged (0.484: the benchmark's replicates recur leaks
  every 1-4 min, so their learned puffs are kept alike or refreshed).

Gas readings are first passed through a running median of three (Tukey 1977), so a single
implausible reading never reaches the level, the scale or the model; a real step is seen one
reading later.

- **Held samples** (``hold_n``, ``d1``): a gateway that polls a sensor faster than it
  updates (a sensor updating every 10-15 s read at 1-2 Hz) sends each sample as 10-30
  identical readings. The median of three passes a sample repeated twice, and ten readings
  span the 8 s alarm delay, so one +30-50 % sample (a glitch, a heavy-tailed noise sample of a
  MOX) raised a critical leak alert: 42-47 in 24 clean device-hours at 1 s/10 s and
  0.5 s/15 s, 29 for a noisy MOX (newcomer of 7 Dec; ``python -m bench.field_kinds --only
  hold``). While a reading repeats the one before it, for less than :data:`HOLD_MAX_S` of
  reading time, the gate's ratio bound rises by as much as the repeated sample stands over
  the sample before it (``d1``), and on the first reading of a new sample after a repeated
  one by as much as the repeated sample stands over the new one
  (:meth:`SignalStates._held_lift`): the gate then needs two samples up, as the median of
  three needs two readings. Only a sample that follows a held one is lifted: a step after a
  reading repeated for :data:`HOLD_MAX_S` or more and :data:`STEADY_REPEATS` times (a
  noiseless sensor's, :data:`HOLD_AFTER_STEADY`) or after a lone reading (a noisy sensor's
  leak that reads one value again and again, a sensor at its ceiling) lifts nothing. A
  leak on such a device is raised a sample later; an exact repeat on a device that does not
  hold (an integer sensor) lifts the bound for one reading by its last step at most.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.slab import Columns

#: A device's time stamps are coarse (:meth:`SignalStates.coarse_pace`) where its reading
#: time per reading is under this fraction of its typical interval between distinct stamps:
#: half or more of its readings share a stamp (times truncated to whole seconds or more, or a
#: batch stamped at its send time).
COARSE_PACE = 0.5

#: The most readings the uint16 counts ``tied`` and ``exc_len`` hold: a larger batch stamped
#: alike counts as this many (its readings' pace is then overestimated, which only keeps the
#: stamps as given), and a longer excursion while settling is too long for wander anyway.
COUNT_MAX = 65535

#: A sensor sample repeated for less than this much reading time (s) is not yet confirmed
#: by the gate (module doc, "Held samples"): two samples of a sensor updating every 10-15 s
#: (CCS811 and SCD30 measurement modes, Modbus registers) polled at 1-2 Hz. A sensor
#: updating every 60 s so polled (1 alert in 24 clean hours: newcomer of 7 Dec) and any device
#: reading every 30 s or slower are as before.
HOLD_MAX_S = 30.0
#: The most repeats ``hold_n`` counts (int16): ``k`` > 0 repeats of a sample that follows a
#: held one (lifted), -1 the first reading of a sample after a held one, ``-k - 1`` for ``k``
#: repeats of a sample that follows a lone reading (not lifted: a device that does not hold
#: its samples, whose leak reads one value again and again, a sensor at its ceiling).
HOLD_COUNT_MAX = 32766
#: ``hold_n`` of a sample that follows a reading repeated for :data:`HOLD_MAX_S` or longer
#: (a noiseless or steady sensor's step, not a polled sensor's next sample): its repeats
#: lift nothing. Without it a noiseless 420 -> 840 ppm leak step was raised 29 s later.
HOLD_AFTER_STEADY = -32768
#: The fewest repeats (readings after the first) of a sample before a step from it counts as
#: a steady sensor's (:data:`HOLD_AFTER_STEADY`), besides :data:`HOLD_MAX_S` of reading time.
#: A sample read once more is a sample delivered twice as often as a steady one: a gateway's
#: retry after a timeout (the copy 1-5 s later, stamped on arrival) or a failed poll that
#: re-sends the value before. On a 300-s device one such copy of a one-sample x1.3-2
#: glitch made the median of three pass it for two readings (the copy and the next
#: reading), and two high windows raise a slow device's leak: 6 and 10 critical alerts in
#: 480 clean device-hours with 10 % of readings re-sent (``python -m bench.field_kinds
#: --svm --only resend``; newcomer of 9 Dec: 12 of 12 glitches so re-sent). The reading
#: after a single repeat is now lifted (by the repeated sample over it), as after a held
#: one: that lifts nothing where the gas stays up (a leak read once more, a sensor at its
#: ceiling), so a leak is raised as before.
STEADY_REPEATS = 2

#: A fall far below the level (``z_hold`` scales) is a dip (module doc, "Dips") once it has
#: lasted this long, s of reading time, and this many readings: 2-3-reading glitches at
#: 0.55-0.75x of the level, which the median of three passes, delayed leaks after them by a
#: median of 90 s and up to 210 s at 1-60 s (the regression newcomer of 6 Dec), while a
#: motor's interference swings under the level for tens of seconds at 1 Hz (at 10 s and
#: slower it raised few alerts without the rule: ``bench.field_kinds``).
DIP_MIN_S = 5.0
DIP_MIN_READINGS = 5.0

#: The learned ambient gain (:meth:`SignalStates.ambient_gain`) tracks this quantile of
#: ``|rise| / allowance``: an upper one, as the tail's, so that a sensor whose gas follows the
#: ambient through its own lag (the ratio grows over minutes) is covered at its full
#: response, not its mean (0.5 left 6 of 20 alerts of the bathroom probe).
GAIN_Q = 0.9
#: Its time constant, s (every time constant spans at least ``min_memory`` readings): 600 s
#: learns a sensor's response within its first excursion; 1800 s left 5 of 20 alerts of the
#: bathroom probe and all 13 of the +5 %/°C thermostat (``python -m bench.ambient_lag``).
GAIN_TAU_S = 600.0
#: The least ambient allowance (log ratio) a reading must stand at to teach the gain: 0.05 is
#: 2.9 °C or 7.7 %RH at the configured sensitivities, changes that noise alone never makes.
GAIN_MIN_ALLOWANCE = 0.05

#: Rise time constant of the level, s (6 h: a leak lasting 20 min would move an unheld level
#: about 5 % of the way; it is held anyway while far above).
TAU_UP_S = 6 * 3600.0
#: Fall time constant of the level, s (overnight cooling halves methane_chamber_afc's sensor
#: baseline over ~8 h; 10 min follows that with a lag well under one noise scale).
TAU_DOWN_S = 600.0
#: Time constant of the noise scale, s.
TAU_SCALE_S = 600.0
#: MAD -> sd consistency constant for Gaussian data (Rousseeuw & Croux 1993).
MAD_TO_SD = 1.4826
#: Mean absolute deviation -> sd for Gaussian data.
MEAN_ABS_TO_SD = math.sqrt(math.pi / 2.0)
#: Quantile of the baseline-relative clean signal that must stay below the evidence bound
#: (``z_hold`` scales): the scale is at least that quantile / ``z_hold``.
TAIL_Q = 0.975
#: Step of the Robbins-Monro quantile update, in noise scales per time constant.
TAIL_GAIN = 20.0
#: Readings up to this many times the tracked quantile (or z_hold scales, if more) update it;
#: higher ones are "far above", like a leak, and teach it nothing.
TAIL_REACH = 2.0
#: Spike fence of the warm-up, in upper spreads: warm-up readings more than this many
#: spreads (the 90th percentile minus the median of the baseline-relative readings, or the
#: sensor's resolution if more) above the 90th percentile are spikes, not noise, and are left
#: out of the starting quantile. Two readings of a 2,000 ppm spike in a 60-reading warm-up at
#: 420 ppm otherwise started the quantile at ~800 ppm (scale ~200 ppm where the noise is
#: 2 ppm), and it took hours to come down: leaks went unseen (newcomer's probe). The fence is
#: Tukey's (1977, *Exploratory Data Analysis*) in spirit, but on the upper half: Tukey's own
#: (Q3 + 3 IQR) collapses on a sensor floored at 0 ppm (half its readings 0, quartiles 0 and
#: ~1.3 ppm) and cut its ordinary noise in 660 of 2,000 simulated warm-ups (sd 2 ppm), which
#: then raised false leak alarms (the floored-methane probe of ``bench.detection_probe``).
#: Measured over 2,000 seeded 60-reading warm-ups each: this fence cuts nothing from Gaussian
#: noise (it lies 14 sd out), from the floored sensor, or from an integer sensor toggling 0/1
#: (its spread is then the 1-count resolution), cuts one reading of 6 in 1,000 warm-ups of
#: Student-t (3 df) noise, and removes the two 2,000 ppm spikes in every one.
TAIL_FENCE_SPREADS = 10.0
#: A reading at or below this fraction of the level, and ``huber_c`` noise scales below it,
#: is a dropout even where the scale has grown so large that it is not ``z_hold`` scales
#: below: a gas sensor's clean air does not halve from one reading to the next.
DROPOUT_FRACTION = 0.5
#: A run of far-below readings counts as a dropout for at least this many typical reading
#: intervals (a slowly sampled device: ``dropout_max_s`` is shorter than one interval).
DROPOUT_MIN_READINGS = 3.0
#: A gap of at most this many times the gap rule (:meth:`SignalStates.gap_s`: 15 min for a
#: 1 Hz or 30-s device, 2.5 h for a 5-min one) keeps the level before it as the reference of
#: the warm-up that follows (:meth:`SignalStates._keep_if_held`): a gateway outage that short
#: leaves the sensor's clean air where it was, and a warm-up that learns a level far above it
#: learned a leak. Longer gaps warm up afresh: methane_chamber_afc's logger pauses for 3 h
#: and comes back 30 % higher in clean air.
GAP_KEEP_FACTOR = 3.0
#: A pause past the gap within this factor of the device's pause before it (either way) is
#: its reporting rhythm, not a gap: it restarts nothing (module doc, "Gap"). A battery
#: device that wakes every 10-15 min and sends 10-30 readings 1 s apart restarted its
#: warm-up (60 readings) at every burst and was never scored: a x2 or x3 leak raised
#: nothing (newcomer of 10 Dec, live 70 restarts in 71 bursts; ``python -m bench.field_kinds
#: --only wakeups``). The first pause restarts as before, as does one unlike the last
#: (a device that reports all the time and then pauses once), and so does one after as many
#: readings as the warm-up (a device that warms up between its pauses): an aspirated
#: multipoint system's zone, 120 readings every 16-32 min whose first 40 s are purge air,
#: learned the purge air as its level in its first dwell (the open low-start fault), and
#: without restarts its alert then cleared at every dwell's purge and came back with its
#: clean air: 108 alerts in 47 device-hours against 4 (``bench.field_kinds --only
#: lowstart``).
PAUSE_ALIKE = 2.0
#: The longest pause that can be a device's rhythm (s): longer ones always restart, whatever
#: came before. methane_chamber_afc's logger pauses for 3 h between sessions and comes back
#: 30 % higher in clean air; clean air drifts little in an hour (smoke_iot's eCO2: +17 % at
#: most in its label-0 hours, under the gate's +22 %).
PAUSE_MAX_S = 3600.0


#: A settling excursion's learned peak (:meth:`SignalStates._settle`) is kept while the
#: excursion recurs: once no excursion has reached :data:`LEARNED_NEAR` of that peak and come
#: back under half of that for this many settling periods (``settle_s``: 30 min), the tail
#: goes back to what it was before the learn. The settling period learns excursions that end
#: within 10 min, a clean cycle's peaks (HVAC, 5-6 min periods), and those recur well within
#: 30 min; one that does not recur was a one-off (a puff of gas, a door), and it had set the
#: noise scale to a quarter of its height for hours: the tail falls at 1/40 of its learning
#: rate (the 97.5 % quantile's), ~5,000 readings at 1 Hz. On the 1 Hz benchmark a puff at
#: +61 % 20 s after a fresh device's warm-up set the scale of its 400 ppm floor to 63 ppm,
#: and a +50 % leak 28 min later, 234 s long, was never raised.
LEARNED_KEEP_SETTLES = 3.0
#: How long the level before a fall that outlasted a dropout is kept for clean air's return
#: (:meth:`SignalStates._return`), s: a day, the longest a dip (a purge fan, the night's
#: ventilation) lasts before its return says nothing of the old level; for a sensor at 0
#: (unplugged, dead), a day after it comes back up. Kept 90 min for a dip until 3 Dec:
#: clean air coming back to the old level after 2-6 h at 0.3-0.6x raised a critical leak
#: alert that never cleared (``python -m bench.return_grid``). The cost: a leak on dipped
#: air that lifts it near the old level (:data:`RETURN_NEAR` to the band) looks like clean
#: air coming back, and is not raised while the air stays dipped.
FELL_KEEP_S = 24 * 3600.0
#: A fall to under this fraction of the level before it is a sensor at 0 (unplugged, dead,
#: a gateway sending 0), not a dip. At 0.25 a clean level that fell to 0.15-0.25x and stayed
#: kept the old one for as long as it stayed, and x2-x5 leaks on it were never raised
#: (newcomer of 3 Dec, 0 of 24).
DEAD_FRACTION = 0.05
#: A reading counts as a sensor at 0 for the ``dropout`` sensor fault
#: (:meth:`SignalStates.dead_level`) only against a clean level at least this many of its
#: noise scales above 0: eCO2 at its 400 ppm floor (scale ~5 ppm: 80) or a 250 mV output
#: never read 0 in clean air, but a CO cell that learned 5 ppm of traffic (scale ~1 ppm, its
#: resolution) reads 0 in clean air at night.
DEAD_FAULT_SCALES = 20.0
#: The largest step (°C, %RH) one reading moves the lagged temperature and humidity towards
#: (:meth:`SignalStates._lag`): a probe's 85 °C or 0 %RH error value moves a 60-s device's
#: lag by 0.9 °C or 2.7 %RH (a 0.016-0.018 log-ratio allowance), not 12 °C; a door or a
#: shower moves T and RH by less than this a reading.
LAG_STEP = (5.0, 15.0)
#: A sensor back from 0 whose carried level has not risen for this long (s) has settled at
#: its new clean level (:meth:`SignalStates._return`): a rise from there is judged from it.
#: Carried on, a x2 leak an hour after a sensor came back at 0.6x (1.2x of the old level,
#: under the gate's bound over it) was never raised (newcomer of 3 Dec, 0 of 18).
RETURN_SETTLE_S = 600.0
#: A rise from dipped air that has not risen for :data:`RETURN_SETTLE_S` and stands under
#: this fraction of the level before the dip is no clean air coming back but a leak on the
#: dipped air, judged from there (:meth:`SignalStates._return`): clean air coming back gets
#: near where it was (the return grid's partial returns: 0.8-0.9x), while a x1.5-x3 leak
#: on air fallen to 0.2-0.5x stops at 0.3-0.75x. Carried whatever its height, such leaks
#: were never raised while the old level was kept (a newcomer of 3 Dec: 0 of 81).
RETURN_NEAR = 0.75
#: Fraction of a learned excursion's peak that a later excursion must reach to count as its
#: recurrence (:data:`LEARNED_KEEP_SETTLES`).
LEARNED_NEAR = 0.5


#: A step between two consecutive raw readings counts as the sensor's resolution (the
#: scale's floor) only up to this fraction of the reading before it (offset 1 gas unit, as
#: the log ratio's), or 1 gas unit (a floored sensor toggling 0/1). A larger step is a
#: change of the gas, a glitch or a leak, not the sensor's quantisation: before, the first
#: step a perfectly flat sensor made set its resolution, so a noiseless leak (420 -> 840
#: ppm, 0 -> 500 ppm) set the scale to its own height and was never raised, and one 0 ppm
#: glitch in a flat 420 ppm stream hid every leak under +400 % after it (newcomer of 1 Dec
#: 11:00). 0.05: with ``z_hold`` 4 a resolution this large hides no rise over +20 %, under
#: the gate's +22 % bound.
RES_STEP_RATIO = 0.05
#: As :data:`RES_STEP_RATIO` for a step that returns to the reading before it (readings a,
#: b, a): a coarse quantisation's toggle (a sensor at 50 units read in steps of 10 toggles
#: by 20 %). Limiting these to 5 % raised leak alerts on 2 such sensors of the 500 of
#: ``bench.clean_fuzz``; a lone blip larger than this (a glitch) still teaches nothing.
RES_TOGGLE_RATIO = 0.25
#: A larger toggle (a, b, a) counts as the resolution once alike ones, the same step
#: between readings that are both whole multiples of it, have come this many times with no
#: other large toggle between them: a firmware that reports in coarse steps (10 ppm at a
#: clean 20-30 ppm, 100 ppm at 250, 10 ppb at 25) toggles between two of them as the clean
#: air wanders near their midpoint, every toggle +40-100 %. Its resolution was never
#: learned, the scale fell to the 1 % floor of the level, and the upper step stood tens of
#: scales and +50 % up: 26-135 critical leak alerts in 48 clean device-hours per kind
#: (newcomer of 7 Dec; ``python -m bench.field_kinds --only quant``). A glitch or a leak
#: puff rarely comes back alike, and two readings that are multiples of the step less so.
RES_TOGGLE_REPEATS = 4
#: ... and only a step up to this fraction of the toggle's lower reading (offset 1 gas
#: unit, as the log ratio's): the steps of such firmware at its clean level are +33-50 %
#: (20/30, 10/15, 200/300); alike toggles larger are a sensor flickering between its clean
#: level and a ceiling (a leak saturating a 0-1,000 ppm head), or glitches to half or 0.
RES_TOGGLE_MAX = 0.5
#: A saved resolution under this (gas units) is no sensor's step but float32 rounding that
#: :meth:`SignalStates.learn` took for one before 5 Dec (a float64 reading against the
#: float32 one kept before it: 3e-9 at 0.2 ppm): :meth:`SignalStates.load` forgets it, and
#: the next steps teach the real one.
RES_MIN = 1e-6


#: Readings at the end of a warm-up that must all be back under an excursion for
#: :func:`_warm_clean` to leave it out: one still going at the warm-up's end is the room's
#: air after a sensor's preheat (or a leak from then, which looks the same).
WARM_END_READINGS = 3


#: A warm-up's readings far above its median (:func:`_warm_clean`) are left out of its
#: level and scale only when there are at least this many of them (a lone spike or two is
#: the spike fence's, :data:`TAIL_FENCE_SPREADS`) ...
WARM_EXCURSION_MIN = 3
#: ... and only on a sensor whose clean level stands at least this many noise scales above 0
#: (1.4826 x MAD, with the scale's floors): near a floor (a methane sensor at 0-5 ppm) a
#: ratio to the level means nothing and its ordinary noise would be cut.
WARM_LEVEL_SCALES = 5.0


def reads_dropout(gas: float, level: float, scale: float, cfg: SignalConfig) -> bool:
    """Whether gas ``gas`` (gas units, a window's recent readings' median) reads as a sensor
    at 0 against the clean-air ``level`` and noise ``scale`` (gas units): at or below
    :data:`DEAD_FRACTION` of the level and ``huber_c`` scales below it. Such readings say
    nothing of the gas: an open leak alert does not count them as clean air
    (:class:`app.services.detector.AlertSink`), and they do not move its held level
    (:meth:`SignalStates.learn`). Before, a sensor reading 0 ppm for 70 s or more in the
    middle of a x2 leak closed its alert "all clear" while the leak went on (newcomer, 18 of
    18 runs), as missing readings never did. At half the level (the dropout rule's
    :data:`DROPOUT_FRACTION`) the gas-fire slice's alert never cleared: its warm-up learned
    the fire's ~1,000 ppm, and the SGP30's clean 400 ppm floor after it read as a dropout."""
    return gas <= DEAD_FRACTION * level and level - gas >= cfg.huber_c * scale


def _robust_start(clean: np.ndarray, res: float, cfg: SignalConfig) -> tuple[float, float]:
    """(level, scale) of warm-up readings ``clean`` (n,) float64: their median, and 1.4826 x
    MAD with the scale's floors (``rel_floor`` of the level, ``abs_floor``, the resolution
    ``res``), as :meth:`SignalStates.warm_up` starts them, without the tail."""
    level = float(np.median(clean))
    sd = MAD_TO_SD * float(np.median(np.abs(clean - level)))
    return level, max(sd, cfg.rel_floor * abs(level), cfg.abs_floor, res)


def _warm_clean(gas: np.ndarray, res: float, cfg: SignalConfig) -> np.ndarray | None:
    """Which readings of a warm-up to learn from, or None (all of them).

    An excursion far above the rest of a warm-up (someone breathing on a new sensor as it
    is installed, a bump test) was learned as the device's noise: the median stayed the
    clean level, but the upper spread was the excursion's, so the starting tail and scale
    were its height, and leaks under it went unseen for hours: a x2 leak in the hour after
    a x3 breath over readings 35-55 was never raised (newcomer of 2 Dec). Left out: at
    least :data:`WARM_EXCURSION_MIN` readings that stand both ``z_hold`` noise scales
    (1.4826 x MAD of the warm-up, with the scale's floors) and ``settle_log_ratio`` (+49 %,
    the settling period's ratio bound) above the warm-up's median, on a sensor whose level stands
    :data:`WARM_LEVEL_SCALES` scales above 0, as long as at least half the readings stay and
    the excursion has ended by the warm-up's last :data:`WARM_END_READINGS` readings. One
    still going is learned as before: it is a leak that began in the warm-up, or the room's
    air after a sensor's preheat placeholder or low start, and the two look the same (taking
    it for a leak raised a critical alert that never cleared at 108 of 108 power-ons with a
    placeholder and one odd first reading, and 70 of 81 low starts: newcomer of 2 Dec).
    Smaller rises and slow climbs (an NDIR sensor climbing +30-38 % over its first minutes
    after power-on) stand under that bound and are learned as before.

    Args:
        gas: (n,) float64, the warm-up's filtered gas readings, oldest first.
        res: the sensor's resolution (gas units; 0 = unknown).

    Returns:
        (n,) bool, True for the readings to learn from; None when none is left out.
    """
    level, scale = _robust_start(gas, res, cfg)
    if level < WARM_LEVEL_SCALES * scale:
        return None
    up = np.log((np.maximum(gas, 0.0) + 1.0) / (level + 1.0))
    far = (gas - level >= cfg.z_hold * scale) & (up >= cfg.settle_log_ratio)
    n_far = int(far.sum())
    if n_far < WARM_EXCURSION_MIN or 2 * n_far > len(gas) or far[-WARM_END_READINGS:].any():
        return None  # one still going at the end: a leak from there, or the air after a preheat
    keep: np.ndarray = ~far
    return keep


def _multiple(x: float, step: float) -> bool:
    """Whether ``x`` is a whole multiple of ``step`` > 0 (to 0.1 % of the step: float32
    readings)."""
    r = math.fmod(abs(x), step)
    return min(r, step - r) <= 1e-3 * step


def _warm_tail(resid: np.ndarray, res: float = 0.0) -> float:
    """Starting 97.5 % quantile of the warm-up's baseline-relative readings, spikes above the
    fence (:data:`TAIL_FENCE_SPREADS`) left out; >= 0.

    Args:
        resid: (n,) float64, filtered gas minus the starting level (gas units).
        res: the sensor's resolution (smallest non-zero step seen, gas units; 0 = unknown).
    """
    q50, q90 = np.quantile(resid, [0.5, 0.9])
    spread = max(q90 - q50, res)
    kept = resid[resid <= q90 + TAIL_FENCE_SPREADS * spread]
    return max(float(np.quantile(kept if kept.size else resid, TAIL_Q)), 0.0)


@dataclass(frozen=True, slots=True)
class SignalConfig:
    """Parameters of :class:`DeviceSignal` (stored in the model manifest; see module doc).

    Times in seconds, ``*_z`` in noise scales. ``recent_readings``, ``recent_z``,
    ``recent_off_z``, ``dropout_max_s``, ``level_sym_z`` and the ``sustain_*`` fields (the
    evidence gate's second route, off while ``sustain_readings`` is 0:
    :func:`app.ml.features.sustained_rise`), ``ambient_hold_z`` and the ``jump_*`` fields (the
    gate's step route, off while ``jump_readings`` is 0: :func:`app.ml.features.step_rise`)
    and the ``settle_*`` fields (the settling period; ``settle_s`` 0 turns it off) were added
    after the shipped model was trained, as were ``tau_lag_s`` (the ambient allowance's lag,
    s; 0 turns it off: :meth:`SignalStates.lag_allowance`), ``ambient_gain_max`` (the cap
    of the device's learned ambient gain; 1 turns it off: :meth:`SignalStates.ambient_gain`),
    ``dip_tau_s`` (the time constant of a recent dip's lift of the gate's ratio bound, s; 0
    turns it off: module doc, "Dips") and ``plateau_s`` (how long a rise under the gate
    stands before it becomes the level, s; 0 turns it off: "Plateaus"): a manifest without
    them takes these defaults.
    """

    warmup: int = 60
    tau_up_s: float = TAU_UP_S
    tau_down_s: float = TAU_DOWN_S
    tau_scale_s: float = TAU_SCALE_S
    huber_c: float = 3.0
    rel_floor: float = 0.01
    abs_floor: float = 1e-3
    z_hold: float = 4.0
    min_log_ratio: float = 0.2
    tau_ambient_s: float = 600.0
    sens_t_per_c: float = 0.0175
    sens_rh_per_pct: float = 0.0065
    gap_min_s: float = 300.0
    gap_factor: float = 10.0
    min_memory: float = 30.0
    recent_readings: float = 10.0
    recent_z: float = 0.0  # off (see the module doc's "Rising"); 2.0 catches slow rises
    recent_off_z: float = 1.0
    dropout_max_s: float = 300.0
    level_sym_z: float = 1.0
    sustain_readings: float = 0.0  # off: the second evidence route (features.sustained_rise)
    sustain_z: float = 2.0
    sustain_log_ratio: float = 0.15
    ambient_hold_z: float = 3.0  # T/RH levels follow at tau_up_s while the gas stands this far up
    jump_readings: float = 0.0  # off: the gate's step route (features.step_rise)
    jump_wander_q: float = 1.0
    settle_s: float = 600.0  # after the warm-up: the settling period (module doc, "Settling")
    settle_log_ratio: float = 0.4  # the gate's ratio bound while settling
    settle_min_readings: float = 5.0  # an excursion this long that ends is learned
    settle_min_s: float = 20.0  # ... and at least this long in reading time
    settle_recur_log_ratio: float = 0.223  # a held one: when the held one before peaked so near
    tau_lag_s: float = 300.0  # the ambient allowance also covers T/RH seen through this lag
    ambient_gain_max: float = 1.0  # cap of the learned ambient gain (1: off; ``amb_gain``)
    dip_tau_s: float = 120.0  # a recent dip below the level raises the ratio bound (0: off)
    plateau_s: float = 1800.0  # a rise under the gate held this long becomes the level (0: off)

    def to_dict(self) -> dict[str, float]:
        """JSON-ready copy, for the manifest."""
        return {k: float(getattr(self, k)) for k in self.__slots__}

    @classmethod
    def from_dict(cls, d: dict[str, float]) -> SignalConfig:
        """Inverse of :meth:`to_dict`; missing keys take the defaults."""
        names = set(cls.__slots__)
        kw: dict[str, Any] = {k: v for k, v in d.items() if k in names}
        if "warmup" in kw:
            kw["warmup"] = int(kw["warmup"])
        return cls(**kw)


#: The per-slot fields of :class:`SignalStates`: typecode, default (see its docstring).
#: The level, scale and times stay float64; the rest are float32 ('f', 4 B a device each,
#: 68 B a device in all): the median memory holds gas readings the ring keeps as float32
#: anyway, the ambient means, the deviation, tail, recent means and the ambient gain move by
#: steps far above float32's relative precision (6e-8; e.g. ``dt / tau_scale_s`` ~3e-4 a
#: reading), and the typical interval (an average, 0.05 of a new interval a reading) needs
#: no more (it was float64 until the ambient gain took its 4 B), nor do the pace (a mean
#: too), the dip (a log ratio) and the reading times of a plateau or a run far below (s,
#: against 300-1,800; the run far below was an epoch float64 until the pace took its 4 B).
#: The level is not among them: rising at ``dt / tau_up_s`` of up to 3 scales a reading, its
#: steps can be 1e-6 of it.
_FIELDS: dict[str, tuple[str, float]] = {
    "level": ("d", math.nan),
    "scale": ("d", math.nan),
    "dt": ("f", math.nan),
    "pace": ("f", math.nan),
    "tied": ("H", 1),
    "last_ts": ("d", math.nan),
    "r1": ("f", math.nan),
    "r2": ("f", math.nan),
    "t_level": ("f", math.nan),
    "rh_level": ("f", math.nan),
    "dev": ("f", math.nan),
    "tail": ("f", math.nan),
    "res": ("f", math.inf),
    "tog": ("f", math.nan),
    "tog_n": ("b", 0),
    "d1": ("f", math.nan),
    "hold_n": ("h", 0),
    "recent": ("f", math.nan),
    "exc_peak": ("f", 0.0),
    "exc_len": ("H", 0),
    "below_s": ("f", math.nan),
    "t_lag": ("f", math.nan),
    "rh_lag": ("f", math.nan),
    "amb_gain": ("f", math.nan),
    "dip": ("f", math.nan),
    "plateau": ("f", math.nan),
    "rising": ("b", 0),
    "n": ("i", 0),
    "restarts": ("i", 0),
    "pause": ("H", 0),
    "since_pause": ("H", 0),
    "nrec": ("b", 0),
    "held": ("b", 0),
}


#: The floats a saved slot keeps beside its columns: its fall record (:attr:`SignalStates.fell`,
#: 9 values) and the start of its dead run (:attr:`SignalStates.dead_since`), NaN for none.
#: Without them a service restart while a sensor read 0 forgot the level before the fall: the
#: ``dropout`` fault resolved 60 s after the restart with the sensor still at 0, and the
#: sensor back at its old level raised a critical leak alert that never cleared (newcomer of
#: 4 Dec, 4 of 4 restarts; the alert before the fault too).
SAVED_EXTRA = ("fell",) * 9 + ("dead_since",)

#: The fields of a saved slot (:meth:`SignalStates.export`), in order.
LAYOUT = ",".join(_FIELDS) + ";fell(9),dead_since"


class SignalStates(Columns):
    """The online signal models of many devices, one slot each, in columns (122 B a slot).

    Columns (``array.array``, one value per slot): ``level``, ``scale`` (gas units), ``dt``
    (typical reading interval, s), ``last_ts`` (epoch s), ``r1``/``r2`` (the last two raw gas
    readings, for the running median of three), ``t_level``/``rh_level`` (°C, %RH), ``dev``
    (the deviation estimate of the scale), ``tail`` (the tracked 97.5 % quantile), ``res``
    (the smallest non-zero step seen; inf = none, kept across restarts), ``tog``/``tog_n``
    (the step of the last toggle too large for the resolution, gas units, and how many alike
    ones in a row: :data:`RES_TOGGLE_REPEATS`), ``recent`` (the
    recent mean of the baseline-relative readings, gas units), ``exc_peak``/``exc_len`` (the
    peak, gas units above the level, and the length in readings of the current excursion far
    above while settling; uint16), ``below_s`` (the reading time, s, of the current run
    of far-below readings; NaN = none), ``t_lag``/``rh_lag``
    (°C, %RH seen through the ``tau_lag_s`` lag: :meth:`SignalStates.lag_allowance`),
    ``amb_gain`` (the learned ambient gain: :meth:`SignalStates.ambient_gain`; kept across
    gap restarts, as ``res``, and forgotten at an operator's reset), ``pace`` (reading time
    per reading, s: module doc, "Pace"), ``dip`` (the recent dip under the level, log
    ratio: "Dips"), ``plateau`` (the reading time, s, of the current run of readings on a
    plateau under the gate: "Plateaus"), ``pause`` (the latest interval past the gap,
    whole s, at most :data:`COUNT_MAX`; 0 for none: :meth:`SignalStates.recurring_pause`),
    ``since_pause`` (readings since then, at most :data:`COUNT_MAX`),
    float64 or float32 (:data:`_FIELDS`; NaN = not known yet); ``n`` (readings since the
    last (re)start), ``restarts``, ``nrec`` (raw readings kept for the median, 0-2),
    ``rising`` (the recent readings stand far above the level: the scale is kept), ``held``
    (an open leak episode holds the level and the scale) and ``tied`` (readings stamped
    alike so far, 1 or more, at most :data:`COUNT_MAX`: module doc, "Pace").

    No reading is kept for the warm-up: when the ``warmup``-th reading since a (re)start has
    been learned (:meth:`learn` returns it as due), the caller hands the raw readings since the
    (re)start to :meth:`warm_up`, as float32 rows (gas, °C, %RH): the service's ring buffer
    holds them already (its length is at least ``warmup``). The starting level is therefore the
    median of the float32-rounded readings (relative rounding <= 6e-8: 0.00003 ppm at
    400 ppm); every later update uses the readings as received (float64).

    Args:
        cfg: the parameters (see the module docstring).
    """

    level: array[float]
    scale: array[float]
    dt: array[float]
    last_ts: array[float]
    r1: array[float]
    r2: array[float]
    t_level: array[float]
    rh_level: array[float]
    dev: array[float]
    tail: array[float]
    res: array[float]
    tog: array[float]
    tog_n: array[int]
    d1: array[float]
    hold_n: array[int]
    recent: array[float]
    exc_peak: array[float]
    exc_len: array[int]
    below_s: array[float]
    t_lag: array[float]
    rh_lag: array[float]
    amb_gain: array[float]
    pace: array[float]
    tied: array[int]
    dip: array[float]
    plateau: array[float]
    rising: array[int]
    n: array[int]
    restarts: array[int]
    pause: array[int]
    since_pause: array[int]
    nrec: array[int]
    held: array[int]

    def __init__(self, cfg: SignalConfig) -> None:
        super().__init__(_FIELDS)
        self.cfg = cfg
        self._f32: array[float] = array("f", [0.0])  # rounds a reading as r1/r2 keep it
        #: slot -> (level, scale, dev, tail) before an operator reset (unless it trusts
        #: the new level) or a gap while a leak episode holds the slot, kept as the
        #: reference of its warm-up (:meth:`reset`, :meth:`_keep_if_held`); a dict, not a
        #: column: both are rare
        self.before_reset: dict[int, tuple[float, float, float, float]] = {}
        #: slot -> (level learned by the warm-up, level kept) where :meth:`warm_up` kept the
        #: reference; read and cleared by the caller
        #: (:meth:`app.services.signals.SignalBank._note_kept`)
        self.kept: dict[int, tuple[float, float]] = {}
        #: slot -> peak (gas units above the level) of its last excursion that an open leak
        #: alert held while it settled, and the slots whose current excursion was so held
        #: (:meth:`_settle`); rare, so a dict and a set, not columns (not in snapshots: after
        #: a restart such a cycle raises once more)
        self.settle_peak: dict[int, float] = {}
        self.settle_held: set[int] = set()
        self.settle_free: set[int] = set()  # slots whose alert resolved since that peak
        #: slot -> [peak learned while settling (gas units above the level), the tail before
        #: that learn, reading time of its learn or last recurrence, the peak so far of a
        #: later excursion near it, else 0.0] (:meth:`_fade_learned`); rare, not in
        #: snapshots (after a restart the learned tail stays, as before 2 Dec)
        self.learned: dict[int, list[float]] = {}
        #: slot -> [level, scale, dev, tail, reading time] before a fall far below that
        #: outlasted a dropout, then the level a rise towards it was carried from (NaN: none
        #: carried) and when that carry began (NaN: none; inf: spent, until the gas is back
        #: near the fallen level) (:meth:`_return`); rare, not in snapshots
        self.fell: dict[int, list[float]] = {}
        #: slot -> reading time (epoch s) of the first of its current run of raw readings at
        #: or under :data:`DEAD_FRACTION` of its clean level, a run that began with a step
        #: from at least :data:`DROPOUT_FRACTION` of it (:meth:`dead_level`); rare, not in
        #: snapshots
        self.dead_since: dict[int, float] = {}
        #: slot -> (level, t_level, rh_level, reading time) just before a plateau became its
        #: level (:meth:`_plateau`), for clean air that comes back under it
        #: (:meth:`_plateau_ended`); rare, not in snapshots
        self.plateau_from: dict[int, tuple[float, float, float, float]] = {}

    def clear(self, slot: int) -> None:
        """Set ``slot`` back to the defaults and forget its reset reference."""
        super().clear(slot)
        self.before_reset.pop(slot, None)
        self.kept.pop(slot, None)
        self._forget_settle(slot)
        self.learned.pop(slot, None)
        self.fell.pop(slot, None)
        self.dead_since.pop(slot, None)
        self.plateau_from.pop(slot, None)

    def _forget_settle(self, s: int) -> None:
        self.settle_peak.pop(s, None)
        self.settle_held.discard(s)
        self.settle_free.discard(s)

    def export(self, s: int) -> list[float]:
        """Slot ``s``'s state, one float per field of :data:`LAYOUT` (ints are exact in
        float64; then :data:`SAVED_EXTRA`), for a snapshot that survives a restart."""
        out = [float(self.col(name)[s]) for name in _FIELDS]
        out += self.fell.get(s, [math.nan] * 9)
        out.append(self.dead_since.get(s, math.nan))
        return out

    def load(self, s: int, values: list[float]) -> None:
        """Set slot ``s`` from :meth:`export`'s list (same :data:`LAYOUT`).

        Raises:
            ValueError: ``values`` does not have one value per field.
        """
        n = len(_FIELDS)
        if len(values) != n + len(SAVED_EXTRA):
            raise ValueError(f"{len(values)} values for {n + len(SAVED_EXTRA)} signal fields")
        for (name, (code, _)), v in zip(_FIELDS.items(), values[:n], strict=True):
            self.col(name)[s] = v if code in "df" else int(v)
        if self.res[s] < RES_MIN:  # float32 rounding saved before 5 Dec as a step: relearn
            self.res[s] = math.inf
        fell, since = values[n : n + 9], values[n + 9]
        if fell[0] == fell[0]:  # a fall record (NaN: none)
            self.fell[s] = list(fell)
        if since == since:
            self.dead_since[s] = since

    def restart(self, s: int, ts: float) -> None:
        """Forget slot ``s``'s level, scale and median memory; warm up again from ``ts``."""
        self.level[s] = self.scale[s] = self.t_level[s] = self.rh_level[s] = math.nan
        self.dev[s] = self.tail[s] = self.recent[s] = self.below_s[s] = math.nan
        self.r1[s] = self.r2[s] = self.d1[s] = math.nan
        self.hold_n[s] = 0
        self.t_lag[s] = self.rh_lag[s] = self.dip[s] = self.plateau[s] = math.nan
        self.exc_peak[s], self.exc_len[s] = 0.0, 0
        self._forget_settle(s)
        self.learned.pop(s, None)
        self.fell.pop(s, None)
        self.dead_since.pop(s, None)
        self.plateau_from.pop(s, None)
        self.n[s] = 0
        self.nrec[s] = 0
        self.rising[s] = 0
        self.last_ts[s] = ts

    def reset(self, s: int, keep_reference: bool = False, shift: float = 0.0) -> None:
        """Operator's baseline reset: warm up again, release the hold, count a restart.

        With ``keep_reference`` (every operator reset unless it trusts the new level,
        ``app/routers/signals.py``) the level and noise scale before the reset stay the
        reference of the warm-up: if the level it learns stands at least the evidence bound
        above the old one (``z_hold`` old noise scales and ``min_log_ratio``,
        :func:`app.ml.features.evidence`), that level is gas, not clean air, and
        :meth:`warm_up` keeps the old level and scale instead, so the leak is seen (newcomer:
        a forced reset at 8.2 %LEL, 45x the old level, learned the leak as clean air; only
        the set points still guarded the device; newcomer of 7 Dec: a plain reset 5 s into
        a x2 leak, inside the alarm delay, did the same). A reset while the device has no
        level yet (warming up) keeps the reference an earlier reset or gap left. ``shift``
        (gas units) is added to the kept level: a raw device's zero moved by the operator
        puts its gas on another axis (:func:`app.alerting.profiles.detected_gas`), where
        the old clean level reads ``shift`` higher. A sensor at 0 (:meth:`dead_level`) keeps
        its fall record and dead run: a reset while it read 0 learned 0 as the clean level,
        its ``dropout`` fault resolved with the sensor still at 0, and the sensor back at its
        old level raised a leak alert that never cleared (newcomer of 4 Dec).
        """
        if keep_reference:
            self._keep_reference(s, shift)
        else:
            self.before_reset.pop(s, None)
        dead = self._dead_fall(s) if shift == 0.0 else None
        self.restart(s, self.last_ts[s])
        self._keep_dead(s, dead)
        self.held[s] = 0
        self.amb_gain[s] = math.nan  # a swapped sensor has its own ambient response
        self.restarts[s] += 1

    def rebase(self, s: int, gas: float) -> None:
        """A leak alert's all-clear on slot ``s``: its level, held through the episode,
        moves up to ``gas`` (gas units: the median of the last readings, which the clear
        test has just judged near the level kept at the raise, at most half the raise's
        bounds above it) when that is higher. Clean air that wandered up while the level
        was held otherwise stood far above it once the alert ended: a report-on-change
        device's held level of 370 ppm under clean air at 450-480 ppm raised a new critical
        leak alert 43 min after the first one closed (newcomer of 1 Dec 14:10)."""
        level = self.level[s]
        if math.isfinite(level) and math.isfinite(gas) and gas > level:
            self.level[s] = gas

    def _keep_reference(self, s: int, shift: float = 0.0) -> None:
        """Slot ``s``'s level (plus ``shift``), scale, deviation and tail become the
        reference of its next warm-up (:meth:`warm_up` keeps them if it learns a level far
        above); nothing while they are unknown."""
        if math.isfinite(self.level[s]):
            self.before_reset[s] = (
                self.level[s] + shift,
                self.scale[s],
                self.dev[s],
                self.tail[s],
            )

    def _keep_if_held(self, s: int, gap: float = math.inf) -> None:
        """Before a gap restart: while slot ``s``'s leak episode holds it, or after a short
        gap (``gap`` s, at most :data:`GAP_KEEP_FACTOR` times :meth:`gap_s`), its level and
        noise scale stay the reference of the warm-up, as for an operator reset
        (:meth:`reset`): a warm-up that learns a level far above them learned a leak.
        Without it a reading gap in the middle of a leak taught the device the leak as its
        level (596 ppm, scale 166 against 400 and ~4): the alert still resolved on the level
        kept with it, but an identical leak 5-30 min after that all-clear was not raised
        (newcomer of 1 Dec); and a leak that started in the warm-up after a 10-min gateway
        outage became the level of a 30-s device, even x10 (4,200 ppm), never raised
        (newcomer of 1 Dec 06:40)."""
        if self.held[s] or gap <= GAP_KEEP_FACTOR * self.gap_s(s):
            self._keep_reference(s)

    def coarse_pace(self, s: int) -> float:
        """Slot ``s``'s reading time per reading (s) where its time stamps are coarse
        (readings stamped alike: the mean interval per reading, ``pace``, under half the
        typical interval between distinct stamps, ``dt``), else NaN: exact stamps say
        themselves how long a run of readings lasted."""
        pace, typical = self.pace[s], self.dt[s]
        return pace if pace < COARSE_PACE * typical else math.nan

    def one_interval(self, s: int, held: int = 0) -> bool:
        """Slot ``s``'s typical interval rests on one interval, the first after a (re)start:
        a longer one than the gap allows then shows that one was no typical interval, and
        is learned afresh from it instead of restarting (module doc, "Gap"). ``held``:
        readings learned since without an interval of their own (a jump not placed yet,
        :data:`app.services.buffers.JUMP_FACTOR`)."""
        return bool(self.n[s] <= 2 + held and math.isfinite(self.dt[s]))

    def recurring_pause(self, s: int, pause: float) -> bool:
        """Whether a pause of ``pause`` s past slot ``s``'s gap is its reporting rhythm (no
        restart: module doc, "Gap"): within :data:`PAUSE_ALIKE` of the pause before it, at
        most :data:`PAUSE_MAX_S`, and after fewer readings than the warm-up since that one
        (a device that could not warm up between its pauses). Records it as the slot's
        latest pause either way."""
        before = self.pause[s]  # whole seconds (uint16: 2 B a device), 0 for none
        between = self.since_pause[s]
        self.pause[s] = min(round(pause), COUNT_MAX)
        self.since_pause[s] = 0
        return bool(
            pause <= PAUSE_MAX_S
            and between < self.cfg.warmup
            and before * PAUSE_ALIKE >= pause >= before / PAUSE_ALIKE
        )

    def expected_intervals(self) -> np.ndarray:
        """(slots,) float64: each slot's own time between readings, s: its typical interval
        (``dt``), or the pause of its reporting rhythm where longer (a battery device
        waking every 15 min: its last pause past the gap restarted nothing,
        :meth:`recurring_pause`, and fewer readings than the warm-up came since); NaN while
        unknown. The safety rules' silence limit
        (:data:`app.alerting.safety.SILENT_INTERVALS`). A pause that restarted the warm-up
        (an outage) is no rhythm: after it the readings since the pause are all the slot
        has (``n``)."""
        dt = self.view("dt").astype(np.float64)
        pause = self.view("pause").astype(np.float64)
        since = self.view("since_pause")
        rhythm = (pause > 0) & (since < self.cfg.warmup) & (self.view("n") > since)
        return np.where(rhythm, np.fmax(dt, pause), dt)

    def gap_s(self, s: int) -> float:
        """The gap of slot ``s`` (s): ``max(gap_min_s, gap_factor * typical interval)``; a
        reading further than this after the previous one restarts the warm-up (inf while the
        typical interval is unknown)."""
        typical = self.dt[s]
        if not math.isfinite(typical):
            return math.inf
        return max(self.cfg.gap_min_s, self.cfg.gap_factor * typical)

    def restart_at(self, s: int, ts: float, gap: float = math.inf) -> None:
        """The gap rule applied one reading late: slot ``s`` warms up again from its newest
        reading (stamped ``ts``, epoch s), which it has learned already at its previous
        reading's time, moving nothing (:data:`app.services.buffers.JUMP_FACTOR`, the jump
        rule): the state is the one :meth:`learn` leaves after restarting at that reading
        (its raw gas, ``r2``, kept for the running median). ``gap``: the pause, s (a short
        one keeps the level before it as the warm-up's reference, as in :meth:`learn`;
        before 1 Dec 11:00 this path never did, so a leak present when a backfilling
        gateway came back from a 6-15 min outage became the level: newcomer)."""
        gas = self.r2[s]
        self._keep_if_held(s, gap)
        dead = self._dead_fall(s)
        self.restart(s, ts)
        self._keep_dead(s, dead)
        self.restarts[s] += 1
        self.dt[s] = self.pace[s] = math.nan  # as in learn: learned afresh after a pause
        self.tied[s] = 1
        self.n[s] = 1
        self.nrec[s] = 1
        # the newest reading ended the pause: one reading since it, as :meth:`learn` counts
        # after a restart (left at 0, every outage on this path passed for a reporting
        # rhythm in :meth:`expected_intervals`: a 1 Hz device back from a 10-min outage was
        # found silent only after 30 min; newcomer of 2 Dec)
        self.since_pause[s] = 1
        self.r2[s] = gas

    def warm(self, s: int) -> bool:
        """True once slot ``s`` has its level and scale (``warmup`` readings since start)."""
        return bool(self.n[s] >= self.cfg.warmup)

    def settling(self, s: int) -> bool:
        """True while slot ``s`` is warm but within ``settle_s`` of its warm-up's end (the
        readings since, times the typical interval): its clean-air wander is still being
        learned (module doc, "Settling")."""
        c = self.cfg
        k = self.n[s] - c.warmup
        return k >= 0 and c.settle_s > 0 and not k * self.per_reading(s) >= c.settle_s

    def per_reading(self, s: int) -> float:
        """Slot ``s``'s reading time per reading, s: its ``pace`` where known, else its
        typical interval (NaN: neither known yet). The two agree where every reading has
        its own time stamp; where readings share stamps (module doc, "Pace") the typical
        interval between distinct stamps counted each reading as a whole one: a 1 Hz device
        whose times were truncated to 10 s settled after 60 readings instead of 600."""
        pace = self.pace[s]
        return pace if pace >= 0.0 else self.dt[s]

    def ratio_bound(self, s: int, temp: float = math.nan, rh: float = math.nan) -> float:
        """The evidence gate's log-ratio bound for slot ``s`` now: ``settle_log_ratio`` while
        it settles (if larger), else ``min_log_ratio``, plus :meth:`lag_allowance` for the
        reading just learned (``temp`` °C, ``rh`` %RH; NaN: none), both times the device's
        learned :meth:`ambient_gain` (the evidence gate removes the allowance once; the
        gain's excess is added here); NaN while warming up."""
        c = self.cfg
        if not self.warm(s):
            return math.nan
        bound = c.min_log_ratio
        if self.settling(s):
            bound = max(bound, c.settle_log_ratio)
        g = self.ambient_gain(s)
        if g > 1.0:
            bound += (g - 1.0) * self._now_allowance(s, temp, rh)
        dip = self.dip[s]
        if dip > 0.0:  # False for NaN
            level = max(self.level[s], 0.0)
            free = math.log((level + c.z_hold * self.scale[s] + 1.0) / (level + 1.0))
            if dip > free:
                bound += dip - free
        bound += self._held_lift(s)
        return bound + g * self.lag_allowance(s, temp, rh) if c.tau_lag_s > 0 else bound

    def _held_lift(self, s: int) -> float:
        """What the gate's ratio bound rises by where slot ``s``'s last readings repeat one
        sensor sample (module doc, "Held samples"), so that the gate tests the sample
        before it (a repeat younger than :data:`HOLD_MAX_S`) or the new sample (the first
        reading after a repeated one), where lower than the median of three of the raw
        readings; 0 otherwise (log ratio)."""
        k = self.hold_n[s]
        if k > 0:
            if not k * self.per_reading(s) < HOLD_MAX_S:  # False for NaN: no lift
                return 0.0
            top, under = self.r2[s], self.d1[s]
        elif k == -1:
            top, under = self.r1[s], self.r2[s]
        else:  # no repeat, a step after a steady run, or repeats after a lone reading
            return 0.0
        lift = math.log((max(top, 0.0) + 1.0) / (max(under, 0.0) + 1.0))
        return lift if lift > 0.0 else 0.0

    def ambient_gain(self, s: int) -> float:
        """Slot ``s``'s learned ambient gain (>= 1; 1 until learned, and always while
        ``ambient_gain_max`` is 1, the default): the multiple of the configured
        sensitivities (``sens_t_per_c``, ``sens_rh_per_pct``) its own gas has shown to a
        temperature or humidity change, capped at ``ambient_gain_max``.

        Why: the configured sensitivities are the smallest fit on a real sensor (a Figaro
        methane head, :class:`SignalConfig`), and sensors more sensitive than that raise a
        critical leak alert at every excursion: a MOX sensor at +1-1.5 %/%RH in a bathroom
        (RH 45 -> 90 %RH for 10-20 min every 1.5-2.5 h) 20 alerts in 48 device-hours, one at
        +5 %/°C with T switching 16 <-> 26 °C every 40 min 13 in 24 (newcomer of 5 Dec;
        ``bench.ambient_lag --gain-max 3``). Learned by :meth:`_learn_gain`; off by default
        for what it costs leaks that come with heat (module doc, "Ambient")."""
        if self.cfg.ambient_gain_max <= 1.0:
            return 1.0  # off (the default): no column read on the per-reading path
        g = self.amb_gain[s]
        return max(g, 1.0) if g == g else 1.0

    def _now_allowance(self, s: int, temp: float, rh: float) -> float:
        """``sens_t_per_c * |temp - t_level| + sens_rh_per_pct * |rh - rh_level|`` for slot
        ``s`` (log ratio; 0.0 where any is unknown): the allowance the evidence gate takes
        off (:func:`app.ml.features.ambient_allowance`)."""
        c = self.cfg
        d_t, d_rh = abs(temp - self.t_level[s]), abs(rh - self.rh_level[s])
        out = c.sens_t_per_c * d_t + c.sens_rh_per_pct * d_rh
        return out if out == out else 0.0

    def _learn_gain(self, s: int, x: float, dt: float, temp: float, rh: float) -> None:
        """Learn slot ``s``'s ambient gain from one reading (filtered gas ``x``, ``dt`` s
        since the last, ``temp`` °C, ``rh`` %RH), where the ambient change stands at least
        :data:`GAIN_MIN_ALLOWANCE` of allowance (about 3 °C or 8 %RH) and the evidence gate,
        at the gain so far, is shut: the gain tracks the :data:`GAIN_Q` quantile of
        ``|log ratio over the level| / allowance`` (Robbins & Monro 1951, as the tail does),
        with time constant :data:`GAIN_TAU_S`, within [1, ``ambient_gain_max``]. Readings
        the gate passes are evidence of gas, not of the sensor, and teach nothing; nor do
        readings under an open leak alert (the caller's hold)."""
        allow = self._now_allowance(s, temp, rh) + self.lag_allowance(s, temp, rh)
        if not allow >= GAIN_MIN_ALLOWANCE:
            return
        g = self.ambient_gain(s)
        lr = math.log((max(x, 0.0) + 1.0) / (max(self.level[s], 0.0) + 1.0))
        if lr - g * allow >= self.cfg.min_log_ratio:
            return
        step = self._rate(dt, GAIN_TAU_S)
        g += step * (GAIN_Q if abs(lr) > g * allow else GAIN_Q - 1.0)
        self.amb_gain[s] = min(max(g, 1.0), self.cfg.ambient_gain_max)

    def _lag(self, s: int, temp: float, rh: float, dt: float) -> None:
        """Move slot ``s``'s lagged temperature and humidity (``t_lag``, ``rh_lag``; started
        at the warm-up's medians) towards the reading with time constant ``tau_lag_s``, by
        at most :data:`LAG_STEP` of the reading's own: one implausible reading moves them
        little. An unknown (NaN) reading moves nothing. A newcomer of 4 Dec found the lag
        started at a device's first reading: a power-on 85 °C there held x1.5-x2 leaks back
        5-9 min."""
        if not math.isfinite(dt):
            return
        a = 1.0 - math.exp(-max(dt, 0.0) / self.cfg.tau_lag_s)
        for x, lag, step in ((temp, self.t_lag, LAG_STEP[0]), (rh, self.rh_lag, LAG_STEP[1])):
            old = lag[s]
            if math.isfinite(x) and math.isfinite(old):
                lag[s] = old + a * min(max(x - old, -step), step)

    def lag_allowance(self, s: int, temp: float = math.nan, rh: float = math.nan) -> float:
        """What the ambient change seen through the lag explains beyond the change now (log
        ratio, >= 0; 0 where unknown): ``sens_t_per_c * max(0, |t_lag - t_level| - |T -
        t_level|)`` plus the same for humidity, ``temp`` (°C) and ``rh`` (%RH) the reading
        just learned. The evidence gate removes ``sens_t_per_c * |T - t_level| + ...``
        (:func:`app.ml.features.evidence`); adding this to its ratio bound makes that the
        larger of the change now and the change seen through the lag, channel by channel.

        Why: a sensor follows temperature and humidity through its own thermal and
        humidity lag (minutes). A gas reading +3 %/°C of T seen through a 60-300 s lag,
        with T switching 17 <-> 25 °C every 40 min (a thermostat), raised a critical leak
        alert in 2-6 of 8 seeds at each lag (``bench.detection_probe``'s thermal-lag rows;
        newcomer of 3 Dec): as T stepped back, the allowance for the change went at once
        while the gas was still up. ``tau_lag_s`` (300 s) is the longest lag of that probe;
        a window-wide allowance (the largest change in the last 60 readings) fixed it too
        but one bad T or RH reading then blinded 60 readings, and a 1-min device an hour."""
        c = self.cfg
        extra = 0.0
        for now, lag, level, sens in (
            (temp, self.t_lag[s], self.t_level[s], c.sens_t_per_c),
            (rh, self.rh_lag[s], self.rh_level[s], c.sens_rh_per_pct),
        ):
            d = abs(lag - level) - abs(now - level)
            if d > 0.0:  # False for NaN
                extra += sens * d
        return extra

    def learn(
        self, s: int, gas: float, ts: float, temp: float = math.nan, rh: float = math.nan
    ) -> tuple[float, float, float, float, float]:
        """Learn one reading of slot ``s``.

        Args:
            gas: the reading, gas units (ppm, mV, counts: anything linear in concentration).
            ts: its time, epoch seconds (non-decreasing per device).
            temp: temperature, °C (NaN = unknown: no compensation).
            rh: relative humidity, %RH (NaN = unknown).

        Returns:
            (filtered gas, level, scale, t_level, rh_level) after the reading; all but the
            first are NaN while warming up. When ``n[s] == cfg.warmup`` afterwards the
            warm-up is due: call :meth:`warm_up` before anything else reads the slot.
        """
        c = self.cfg
        last = self.last_ts[s]
        dt = ts - last if math.isfinite(last) else math.nan
        seen = dt  # the reading time this reading adds to the level, scale and runs
        if math.isfinite(dt):
            typical = self.dt[s]
            # past the gap, but the typical interval rests on the first alone: module doc,
            # "Gap": learned afresh from this one, no restart
            past = dt > self.gap_s(s)
            first = past and self.one_interval(s)
            rhythm = past and not first and self.recurring_pause(s, dt)
            if past and not first and not rhythm:
                self._keep_if_held(s, dt)
                dead = self._dead_fall(s)
                self.restart(s, ts)
                self._keep_dead(s, dead)
                self.restarts[s] += 1
                self.dt[s] = self.pace[s] = dt = math.nan  # learned afresh after a pause
                self.tied[s] = 1
            elif rhythm:
                # the typical interval stays as it was; the pause is reading time, as any
                # interval is: clean air drifts in wall time. Counted as one typical
                # interval (10 Dec to 2 Dec), a device waking every 15 min for 5 readings
                # learned a day in 8 min of reading time: its level stayed at the night's
                # 450 ppm for a week under an office's +40 % day, 6-12 critical alerts in
                # 503 device-hours (newcomer of 2 Dec; ``python -m bench.field_kinds --only
                # wakeups``). An aspirated zone's dwells are no rhythm (as many readings as
                # the warm-up between its pauses): they restart.
                pass
            else:
                if dt > 0:
                    if first:
                        typical = math.nan  # learned afresh from this interval
                        self.pace[s] = math.nan
                    self.dt[s] = dt if not math.isfinite(typical) else 0.95 * typical + 0.05 * dt
                    # the readings stamped alike before this one share its interval
                    pace, one = self.pace[s], dt / self.tied[s]
                    self.pace[s] = one if not pace >= 0.0 else 0.95 * pace + 0.05 * one
                    self.tied[s] = 1
                elif self.tied[s] < COUNT_MAX:
                    self.tied[s] += 1
        self.last_ts[s] = ts
        if self.since_pause[s] < COUNT_MAX:
            self.since_pause[s] += 1
        if self.nrec[s] >= 1:
            # the reading as r1/r2 keep it (float32): a float64 0.2 after a stored 0.2 made
            # a "step" of 3e-9, the resolution floor was lost, and clean 0.1-step sensors
            # near 0 stood tens of scales up at one step (module doc, "Floors from the data")
            f32 = self._f32
            f32[0] = gas
            g32 = f32[0]
            prev = self.r2[s]
            step = abs(g32 - prev)
            if 0.0 < step < self.res[s]:
                # a small step, or a larger one that returns to the reading before (a, b, a:
                # a coarse quantisation's toggle)
                top = RES_STEP_RATIO if g32 != self.r1[s] else RES_TOGGLE_RATIO
                if step <= max(top * (abs(prev) + 1.0), 1.0):
                    self.res[s] = step
                elif g32 == self.r1[s]:
                    self._toggle(s, step, g32, prev)
            k = self.hold_n[s]
            if step == 0.0:  # the sensor's sample again (module doc, "Held samples")
                if k == -1 or k > 0:  # after a held sample: this one is held too
                    self.hold_n[s] = min(max(k, 0) + 1, HOLD_COUNT_MAX)
                elif k != HOLD_AFTER_STEADY:  # after a lone reading: counted, not held
                    self.hold_n[s] = max(min(k, -1) - 1, -HOLD_COUNT_MAX)
            else:  # a new sample; the one before it is its predecessor
                self.d1[s] = prev
                reps = k if k > 0 else -k - 1 if -HOLD_COUNT_MAX <= k <= -2 else 0
                if reps >= STEADY_REPEATS and reps * self.per_reading(s) >= HOLD_MAX_S:
                    self.hold_n[s] = HOLD_AFTER_STEADY  # a step of a steady sensor
                else:
                    self.hold_n[s] = -1 if reps > 0 else 0
        if self.nrec[s] == 2:
            x = sorted((self.r1[s], self.r2[s], gas))[1]
        else:
            x = gas
            self.nrec[s] += 1
        self._track_dead(s, gas, ts)
        self.r1[s], self.r2[s] = self.r2[s], gas
        n = self.n[s] + 1
        self.n[s] = n
        if n > c.warmup:
            self._update(s, x, seen if math.isfinite(seen) else 0.0, temp, rh)
            if c.tau_lag_s > 0:
                self._lag(s, temp, rh, dt)
        return x, self.level[s], self.scale[s], self.t_level[s], self.rh_level[s]

    def _toggle(self, s: int, step: float, a: float, b: float) -> None:
        """A toggle a, b, a of slot ``s`` too large for :data:`RES_TOGGLE_RATIO` (``step`` =
        |a - b|, gas units): the resolution once alike ones recur (:data:`RES_TOGGLE_REPEATS`,
        :data:`RES_TOGGLE_MAX`), counted only from clean air: the device warm, no leak
        episode holding it, and the lower reading under ``z_hold`` noise scales above the
        level."""
        low = min(a, b)
        if step > RES_TOGGLE_MAX * (low + 1.0) or not (_multiple(a, step) and _multiple(b, step)):
            return
        level = self.level[s]
        if self.held[s] or not low - level < self.cfg.z_hold * self.scale[s]:
            # from clean air only (NaN while warming up): a leak flickering between two
            # steps far above the level (20/30 over a clean 0, 60,000/40,000 on a
            # saturating head) taught its own step and hid it (regression newcomer of 7 Dec)
            return
        if step != self.tog[s]:
            self.tog[s], self.tog_n[s] = step, 1
            return
        k = self.tog_n[s] + 1
        if k >= RES_TOGGLE_REPEATS:
            self.res[s], k = step, 0
        self.tog_n[s] = k

    def warm_up(self, s: int, raw: np.ndarray) -> tuple[float, float, float, float]:
        """Start slot ``s``'s level at the median of its warm-up, its scale at 1.4826 * MAD.

        Args:
            raw: shape (warmup, 3), the raw readings (gas, °C, %RH) since the (re)start,
                oldest first (float32 as the ring buffer holds them; any float dtype).

        Returns:
            (level, scale, t_level, rh_level).
        """
        w = np.asarray(raw, dtype=np.float64)
        gas = w[:, 0].copy()
        if len(gas) > 2:  # the running median of three, as :meth:`learn` applied it
            gas[2:] = np.median(np.lib.stride_tricks.sliding_window_view(w[:, 0], 3), axis=1)
        res = self.res[s]
        res = res if math.isfinite(res) else 0.0
        keep = _warm_clean(gas, res, self.cfg)
        ended = None if keep is None else gas[~keep]  # an excursion that ended in it
        if keep is not None:  # an excursion far above the rest: learn from the rest
            gas, w = gas[keep], w[keep]
        level = float(np.median(gas))
        if ended is not None:
            # the first peak of a clean cycle the device starts in: an alike excursion that
            # an alert holds while it settles is learned at its end (one alert, not two)
            self.settle_peak[s] = float(ended.max()) - level
            self.settle_free.add(s)
        mad = float(np.median(np.abs(gas - level)))
        self.level[s] = level
        self.dev[s] = dev = MAD_TO_SD * mad
        self.tail[s] = tail = _warm_tail(gas - level, res)
        self.scale[s] = max(dev, tail / self.cfg.z_hold, self._floor(s, level))
        self.recent[s] = 0.0
        self.below_s[s] = math.nan
        self.rising[s] = 0
        self.t_level[s] = self.t_lag[s] = float(np.median(w[:, 1]))
        self.rh_level[s] = self.rh_lag[s] = float(np.median(w[:, 2]))
        ref = self.before_reset.pop(s, None)
        if ref is not None and self._far_above(level, ref[0], ref[1]):
            self.kept[s] = (level, ref[0])
            self.level[s], self.scale[s], self.dev[s], self.tail[s] = ref
        return self.level[s], self.scale[s], self.t_level[s], self.rh_level[s]

    def _far_above(self, level: float, old: float, old_scale: float) -> bool:
        """True where ``level`` stands the evidence bound above ``old``: ``z_hold`` noise
        scales (``old_scale``) and ``min_log_ratio`` (the gate's two tests, on levels)."""
        c = self.cfg
        lr = math.log((max(level, 0.0) + 1.0) / (max(old, 0.0) + 1.0))
        return level - old >= c.z_hold * old_scale and lr >= c.min_log_ratio

    def _floor(self, s: int, level: float) -> float:
        res = self.res[s]
        res = res if math.isfinite(res) else 0.0
        return max(self.cfg.rel_floor * abs(level), self.cfg.abs_floor, res)

    def _track_dip(self, s: int, x: float, level: float, dt: float, counts: bool) -> None:
        """Slot ``s``'s recent dip: the deepest log ratio of filtered gas ``x`` under
        ``level`` lately, decaying with ``dip_tau_s`` (at least 2 readings), of readings
        that ``count``: far below the level for :data:`DIP_MIN_S` and
        :data:`DIP_MIN_READINGS` or more. A reading at or under :data:`DROPOUT_FRACTION`
        of the level (a dropout) counts as one at that fraction (module doc, "Dips")."""
        c = self.cfg
        d = self.dip[s]
        if not (d > 0.0 or counts):  # most readings: no dip, nothing to write
            return
        d = d * math.exp(-dt / max(c.dip_tau_s, 2.0 * self.per_reading(s))) if d > 0.0 else 0.0
        if counts and level > 0.0 and x < level:
            d = max(d, math.log((level + 1.0) / (max(x, DROPOUT_FRACTION * level) + 1.0)))
        self.dip[s] = d

    def _plateau(self, s: int, x: float, r: float, dt: float, temp: float, rh: float) -> bool:
        """Track slot ``s``'s run of readings at least ``huber_c`` scales above the level
        (``r`` gas units, filtered gas ``x``, ``dt`` s after the reading before) yet under the
        gate's ``min_log_ratio``; once it has lasted ``plateau_s`` of reading time the level
        moves to ``x`` (returns True)."""
        c = self.cfg
        if (
            r < c.huber_c * self.scale[s]
            or s in self.fell
            or (math.log((max(x, 0.0) + 1.0) / (max(self.level[s], 0.0) + 1.0)) >= c.min_log_ratio)
        ):
            if self.plateau[s] == self.plateau[s]:  # most readings: no run, nothing to write
                self.plateau[s] = math.nan
            return False
        run = self.plateau[s]
        run = 0.0 if run != run else run + dt  # NaN: the run starts here
        if run < c.plateau_s:
            self.plateau[s] = run
            return False
        self.plateau_from[s] = (self.level[s], self.t_level[s], self.rh_level[s], self.last_ts[s])
        self.level[s] = x
        self.plateau[s] = math.nan
        if math.isfinite(temp) and math.isfinite(self.t_level[s]):
            self.t_level[s] = temp
        if math.isfinite(rh) and math.isfinite(self.rh_level[s]):
            self.rh_level[s] = rh
        return True

    def _plateau_ended(self, s: int, x: float, zcap: float, now: float) -> bool:
        """A fall of slot ``s`` that outlasted a dropout (filtered gas ``x``, reading time
        ``now``) back to the level a plateau replaced (:attr:`plateau_from`, within a day
        and ``zcap`` gas units below it, or anywhere above that): the plateau was clean air
        that has ended. The level moves back to that level (to ``x`` if it stands ``zcap``
        or more above it) and the ambient levels back to theirs from before the plateau,
        and no fall is recorded (returns True). Recorded, the fall kept
        the plateau's level as the one clean air comes back to, for a day: a leak that
        lifted the gas near it was taken for that clean air (+15-21 % for 40-90 min, then
        back: x1.25-x1.35 leaks up to 23 h later, 64 of 400 missed; with a heater or a
        humidifier under a T- or RH-sensitive sensor, 16 of 144: the regression newcomer of
        6 Dec)."""
        pre = self.plateau_from.pop(s, None)
        if pre is None:
            return False
        level0, t0, rh0, at = pre
        if now - at > FELL_KEEP_S or not x > level0 - zcap:
            return False
        # back within the noise of that level: it, a mean, says more than one reading
        self.level[s] = level0 if x < level0 + zcap else x
        if t0 == t0 and self.t_level[s] == self.t_level[s]:
            self.t_level[s] = t0
        if rh0 == rh0 and self.rh_level[s] == self.rh_level[s]:
            self.rh_level[s] = rh0
        self.below_s[s] = self.dip[s] = math.nan
        return True

    def _update(self, s: int, x: float, dt: float, temp: float, rh: float) -> None:
        c = self.cfg
        if s in self.fell:
            self._return(s, x)
        level, scale = self.level[s], self.scale[s]
        r = x - level
        lim = c.huber_c * scale
        zcap = c.z_hold * scale
        far = r <= -zcap or (r <= -lim and x <= DROPOUT_FRACTION * level)
        now, below = self.last_ts[s], self.below_s[s]
        if far:  # NaN: a run of far-below readings starts here
            self.below_s[s] = below = 0.0 if below != below else below + dt
        if c.dip_tau_s > 0:
            long = max(DIP_MIN_S, (DIP_MIN_READINGS - 1.0) * self.per_reading(s))
            self._track_dip(s, x, level, dt, far and below >= long)
        if far:
            # Far below: a dropout (a sensor fault) teaches nothing until such readings have
            # lasted ``dropout_max_s``; then it is a real fall, and the level follows it.
            if below < self._dropout_span(s):
                return
            if self.held[s] and x <= DEAD_FRACTION * level:
                return  # nor does a leak episode's sensor reading 0: its level is kept
            if self._plateau_ended(s, x, zcap, now):
                return
            if s not in self.fell:  # a real fall: the level before it is kept for a return
                # level, scale, dev, tail, time; carry base, its last rise, mark, restored
                self.fell[s] = [level, scale, self.dev[s], self.tail[s], now] + [math.nan] * 4
                # and the level moves to it at once: crawling down in Huber steps (3 scales
                # a step at tau_down_s) taught the deviation the fall itself, a level shift
                # and not noise (0.6x for 20 min: scale 4 -> 73 ppm, and a x2 leak on the
                # dipped air stood 2.4 scales up, never raised)
                self.level[s] = x
                self.below_s[s] = self.dip[s] = math.nan
                return
        elif below == below:
            self.below_s[s] = math.nan
        recent = self.recent[s]
        recent += ((zcap if r > zcap else -zcap if r < -zcap else r) - recent) / c.recent_readings
        self.recent[s] = recent
        rising = self.rising[s]
        if c.recent_z > 0 and recent >= c.recent_z * scale:
            rising = self.rising[s] = 1
        elif rising and recent < c.recent_off_z * scale:
            rising = self.rising[s] = 0
        held = self.held[s]
        dev, tail = self.dev[s], self.tail[s]
        if c.settle_s > 0:
            tail = self._settle(s, r, zcap, tail)
        if r > 0 and held:
            self.plateau[s] = math.nan
            return  # a leak episode is open: nothing moves up
        if c.plateau_s > 0 and self._plateau(s, x, r, dt, temp, rh):
            return
        if not held and c.ambient_gain_max > 1.0:
            self._learn_gain(s, x, dt, temp, rh)
        res = self.res[s]
        floor = max(c.rel_floor * abs(level), c.abs_floor, res if res != math.inf else 0.0)
        psi = lim if r > lim else -lim if r < -lim else r  # Huber: one reading moves <= lim
        # within the noise above the floors the level follows rises as fast as falls, unless
        # the recent readings stand far above it
        if psi > 0 and (rising or psi > c.level_sym_z * (dev - floor)):
            level += self._rate(dt, c.tau_up_s) * psi
        else:
            level += self._rate(dt, c.tau_down_s) * psi
        # the ambient levels are those the level was learned at: while the gas stands far
        # above the level (which then learns at tau_up_s), they follow as slowly
        slow = c.ambient_hold_z > 0 and r > c.ambient_hold_z * scale
        a = self._rate(dt, c.tau_up_s if slow else c.tau_ambient_s)
        t_level, rh_level = self.t_level[s], self.rh_level[s]
        if math.isfinite(temp) and math.isfinite(t_level):
            self.t_level[s] = t_level + a * (temp - t_level)
        if math.isfinite(rh) and math.isfinite(rh_level):
            self.rh_level[s] = rh_level + a * (rh - rh_level)
        if not rising:
            a = self._rate(dt, c.tau_scale_s)
            # Far above is not noise: the scale does not grow. An open episode lets it shrink.
            if r < zcap:
                step = a * (MEAN_ABS_TO_SD * (lim if abs(r) > lim else abs(r)) - dev)
                dev += step if (step < 0.0 or not held) else 0.0
            # The tail learns from readings up to twice itself as well: where it sets the
            # scale, z_hold scales is the tail itself, and a bound there would stop it rising.
            if r < zcap or r < TAIL_REACH * tail:
                step = TAIL_GAIN * a * scale
                tail = max(0.0, tail + step * ((r > tail) - (1.0 - TAIL_Q)))
            self.dev[s], self.tail[s] = dev, tail
        if s in self.learned:
            tail = self._fade_learned(s, r, tail, held)
        self.level[s] = level
        floor = max(c.rel_floor * abs(level), c.abs_floor, res if res != math.inf else 0.0)
        self.scale[s] = max(dev, tail / c.z_hold, floor)

    def _dropout_span(self, s: int) -> float:
        """How long (s) a run of far-below readings of slot ``s`` is a dropout:
        ``dropout_max_s``, or :data:`DROPOUT_MIN_READINGS` typical intervals if longer."""
        typical = self.dt[s]
        span = self.cfg.dropout_max_s
        if typical == typical and DROPOUT_MIN_READINGS * typical > span:
            span = DROPOUT_MIN_READINGS * typical
        return span

    def _dead_ref(self, s: int) -> tuple[float, float]:
        """Slot ``s``'s clean level and noise scale (gas units) for the sensor-at-0 test: the
        ones kept from before a fall (:attr:`fell`), else the current ones (NaN: unknown)."""
        e = self.fell.get(s)
        return (e[0], e[1]) if e is not None else (self.level[s], self.scale[s])

    def _track_dead(self, s: int, gas: float, ts: float) -> None:
        """Start, go on with or end slot ``s``'s run of raw readings at or under
        :data:`DEAD_FRACTION` of its clean level (:attr:`dead_since`). A run starts only with
        a step from at least :data:`DROPOUT_FRACTION` of that level (the raw reading before):
        a sensor unplugged, dead or sent as 0 drops at once, while clean air that clears
        (a CO cell 3 -> 0.05 ppm, a methane head 12 -> 0 ppm over minutes) falls through the
        readings between (newcomer of 4 Dec: a `dropout` fault at 3 of 3 such falls)."""
        level = self._dead_ref(s)[0]
        if gas <= DEAD_FRACTION * level:  # False for NaN
            if s not in self.dead_since and self.r2[s] >= DROPOUT_FRACTION * level:
                self.dead_since[s] = ts
        elif s in self.dead_since and gas == gas:
            del self.dead_since[s]

    def _dead_fall(self, s: int) -> tuple[list[float], float] | None:
        """Before a gap restart: slot ``s``'s fall record and dead run if it reads as a sensor
        at 0 (a held slot's level makes the record), else None."""
        since = self.dead_since.get(s)
        if since is None:
            return None
        e = self.fell.get(s)
        if e is None and self.held[s]:
            e = [self.level[s], self.scale[s], self.dev[s], self.tail[s], self.last_ts[s]]
            e += [math.nan] * 4
        return None if e is None else (e, since)

    def _keep_dead(self, s: int, dead: tuple[list[float], float] | None) -> None:
        """After a gap restart: a sensor that was at 0 keeps its fall record and dead run
        (:meth:`_dead_fall`). Dropped with the restart, the warm-up learned 0 as the clean
        level: the ``dropout`` fault resolved while the sensor still read 0, and the sensor
        back at its old level raised a critical leak alert that never cleared (newcomer of
        4 Dec, 3 of 3 at each of 4 outage lengths)."""
        if dead is not None:
            self.fell[s], self.dead_since[s] = dead

    def dead_level(self, s: int, gas: float) -> float | None:
        """The clean level (gas units) against which slot ``s``'s reading ``gas`` (gas
        units) reads as a sensor at 0 (:func:`reads_dropout`: at or under
        :data:`DEAD_FRACTION` of it and ``huber_c`` of its noise scales below), once its run
        of such readings, begun with a step (:meth:`_track_dead`), has outlasted a dropout
        (:meth:`_dropout_span`), and that level stands at least :data:`DEAD_FAULT_SCALES` of
        its noise scales above 0; else None. The level is the one kept from before the fall
        (:attr:`fell`), else the current one (held by a leak episode, or still kept by the
        dropout rule). For the ``dropout`` sensor fault
        (:class:`app.alerting.safety.SafetyRules`): before it, a sensor that read 0 ppm for
        hours raised nothing at all, and under a leak alert kept it open with nothing
        saying why (newcomers of 3 Dec). A lone 0 or two in a clean dip raised it at once
        until the run's length counted there too (newcomer of 4 Dec)."""
        since = self.dead_since.get(s)
        if since is None or self.last_ts[s] - since < self._dropout_span(s):
            return None
        level, scale = self._dead_ref(s)
        if not (math.isfinite(gas) and level >= DEAD_FAULT_SCALES * scale):
            return None
        return level if reads_dropout(gas, level, scale, self.cfg) else None

    def _return(self, s: int, x: float) -> None:
        """Clean air coming back after slot ``s`` fell far below its level for longer than a
        dropout (the level then followed the fall): a reading ``x`` (filtered gas) back in
        the band of the level before the fall (``z_hold`` of its noise scales below it, and
        ``z_hold`` scales or half the gate's ratio bound, +10.5 %, above it) puts that level
        and its scale back. A rise towards that band is carried: the level follows it while it
        stays under the band and keeps rising, and while it stands at :data:`RETURN_NEAR`
        of the old level or more, for as long as that level is kept (:data:`FELL_KEEP_S`).
        A fall again far below the carried level (a cold store's door opened again while its
        CO2 refilled) is followed down, and the next rise carried from there; a rise of 2
        noise scales or +5 % (a quarter of the gate's ratio) within :data:`RETURN_SETTLE_S`
        is still rising (until 2 Dec such a fall taught nothing, the carry stood still while
        the air refilled back past it, and the refill was then judged from the first fall's
        air: critical leak alerts open for hours, 19 and 18 in 216 device-hours of a cold
        store and a produce truck at 60 s, now 0: ``python -m bench.field_kinds --only
        doors``; newcomer of 2 Dec 19:45).
        A rise that stops under that for :data:`RETURN_SETTLE_S` is a leak on the dipped air:
        the level goes back to where the carry began; so is a carried rise that passes above
        the band within :data:`RETURN_SETTLE_S` of putting the old level back (a leak ramp
        climbing through the band: x2-x4 ramps over 15-60 min on 0.3-0.5x air were never
        raised, a newcomer of 3 Dec).

        After a dip (a fall to more than :data:`DEAD_FRACTION` of the level), a rise that
        passes above the band is not clean air coming back: the level goes back to where the
        carry began, and the rise is judged from there (a leak on the dipped air). After a
        fall to near 0 (a sensor unplugged or dead) nothing is judged from the fallen
        readings: a rise above the band is judged from the level before the fall, a
        carried level takes the old noise scale in proportion, and one that has not risen
        for :data:`RETURN_SETTLE_S` is the sensor's new clean level.

        Until 3 Dec a carry ended after 10 min whatever its height, and the rise was then
        judged from the fallen level: clean air coming back over a room's time constant
        (5-30 min) or at 0.8-0.9x of the old level raised a critical leak alert that never
        cleared (the episode's reference was the fallen air): 119 of 144 slow returns, 1-60 s
        devices (``python -m bench.return_grid``). Nothing while a leak episode holds the
        slot. Forgotten :data:`FELL_KEEP_S` after the fall, or after a sensor at 0 came back
        (a sensor unplugged for a weekend, 25-48 h, came back at its old level to a critical
        leak alert that never cleared: newcomer, 18 of 18)."""
        if self.held[s]:
            return
        e = self.fell[s]
        lv0, sc0, dev0, tail0, t0, base, since, mark, restored = e
        now = self.last_ts[s]
        z = self.cfg.z_hold
        hi = lv0 + max(z * sc0, math.expm1(0.5 * self.cfg.min_log_ratio) * (lv0 + 1.0))
        if restored == restored:  # a carried rise put the old level back: watched a while
            if now - restored > RETURN_SETTLE_S:
                del self.fell[s]
            elif x > hi:  # it went on rising through the band: a leak ramp on the dipped air
                self._judge_from(s, base)
            return
        carrying = base == base
        # still rising: 2 noise scales or +5 % (a quarter of the gate's ratio) in the settle
        rise = min(0.5 * z * self.scale[s], math.expm1(0.25 * self.cfg.min_log_ratio) * (mark + 1))
        if carrying and not self.level[s] < mark + rise:
            since = e[6] = now  # the carried rise is still rising
            e[7] = self.level[s]
        elif carrying and x <= self.level[s] - z * self.scale[s]:
            # fallen again under the carried level (a door opened again while a cold
            # store's air came back): the carry follows it down, and rides the next rise
            since = e[6] = now
            self.level[s] = e[7] = x
        fallen = base if carrying else self.level[s]
        dead = fallen <= DEAD_FRACTION * lv0
        if dead and not carrying:
            e[4] = t0 = now  # a sensor still at 0: kept until a day after it is back
        if now - t0 > FELL_KEEP_S:
            del self.fell[s]  # the level stays where it is: fallen, or carried up
            return
        if lv0 - z * sc0 <= x <= hi or (dead and x > hi):
            self.level[s], self.scale[s], self.dev[s], self.tail[s] = lv0, sc0, dev0, tail0
            if carrying and not dead:
                e[8] = now
            else:
                del self.fell[s]
            return
        if dead and carrying and now - since > RETURN_SETTLE_S:
            # a sensor back from 0 at another level, settled there: its clean level now
            del self.fell[s]
            return
        if carrying and now - since > RETURN_SETTLE_S and self.level[s] < RETURN_NEAR * lv0:
            self._judge_from(s, base)  # a rise that stopped far under the old level
            return
        far = x - self.level[s] >= z * self.scale[s]
        if carrying and x > hi:
            self._judge_from(s, base)  # not clean air coming back
        elif carrying and x - base < z * self.scale[s]:
            self.level[s] = base  # the rise ended below: back where it began
            e[5], e[6] = math.nan, math.nan
        elif carrying and x > self.level[s]:
            self.level[s] = x  # the level rides the rise: its noise scale does not learn it
        elif not carrying and far and x <= hi and since != math.inf:
            e[5], e[6], e[7] = self.level[s], now, x
            self.level[s] = x
        elif not carrying and not far and since == math.inf:
            e[6] = math.nan  # back near the fallen level: a later rise may be carried
        if dead and self.level[s] > fallen and lv0 > 0:
            # a sensor back from 0: its noise is the old noise, in proportion to its level
            k = min(1.0, self.level[s] / lv0)
            self.dev[s], self.tail[s] = max(self.dev[s], dev0 * k), max(self.tail[s], tail0 * k)

    def _judge_from(self, s: int, base: float) -> None:
        """End slot ``s``'s carry of a rise from fallen air as no clean air coming back: the
        level goes back to ``base`` (gas units, where the carry began), and the rise is judged
        from there (a leak on the dipped air); no new carry until the gas is back near it."""
        e = self.fell[s]
        self.level[s] = base
        e[5], e[6], e[8] = math.nan, math.inf, math.nan

    def _fade_learned(self, s: int, r: float, tail: float, held: int) -> float:
        """Slot ``s``'s tail (gas units above the level) after forgetting its settling
        excursion's learned peak if no excursion has recurred near it for
        :data:`LEARNED_KEEP_SETTLES` settling periods and no leak episode holds the slot;
        ``tail`` otherwise. ``r``: the reading minus the level (gas units)."""
        e = self.learned[s]
        peak, base, since, top = e
        now = self.last_ts[s]
        if r >= LEARNED_NEAR * peak:
            e[3] = max(top, r)
        elif top > 0 and r < 0.5 * LEARNED_NEAR * peak:  # an excursion came and went
            # a recurrence when its peak is alike (a clean cycle's are; leak puffs vary)
            if abs(math.log(top / peak)) <= self.cfg.settle_recur_log_ratio:
                e[2] = now
            e[3] = 0.0
        if not held and now - since > LEARNED_KEEP_SETTLES * self.cfg.settle_s:
            del self.learned[s]
            if tail > base:
                tail = self.tail[s] = base
        return tail

    def _settle(self, s: int, r: float, zcap: float, tail: float) -> float:
        """Follow an excursion far above slot ``s``'s level that began while it settles and
        return the tail raised to its peak (gas units above the level; the scale follows at
        once) once it is learned, ``tail`` otherwise (module doc, "Settling").

        An excursion: readings the tail does not learn from (``z_hold`` scales and
        ``TAIL_REACH`` tails up), or, while a leak alert holds the slot, any reading
        ``z_hold`` scales up (the hold keeps the tail from learning them). It is learned when
        it ends (a reading back under the tail) after at least ``settle_min_readings``
        readings and within ``settle_s`` of reading time; one that a leak alert held only
        when the one held before it was held by another alert (it resolved in between) and
        peaked within ``settle_recur_log_ratio`` of it (a clean cycle's peaks, not one leak
        puff nor the swings of one gas event). It is followed past the settling period's
        end."""
        c = self.cfg
        going = self.exc_len[s] > 0
        if not going and not self.settling(s):
            return tail
        held = self.held[s]
        if held and c.settle_recur_log_ratio <= 0:  # off: a held excursion is never learned
            self.exc_len[s], self.exc_peak[s] = 0, 0.0
            return tail
        if not held and s in self.settle_peak:
            self.settle_free.add(s)  # the alert of the last held excursion has resolved
        if r >= zcap and (held or r >= TAIL_REACH * tail):
            if held:
                self.settle_held.add(s)
            if self.exc_len[s] < COUNT_MAX:
                self.exc_len[s] += 1
            if r > self.exc_peak[s]:
                self.exc_peak[s] = r
            if self.exc_len[s] * self.per_reading(s) > c.settle_s:  # too long for wander
                self.exc_len[s], self.exc_peak[s] = 0, 0.0
                self.settle_held.discard(s)
        elif r <= tail and going:
            peak = float(self.exc_peak[s])
            long = self.exc_len[s] >= c.settle_min_readings
            if long and c.settle_min_s > 0 and s not in self.settle_held:
                # one that raised no alert must have lasted settle_min_s too (a held one is
                # learned on an alike second, below, however short)
                long = self.exc_len[s] * self.per_reading(s) >= c.settle_min_s
            learn = long and peak > tail
            if learn and s in self.settle_held:
                before = self.settle_peak.get(s) if s in self.settle_free else None
                self.settle_peak[s] = peak
                self.settle_free.discard(s)
                learn = before is not None and abs(math.log(peak / before)) <= (
                    c.settle_recur_log_ratio
                )
                peak = max(peak, before or 0.0)
            if learn:
                old = self.learned.get(s)
                base = tail if old is None else old[1]  # the tail before the first learn
                self.learned[s] = [peak, base, float(self.last_ts[s]), 0.0]
                tail = self.tail[s] = peak
                self.scale[s] = max(self.scale[s], tail / c.z_hold)
            self.exc_len[s], self.exc_peak[s] = 0, 0.0
            self.settle_held.discard(s)
            if not self.settling(s):
                self._forget_settle(s)
        return tail

    def _rate(self, dt: float, tau: float) -> float:
        """Weight of one reading in a mean with time constant ``tau``, at most
        1 / ``min_memory``: a slowly sampled device (hourly) keeps a memory of that many
        readings instead of forgetting everything between two readings."""
        return min(1.0 - math.exp(-dt / tau), 1.0 / self.cfg.min_memory)

    def score(self, s: int, gas: float) -> float:
        """How far ``gas`` stands above slot ``s``'s level, in noise scales (NaN while warming
        up)."""
        if not self.warm(s):
            return math.nan
        return (gas - self.level[s]) / self.scale[s]


class DeviceSignal:
    """The online signal model of one device (offline evaluation, tests): a one-slot
    :class:`SignalStates` that keeps its own raw warm-up readings (float32, freed once warm).

    Learned state ends in ``_``: ``level_``, ``scale_`` (gas units), ``n_`` (readings since
    the last (re)start), ``dt_`` (typical reading interval, s), ``held_`` (an open leak
    episode holds the level), ``restarts_``, ``t_level_``, ``rh_level_``, ``tail_`` (tracked
    97.5 % quantile), ``res_`` (resolution).
    """

    def __init__(self, cfg: SignalConfig) -> None:
        self.cfg = cfg
        self._st = SignalStates(cfg)
        self._st.grow(1)
        self._raw: array[float] = array("f")  # (gas, T, RH) rows while warming up

    level_ = property(lambda self: self._st.level[0])
    scale_ = property(lambda self: self._st.scale[0])
    n_ = property(lambda self: self._st.n[0])
    dt_ = property(lambda self: self._st.dt[0])
    pace_ = property(lambda self: self._st.pace[0])
    coarse_pace = property(lambda self: self._st.coarse_pace(0))
    last_ts_ = property(lambda self: self._st.last_ts[0])
    held_ = property(lambda self: bool(self._st.held[0]))
    restarts_ = property(lambda self: self._st.restarts[0])
    t_level_ = property(lambda self: self._st.t_level[0])
    rh_level_ = property(lambda self: self._st.rh_level[0])
    tail_ = property(lambda self: self._st.tail[0])
    res_ = property(lambda self: self._st.res[0])

    @property
    def warm(self) -> bool:
        """True once the level and scale are established (``warmup`` readings since start)."""
        return self._st.warm(0)

    def ratio_bound(self, temp: float = math.nan, rh: float = math.nan) -> float:
        """The evidence gate's log-ratio bound now, NaN while warming up
        (:meth:`SignalStates.ratio_bound`; ``temp``, ``rh``: the reading just learned)."""
        return self._st.ratio_bound(0, temp, rh)

    def hold(self, on: bool) -> None:
        """Hold (True) or release the level while a leak episode is open."""
        self._st.held[0] = int(on)

    def reset(self, keep_reference: bool = False) -> None:
        """Forget the level and scale and warm up again (an operator's baseline reset; see
        :meth:`SignalStates.reset` for ``keep_reference``)."""
        self._st.reset(0, keep_reference)

    def rebase(self, gas: float) -> None:
        """A leak alert's all-clear: see :meth:`SignalStates.rebase`."""
        self._st.rebase(0, gas)

    def learn_one(
        self, gas: float, ts: float, temp: float = math.nan, rh: float = math.nan
    ) -> tuple[float, float, float, float, float]:
        """Learn one reading: see :meth:`SignalStates.learn` (the warm-up is done here)."""
        st, w = self._st, self.cfg.warmup
        out = st.learn(0, gas, ts, temp, rh)
        n = st.n[0]
        if n <= w:
            if n == 1:
                del self._raw[:]
            self._raw.extend((gas, temp, rh))
            if n == w:
                rows = np.frombuffer(self._raw, dtype=np.float32).reshape(-1, 3)
                level, scale, t_level, rh_level = st.warm_up(0, rows)
                del rows
                self._raw = array("f")
                out = (out[0], level, scale, t_level, rh_level)
        return out

    def score_one(self, gas: float) -> float:
        """How far ``gas`` stands above the level, in noise scales (NaN while warming up)."""
        return self._st.score(0, gas)

    def elevated(self, gas: float) -> bool:
        """True while ``gas`` stands at least ``z_hold`` noise scales above the level."""
        z = self.score_one(gas)
        return bool(z >= self.cfg.z_hold)


def signal_series(
    series: np.ndarray, ts: np.ndarray, cfg: SignalConfig | None = None
) -> np.ndarray:
    """Run one device's readings through a fresh :class:`DeviceSignal`, as the service would.

    Args:
        series: shape (T,) gas, or (T, 3) gas, °C, %RH; readings in time order.
        ts: shape (T,), float; epoch seconds (or any seconds), non-decreasing.
        cfg: parameters (default :class:`SignalConfig`).

    Returns:
        shape (T, 6) float64: filtered gas, level, scale, t_level, rh_level and the evidence
        gate's log-ratio bound (:meth:`SignalStates.ratio_bound`) after each reading (all but
        the first NaN while warming up).
    """
    s = np.asarray(series, dtype=np.float64)
    if s.ndim == 1:
        s = np.c_[s, np.full(len(s), np.nan), np.full(len(s), np.nan)]
    sig = DeviceSignal(cfg or SignalConfig())
    out = np.empty((len(s), 6))
    for i, (row, t) in enumerate(zip(s.tolist(), np.asarray(ts, float).tolist(), strict=True)):
        out[i, :5] = sig.learn_one(row[0], t, row[1], row[2])
        out[i, 5] = sig.ratio_bound(row[1], row[2])
    return out
