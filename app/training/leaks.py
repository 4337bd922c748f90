"""Seeded gas-leak injector for real clean-air backgrounds.

A leak adds gas on top of a recorded background (T, 3) = (gas, °C, %RH). It is modelled in
log-ratio units, the unit the detector sees: a plateau ``amplitude`` A means the gas reading
becomes ``(gas + 1) * exp(A) - 1`` (A = 0.1 ≈ +10 %, barely detectable; A = 1 ≈ 2.7×;
A = 5 ≈ 150×, e.g. 400 -> 60,000 ppm eCO2, the SGP30 ceiling). ``amplitude_from_std`` turns
"k background standard deviations" into A.

Sensor physics (assumptions, not measurements from these data):
- First-order sensor response with time constant ``tau_s`` (default 10 s, i.e. t90 ≈ 23 s).
  Metal-oxide (MOX) datasheets quote response times of tens of seconds (e.g. Figaro TGS2600
  and Sensirion SGP30 document responses on that scale); the lag is applied to the log signal,
  which matches the power-law (log-linear) MOX response. For hourly data the lag vanishes.
- Multiplicative noise on the leak response (``noise_frac``): turbulent mixing.
- Cross-sensitivity: the response is scaled by ``1 + cross_t*(T-20) + cross_rh*(RH-50)``
  (defaults -0.005 per °C and per %RH: MOX sensitivity falls in warm, humid air), clipped to
  [0.5, 1.5].

Public API: ``LeakEvent``, ``InjectionResult``, ``LeakInjector`` (``sample_events``,
``inject``), ``amplitude_from_std``, ``SHAPES``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SHAPES: tuple[str, ...] = ("ramp", "puffs", "seep")


@dataclass(frozen=True)
class LeakEvent:
    """One leak: ``shape`` in SHAPES, first reading ``onset``, ``duration`` readings, plateau
    ``amplitude`` in log-ratio units (> 0)."""

    shape: str
    onset: int
    duration: int
    amplitude: float


@dataclass(frozen=True)
class InjectionResult:
    """series (T, 3) float64 copy with leaks; labels (T,) uint8, 1 from each onset to its end;
    response (T,) float64 the leak's contribution to log gas after sensor lag; events."""

    series: np.ndarray
    labels: np.ndarray
    response: np.ndarray
    events: tuple[LeakEvent, ...]

    @property
    def onsets(self) -> np.ndarray:
        """(n_events,) int64 onset indices."""
        return np.array([e.onset for e in self.events], dtype=np.int64)


def amplitude_from_std(background_gas: np.ndarray, k: float) -> float:
    """Log-ratio amplitude of a leak adding ``k`` standard deviations of the background gas to
    its median: ``log1p(k * std / (median + 1))``."""
    g = np.asarray(background_gas, dtype=np.float64)
    return float(np.log1p(k * g.std() / (np.median(g) + 1.0)))


def _source(ev: LeakEvent, rng: np.random.Generator) -> np.ndarray:
    """Source profile (duration,) in log-ratio units, before sensor lag."""
    d, a = ev.duration, ev.amplitude
    t = np.arange(1, d + 1, dtype=np.float64)
    if ev.shape == "ramp":
        ramp = max(1.0, d * rng.uniform(0.02, 0.3))
        return a * np.minimum(1.0, t / ramp)
    if ev.shape == "seep":
        return a * (1.0 - np.exp(-3.0 * t / d))
    if ev.shape == "puffs":
        out, i = np.zeros(d), 0
        while i < d:
            on = int(rng.integers(3, 31))
            out[i : i + on] = a * rng.uniform(0.5, 1.0)
            i += on + int(rng.integers(3, 61))
        return out
    raise ValueError(f"unknown leak shape {ev.shape!r}; use one of {SHAPES}")


@dataclass(frozen=True)
class LeakInjector:
    """Parameters of the injector (durations and gaps in readings, tau in seconds)."""

    dt_s: float = 1.0
    shapes: tuple[str, ...] = SHAPES
    amplitude_range: tuple[float, float] = (0.1, 5.0)  # log-ratio, sampled log-uniformly
    duration_range: tuple[int, int] = (60, 600)
    gap_range: tuple[int, int] = (120, 900)
    tau_s: float = 10.0
    noise_frac: float = 0.05
    cross_t: float = -0.005
    cross_rh: float = -0.005

    def sample_events(self, n_readings: int, rng: np.random.Generator) -> list[LeakEvent]:
        """Non-overlapping events over a series of ``n_readings``, separated by random gaps."""
        lo, hi = np.log(self.amplitude_range[0]), np.log(self.amplitude_range[1])
        events: list[LeakEvent] = []
        t = int(rng.integers(*self.gap_range))
        while True:
            d = int(rng.integers(self.duration_range[0], self.duration_range[1] + 1))
            if t + d > n_readings:
                return events
            shape = str(rng.choice(self.shapes))
            events.append(LeakEvent(shape, t, d, float(np.exp(rng.uniform(lo, hi)))))
            t += d + int(rng.integers(*self.gap_range))

    def inject(
        self,
        background: np.ndarray,
        *,
        seed: int | np.random.Generator = 0,
        events: list[LeakEvent] | None = None,
    ) -> InjectionResult:
        """Add leaks to a background (T, 3) float (gas >= 0, °C, %RH); the input is not changed.

        Args:
            background: (T, 3) real clean recording, time order, spacing ``dt_s``.
            seed: int seed or Generator; same seed and background -> same result.
            events: leaks to inject; sampled with ``sample_events`` when None.

        Raises:
            ValueError: bad shape, unknown leak shape, or an event outside the series.
        """
        bg = np.array(background, dtype=np.float64)
        if bg.ndim != 2 or bg.shape[1] != 3:
            raise ValueError(f"background must be (T, 3), got {bg.shape}")
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        n = len(bg)
        evs = self.sample_events(n, rng) if events is None else list(events)
        src, labels = np.zeros(n), np.zeros(n, dtype=np.uint8)
        for ev in evs:
            if ev.onset < 0 or ev.onset + ev.duration > n or ev.amplitude <= 0:
                raise ValueError(f"event {ev} does not fit a series of {n} readings")
            src[ev.onset : ev.onset + ev.duration] = _source(ev, rng)
            labels[ev.onset : ev.onset + ev.duration] = 1
        resp = self._sensor(src, bg, rng)
        out = bg.copy()
        out[:, 0] = (np.maximum(bg[:, 0], 0.0) + 1.0) * np.exp(resp) - 1.0
        return InjectionResult(out, labels, resp, tuple(evs))

    def _sensor(self, src: np.ndarray, bg: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """First-order lag, cross-sensitivity and noise applied to the source (T,)."""
        alpha = 1.0 - np.exp(-self.dt_s / self.tau_s)
        lagged, y = np.empty_like(src), 0.0
        for i, s in enumerate(src):
            y += alpha * (s - y)
            lagged[i] = y
        gain = 1.0 + self.cross_t * (bg[:, 1] - 20.0) + self.cross_rh * (bg[:, 2] - 50.0)
        noise = 1.0 + self.noise_frac * rng.standard_normal(len(src))
        return np.maximum(lagged * np.clip(gain, 0.5, 1.5) * noise, 0.0)
