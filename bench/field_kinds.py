"""Clean sensors and rooms found by the newcomers of 6 Dec to raise false leak alerts, and the
leaks the fixes for them may cost, replayed offline through the service's own path
(:func:`app.training.online_replay.replay` with each reading's own time stamp: the signal
model, the model, the evidence gate and the leak policy). Prints, per kind, the leak alerts
raised on clean air (every one a false alarm) or the leaks raised, over several seeds.

    python -m bench.field_kinds [--svm] [--only KIND]  (KIND: one of the kinds below)

- ``interference``: a clean 420 ppm sensor (noise sd 4, wander sd 8 over an hour) near a
  motor that adds 2-5 min of correlated noise (AR(1), 20-s time constant, sd 30/50/80 ppm)
  3 times an hour; 1 s and 10 s readings, 4 seeds x 12 h.
- ``stairs``: an NDIR CO2 sensor at 380 ppm (noise sd 6, a reading every 15 s) whose automatic
  baseline correction or an HVAC stage moves clean air up in steps of +12-15 % one to two
  hours apart, 4 seeds x 16 h; and the same +30 % as one smooth ramp over an hour.
- ``stamps``: a 1 Hz sensor with clean transients of 6 or 8 readings at x2 (a relay's glitch,
  a breath on a CO2 sensor) every 400-800 readings, stamped exactly, truncated to 10 s or
  60 s, or one stamp per batch of 10 or 30 readings (a gateway posting without ``ts``: each
  reading takes its receipt time), 3 seeds x 4 h; and x1.3 / x2 leak steps stamped so.
- ``growth``: leaks that grow: a first step of +8/+12/+16 % (under the gate's +22 %), then
  the gas goes to x1.3, x1.5 or x2 of the clean level 10, 40 or 120 min later, at 1 s,
  15 s and 60 s, 3 seeds each: the cost of learning a plateau (``plateau_s``).
- ``lowstart`` (newcomer of 6 Dec, and 2 Dec's low starts): one zone of an aspirated
  multipoint system under its own device id, read at 1 Hz for 120-s dwells 16-32 min apart,
  whose first 20/40/70 s are still purge air at 0.6x the zone's clean 420 ppm (a 10-s
  first-order approach), 4 seeds x 12 h; fresh devices whose first 10-70 readings read
  0.3/0.6/0.75x (a preheat, a sample line) at 1 s and 10 s, 2 seeds x 1 h each (open: the
  warm-up's median learns the low start); and x1.5/x2/x3 leaks from reading k of a fresh
  1 Hz device's warm-up, and x1.5/x2 from reading k after a 10-min outage, which a rule
  for low starts would cost (DETECTION_LOG, 7 Dec).
- ``quant`` (newcomer of 7 Dec): firmware reporting in coarse steps (10 ppm at a clean 20-25
  ppm, 5 at 12, 50 at 100, 100 at 250) while the clean air wanders (sd 10 % over 30 min,
  noise 5 %), 3 seeds x 8 h; and x2/x3/x5 leak steps on such sensors (the resolution they
  learn costs the smaller ones).
- ``hold`` (newcomer of 7 Dec): a gateway polling at 0.5-2 s a sensor that updates every
  3-60 s (sample and hold), clean 420 ppm (noise sd 4 per sample, wander sd 8), 2 one-sample
  glitches an hour at x1.3-x1.5, whole ppm; a noisy MOX (300 ppm, Student-t noise, sd 6 %)
  so polled; 3 seeds x 8 h each; and x1.3/x1.5/x2 leak steps on such devices.
- ``bursts`` (newcomer of 9 Dec): a gateway that sends 3 samples taken 0.2 s apart every 30,
  60 or 300 s, clean 420 ppm with +25-40 % bumps of 40-90 s twice an hour, 3 seeds x 24 h
  (x 160 h at 300 s), against one sample every 30 s; and x1.5/x2 leak steps on such devices
  (``app.alerting.leak.SAME_SAMPLE_FRACTION``).
- ``resend`` (newcomer of 9 Dec): a 60-s or 300-s device whose gateway delivers 10 % of its
  readings twice, a retry 1-5 s later or a failed poll that re-sends the value before at the
  next poll, clean 420 ppm with one-sample x1.3-2 glitches every 6 h, 2 seeds x 72 h (x 240
  h at 300 s); and x1.5/x2 leak steps on such devices (``app.ml.signal.STEADY_REPEATS``).
- ``wakeups`` (newcomer of 10 Dec): a battery device that wakes every 10 or 15 min and sends
  10-60 readings 1 s apart, clean 420 ppm, 3 seeds x 12 h; and x1.5/x2 leaks from 6 h
  (``app.ml.signal.PAUSE_ALIKE``: before it, every wake-up restarted the warm-up); and
  (newcomer of 2 Dec) 3, 5 or 20 readings every 15 min in an office whose days reach +40 %,
  3 seeds x 7 days (its pauses counted as one reading interval, the level never learned a
  day).
- ``stalls`` (newcomer of 2 Dec 16:15): clean air whose reading falls to 0 or 0.45x for
  30-90 s every 3-6 h and comes back +30-50 % over its level, decaying over 60 s (a
  sampling pump that stalls, a PID lamp's self-clean), 3 seeds x 24 h at 1 s and 10 s;
  and x1.3/x1.5/x2 leaks that begin as a 90-s dropout to 0 or 0.45x ends (a dropout's
  lift of the gate, ``app.ml.signal.DROPOUT_FRACTION``).
- ``doors`` (newcomer of 2 Dec 19:45): the CO2 of a cold store (1,500 ppm, refilling
  with a 90-min time constant, doors open 2-10 min every 30-90 min by day) or a produce
  truck (2,000 ppm, 45 min, stops every 20-40 min), each opening mixing it down towards
  480 ppm with T/RH changes, 3 seeds x 3 days at 10 s and 60 s: a door opened again while
  the air comes back (``app.ml.signal.SignalStates._return``).
- ``alarmmode`` (newcomer of 2 Dec 19:45): a wireless detector that reports every 300 or
  900 s in clean air and every 10 s once it reads gas, x1.5/x3 leaks after 24 h, 2 seeds,
  against one that always reports every 10 s (``app.alerting.leak.SAME_SAMPLE_FRACTION``).
- ``days`` (newcomer of 10 Dec): a x1.3 or x1.5 leak that lasts 3 days on a 60-s device in
  a room's ordinary day (clean gas ±3-8 %, T ±0-3 °C, RH ∓0-8 %RH), 2 seeds: hours from the
  raise to an all-clear with the gas still up (None: open to the end;
  ``app.alerting.leak.RECEDE_SHARE``).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable

import numpy as np

from app.alerting.configure import evaluation_policy
from app.ml.predictor import Predictor, load_predictor
from app.training.online_replay import replay
from app.training.reference_detectors import gated_detector
from bench.detection_probe import ROOT

Series = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # ts s, gas, °C, %RH


def announced(
    pred: Predictor, ts: np.ndarray, gas: np.ndarray, t: np.ndarray, h: np.ndarray
) -> list[int]:
    """Rows at which a fresh device's leak is announced (raised or ``recurred``), each
    reading at its own time ``ts`` (s)."""
    det = gated_detector("kind", pred, "")
    run = replay(det, np.c_[gas, t, h], ts, evaluation_policy(), pred.signal_cfg)
    return [int(r) for r in run.announced]


def delay_s(
    pred: Predictor, ts: np.ndarray, gas: np.ndarray, t: np.ndarray, h: np.ndarray, on: int
) -> int | None:
    """Seconds from row ``on`` (a leak's onset) to the first alert announced at or after
    it, whole s; None: none."""
    post = [r for r in announced(pred, ts, gas, t, h) if r >= on]
    return round(float(ts[post[0]] - ts[on])) if post else None


def _ou(rng: np.random.Generator, n: int, sd: float, tau: float, dt: float) -> np.ndarray:
    """AR(1) noise of standard deviation ``sd`` and time constant ``tau`` s, (n,)."""
    a = np.exp(-dt / tau)
    e = rng.normal(0.0, sd * np.sqrt(1 - a * a), n)
    x = np.empty(n)
    x[0] = rng.normal(0.0, sd)
    for i in range(1, n):
        x[i] = a * x[i - 1] + e[i]
    return x


def interference(rng: np.random.Generator, sd: float, dt: float, hours: float = 12.0) -> Series:
    """Clean 420 ppm with motor interference bursts (module doc)."""
    n = int(hours * 3600 / dt)
    ts = np.arange(n) * dt
    g = 420 + _ou(rng, n, 8.0, 3600.0, dt) + rng.normal(0, 4, n)
    for _ in range(int(3 * hours)):
        start, length = rng.uniform(0, hours * 3600), rng.uniform(120, 300)
        m = (ts >= start) & (ts < start + length)
        if m.sum() > 1:
            g[m] += _ou(rng, int(m.sum()), sd, 20.0, dt)
    return ts, g, 21 + _ou(rng, n, 0.4, 3600.0, dt), 45 + _ou(rng, n, 2.0, 3600.0, dt)


def stairs(
    rng: np.random.Generator, step: float, every: float, k: int, hours: float = 16.0
) -> Series:
    """Clean NDIR air moved up ``k`` times by ``step`` (x), ``every`` s apart from 2 h in."""
    dt = 15.0
    n = int(hours * 3600 / dt)
    ts = np.arange(n) * dt + rng.uniform(-1, 1, n)
    ts.sort()
    level = np.clip(np.floor((ts - 7200) / every) + 1, 0, k)
    g = np.round(380 * (1 + step) ** level + rng.normal(0, 6, n))
    return ts, g, 20 + _ou(rng, n, 0.4, 3600.0, dt), 40 + _ou(rng, n, 2.0, 3600.0, dt)


def ramp(rng: np.random.Generator, total: float = 0.3, ramp_s: float = 3600.0) -> Series:
    """The NDIR air of :func:`stairs` rising smoothly by ``total`` over ``ramp_s`` s."""
    ts, g, t, h = stairs(rng, 0.0, 1e9, 0)
    f = np.clip((ts - 7200) / ramp_s, 0, 1)
    return ts, np.round(g * (1 + total) ** f), t, h


def stamped(ts: np.ndarray, mode: str) -> np.ndarray:
    """Time stamps ``ts`` (s) as a gateway sends them: ``exact``, ``truncQ`` (down to Q s)
    or ``batchB`` (each batch of B s stamped at its send time, its end)."""
    if mode.startswith("trunc"):
        q = float(mode[5:])
        return np.floor(ts / q) * q
    if mode.startswith("batch"):
        b = float(mode[5:])
        return (np.floor(ts / b) + 1) * b
    return ts


def transients(rng: np.random.Generator, length: int, mode: str) -> tuple[Series, int]:
    """4 h at 1 Hz of clean 420 ppm with ``length``-reading x2 transients; their count."""
    n = 4 * 3600
    g = 420 + rng.normal(0, 4, n)
    starts = np.cumsum(rng.integers(400, 800, 40))
    starts = starts[starts < n - 20]
    for s in starts:
        g[s : s + length] *= 2.0
    flat = np.full(n, 22.0)
    return (stamped(np.arange(n, dtype=float), mode), g, flat, flat + 23.0), len(starts)


def growth(
    rng: np.random.Generator, dt: float, first: float, after_s: float, x: float
) -> tuple[Series, float]:
    """Clean NDIR air (380 ppm, sd 6), a leak step of ``first`` (x) from 90-100 min, then the
    gas at ``x`` of the clean level ``after_s`` s later; and the time of that growth (s)."""
    on = 5400 + rng.uniform(0, 600)
    n = int((6000 + after_s + 1800) / dt)
    ts = np.arange(n) * dt
    f = np.where(ts >= on, 1 + first, 1.0)
    f = np.where(ts >= on + after_s, x, f)
    flat = np.full(n, 21.0)
    return (ts, 380 * f + rng.normal(0, 6, n), flat, flat + 24.0), on + after_s


def lagged(x: np.ndarray, dt: float, tau: float = 10.0) -> np.ndarray:
    """(n,) ``x`` seen through a first-order lag of ``tau`` s, one sample every ``dt`` s."""
    a, y, v = 1.0 - np.exp(-dt / tau), np.empty(len(x)), float(x[0])
    for i, xi in enumerate(x):
        v += a * (xi - v)
        y[i] = v
    return y


def aspirated(rng: np.random.Generator, purge_s: float, hours: float = 12.0) -> Series:
    """One zone of an aspirated multipoint system: 120-s dwells at 1 Hz, 16-32 min apart,
    the first ``purge_s`` s of each at 0.6x the zone's clean 420 ppm (module doc)."""
    ts, f, t = [], [], 0.0
    while t < hours * 3600:
        ts.append(t + np.arange(120.0))
        f.append(lagged(np.where(np.arange(120) < purge_s, 0.6, 1.0), 1.0))
        t += 120 + rng.uniform(16 * 60, 32 * 60)
    tt = np.concatenate(ts)
    flat = np.full(len(tt), 22.0)
    return tt, 420 * np.concatenate(f) + rng.normal(0, 4, len(tt)), flat, flat + 40.0


def low_start(rng: np.random.Generator, dt: float, k: int, frac: float) -> Series:
    """A fresh device's hour at 420 ppm (sd 4) whose first ``k`` readings read ``frac`` x."""
    n = int(3600 / dt)
    g = 420 * lagged(np.where(np.arange(n) < k, frac, 1.0), dt) + rng.normal(0, 4, n)
    flat = np.full(n, 22.0)
    return np.arange(n) * dt, g, flat, flat + 40.0


def _lowstart(pred: Predictor) -> None:
    for purge in (20.0, 40.0, 70.0):
        _clean(
            pred,
            f"clean: aspirated zone, 120-s dwells, {purge:g} s of purge air at 0.6x",
            lambda r, p=purge: aspirated(r, p),
            4,
        )
    for dt in (1.0, 10.0):
        for frac in (0.3, 0.6, 0.75):
            row = []
            for k in (10, 20, 30, 40, 50, 58, 70):
                runs = [low_start(np.random.default_rng(seed), dt, k, frac) for seed in (0, 1)]
                row.append(sum(bool(announced(pred, *r)) for r in runs))
            name = f"clean: fresh device at {frac:g}x for k readings, {dt:g} s"
            print(f"{name:58s} raised (of 2) for k = 10 20 30 40 50 58 70: {row}")
    for x in (1.5, 2.0, 3.0):
        res = []
        for k in (10, 20, 30, 40, 50, 58, 65, 80):
            rng = np.random.default_rng(k)
            g = 420 * lagged(np.where(np.arange(1800) >= k, x, 1.0), 1.0) + rng.normal(0, 4, 1800)
            flat = np.full(1800, 22.0)
            a = announced(pred, np.arange(1800.0), g, flat, flat + 40.0)
            res.append(a[0] - k if a else None)
        name = f"leak: x{x:g} from a fresh 1 Hz device's reading k"
        print(f"{name:58s} s to the alert, k = 10 20 30 40 50 58 65 80: {res}")
    for x in (1.5, 2.0):
        res = []
        for k in (0, 10, 30, 40, 50, 58):
            rng = np.random.default_rng(k)
            ts = np.r_[np.arange(1800.0), 2400.0 + np.arange(1200.0)]
            f = np.r_[np.ones(1800), lagged(np.where(np.arange(1200) >= k, x, 1.0), 1.0)]
            flat = np.full(3000, 22.0)
            a = announced(pred, ts, 420 * f + rng.normal(0, 4, 3000), flat, flat + 40.0)
            res.append(a[0] - 1800 - k if a else None)
        name = f"leak: x{x:g} from reading k after a 10-min outage, 1 Hz"
        print(f"{name:58s} s to the alert, k = 0 10 30 40 50 58: {res}")


def quantised(
    rng: np.random.Generator, step: float, base: float, dt: float, hours: float = 8.0
) -> Series:
    """Clean air around ``base`` (wander sd 10 %, 30 min; noise 5 %) reported in ``step``s."""
    n = int(hours * 3600 / dt)
    x = base * np.exp(_ou(rng, n, 0.10, 1800.0, dt)) + rng.normal(0, 0.05 * base, n)
    g = np.maximum(np.round(x / step) * step, 0.0)
    return (
        np.arange(n) * dt,
        g,
        22 + _ou(rng, n, 0.3, 3600.0, dt),
        45 + _ou(rng, n, 2.0, 3600.0, dt),
    )


def _quant(pred: Predictor) -> None:
    kinds = ((10.0, 25.0, 1.0), (10.0, 20.0, 1.0), (5.0, 12.0, 1.0), (50.0, 100.0, 2.0))
    for step, base, dt in (*kinds, (100.0, 250.0, 1.0), (10.0, 25.0, 5.0)):
        _clean(
            pred,
            f"clean: steps of {step:g} at {base:g}, {dt:g} s",
            lambda r, a=step, b=base, d=dt: quantised(r, a, b, d),
            3,
        )
    for step, base, dt in ((10.0, 25.0, 1.0), (100.0, 250.0, 1.0), (50.0, 100.0, 2.0)):
        for x in (2.0, 3.0, 5.0):
            res = []
            for seed in range(3):
                ts, g, t, h = quantised(np.random.default_rng(seed), step, base, dt, 2.0)
                on = len(ts) // 2
                g[on:] = np.round(g[on:] * x / step) * step
                res.append(delay_s(pred, ts, g, t, h, on))
            name = f"leak: x{x:g} on steps of {step:g} at {base:g}, {dt:g} s"
            print(f"{name:58s} s to the alert {res}")


def held(
    rng: np.random.Generator,
    poll: float,
    upd: float,
    amp: float = 1.5,
    per_h: float = 2.0,
    hours: float = 8.0,
    mox: bool = False,
) -> Series:
    """A sensor updating every ``upd`` s polled every ``poll`` s (module doc, ``hold``)."""
    m = int(hours * 3600 / upd)
    if mox:  # heavy-tailed noise, sd 6 % of 300 ppm
        df = 4.0
        s = 300 * (1 + _ou(rng, m, 0.05, 3600.0, upd)) + 18 * rng.standard_t(df, m) / np.sqrt(2)
    else:
        s = 420 + _ou(rng, m, 8.0, 3600.0, upd) + rng.normal(0, 4, m)
        s[rng.integers(100, m, rng.poisson(per_h * hours))] *= amp
    n = int(hours * 3600 / poll)
    ts = np.arange(n) * poll
    g = np.round(s[np.minimum((ts / upd).astype(int), m - 1)], 1 if mox else 0)
    return ts, g, 21 + _ou(rng, n, 0.3, 3600.0, poll), 45 + _ou(rng, n, 2.0, 3600.0, poll)


def _hold(pred: Predictor) -> None:
    for poll, upd, amp in ((1.0, 10.0, 1.5), (1.0, 10.0, 1.3), (0.5, 15.0, 1.4), (2.0, 10.0, 1.3)):
        _clean(
            pred,
            f"clean: {upd:g}-s sensor polled every {poll:g} s, x{amp:g} samples",
            lambda r, p=poll, u=upd, a=amp: held(r, p, u, a),
            3,
        )
    for poll, upd in ((1.0, 3.0), (1.0, 60.0)):
        _clean(
            pred,
            f"clean: {upd:g}-s sensor polled every {poll:g} s, x1.3 samples",
            lambda r, p=poll, u=upd: held(r, p, u, 1.3),
            3,
        )
    _clean(
        pred,
        "clean: noisy MOX, 10-s sensor polled every 1 s",
        lambda r: held(r, 1, 10, mox=True),
        3,
    )
    for poll, upd in ((1.0, 10.0), (0.5, 15.0), (1.0, 1.0)):
        for x in (1.3, 1.5, 2.0):
            res = []
            for seed in range(3):
                ts, g, t, h = held(np.random.default_rng(seed), poll, upd, per_h=0.0, hours=2.0)
                on = int(np.searchsorted(ts, 3600.0 + 7 * seed))
                g[on:] = np.round(g[on:] * x)
                res.append(delay_s(pred, ts, g, t, h, on))
            name = f"leak: x{x:g} on a {upd:g}-s sensor polled every {poll:g} s"
            print(f"{name:58s} s to the alert {res}")


def burst_sampled(
    rng: np.random.Generator,
    every: float,
    k: int = 3,
    apart: float = 0.2,
    bumps_per_h: float = 2.0,
    hours: float = 24.0,
) -> Series:
    """A gateway that sends ``k`` samples taken ``apart`` s apart every ``every`` s (module
    doc, ``bursts``): clean 420 ppm (wander sd 8 over an hour, noise sd 4 per sample, whole
    ppm) with clean bumps of +25-40 % lasting 40-90 s, ``bumps_per_h`` an hour (a door, a
    person at the sensor)."""
    n = int(hours * 3600 / every)
    t0 = np.arange(n) * every
    ts = (t0[:, None] + apart * np.arange(k)[None, :]).ravel()
    g = 420 + np.repeat(_ou(rng, n, 8.0, 3600.0, every), k) + rng.normal(0, 4, n * k)
    for start in rng.uniform(600, hours * 3600 - 120, rng.poisson(bumps_per_h * hours)):
        on = (ts >= start) & (ts < start + rng.uniform(40, 90))
        g[on] *= 1 + rng.uniform(0.25, 0.4)
    flat = np.ones(n * k)
    return ts, np.round(g), 21 * flat, 45 * flat


def _bursts(pred: Predictor) -> None:
    for every in (30.0, 60.0, 300.0):
        _clean(
            pred,
            f"clean: 3 samples 0.2 s apart every {every:g} s, +25-40 % bumps",
            lambda r, e=every: burst_sampled(r, e, hours=24.0 if e < 300 else 160.0),
            3,
        )
    _clean(
        pred,
        "clean: 1 sample every 30 s, +25-40 % bumps (control)",
        lambda r: burst_sampled(r, 30.0, k=1),
        3,
    )
    for every in (30.0, 300.0):
        for x in (1.5, 2.0):
            res = []
            for seed in range(3):
                ts, g, t, h = burst_sampled(np.random.default_rng(seed), every, bumps_per_h=0)
                on = int(np.searchsorted(ts, 6 * 3600.0 + 7 * seed))
                g[on:] = np.round(g[on:] * x)
                res.append(delay_s(pred, ts, g, t, h, on))
            name = f"leak: x{x:g}, 3 samples 0.2 s apart every {every:g} s"
            print(f"{name:58s} s to the alert {res}")


def resent(
    rng: np.random.Generator,
    every: float,
    mode: str,
    frac: float = 0.1,
    per_6h: float = 1.0,
    hours: float = 240.0,
) -> Series:
    """A device reading every ``every`` s whose gateway delivers some readings twice (module
    doc, ``resend``): ``retry``, a fraction ``frac`` of readings sent again 1-5 s later
    (a retry after a timeout, stamped on arrival); ``poll``, a fraction ``frac`` of polls
    that fail and re-send the value before at the poll's own time. Clean 420 ppm (wander sd
    8 over an hour, noise sd 4, 0.1 ppm) with one-sample x1.3-2 glitches ``per_6h`` every
    6 h; T and RH wander."""
    n = int(hours * 3600 / every)
    ts = np.arange(n) * every + rng.uniform(0, 0.5, n)
    g = 420 + _ou(rng, n, 8.0, 3600.0, every) + rng.normal(0, 4, n)
    g[rng.integers(50, n, rng.poisson(per_6h * hours / 6))] *= rng.uniform(1.3, 2.0)
    t = 21 + _ou(rng, n, 0.4, 3600.0, every)
    h = 45 + _ou(rng, n, 2.0, 3600.0, every)
    g, t, h = np.round(g, 1), np.round(t, 2), np.round(h, 1)
    if mode == "poll":
        for i in np.flatnonzero(rng.random(n) < frac):
            if i:
                g[i], t[i], h[i] = g[i - 1], t[i - 1], h[i - 1]
        return ts, g, t, h
    again = rng.random(n) < frac
    idx = np.r_[np.arange(n), np.flatnonzero(again)]
    at = np.r_[ts, ts[again] + rng.uniform(1.0, 5.0, int(again.sum()))]
    order = np.argsort(at, kind="stable")
    return at[order], g[idx][order], t[idx][order], h[idx][order]


def _resend(pred: Predictor) -> None:
    for mode in ("retry", "poll"):
        for every in (60.0, 300.0):
            _clean(
                pred,
                f"clean: {every:g}-s device, 10 % re-sent ({mode}), x1.3-2 glitches",
                lambda r, e=every, m=mode: resent(r, e, m, hours=240.0 if e >= 300 else 72.0),
                2,
            )
    for mode in ("retry", "poll"):
        for every, x in ((60.0, 1.5), (300.0, 1.5), (300.0, 2.0)):
            res = []
            for seed in range(3):
                ts, g, t, h = resent(np.random.default_rng(seed), every, mode, per_6h=0, hours=30)
                on = int(np.searchsorted(ts, 24 * 3600.0 + 7 * seed))
                g[on:] = np.round(g[on:] * x, 1)
                res.append(delay_s(pred, ts, g, t, h, on))
            name = f"leak: x{x:g}, {every:g}-s device, 10 % re-sent ({mode})"
            print(f"{name:58s} s to the alert {res}")


def wakeups(
    rng: np.random.Generator, k: int, every: float, hours: float = 12.0, x: float = 1.0
) -> Series:
    """A battery device that wakes every ``every`` s (plus 0-5 s) and sends ``k`` readings
    1 s apart (module doc, ``wakeups``): clean 420 ppm (wander sd 8 over an hour, noise sd
    4, 0.1 ppm), the gas times ``x`` from 6 h on."""
    nb = int(hours * 3600 / every)
    t0 = np.arange(nb) * every + rng.uniform(0, 5, nb)
    ts = (t0[:, None] + np.arange(k)[None, :]).ravel()
    g = 420 + np.repeat(_ou(rng, nb, 8.0, 3600.0, every), k) + rng.normal(0, 4, nb * k)
    g = np.where(ts >= 6 * 3600.0, g * x, g)
    flat = np.ones(nb * k)
    return ts, np.round(g, 1), 21 * flat, 45 * flat


def wake_office(
    rng: np.random.Generator, k: int, every: float, days: float = 7.0, amp: float = 0.2
) -> Series:
    """A battery CO2 sensor in an office that wakes every ``every`` s and sends ``k``
    readings 1 s apart (module doc, ``wakeups``; newcomer of 2 Dec): 450 ppm at night, up to
    450 x (1 + 2 ``amp``) at 13:00 (a raised cosine from 08:00 to 18:00, people in the
    room), noise sd 6 ppm, whole ppm; +1.5 °C and +5 %RH with the people."""
    nb = int(days * 86400 / every)
    ts = ((np.arange(nb) * every)[:, None] + np.arange(k)[None, :]).ravel()
    hod = (ts / 3600.0) % 24.0
    occ = np.where((hod > 8) & (hod < 18), np.sin(np.pi * (hod - 8) / 10) ** 2, 0.0)
    g = np.round(450 * (1 + 2 * amp * occ) + rng.normal(0, 6, ts.size))
    return ts, g, 21 + 1.5 * occ + rng.normal(0, 0.05, ts.size), 40 + 5 * occ


def _wakeups(pred: Predictor) -> None:
    for k in (3, 5, 20):
        _clean(
            pred,
            f"clean: {k} readings 1 s apart every 15 min, office +40 % days",
            lambda r, k=k: wake_office(r, k, 900.0),
            3,
        )
    for k, every in ((10, 600.0), (30, 600.0), (30, 900.0), (60, 600.0)):
        _clean(
            pred,
            f"clean: {k} readings 1 s apart every {every / 60:g} min",
            lambda r, k=k, e=every: wakeups(r, k, e),
            3,
        )
    for k, every in ((10, 600.0), (30, 900.0)):
        for x in (1.5, 2.0):
            res = []
            for seed in range(3):
                ts, g, t, h = wakeups(np.random.default_rng(seed), k, every, x=x)
                on = int(np.searchsorted(ts, 6 * 3600.0))
                post = [r for r in announced(pred, ts, g, t, h) if r >= on]
                res.append(round(float(ts[post[0]] - 6 * 3600.0)) if post else None)
            name = f"leak: x{x:g}, {k} readings 1 s apart every {every / 60:g} min"
            print(f"{name:58s} s to the alert {res}")


def daily_leak(
    rng: np.random.Generator, x: float, cycle: float, t_amp: float, rh_amp: float, days: float = 3.0
) -> Series:
    """A 60-s device in a room's ordinary day (module doc, ``days``): clean 420 ppm (noise
    sd 4, wander sd 8 over an hour) times ``1 + cycle * sin(day)``, T 21 °C + ``t_amp *
    sin(day)``, RH 45 %RH - ``rh_amp * sin(day)`` (each with its own wander), and a leak of
    ``x`` from 6 h on that lasts ``days`` days."""
    dt = 60.0
    n = int((6 * 3600 + days * 86400) / dt)
    ts = np.arange(n) * dt
    day = np.sin(2 * np.pi * ts / 86400)
    g = (420 + rng.normal(0, 4, n) + _ou(rng, n, 8.0, 3600.0, dt)) * (1 + cycle * day)
    g = np.where(ts >= 6 * 3600.0, g * x, g)
    t = 21 + _ou(rng, n, 0.3, 1800.0, dt) + t_amp * day
    h = 45 + _ou(rng, n, 2.0, 1800.0, dt) - rh_amp * day
    return ts, g, t, h


def _days(pred: Predictor) -> None:
    for x in (1.3, 1.5):
        for cycle in (0.03, 0.05, 0.08):
            for t_amp, rh_amp in ((3.0, 8.0), (1.5, 4.0), (0.0, 0.0)):
                closed = []
                for seed in range(2):
                    ts, g, t, h = daily_leak(np.random.default_rng(seed), x, cycle, t_amp, rh_amp)
                    det = gated_detector("kind", pred, "")
                    run = replay(det, np.c_[g, t, h], ts, evaluation_policy(), pred.signal_cfg)
                    on = np.flatnonzero(run.active)
                    ends = run.ends[on[0] :][~run.active[on[0] :]] if len(on) else []
                    closed.append(
                        round(float(ts[ends[0]] - 6 * 3600) / 3600, 1) if len(ends) else None
                    )
                name = f"leak: x{x:g} 3 days, gas ±{cycle:.0%}, T ±{t_amp:g} °C, RH ∓{rh_amp:g} %RH"
                print(f"{name:58s} h to an all-clear with the gas up {closed}")


def stall(
    rng: np.random.Generator, dt: float, floor: float, fall_s: float, over: float, every: float
) -> Series:
    """Clean air whose reading falls to ``floor`` x for ``fall_s`` s every ``every`` s (a
    sampling pump that stalls, a PID lamp's self-clean, an EC cell's self-test) and comes
    back ``over`` x its level above it, decaying with a 60-s time constant (module doc,
    ``stalls``): 500 units, wander sd 30 over an hour, noise sd 5, 24 h."""
    n = int(24 * 3600 / dt)
    ts = np.arange(n) * dt
    g = 500 + _ou(rng, n, 30.0, 3600.0, dt) + rng.normal(0, 5, n)
    for start in np.arange(rng.uniform(0, every), ts[-1], every):
        x = ts - start
        g = np.where((x >= 0) & (x < fall_s), g * floor, g)
        back = x >= fall_s
        g[back] += 500 * over * np.exp(-(x[back] - fall_s) / 60.0)
    flat = np.full(n, 21.0)
    return ts, np.round(g), flat, flat + 24.0


def doors(
    rng: np.random.Generator, dt: float, inside: float, tau_fill: float, gap: tuple, open_s: tuple
) -> Series:
    """A cold store's or a produce truck's CO2 (module doc, ``doors``): respiration holds
    ``inside`` ppm with the doors shut (refilling with time constant ``tau_fill`` s); each
    door opening, every ``gap`` s (uniform) from 06:00 to 18:00 for ``open_s`` s, mixes it
    down towards 480 ppm (90 s) with T 4 -> 12 °C and RH 90 -> 70 %RH; noise 1 %, 3 days."""
    n = int(3 * 86400 / dt)
    ts = np.arange(n) * dt
    door = np.zeros(n, bool)
    for day in range(3):
        t = day * 86400 + 6 * 3600 + rng.uniform(0, 1800)
        while t < day * 86400 + 18 * 3600:
            door[(ts >= t) & (ts < t + rng.uniform(*open_s))] = True
            t += rng.uniform(*gap)
    g, temp, rh = np.empty(n), np.empty(n), np.empty(n)
    c, tc, hc = inside, 4.0, 90.0
    for i in range(n):
        if door[i]:
            c = 480 + (c - 480) * np.exp(-dt / 90.0)
            tc, hc = 12 + (tc - 12) * np.exp(-dt / 120.0), 70 + (hc - 70) * np.exp(-dt / 120.0)
        else:
            c = inside + (c - inside) * np.exp(-dt / tau_fill)
            tc, hc = 4 + (tc - 4) * np.exp(-dt / 600.0), 90 + (hc - 90) * np.exp(-dt / 900.0)
        g[i], temp[i], rh[i] = c, tc, hc
    g = np.round(g * (1 + rng.normal(0, 0.01, n)))
    return ts, g, temp + rng.normal(0, 0.1, n), np.clip(rh + rng.normal(0, 0.5, n), 0, 100)


def alarm_mode(rng: np.random.Generator, slow: float, fast: float, x: float) -> tuple:
    """A wireless detector that reports every ``slow`` s in clean air and every ``fast`` s
    while its own reading stands over 1.2x its clean 420 ppm (alarm mode; module doc,
    ``alarmmode``): 24 h of clean air (noise sd 4, wander sd 8 over an hour, sampled at 1 Hz),
    then a leak ramping to ``x`` over 30 s. (series, row of the first reading at or after
    the onset)."""
    on_t = 24 * 3600.0
    n = int(on_t + 3 * 3600)
    tt = np.arange(n, dtype=float)
    true = (420 + rng.normal(0, 4, n) + _ou(rng, n, 8.0, 3600.0, 1.0)) * (
        1 + (x - 1) * np.clip((tt - on_t) / 30.0, 0, 1)
    )
    sent, last = [], -math.inf
    for i in range(n):
        if tt[i] - last >= (fast if true[i] > 1.2 * 420 else slow):
            sent.append(i)
            last = tt[i]
    ts = tt[sent]
    flat = np.full(len(ts), 21.0)
    return (ts, np.round(true[sent]), flat, flat + 24.0), int(np.searchsorted(ts, on_t))


def _alarm_mode(pred: Predictor) -> None:
    for slow, fast in ((300.0, 10.0), (900.0, 10.0), (10.0, 10.0)):
        for x in (1.5, 3.0):
            res = []
            for seed in range(2):
                series, on = alarm_mode(np.random.default_rng(seed), slow, fast, x)
                res.append(delay_s(pred, *series, on))
            name = f"leak: x{x:g}, every {slow:g} s, {fast:g} s in gas (alarm mode)"
            print(f"{name:58s} s to the alert {res}")


def _doors(pred: Predictor) -> None:
    for name, inside, fill, gap in (
        ("cold store CO2, doors every 30-90 min", 1500.0, 5400.0, (1800, 5400)),
        ("truck CO2, stops every 20-40 min", 2000.0, 2700.0, (1200, 2400)),
    ):
        for dt in (10.0, 60.0):
            _clean(
                pred,
                f"clean: {name}, {dt:g} s",
                lambda r, a=(dt, inside, fill, gap, (120, 600)): doors(r, *a),
                3,
            )


def _stalls(pred: Predictor) -> None:
    for dt, floor, fall_s, over, every in (
        (1.0, 0.45, 90.0, 0.3, 3 * 3600.0),
        (1.0, 0.0, 30.0, 0.5, 6 * 3600.0),
        (1.0, 0.0, 30.0, 0.3, 6 * 3600.0),
        (10.0, 0.45, 90.0, 0.3, 3 * 3600.0),
        (10.0, 0.0, 60.0, 0.5, 6 * 3600.0),
    ):
        name = f"clean: {fall_s:g} s at {floor:g}x, back +{over:.0%}, every {every / 3600:g} h"
        name += f", {dt:g} s"
        _clean(pred, name, lambda r, a=(dt, floor, fall_s, over, every): stall(r, *a), 3)
    for dt in (1.0, 10.0):
        for x in (1.3, 1.5, 2.0):
            res = []
            for floor in (0.0, 0.45):
                rng = np.random.default_rng(int(10 * x))
                n = int(3 * 3600 / dt)
                on, back = int(3600 / dt), int(3690 / dt)
                f = np.r_[np.ones(on), np.full(back - on, floor), np.full(n - back, x)]
                g = 420 * lagged(f, dt) + rng.normal(0, 4, n)
                flat = np.full(n, 22.0)
                a = [r for r in announced(pred, np.arange(n) * dt, g, flat, flat + 40.0) if r >= on]
                res.append(round((a[0] - back) * dt) if a else None)
            name = f"leak: x{x:g} as a 90-s dropout to 0 / 0.45x ends, {dt:g} s"
            print(f"{name:58s} s to the alert {res}")


def _clean(
    pred: Predictor, name: str, make: Callable[[np.random.Generator], Series], seeds: int
) -> None:
    count, hours, first = 0, 0.0, []
    for seed in range(seeds):
        ts, g, t, h = make(np.random.default_rng(seed))
        a = announced(pred, ts, g, t, h)
        count += len(a)
        hours += (ts[-1] - ts[0]) / 3600
        first.append(round(float(ts[a[0]] - ts[0]) / 60) if a else None)
    print(f"{name:58s} {count:3d} leak alerts in {hours:5.0f} device-h; first (min) {first}")


def main() -> None:
    pred = load_predictor(ROOT / "artifacts", use_torch="--svm" not in sys.argv)
    only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
    print(f"model: {pred.model_type}")
    if only in (None, "interference"):
        for sd in (30.0, 50.0, 80.0):
            for dt in (1.0, 10.0):
                _clean(
                    pred,
                    f"clean: motor interference sd {sd:g} ppm on 420, {dt:g} s",
                    lambda r, sd=sd, dt=dt: interference(r, sd, dt),
                    4,
                )
    if only in (None, "stairs"):
        for step, every, k in ((0.12, 7200.0, 3), (0.12, 3600.0, 4), (0.15, 5400.0, 3)):
            _clean(
                pred,
                f"clean: NDIR steps +{step:.0%} every {every / 3600:g} h, {k} of them",
                lambda r, s=step, e=every, k=k: stairs(r, s, e, k),
                4,
            )
        _clean(pred, "clean: NDIR smooth ramp +30 % over 1 h", ramp, 4)
    if only in (None, "stamps"):
        for length in (6, 8):
            for mode in ("exact", "trunc10", "trunc60", "batch10", "batch30"):
                count, total = 0, 0
                for seed in range(3):
                    (ts, g, t, h), k = transients(np.random.default_rng(seed), length, mode)
                    count += len(announced(pred, ts, g, t, h))
                    total += k
                print(
                    f"{f'clean: {length}-reading x2 transients, 1 Hz, stamps {mode}':58s} "
                    f"{count:3d} leak alerts for {total} transients in 12 device-h"
                )
        for x in (1.3, 2.0):
            for mode in ("exact", "trunc10", "trunc60", "batch30"):
                delays = []
                for seed in range(3):
                    rng = np.random.default_rng(seed)
                    g = 420 + rng.normal(0, 4, 5400)
                    on = 3600 + 7 * seed
                    g[on:] *= x
                    ts = stamped(np.arange(5400, dtype=float), mode)
                    flat = np.full(5400, 22.0)
                    a = announced(pred, ts, g, flat, flat + 23.0)
                    delays.append(
                        next((r - on for r in a if r >= on), None)
                        if not [r for r in a if r < on]
                        else "early"
                    )
                name = f"leak: x{x:g} step, 1 Hz, stamps {mode}"
                print(f"{name:58s} readings to the alert {delays}")
    if only in (None, "growth"):
        raised = total = 0
        for dt in (1.0, 15.0, 60.0):
            for first in (0.08, 0.12, 0.16):
                for after in (600.0, 2400.0, 7200.0):
                    for x in (1.3, 1.5, 2.0):
                        got = 0
                        for seed in range(3):
                            (ts, g, t, h), at = growth(
                                np.random.default_rng(seed), dt, first, after, x
                            )
                            a = announced(pred, ts, g, t, h)
                            got += any(ts[r] >= at for r in a)
                        raised, total = raised + got, total + 3
                        if got < 3:
                            name = (
                                f"leak: +{first:.0%} then x{x:g} {after / 60:g} min later, {dt:g} s"
                            )
                            print(f"{name:58s} raised {got} of 3")
        print(f"leaks that grow: {raised} of {total} raised after they grew")
    if only in (None, "lowstart"):
        _lowstart(pred)
    if only in (None, "quant"):
        _quant(pred)
    if only in (None, "hold"):
        _hold(pred)
    if only in (None, "days"):
        _days(pred)
    if only in (None, "wakeups"):
        _wakeups(pred)
    if only in (None, "resend"):
        _resend(pred)
    if only in (None, "bursts"):
        _bursts(pred)
    if only in (None, "stalls"):
        _stalls(pred)
    if only in (None, "doors"):
        _doors(pred)
    if only in (None, "alarmmode"):
        _alarm_mode(pred)


if __name__ == "__main__":
    main()
