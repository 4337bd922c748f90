"""Random clean sensors that no dataset or issue names, through the service's own signal
model, model, evidence gate and leak policy (offline, as ``bench.detection_probe``): prints
each sensor that raises a leak alert, and how many of N did. Every sensor is clean air, so
every alert is a false alarm.

    python -m bench.clean_fuzz [N] [SEED] [--svm] [--below-zero]   (500 sensors, seed 11)

``--below-zero`` shifts each sensor's readings by -1.5 times their median (a raw mV or
counts output with a negative offset: the same clean air, its level below 0).

A sensor: a clean level of 1-20,000 gas units, a reading every 1 s to 1 min for 1-24 h, one
kind of clean variation (a sine of +-5-30 % with a 5 min to 24 h period; a temperature or
humidity swing the gas follows; lone spikes of -100 % to +400 % at 0.2-3 % of readings; a
drift; AR(1) wander of 2-10 %; people's CO2 with RH and T, +5-40 %), white noise of 0.5-10 %
and, for one in five, readings rounded to whole units (or tens).
"""

from __future__ import annotations

import sys

import numpy as np

from app.ml.predictor import load_predictor
from bench.detection_probe import ROOT, episodes


def _variation(
    rng: np.random.Generator,
    g: np.ndarray,
    t_c: np.ndarray,
    rh: np.ndarray,
    t_s: np.ndarray,
    dt: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """One kind of clean variation applied to gas ``g`` (n,), °C ``t_c`` and %RH ``rh`` at
    times ``t_s`` (n,) s, a reading every ``dt`` s: (gas, °C, %RH, its name)."""
    n = len(g)
    k = int(rng.integers(0, 7))
    if k == 0:
        amp, per = (
            float(rng.uniform(0.05, 0.3)),
            float(rng.choice([300, 900, 1800, 3600, 7200, 86400])),
        )
        return (
            g * (1 + amp * np.sin(2 * np.pi * t_s / per + rng.uniform(0, 6.3))),
            t_c,
            rh,
            f"sine {amp:.2f} {per:.0f} s",
        )
    if k in (1, 2):  # temperature (k 1) or humidity (k 2) swings, the gas following them
        span, sens_range = ((2, 8), (0.01, 0.04)) if k == 1 else ((10, 35), (0.005, 0.015))
        amp, per = float(rng.uniform(*span)), float(rng.choice([1800, 7200, 86400]))
        sens = float(rng.uniform(*sens_range))
        swing = amp * np.sin(2 * np.pi * t_s / per)
        if k == 1:
            t_c = t_c + swing
        else:
            rh = rh + swing
        what = f"T swing {amp:.1f} C" if k == 1 else f"RH swing {amp:.0f} %RH"
        return g * (1 + sens * swing), t_c, rh, f"{what}, {sens:.3f}/unit, {per:.0f} s"
    if k == 3:
        r, amp = float(rng.choice([0.002, 0.01, 0.03])), float(rng.choice([0.3, 1.0, 4.0, -1.0]))
        spiked = rng.random(n) < r
        return (
            np.where(spiked, np.maximum(0, g * (1 + amp)), g),
            t_c,
            rh,
            f"lone spikes {amp:+.1f}x at {r}",
        )
    if k == 4:
        drift = float(rng.uniform(-0.5, 0.5))
        return g * np.exp(drift * t_s / t_s[-1]), t_c, rh, f"drift {drift:+.2f} (log)"
    if k == 5:
        e, z = np.zeros(n), rng.normal(0, 1, n)
        for i in range(1, n):
            e[i] = 0.99 * e[i - 1] + z[i]
        a = float(rng.uniform(0.02, 0.1))
        return g * (1 + a * e / (e.std() + 1e-9)), t_c, rh, f"AR(1) wander {a:.2f}"
    occupied = ((t_s % 7200) > 1800) & ((t_s % 7200) < 5400)
    rise, x = float(rng.uniform(0.05, 0.4)), np.zeros(n)
    for i in range(1, n):
        x[i] = x[i - 1] + (dt / 600.0) * ((rise if occupied[i] else 0.0) - x[i - 1])
    return g * (1 + x), t_c + 3 * x, rh + 20 * x, f"occupancy +{rise:.2f}"


def sensor(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, str]:
    """One random clean sensor: (gas (n,), °C (n,), %RH (n,), reading interval s, name)."""
    level = float(rng.choice([1.0, 3.0, 10.0, 50.0, 400.0, 450.0, 2000.0, 20000.0]))
    dt = float(rng.choice([1, 1, 1, 2, 5, 10, 30, 60]))
    hours = float(rng.choice([1, 2, 4])) if dt < 10 else float(rng.choice([6, 12, 24]))
    n = int(hours * 3600 / dt)
    t_s = np.arange(n) * dt
    g = np.full(n, level)
    t_c = 22.0 + rng.normal(0, 0.05, n)
    rh = 45.0 + rng.normal(0, 0.2, n)
    sd = float(rng.choice([0.005, 0.01, 0.02, 0.05, 0.1]))
    g, t_c, rh, kind = _variation(rng, g, t_c, rh, t_s, dt)
    g = g * (1 + sd * rng.normal(size=n))
    name = f"level {level:g}, every {dt:g} s, {hours:g} h: {kind}, noise {sd}"
    if rng.random() < 0.2:
        q = float(rng.choice([1.0, 10.0])) if level >= 10 else 1.0
        g = np.round(g / q) * q
        name += f", rounded to {q:g}"
    return np.maximum(g, 0.0), t_c, rh, dt, name


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n, seed = (int(args[0]) if args else 500), (int(args[1]) if len(args) > 1 else 11)
    pred = load_predictor(ROOT / "artifacts", use_torch="--svm" not in sys.argv)
    rng, bad = np.random.default_rng(seed), 0
    for j in range(n):
        g, t_c, rh, dt, name = sensor(rng)
        if "--below-zero" in sys.argv:
            g = g - 1.5 * float(np.median(g))
        raised = episodes(pred, g, t_c, rh, dt)[0]
        if raised:
            bad += 1
            print(
                f"sensor {j} ({name}): leak alerts at rows {raised[:5]} ({len(raised)})", flush=True
            )
    print(f"model {pred.model_type}: {bad} of {n} clean sensors raised a leak alert")


if __name__ == "__main__":
    main()
