"""Synthetic sensors and rooms that no dataset or issue names, replayed through the service's
own signal model, model, evidence gate and leak policy; prints the rows where a leak alert is
raised for each case. Clean cases should print none, leaks one.

    python -m bench.detection_probe [--svm] [--waves]

``--waves`` runs :func:`wave_grid` instead (210 clean waves).
"""

from __future__ import annotations

import dataclasses
import math
import sys
from pathlib import Path

import numpy as np

from app.alerting.configure import evaluation_policy
from app.alerting.leak import PolicyConfig
from app.ml.predictor import Predictor, load_predictor
from app.training.online_replay import Run, replay
from app.training.reference_detectors import gated_detector

ROOT = Path(__file__).resolve().parents[1]


def alerts(
    pred: Predictor, gas: np.ndarray, temp: np.ndarray, rh: np.ndarray, dt: float = 1.0
) -> list[int]:
    """Rows at which a fresh device's leak is announced: an alert raised, or re-announced as
    ``recurred`` (the service's path, offline)."""
    return episodes(pred, gas, temp, rh, dt)[0]


def probe_run(
    pred: Predictor,
    gas: np.ndarray,
    temp: np.ndarray,
    rh: np.ndarray,
    dt: float = 1.0,
    pol: PolicyConfig | None = None,
) -> Run:
    """A fresh device's offline replay through the service's path (:func:`episodes`), whole:
    its raises, ``recurred`` updates and open rows apart."""
    ts = np.arange(len(gas)) * dt
    det = gated_detector("probe", pred, "")
    return replay(det, np.c_[gas, temp, rh], ts, pol or evaluation_policy(), pred.signal_cfg)


def episodes(
    pred: Predictor,
    gas: np.ndarray,
    temp: np.ndarray,
    rh: np.ndarray,
    dt: float = 1.0,
    pol: PolicyConfig | None = None,
) -> tuple[list[int], list[int]]:
    """Rows at which a fresh device's leak is announced (an alert raised, or an open one
    re-announced as ``recurred``), and rows at which it resolves:
    the service's path, offline (:func:`app.training.online_replay.replay`: the signal model
    held while an alert is open, the gate, the model, the alert policy with its off-delay and
    the open alert's still-above test). gas (n,) in gas units, temp (n,) °C, rh (n,) %RH, one
    reading every ``dt`` s. Until 1 Dec the probes did not replay the hold: a clean cycle
    whose peaks an open alert keeps from being learned was counted once, where the service
    raised it at every peak."""
    run = probe_run(pred, gas, temp, rh, dt, pol)
    active = run.active
    resolved = run.ends[1:][active[:-1] & ~active[1:]]
    return [int(r) for r in run.announced], [int(r) for r in resolved]


def cycles(rng: np.random.Generator) -> dict[str, tuple[np.ndarray, ...]]:
    """Name -> (gas, °C, %RH) at 1 Hz: clean backgrounds that cycle (newcomer of 1 Dec), 2.25
    periods of them and then, for the leaks, a leak at the cycle's top that lasts to the end
    of the series (1 h or one period more). A leak there must be raised once and never
    resolved."""

    def sine(period_h: float, amp: float, leak: float) -> tuple[np.ndarray, ...]:
        p = period_h * 3600
        i = np.arange(int(2.25 * p + max(3600, p)))
        clean = 500 * (1 + amp * np.sin(2 * np.pi * i / p)) + rng.normal(0, 3, len(i))
        gas = np.where(i >= 2.25 * p, clean + leak, clean)
        return gas, np.full(len(i), 22.0), np.full(len(i), 45.0)

    n = 3 * 3600
    i = np.arange(n)
    sq = np.sign(np.sin(2 * np.pi * i / 1200))
    return {
        "clean: +-25 % sine, period 2 h": sine(2, 0.25, 0.0),
        "leak persists: +500 ppm at the top of a +-15 % 2-h sine": sine(2, 0.15, 500.0),
        "leak persists: +200 ppm on a +-15 % 20-min HVAC square, T +-2.25 C": (
            400 * (1 + 0.15 * sq) + rng.normal(0, 3, n) + np.where(i >= 7260, 200.0, 0.0),
            22 + 2.25 * sq,
            np.full(n, 45.0),
        ),
        "limit: +500 ppm at the top of a +-25 % 2-h sine": sine(2, 0.25, 500.0),
        # newcomer of 5 Dec: the room's air changes under an open alert, the gas stays up
        # and the sensor does not follow; the change explained the leak away ("all clear"
        # 500-1,140 s later, 18 of 18 runs)
        "leak persists: x1.3 from 30 min, the room +35 %RH over 10 min 30 min later": (
            420 * np.where(i >= 1800, 1.3, 1.0) + rng.normal(0, 3, n),
            np.full(n, 22.0),
            45 + 35 * np.clip((i - 3600) / 600, 0, 1),
        ),
        "leak persists: x1.3 from 30 min, the room +10 °C over 10 min 30 min later": (
            420 * np.where(i >= 1800, 1.3, 1.0) + rng.normal(0, 3, n),
            22 + 10 * np.clip((i - 3600) / 600, 0, 1),
            np.full(n, 45.0),
        ),
    }


def _draft(i: np.ndarray) -> np.ndarray:
    """°C at 1 Hz rows ``i``: 21 °C, and from row 1800 a door opening every 20 min that
    takes the room to 13 °C over 2 min, holds it 10 min and recovers over 2 min."""
    k = np.where(i >= 1800, (i - 1800) % 1200, 10_000)
    drop = np.clip(k / 120, 0, 1) * np.clip((840 - k) / 120, 0, 1)
    return 21.0 - 8.0 * drop


def _dip_back(
    i: np.ndarray, start: int, end: int, dip: float, back: float, tau: float
) -> np.ndarray:
    """A factor on clean air, shape of ``i`` (rows, 1 Hz): 1 before row ``start``, ``dip``
    until row ``end``, then ``back`` approached with time constant ``tau`` s (a room
    refilling after a purge fan stops)."""
    after = np.clip(i - end, 0, None)
    return np.where(
        i < start, 1.0, np.where(i < end, dip, back + (dip - back) * np.exp(-after / tau))
    )


def _thermal_lag(n: int, tau: float, phase: int) -> tuple[np.ndarray, np.ndarray]:
    """Clean air at 1 Hz, ``n`` rows: (gas factor, °C). The room switches 17 <-> 25 °C every
    40 min (a thermostat; from row ``phase`` of the cycle), and the sensor reads +3 %/°C of
    the temperature it sees through a first-order lag of ``tau`` s (newcomer of 3 Dec)."""
    i = np.arange(n)
    temp = 21.0 + 4.0 * np.sign(np.sin(2 * np.pi * (i + phase) / 4800) + 1e-9)
    seen = np.empty(n)
    seen[0], a = temp[0], math.exp(-1.0 / tau)
    for k in range(1, n):
        seen[k] = a * seen[k - 1] + (1 - a) * temp[k]
    return 1 + 0.03 * (seen - 21.0), temp


def cases(rng: np.random.Generator) -> dict[str, tuple[np.ndarray, ...]]:
    """Name -> (gas, °C, %RH) at 1 Hz, one hour each (leaks start at row 1800), but for the
    two-hour cases (their leak starts at row 5400: the old noise scale needed that long to
    grow past it)."""
    n = 3600
    i = np.arange(n)
    t, h = np.full(n, 22.0), np.full(n, 45.0)
    room = (i > 1800) & (i < 2400)
    i2 = np.arange(2 * n)
    leak2 = (i2 >= 5400) & (i2 < 6300)
    drop2 = (i2 % 600 >= 480) & ~leak2  # 0 ppm for 2 min of every 10; none inside the leak
    wet = np.clip((i - 600) / 300, 0, 1)  # 0 -> 1 over 5 min from row 600
    dry = np.clip((i - 1800) / 300, 0, 1)  # and back over 5 min from row 1800
    return {
        "clean: noisy mV sensor, sd 8 %": (250 * (1 + 0.08 * rng.normal(size=n)), t, h),
        "clean: counts, slow T swing drives gas +-15 %": (
            2000 * (1 + 0.15 * np.sin(i / 600)),
            22 + 3 * np.sin(i / 600),
            h,
        ),
        "clean: step +15 % at 1800": (np.where(i < 1800, 400.0, 460.0) + rng.normal(0, 3, n), t, h),
        "clean: random-walk drift": (400 * np.exp(np.cumsum(rng.normal(0, 0.0015, n))), t, h),
        "clean: eCO2 at its 400 floor, bursts to 440": (
            np.maximum(400, np.round(400 + rng.normal(0, 15, n))),
            t,
            h,
        ),
        "clean: methane sensor at 0 ppm, noise sd 2, floored": (
            np.maximum(0.0, rng.normal(0, 2, n)),
            t,
            h,
        ),
        "clean: integer-ppm sensor toggling 0/1": (np.round(np.abs(rng.normal(0, 0.6, n))), t, h),
        "clean: HVAC cycle, gas +-10 % with T +-1.5 C": (
            400 * (1 + 0.1 * np.sign(np.sin(2 * np.pi * i / 1200))) + rng.normal(0, 3, n),
            22 + 1.5 * np.sign(np.sin(2 * np.pi * i / 1200)),
            h,
        ),
        "clean: heavy-tailed noise (Student t, df 2)": (400 + 3 * rng.standard_t(2, n), t, h),
        "clean: MOX power-on, 3x decaying (tau 5 min)": (
            300 * (1 + 2 * np.exp(-i / 300)) + rng.normal(0, 3, n),
            t,
            h,
        ),
        "limit: MOX power cycle at 1800 (3x, no gap)": (
            np.where(i < 1800, 300.0, 300 * (1 + 2 * np.exp(-(i - 1800) / 300)))
            + rng.normal(0, 3, n),
            t,
            h,
        ),
        "limit: room filling, CO2 450 -> 1,500 in 1 h": (
            450 + 1050 * (1 - np.exp(-i / 1800)) / (1 - np.exp(-2)) + rng.normal(0, 10, n),
            t + 1.5 * i / n,
            h + 10 * i / n,
        ),
        "limit: +30 % for 10 min with a +15 %RH jump": (
            np.where(room, 520.0, 400.0) + rng.normal(0, 3, n),
            t,
            np.where(room, 60.0, 45.0),
        ),
        "limit: 3-reading bursts x5 every 5 min": (
            400 + rng.normal(0, 3, n) + np.where(i % 300 < 3, 2000.0, 0),
            t,
            h,
        ),
        "leak: ramp +60 % over 2 min (mV)": (
            250 * np.where(i < 1800, 1, np.minimum(1.6, 1 + 0.6 * (i - 1800) / 120))
            + rng.normal(0, 2, n),
            t,
            h,
        ),
        "leak: 0 -> 500 ppm in 1 min on a 0 ppm sensor": (
            np.maximum(0.0, rng.normal(0, 2, n))
            + np.where(i > 1800, np.minimum(500.0, (i - 1800) * 500 / 60), 0.0),
            t,
            h,
        ),
        "leak: step x3 (counts)": (np.where(i < 1800, 1500.0, 4500.0) + rng.normal(0, 20, n), t, h),
        "leak: seep +40 % over 10 min": (
            400 * (1 + 0.4 * (1 - np.exp(-np.maximum(i - 1800, 0) / 200)) * (i >= 1800))
            + rng.normal(0, 3, n),
            t,
            h,
        ),
        # last, so the probes above keep their noise draws
        "limit: ventilation on/off, 420 <-> 520 ppm every 5 min, T and RH flat": (
            np.where((i // 300) % 2 == 1, 520.0, 420.0) + rng.normal(0, 2, n),
            t,
            h,
        ),
        "limit: slow rise 420 -> 1,000 ppm over the hour (a seep, or a room filling)": (
            420 + 580 * i / n + rng.normal(0, 2, n),
            t,
            h,
        ),
        # leaks that come and go (newcomer): each high run is shorter than the alarm delay
        "leak: flicker 4,000 ppm, 5 s on / 5 s off for 10 min": (
            np.where(room & ((i - 1801) % 10 < 5), 4000.0, 400.0) + rng.normal(0, 3, n),
            t,
            h,
        ),
        "leak: flicker 1,200 ppm, 2 s on / 2 s off for 10 min": (
            np.where(room & ((i - 1801) % 4 < 2), 1200.0, 400.0) + rng.normal(0, 3, n),
            t,
            h,
        ),
        "clean: dropouts to 0 ppm, 120 s every 10 min": (
            np.where(i % 600 >= 480, 0.0, 400 + rng.normal(0, 3, n)),
            t,
            h,
        ),
        "clean: noisy sensor, sd 25 %": (
            np.maximum(0.0, 400 * (1 + 0.25 * rng.normal(size=n))),
            t,
            h,
        ),
        "leak: +60 % for 15 min after 90 min of dropouts to 0 ppm (2 h)": (
            np.where(drop2, 0.0, np.where(leak2, 640.0, 400.0) + rng.normal(0, 3, 2 * n)),
            np.full(2 * n, 22.0),
            np.full(2 * n, 45.0),
        ),
        "leak: +60 % for 15 min after 90 min of noise sd 20 % (2 h)": (
            np.maximum(0.0, 400 * (np.where(leak2, 1.6, 1.0) + 0.2 * rng.normal(size=2 * n))),
            np.full(2 * n, 22.0),
            np.full(2 * n, 45.0),
        ),
        # a MOX sensor's humidity and temperature response (newcomer's humid plateau: a
        # critical leak alert 4.5-14 min into it while the T/RH allowance faded)
        "clean: humid plateau, RH 45 -> 85 % in 5 min, gas follows +40 %": (
            400 * (1 + 0.4 * wet) + rng.normal(0, 3, n),
            t,
            45 + 40 * wet,
        ),
        "clean: humid 20 min, then dry again, gas follows +30 %": (
            400 * (1 + 0.3 * (wet - dry)) + rng.normal(0, 3, n),
            t,
            45 + 40 * (wet - dry),
        ),
        "clean: warm plateau, T +10 C in 5 min, gas follows +30 %": (
            400 * (1 + 0.3 * wet) + rng.normal(0, 3, n),
            22 + 10 * wet,
            h,
        ),
        "leak: x2 at 1800 on a humid plateau (RH 45 -> 85 %, gas +30 %)": (
            400 * (1 + 0.3 * wet) * np.where(i >= 1800, 2.0, 1.0) + rng.normal(0, 3, n),
            t,
            45 + 40 * wet,
        ),
        "leak: +50 % at 1800 with RH +10 % at the same time": (
            400 * np.where(i >= 1800, 1.5, 1.0) + rng.normal(0, 3, n),
            t,
            45 + 10 * np.clip((i - 1790) / 30, 0, 1),
        ),
        # a fresh device whose 60-reading warm-up sees a slow cycle on its way down (its
        # trough): the first peak stood +22 % and many scales above the level learned there,
        # and each later peak too, until the scale caught up (3 alerts in 16 min before the
        # settling period; app.ml.signal, "Settling")
        "clean: +-12.5 % sine, period 6.3 min, warm-up on its way down": (
            400 + 50 * np.sin(i / 60 + 3.93),
            t,
            h,
        ),
        "limit: +-25 % sine, period 6.3 min, warm-up on its way down": (
            400 + 100 * np.sin(i / 60 + 3.93),
            t,
            h,
        ),
        "limit: +30 % step 90 s after a fresh start (raised when settling ends)": (
            np.where(i >= 90, 520.0, 400.0) + rng.normal(0, 4, n),
            t,
            h,
        ),
        # a raw output with a negative offset: no ratio exists below 0 (newcomer's mV device)
        "clean: mV output at -200, noise sd 2": (-200 + rng.normal(0, 2, n), t, h),
        "leak: +100 mV at 1800 on a -200 mV output": (
            -200 + rng.normal(0, 2, n) + np.where(i >= 1800, 100.0, 0.0),
            t,
            h,
        ),
        "limit: ventilation on/off as above, from row 1800 (after 30 min of steady air)": (
            np.where((i >= 1800) & ((i // 300) % 2 == 1), 520.0, 420.0) + rng.normal(0, 2, n),
            t,
            h,
        ),
        # noiseless readings (a simulator, a zero-suppressed detector): the leak's own step
        # was the first step the sensor made and set its resolution (newcomer of 1 Dec 11:00)
        "leak: noiseless 420 ppm, x2 at 1800": (np.where(i < 1800, 420.0, 840.0), t, h),
        "leak: noiseless 0 ppm, 500 ppm at 1800": (np.where(i < 1800, 0.0, 500.0), t, h),
        "leak: noiseless 420 ppm, one 0 ppm glitch at 300, x2 at 1800": (
            np.where(i == 300, 0.0, np.where(i < 1800, 420.0, 840.0)),
            t,
            h,
        ),
        "clean: noiseless 420 ppm, one 10,000 ppm glitch at 900": (
            np.where(i == 900, 1e4, 420.0),
            t,
            h,
        ),
        # a leak that arrives with a large ambient change is discounted by what the change
        # can explain, whatever its sign (newcomer of 1 Dec 11:00; features._explained)
        "limit: x1.3 at 1800 as the humidity falls 25 %RH": (
            np.where(i < 1800, 420.0, 546.0) + rng.normal(0, 4, n),
            t,
            np.where(i < 1800, 60.0, 35.0),
        ),
        "limit: x1.3 at 1800 as it cools 6 C and dries 20 %RH": (
            np.where(i < 1800, 420.0, 546.0) + rng.normal(0, 4, n),
            np.where(i < 1800, 22.0, 16.0),
            np.where(i < 1800, 60.0, 40.0),
        ),
        # a sensor that reads higher when colder: a door opening every 20 min after 30 min,
        # T 21 -> 13 C in 2 min for 10 min, gas +4.5 % per C (newcomer of 1 Dec 12:10: a
        # critical leak alert at every opening while only rises were taken off)
        "clean: cold draft, T -8 C, a sensor reading +36 % when cold": (
            420 * (1 + 0.045 * (21 - _draft(i))) + rng.normal(0, 3, n),
            _draft(i),
            h,
        ),
        "leak: x2 at 1800 on the cold-draft sensor": (
            420 * (1 + 0.045 * (21 - _draft(i))) * np.where(i >= 1800, 2.0, 1.0)
            + rng.normal(0, 3, n),
            _draft(i),
            h,
        ),
        # a sensor floored at 0 whose clean air wanders +-30 over 30 min, noise sd 10 (a raw
        # device measured from its zero sees this; newcomer of 1 Dec 13:05: critical leak
        # alerts on the first rise of the wander, 118-198 s in, and later)
        "limit: floored at 0, noise sd 10, +-30 wander over 30 min, T/RH swinging": (
            np.maximum(0.0, np.round(rng.normal(0, 10, n) + 30 * np.sin(2 * np.pi * i / 1800), 1)),
            21 + 2 * np.sin(2 * np.pi * i / 3600),
            45 + 8 * np.sin(2 * np.pi * i / 5400 + 1),
        ),
        # a new device's first minutes (newcomers of 2 Dec): a preheat placeholder, an
        # installer's breath, a bump test under the alarm delay, a leak from reading 40 of
        # the warm-up; and clean air coming back after an hour-long dip, or a leak on it
        "clean: NDIR preheat, 400 ppm placeholder for 30 s, then 650 ppm": (
            np.where(i < 30, 400.0, 650 * (1 + 0.015 * rng.normal(size=n))),
            t,
            h,
        ),
        "leak: x2 at 1800 after a x3 breath over warm-up readings 35-55": (
            (420 + rng.normal(0, 4, n))
            * np.where((i >= 35) & (i < 55), 3.0, 1.0)
            * np.where(i >= 1800, 2.0, 1.0),
            t,
            h,
        ),
        "leak: x2 at 1800 after a x5 bump test for 8 s at 200 s": (
            (420 + rng.normal(0, 4, n))
            * np.where((i >= 200) & (i < 208), 5.0, 1.0)
            * np.where(i >= 1800, 2.0, 1.0),
            t,
            h,
        ),
        # a leak from warm-up reading 40 looks the same as the room's air after a preheat
        # placeholder or a low start (below): it is learned as the level (2 Dec)
        "limit: x2 from warm-up reading 40, for 20 min": (
            (420 + rng.normal(0, 4, n)) * np.where((i >= 40) & (i < 1240), 2.0, 1.0),
            t,
            h,
        ),
        "clean: preheat placeholder 400 ppm toggling by 1, first reading 0, then 650 ppm": (
            np.where(
                i == 0,
                0.0,
                np.where(i < 30, 400.0 + (i % 2), 650 * (1 + 0.015 * rng.normal(size=n))),
            ),
            t,
            h,
        ),
        "clean: reads 0.5x for 30 s at power-on, then the room's 420 ppm": (
            np.where(i < 30, 210.0, 420.0) * (1 + 0.015 * rng.normal(size=n)),
            t,
            h,
        ),
        "clean: 0.6x for 1 h from 600, clean air back over 2 min": (
            420 * np.clip(np.where(i < 600, 1.0, 0.6 + 0.4 * (i - 4200) / 120), 0.6, 1.0)
            + rng.normal(0, 4, n),
            t,
            h,
        ),
        "leak: x2 at 1800 on air dipped to 0.6x from 600": (
            np.where(i < 600, 420.0, 252.0) * np.where(i >= 1800, 2.0, 1.0) + rng.normal(0, 4, n),
            t,
            h,
        ),
        # clean air coming back slowly, or part way, after a dip or a sensor at 0 (3 Dec)
        "clean: 0.5x from 300 for 40 min, back over a room's 10-min time constant": (
            420 * _dip_back(i, 300, 2700, 0.5, 1.0, 600.0) * (1 + 0.01 * rng.normal(size=n)),
            t,
            h,
        ),
        "clean: 0.6x from 300 for 40 min, back at 0.85x": (
            420 * _dip_back(i, 300, 2700, 0.6, 0.85, 30.0) * (1 + 0.01 * rng.normal(size=n)),
            t,
            h,
        ),
        "leak: reads 0 from 300 for 20 min, back at 0.85x, x2 at 2400": (
            420
            * _dip_back(i, 300, 1500, 0.0, 0.85, 30.0)
            * np.where(i >= 2400, 2.0, 1.0)
            * (1 + 0.01 * rng.normal(size=n)),
            t,
            h,
        ),
        # a leak on dipped air that stays under the old level is taken for clean air coming
        # back while that level is kept (a day): the cost of the rows above
        "limit: x1.5 at 1800 on air dipped to 0.6x from 600": (
            420 * _dip_back(i, 600, n, 0.6, 1.0, 30.0) * np.where(i >= 1800, 1.5, 1.0)
            + rng.normal(0, 4, n),
            t,
            h,
        ),
        # one that stops far under it (under 0.75x for 10 min) is judged from the dipped air
        "leak: x1.5 at 1800 on air dipped to 0.3x from 600, raised after 10 min": (
            420 * _dip_back(i, 600, n, 0.3, 1.0, 30.0) * np.where(i >= 1800, 1.5, 1.0)
            + rng.normal(0, 4, n),
            t,
            h,
        ),
        # and a leak ramp that climbs through the old level's band is one (newcomer, 3 Dec)
        "leak: x3 ramp over 30 min from 1200 on air dipped to 0.5x from 300": (
            420 * _dip_back(i, 300, n, 0.5, 1.0, 30.0) * np.clip(1 + 2 * (i - 1200) / 1800, 1, 3)
            + rng.normal(0, 4, n),
            t,
            h,
        ),
        # a sensor that follows temperature through its own thermal lag (newcomer of 3 Dec):
        # the allowance for a temperature step holds as long as the lagged change does
        **{
            f"clean: gas +3 %/°C of T seen through a {tau:.0f}-s lag, 17 <-> 25 °C every 40 min": (
                420 * f + rng.normal(0, 3, len(f)),
                temp + rng.normal(0, 0.05, len(f)),
                np.full(len(f), 45.0),
            )
            for tau in (120.0, 300.0)
            for f, temp in [_thermal_lag(3 * n, tau, 3600)]
        },
        # last, so that the probes above keep their noise: a low start over most of the
        # warm-up, whose median is the low start's, so the room's air raises an alert (a
        # rule that warmed up again from the rise cost leaks after gaps: DETECTION_LOG 7 Dec)
        "limit: a sample line's purge air, 0.6x for 45 s at power-on, then the room's air": (
            420 * np.where(i < 45, 0.6, 1.0 - 0.4 * np.exp(-(i - 44) / 10.0)) + rng.normal(0, 4, n),
            t,
            h,
        ),
    }


def spiky_mox(
    rng: np.random.Generator, hours: float = 14.0, leak_at_h: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A noisy MOX sensor read every 10 s (newcomer of 1 Dec 06:40): 300 units, white noise
    sd 15 %, and spikes of 1-3 readings at 2-4x starting at 1 % of readings; with
    ``leak_at_h``, the gas doubles from that hour on (a leak). (gas, °C, %RH), each (n,)."""
    n = int(hours * 360)
    g = 300.0 * (1 + 0.15 * rng.standard_normal(n))
    for s in np.flatnonzero(rng.random(n) < 0.01):
        g[s : s + int(rng.integers(1, 4))] *= rng.uniform(2, 4)
    if leak_at_h is not None:
        g[int(leak_at_h * 360) :] *= 2.0
    return np.maximum(g, 0.0), np.full(n, 22.0), np.full(n, 45.0)


def puff_train(
    rng: np.random.Generator, on_s: int, every_s: int, factor: float = 3.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A leak that comes and goes (newcomer of 1 Dec 11:00): 30 min of clean air at 420 ppm
    (noise sd 4), then for an hour the gas at ``factor`` x for ``on_s`` s of every
    ``every_s`` s, 1 Hz. (gas, °C, %RH), each (n,)."""
    n = 5400
    i = np.arange(n)
    on = (i >= 1800) & ((i - 1800) % every_s < on_s)
    g = 420.0 * np.where(on, factor, 1.0) + rng.normal(0, 4, n)
    return g, np.full(n, 21.0), np.full(n, 45.0)


def wave_grid(pred: Predictor) -> list[str]:
    """Clean waves ``base + A * f(i / d)`` at 1 Hz for an hour, the named +-25 ppm wave's
    form (issue 9) widened: base 400 and 420 ppm, A 25-150 ppm, d 5-600 (periods 31 s to
    63 min), f sin, cos and -sin (three warm-up phases), T and RH flat: 210 fresh devices.
    Returns one line for each that raises a leak alert."""
    n = 3600
    i = np.arange(n)
    t, h = np.full(n, 22.0), np.full(n, 45.0)
    shapes = {"sin": np.sin, "cos": np.cos, "-sin": lambda x: -np.sin(x)}
    out = []
    for base in (400, 420):
        for amp in (25, 50, 75, 100, 150):
            for d in (5, 15, 30, 60, 120, 300, 600):
                for name, f in shapes.items():
                    raised = alerts(pred, base + amp * f(i / d), t, h)
                    if raised:
                        out.append(f"{base} + {amp} * {name}(i / {d}): alerts at rows {raised[:4]}")
    return out


def ramp_on_wander(
    rng: np.random.Generator, mult: float, ramp_min: float, dt: float = 2.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """A 2-s device on clean air that wanders slowly (410 ppm plus an AR(1) wander of sd
    30 ppm with a 5-min time constant, noise sd 5 ppm) for 1 h, then a leak that ramps the
    gas to ``mult`` x over ``ramp_min`` min and stays 20 min (newcomer of 1 Dec 14:10):
    (gas, °C, %RH, onset row)."""
    n0, nr = int(3600 / dt), int(ramp_min * 60 / dt)
    n = n0 + nr + int(1200 / dt)
    a = np.exp(-dt / 300.0)
    e = rng.normal(0, 30 * np.sqrt(1 - a * a), n)
    x = np.zeros(n)
    for k in range(1, n):
        x[k] = a * x[k - 1] + e[k]
    i = np.arange(n)
    g = (410 + x + rng.normal(0, 5, n)) * (1 + (mult - 1) * np.clip((i - n0) / nr, 0, 1))
    return g, np.full(n, 22.0), np.full(n, 45.0), n0


def main() -> None:
    pred = load_predictor(ROOT / "artifacts", use_torch="--svm" not in sys.argv)
    print(f"model: {pred.model_type}")
    if "--waves" in sys.argv:
        lines = wave_grid(pred)
        print("\n".join(lines))
        print(f"{len(lines)} of 210 clean waves raised a leak alert")
        return
    for name, (g, t, h) in cases(np.random.default_rng(7)).items():
        a = alerts(pred, np.asarray(g, float), t, h)
        print(f"{name:50s} alerts at rows {a[:6]}{' ...' if len(a) > 6 else ''}")
    for name, (g, t, h) in cycles(np.random.default_rng(9)).items():
        a, r = episodes(pred, np.asarray(g, float), t, h)
        print(f"{name:50s} alerts at rows {a[:6]}, resolved at rows {r[:6]}")
    for seed in range(4):
        a = alerts(pred, *spiky_mox(np.random.default_rng(seed)), dt=10.0)
        print(
            f"{f'clean: spiky MOX, 10 s, 14 h, seed {seed}':50s} alerts at rows {a[:6]} ({len(a)})"
        )
        a = alerts(pred, *spiky_mox(np.random.default_rng(seed), 11.0, 10.0), dt=10.0)
        late = [r - 3600 for r in a if r >= 3600]
        print(
            f"{f'leak: x2 at 10 h on the spiky MOX, seed {seed}':50s} raised {late[:1]} readings in"
        )
    for on_s, every_s in ((20, 120), (30, 300)):
        for window in (0.0, 600.0):  # the chatter rule off (the default) and on
            pol = dataclasses.replace(evaluation_policy(), chatter_window_s=window)
            run = probe_run(pred, *puff_train(np.random.default_rng(5), on_s, every_s), pol=pol)
            a, n = run.raised.tolist(), int((run.active[:-1] & ~run.active[1:]).sum())
            name = f"leak: x3 puffs {on_s} s every {every_s} s, 1 h, chatter {window:g} s"
            print(
                f"{name:50s} {len(a)} alerts, first at row {a[:1]}, {len(run.recurred)} "
                f"recurred, {n} all-clears"
            )
    for mult, ramp_min in ((2.0, 5), (2.0, 10), (3.0, 5), (3.0, 10)):
        got = []
        for seed in range(6):
            g, t, h, n0 = ramp_on_wander(np.random.default_rng(seed), mult, ramp_min)
            a = alerts(pred, g, t, h, dt=2.0)
            got.append(next((int((r - n0) * 2) for r in a if r >= n0), None) if a else None)
            got[-1] = "early" if a and a[0] < n0 else got[-1]
        name = f"limit: x{mult:g} ramp over {ramp_min} min on wandering air"
        print(f"{name:50s} s from the onset to the alert, 6 seeds: {got}")
    rng = np.random.default_rng(8)
    j = np.arange(600)
    g = np.where(j < 300, 400.0, 900.0) + rng.normal(0, 3, 600)
    a = alerts(pred, g, np.full(600, 22.0), np.full(600, 45.0), dt=10.0)
    print(f"{'leak: step 400 -> 900 at row 300, 0.1 Hz':50s} alerts at rows {a[:3]}")


if __name__ == "__main__":
    main()
