"""Built-in simulator: clean indoor air with occasional leaks, for the demo and tests.

The background is synthetic (no recording is shipped): gas as an eCO2-like MOX signal near
420 ppm with AR(1) noise and slow drift, temperature near 21 °C, humidity near 45 %RH. Leaks
are added by :class:`app.training.leaks.LeakInjector`, the same injector the model was trained on
real backgrounds with, so the sensor response (lag, noise, cross-sensitivity) matches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.training.leaks import LeakEvent, LeakInjector


@dataclass(frozen=True)
class SimSegment:
    """One simulated stretch of a device: ``series`` (n, 3) float64 gas_ppm, °C, %RH at
    1 Hz; ``labels`` (n,) uint8, 1 while a leak is present; ``leak`` the event or None."""

    series: np.ndarray
    labels: np.ndarray
    leak: LeakEvent | None


def clean_air(n: int, rng: np.random.Generator) -> np.ndarray:
    """Synthetic clean indoor air, (n, 3) float64 at 1 Hz.

    Gas: 420 ppm + AR(1) noise (phi 0.95, sd 4 ppm) + drift of up to ±10 ppm over the
    segment, clipped at the SGP30 floor of 400 ppm. Temperature 21 ± 0.5 °C, RH 45 ± 2 %.
    """
    noise = np.empty(n)
    e = rng.normal(0.0, 4.0 * np.sqrt(1 - 0.95**2), n)
    acc = 0.0
    for i in range(n):
        acc = 0.95 * acc + e[i]
        noise[i] = acc
    drift = np.linspace(0.0, rng.uniform(-10, 10), n)
    gas = np.maximum(400.0, 420.0 + noise + drift)
    t = np.arange(n)
    temp = 21.0 + 0.5 * np.sin(2 * np.pi * t / 3600 + rng.uniform(0, 6.28)) + rng.normal(0, 0.05, n)
    rh = 45.0 + 2.0 * np.sin(2 * np.pi * t / 5400 + rng.uniform(0, 6.28)) + rng.normal(0, 0.2, n)
    return np.column_stack([gas, temp, rh])


def segment(n: int, *, seed: int, leak: bool, onset: int | None = None) -> SimSegment:
    """A segment of ``n`` readings, with one ramp-to-plateau leak when ``leak``.

    The leak starts at ``onset`` (default: a random point after the first 90 readings),
    lasts 90-240 readings, and reaches 2-20x the background (log-ratio 0.7-3).

    Raises:
        ValueError: ``n`` too short to hold the leak.
    """
    rng = np.random.default_rng(seed)
    bg = clean_air(n, rng)
    if not leak:
        return SimSegment(bg, np.zeros(n, dtype=np.uint8), None)
    duration = int(rng.integers(90, 241))
    start = onset if onset is not None else int(rng.integers(90, max(91, n - duration)))
    if start + duration > n:
        raise ValueError(f"segment of {n} readings cannot hold a leak at {start}+{duration}")
    event = LeakEvent("ramp", start, duration, float(rng.uniform(0.7, 3.0)))
    res = LeakInjector().inject(bg, seed=rng, events=[event])
    return SimSegment(res.series, res.labels, event)
