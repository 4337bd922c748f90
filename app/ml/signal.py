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
  baseline compensation: gas only adds to clean air).
- **Noise scale**: an exponentially weighted mean absolute deviation from the level, clipped
  like the level, times sqrt(pi/2) (mean absolute deviation -> standard deviation for
  Gaussian noise), floored at ``rel_floor`` of the level (sensor resolution: smoke_iot's
  SGP30 has sd ~ 5 ppm at its 400 ppm floor, 1.25 %; methane_chamber_afc's Figaro sensor
  1.4826 * MAD = 2.2 mV at 165 mV, 1.3 %).
- **Floors from the data**: the scale is never below the tracked 97.5 % quantile of the
  baseline-relative signal over ``z_hold`` (so at least 97.5 % of clean readings stand below
  the evidence bound), nor below the sensor's **resolution**, the smallest non-zero step
  between two consecutive raw readings seen. The quantile starts at that of the warm-up
  readings and follows with a Robbins-Monro step (Robbins & Monro 1951; ``TAIL_GAIN`` scales
  per time constant; readings far above are excluded, as from the scale). Without them the
  MAD collapses on sensors whose clean air sits on a floor or moves in whole steps: a methane
  or %LEL sensor reading 0-5 ppm (half its readings 0), an integer-ppm sensor toggling 0/1.
  The scale fell to 0.1 or the 0.001 floor, ordinary readings stood tens to thousands of
  scales up, and such probes raised 39 and 30 false leak alarms in one clean hour
  (``bench.detection_probe``). For Gaussian noise neither floor binds (the quantile over 4 is
  half a standard deviation), so ordinary sensors see no change.
- **Slow sampling**: every time constant is at least ``min_memory`` readings long, so an
  hourly device (air_quality_uci) keeps 30 readings of memory instead of forgetting its
  noise scale between two readings.
- **Warm-up**: the first ``warmup`` readings after a (re)start are not scored; then the
  level starts at their median and the scale at 1.4826 * MAD (the consistency constant of
  the MAD for Gaussian data, Rousseeuw & Croux 1993).
- **Gap**: a reading more than ``max(gap_min_s, gap_factor * typical interval)`` after the
  previous one restarts the warm-up: a level learned hours ago says little about the sensor
  now (methane_chamber_afc's logger pauses for 3 h and comes back 30 % higher).
- **Evidence**: a leak alarm needs the gas at least ``z_hold`` noise scales and
  ``min_log_ratio`` (0.2: +22 %) above the level (:func:`app.ml.features.evidence`). The
  second bound is the clean-air wander of real sensors: smoke_iot's label-0 rows reach +17 %
  for a minute and more (rows 53300-54500: 400 -> 472 ppm eCO2), while the real methane
  releases of methane_chamber_afc stand +30 % above their level within 3 min of the
  labelled onset.
- **Ambient**: recent temperature and humidity (``t_level_``, ``rh_level_``: means with time
  constant ``tau_ambient_s``, held with the level). A rise of the gas that a sudden change of
  temperature or humidity can explain is not evidence of gas: up to ``sens_t_per_c`` per °C plus
  ``sens_rh_per_pct`` per %RH in log ratio. Source: least-squares fits of 2-minute changes of
  log CH4_1 on 2-minute changes of T and RH over methane_chamber_afc session 0 (a Figaro
  methane sensor; a person at the chamber or a door moves RH and the sensor together): 0.0175
  / °C and 0.0065 / %RH on its first part (890 readings), 0.033 and 0.015 on the night (37,131
  readings; the levels fit gives 0.037 and 0.020). The smallest is used: it removes only what
  an ambient change surely explains, since the sensor's humidity response lags (in session 1
  RH rose 10 %RH before the first injection and the signal only 7 %).
- **Hold**: while a leak episode is open (:meth:`DeviceSignal.hold`) neither the level nor
  the scale moves up, so a persistent leak never becomes the baseline. Without an episode,
  readings ``z_hold`` or more noise scales up never grow the scale, and move the level up
  by at most ``huber_c`` scales per ``tau_up_s`` (a benign level shift is learned in hours;
  a leak the model flags is held from its first alert).

Gas readings are first passed through a running median of three (Tukey 1977), so a single
implausible reading never reaches the level, the scale or the model; a real step is seen one
reading later.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass
from typing import Any

import numpy as np

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


@dataclass(frozen=True, slots=True)
class SignalConfig:
    """Parameters of :class:`DeviceSignal` (stored in the model manifest; see module doc)."""

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


class DeviceSignal:
    """The online signal model of one device.

    Learned state ends in ``_``: ``level_``, ``scale_`` (gas units), ``n_`` (readings since
    the last (re)start), ``dt_`` (typical reading interval, s), ``held_`` (an open leak
    episode holds the level).
    """

    __slots__ = (
        "cfg",
        "level_",
        "scale_",
        "n_",
        "dt_",
        "last_ts_",
        "held_",
        "_r1",
        "_r2",
        "_nrec",
        "_warm",
        "restarts_",
        "t_level_",
        "rh_level_",
        "_dev",
        "tail_",
        "res_",
    )

    def __init__(self, cfg: SignalConfig) -> None:
        self.cfg = cfg
        self.restarts_ = 0
        self.held_ = False
        self.res_ = math.inf
        self._restart(math.nan)
        self.dt_ = math.nan

    def _restart(self, ts: float) -> None:
        self.level_ = math.nan
        self.scale_ = math.nan
        self._dev = math.nan
        self.tail_ = math.nan
        self.t_level_ = math.nan
        self.rh_level_ = math.nan
        self.n_ = 0
        self.last_ts_ = ts
        # the last 2 raw readings (older, newer) and how many there are, for the running
        # median of 3 (slots, not a list: ~100 B less per device)
        self._r1 = self._r2 = math.nan
        self._nrec = 0
        # (filtered gas, T, RH) of each warm-up reading, flat float64, None once warm
        self._warm: array[float] | None = None

    @property
    def warm(self) -> bool:
        """True once the level and scale are established (``warmup`` readings since start)."""
        return self.n_ >= self.cfg.warmup

    def hold(self, on: bool) -> None:
        """Hold (True) or release the level while a leak episode is open."""
        self.held_ = on

    def reset(self) -> None:
        """Forget the level and scale and warm up again (an operator's baseline reset)."""
        self._restart(self.last_ts_)
        self.held_ = False
        self.restarts_ += 1

    def learn_one(
        self, gas: float, ts: float, temp: float = math.nan, rh: float = math.nan
    ) -> tuple[float, float, float, float, float]:
        """Learn one reading.

        Args:
            gas: the reading, gas units (ppm, mV, counts: anything linear in concentration).
            ts: its time, epoch seconds (non-decreasing per device).
            temp: temperature, °C (NaN = unknown: no compensation).
            rh: relative humidity, %RH (NaN = unknown).

        Returns:
            (filtered gas, level, scale, t_level, rh_level) after the reading; all but the
            first are NaN while warming up.
        """
        c = self.cfg
        dt = ts - self.last_ts_ if math.isfinite(self.last_ts_) else math.nan
        if math.isfinite(dt):
            gap = max(c.gap_min_s, c.gap_factor * self.dt_) if math.isfinite(self.dt_) else None
            if gap is not None and dt > gap:
                self._restart(ts)
                self.restarts_ += 1
                dt = math.nan
            elif dt > 0:
                self.dt_ = dt if not math.isfinite(self.dt_) else 0.95 * self.dt_ + 0.05 * dt
        self.last_ts_ = ts
        if self._nrec >= 1:
            step = abs(gas - self._r2)
            if 0.0 < step < self.res_:
                self.res_ = step
        if self._nrec == 2:
            x = sorted((self._r1, self._r2, gas))[1]
        else:
            x = gas
            self._nrec += 1
        self._r1, self._r2 = self._r2, gas
        self.n_ += 1
        if self.n_ <= c.warmup:
            if self._warm is None:
                self._warm = array("d")
            self._warm.extend((x, temp, rh))
            if self.n_ == c.warmup:
                w = np.frombuffer(self._warm, dtype=np.float64).reshape(-1, 3)
                self.level_ = float(np.median(w[:, 0]))
                mad = float(np.median(np.abs(w[:, 0] - self.level_)))
                self._dev = MAD_TO_SD * mad
                self.tail_ = max(float(np.quantile(w[:, 0] - self.level_, TAIL_Q)), 0.0)
                self.scale_ = max(self._dev, self.tail_ / c.z_hold, self._floor(self.level_))
                self.t_level_ = float(np.median(w[:, 1]))
                self.rh_level_ = float(np.median(w[:, 2]))
                del w
                self._warm = None
        else:
            self._update(x, dt if math.isfinite(dt) else 0.0, temp, rh)
        return x, self.level_, self.scale_, self.t_level_, self.rh_level_

    def _floor(self, level: float) -> float:
        res = self.res_ if math.isfinite(self.res_) else 0.0
        return max(self.cfg.rel_floor * abs(level), self.cfg.abs_floor, res)

    def _update(self, x: float, dt: float, temp: float, rh: float) -> None:
        c = self.cfg
        r = x - self.level_
        if r > 0 and self.held_:
            return  # a leak episode is open: nothing moves up
        lim = c.huber_c * self.scale_
        psi = min(max(r, -lim), lim)  # Huber: one reading moves the level <= lim * dt/tau
        self.level_ += self._rate(dt, c.tau_up_s if psi > 0 else c.tau_down_s) * psi
        a = self._rate(dt, c.tau_ambient_s)
        if math.isfinite(temp) and math.isfinite(self.t_level_):
            self.t_level_ += a * (temp - self.t_level_)
        if math.isfinite(rh) and math.isfinite(self.rh_level_):
            self.rh_level_ += a * (rh - self.rh_level_)
        a = self._rate(dt, c.tau_scale_s)
        if r < c.z_hold * self.scale_:  # far above is not noise: the scale does not grow
            target = MEAN_ABS_TO_SD * min(abs(r), lim)
            self._dev += a * (target - self._dev)
        # The tail learns from readings up to twice itself as well: where it sets the scale,
        # z_hold scales is the tail itself, and a bound there would stop it ever rising.
        if r < max(c.z_hold * self.scale_, TAIL_REACH * self.tail_):
            step = TAIL_GAIN * a * self.scale_
            self.tail_ = max(0.0, self.tail_ + step * ((r > self.tail_) - (1.0 - TAIL_Q)))
        self.scale_ = max(self._dev, self.tail_ / c.z_hold, self._floor(self.level_))

    def _rate(self, dt: float, tau: float) -> float:
        """Weight of one reading in a mean with time constant ``tau``, at most
        1 / ``min_memory``: a slowly sampled device (hourly) keeps a memory of that many
        readings instead of forgetting everything between two readings."""
        return min(1.0 - math.exp(-dt / tau), 1.0 / self.cfg.min_memory)

    def score_one(self, gas: float) -> float:
        """How far ``gas`` stands above the level, in noise scales (NaN while warming up)."""
        if not self.warm:
            return math.nan
        return (gas - self.level_) / self.scale_

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
        shape (T, 5) float64: filtered gas, level, scale, t_level and rh_level after each
        reading (all but the first NaN while warming up).
    """
    s = np.asarray(series, dtype=np.float64)
    if s.ndim == 1:
        s = np.c_[s, np.full(len(s), np.nan), np.full(len(s), np.nan)]
    sig = DeviceSignal(cfg or SignalConfig())
    out = np.empty((len(s), 5))
    for i, (row, t) in enumerate(zip(s.tolist(), np.asarray(ts, float).tolist(), strict=True)):
        out[i] = sig.learn_one(row[0], t, row[1], row[2])
    return out
