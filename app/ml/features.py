"""Pure window functions shared by training and inference.

A *window* is ``np.ndarray`` float32 of shape (B, WINDOW, 3) in physical units, columns
``FEATURES`` = (gas, temperature °C, humidity %RH), oldest reading first. Its *signal* is the
device's gas level and noise scale (and the temperature and humidity levels) at the window's
last reading, shape (B, 2) or (B, 4) (``app.ml.signal``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from app.ml.signal import SignalConfig

FEATURES: tuple[str, str, str] = ("gas_ppm", "temperature_c", "humidity_pct")
WINDOW = 60
#: Readings at the end of a window that count as "now" (label and hand features).
RECENT = 10
#: The gas log-ratio is clipped to [-LOG_RATIO_CLIP, LOG_RATIO_CLIP] (e^6 ≈ 400× the level).
LOG_RATIO_CLIP = 6.0
#: Model input channels, in order (see :func:`preprocess`).
CHANNELS: tuple[str, ...] = ("gas_log_ratio", "gas_asinh_z", "temperature_dev", "humidity_dev")
#: Keys of the normalisation dict (fitted on training windows, stored in the manifest): the
#: spread of temperature and humidity around each window's own mean.
NORM_KEYS = ("temperature_dev_std", "humidity_dev_std")

PREPROCESSING = (
    "gas g: running median of 3 along the window (one implausible reading never reaches the "
    "model); channel 0: clip(log((g+1)/(level+1)), -6, 6); channel 1: asinh((g - level) / "
    "scale), the rise in the device's own noise scales; channels 2, 3: temperature and "
    "humidity minus their window mean, over their training spread (absolute T/RH levels "
    "differ between rooms and say nothing about a leak); level and scale from the device's "
    "online signal model (app.ml.signal) at the window's last reading"
)


def _check_windows(windows: np.ndarray, signal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w = np.asarray(windows, dtype=np.float64)
    b = np.asarray(signal, dtype=np.float64)
    if w.ndim != 3 or w.shape[2] != len(FEATURES):
        raise ValueError(f"windows must have shape (B, window, {len(FEATURES)}), got {w.shape}")
    if b.ndim != 2 or b.shape[0] != w.shape[0] or b.shape[1] not in (2, 4, 5):
        raise ValueError(
            f"signal must have shape ({w.shape[0]}, 2) (level, scale), "
            f"({w.shape[0]}, 4) (+ t_level, rh_level) or ({w.shape[0]}, 5) (+ the gate's "
            f"log-ratio bound), got {b.shape}"
        )
    return w, b


def median3(gas: np.ndarray) -> np.ndarray:
    """Running median of three along the last axis (causal: element t is the median of
    t-2, t-1, t; the first two elements are kept). Removes any single-reading spike.

    Args:
        gas: (..., T) float.

    Returns:
        float64 array of the same shape.
    """
    g = np.asarray(gas, dtype=np.float64)
    out = g.copy()
    if g.shape[-1] >= 3:
        out[..., 2:] = np.median(np.stack([g[..., :-2], g[..., 1:-1], g[..., 2:]]), axis=0)
    return out


def fit_norm(windows: np.ndarray) -> dict[str, float]:
    """Spread of temperature and humidity around each window's mean, over training windows
    (B, window, 3) physical units -> NORM_KEYS dict (°C, %RH)."""
    w = np.asarray(windows, dtype=np.float64)
    t = w[:, :, 1] - w[:, :, 1].mean(1, keepdims=True)
    h = w[:, :, 2] - w[:, :, 2].mean(1, keepdims=True)
    return {
        "temperature_dev_std": float(max(t.std(), 0.05)),
        "humidity_dev_std": float(max(h.std(), 0.1)),
    }


def gas_rise(windows: np.ndarray, signal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How far the (median-of-3 filtered) last gas reading of each window stands above its
    device's level: (log ratio (B,), noise scales (B,)), float64."""
    w, b = _check_windows(windows, signal)
    last = median3(w[:, -3:, 0])[:, -1] if w.shape[1] >= 3 else w[:, -1, 0]
    lr = np.log((np.maximum(last, 0.0) + 1.0) / (np.maximum(b[:, 0], 0.0) + 1.0))
    return lr, (last - b[:, 0]) / b[:, 1]


def _explained(d_t: np.ndarray | float, d_rh: np.ndarray | float, cfg: SignalConfig) -> Any:
    """``sens_t_per_c * |d_t| + sens_rh_per_pct * |d_rh|`` (log ratio) for changes of
    temperature ``d_t`` (°C) and humidity ``d_rh`` (%RH), 0 where either is unknown (NaN);
    an array for arrays, a NumPy scalar for scalars.

    Each change counts by its size, whatever its sign: the fits behind both factors
    (:class:`SignalConfig`) are positive on methane_chamber_afc, but a sensor's sign is its
    own. Tried 1 Dec and reverted the same day (newcomers): counting only rises raised a
    x1.3 leak that arrived as the room dried -25 %RH (missed with sizes), but raised a
    critical false alarm at every cold draft on a clean sensor that reads higher when
    colder (+36 % for -8 °C: 3 of 3 door openings, every seed), and counting each change by
    its sign raised a real one on smoke_iot rows 51147-55975 (heating: T up, RH down, eCO2
    up). A false alarm at every door opening gets the alarm switched off; a small leak
    that happens to arrive with a large ambient change is the rarer loss."""
    out = cfg.sens_t_per_c * np.abs(d_t) + cfg.sens_rh_per_pct * np.abs(d_rh)
    return np.nan_to_num(out, nan=0.0)


def ambient_explained(windows: np.ndarray, signal: np.ndarray, cfg: SignalConfig) -> np.ndarray:
    """The log ratio a change of temperature and humidity since the level was learned can
    explain: ``sens_t_per_c * |T - t_level| + sens_rh_per_pct * |RH - rh_level|`` at each
    window's last reading, (B,) float64 (0 where the ambient levels are unknown)."""
    w, b = _check_windows(windows, signal)
    if b.shape[1] < 4:
        return np.zeros(len(w))
    out = _explained(w[:, -1, 1] - b[:, 2], w[:, -1, 2] - b[:, 3], cfg)
    return np.asarray(out, dtype=np.float64)


def ambient_allowance(
    temp: float, rh: float, t_level: float, rh_level: float, cfg: SignalConfig
) -> float:
    """:func:`ambient_explained` for one reading: the log ratio a change of temperature
    (``temp`` against ``t_level``, °C) and humidity (``rh`` against ``rh_level``, %RH) can
    explain, 0.0 where any of them is unknown (NaN)."""
    return float(_explained(temp - t_level, rh - rh_level, cfg))


def sustained_rise(windows: np.ndarray, signal: np.ndarray, cfg: SignalConfig) -> np.ndarray:
    """The evidence gate's second route (off while ``cfg.sustain_readings`` is 0): (B,) bool,
    True where every one of the last ``sustain_readings`` (median-of-3 filtered) gas readings
    of the window stands at least ``cfg.sustain_z`` noise scales AND ``cfg.sustain_log_ratio``
    (after :func:`ambient_explained`) above the device's level.

    The lowest reading of the run is tested, not the last: a rise that keeps dipping back to
    the level (noise, a wave, a draught) never passes, a persistent one does at a lower
    relative bound than the first route's ``min_log_ratio``. The model's probability still
    decides (:func:`app.ml.predictor.leak_scores`). Measured (``python -m bench.gate_sweep
    --sustained``, README's gate-sweep section), not shipped on: 30 readings, 2-3 scales,
    +15 % raise recall >= 3 sd on the 1 Hz benchmark from 0.49 to 0.54 (10 replicates; all
    of it leaks >= 10 sd) with no new alarm on a real clean stretch or a clean probe, but one
    on the room-filling probe (people's CO2, 450 -> 612 ppm in 4.5 min); no setting catches a
    3-10 sd leak, and lower bounds (+10-12 %) alarm on the clean +15 % step probe.

    Args:
        windows: (B, T, 3) physical. signal: (B, 4) level, scale, t_level, rh_level (or
        (B, 2)). cfg: the model's signal parameters.
    """
    w, b = _check_windows(windows, signal)
    n = min(int(cfg.sustain_readings), w.shape[1])
    if n <= 0:
        return np.zeros(len(w), dtype=bool)
    low = median3(w[:, :, 0])[:, -n:].min(axis=1)
    lr = np.log((np.maximum(low, 0.0) + 1.0) / (np.maximum(b[:, 0], 0.0) + 1.0))
    lr = lr - ambient_explained(windows, signal, cfg)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (low - b[:, 0]) / b[:, 1]
        return np.asarray((z >= cfg.sustain_z) & (lr >= cfg.sustain_log_ratio), dtype=bool)


#: Factor on ``z_hold`` for a device whose level is under :data:`FLOOR_LEVEL` (a methane or
#: %LEL sensor reading 0-5 ppm in clean air, at its 0 floor). There the log-ratio bound is met
#: by any reading of a few gas units, so only the scale bound stood, and about 2.5 % of clean
#: windows pass it by design (the scale's tail floor is the 97.5 % quantile): a floored
#: sensor (sd 2 ppm) raised 5 leak alerts in 45 seeded device-hours at readings of 2-5 ppm
#: (newcomer of 1 Dec, ``bench.detection_probe``'s floored probe over 30 seeds).
FLOOR_Z_FACTOR = 2.0
#: Level (gas units) under which a device sits at its 0 floor: the log ratio's offset
#: (:func:`gas_rise`). A first try, a level within ``z_hold`` scales of 0, also caught
#: devices whose warm-up saw a fire (level 800 ppm, scale 300): the gas-fire delay went
#: 116 -> 195 s.
FLOOR_LEVEL = 1.0


def needed_z(level: Any, cfg: SignalConfig) -> Any:
    """The gate's scale bound for a device at ``level`` (gas units; an array or a float):
    ``z_hold``, times :data:`FLOOR_Z_FACTOR` under a level of :data:`FLOOR_LEVEL`."""
    with np.errstate(invalid="ignore"):
        return np.where(np.asarray(level) < FLOOR_LEVEL, FLOOR_Z_FACTOR * cfg.z_hold, cfg.z_hold)


def evidence(windows: np.ndarray, signal: np.ndarray, cfg: SignalConfig) -> np.ndarray:
    """The leak evidence gate: (B,) bool, True where the last (filtered) gas reading stands
    at least ``cfg.z_hold`` noise scales AND ``cfg.min_log_ratio`` above the device's level,
    after removing what the temperature and humidity change since the level was learned can
    explain (:func:`ambient_explained`).

    A leak alarm needs both: significant for this device (noise scales) and large enough to
    be gas rather than the clean-air wander every real recording shows (``min_log_ratio``;
    see :class:`app.ml.signal.SignalConfig`). NaN signal (warming up) gives False. With
    ``cfg.sustain_readings`` > 0 a persistent smaller rise opens it too
    (:func:`sustained_rise`; off by default), with ``cfg.jump_readings`` > 0 a step over the
    window's own wander (:func:`step_rise`; off by default). Under a level of
    :data:`FLOOR_LEVEL` the scale bound is :data:`FLOOR_Z_FACTOR` times ``z_hold``; at a
    level at or below 0 (a raw mV or counts output with a negative offset) it stands alone:
    the log ratio clips gas and level at 0, so a leak on such a device (-200 -> -100 mV)
    never met the ratio bound and was never raised (newcomer of 1 Dec 06:30).

    Args:
        windows: (B, T, 3) physical. signal: (B, 4) level, scale, t_level, rh_level (or
        (B, 2): no ambient compensation; or (B, 5): + the ratio bound in force, the signal
        model's ``ratio_bound``, larger while the device settles). cfg: the model's signal
        parameters.
    """
    lr, z = gas_rise(windows, signal)
    lr = lr - ambient_explained(windows, signal, cfg)
    b = np.asarray(signal, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        bound = np.fmax(b[:, 4], cfg.min_log_ratio) if b.shape[1] > 4 else cfg.min_log_ratio
        # a level at or below 0 (a raw mV or counts output with a negative offset): no
        # ratio exists (the log ratio clips both at 0), so the doubled scale bound stands alone
        ratio = (lr >= bound) | (b[:, 0] <= 0.0)
        # a level under 1 gas unit (a sensor at its 0 floor): the ratio bound, whose offset
        # is 1 gas unit, is met by any reading of a few units, so the scale bound doubles
        gate = (z >= needed_z(b[:, 0], cfg)) & ratio
    if cfg.sustain_readings > 0:
        gate |= sustained_rise(windows, signal, cfg)
    if cfg.jump_readings > 0:
        gate |= step_rise(windows, signal, cfg, lr)
    return np.asarray(gate, dtype=bool)


def trailing(windows: np.ndarray, signal: np.ndarray, cfg: SignalConfig) -> np.ndarray:
    """Windows whose evidence gate (:func:`evidence`) is open only through the running median
    of three: the last reading itself, taken alone, would leave it closed. (B,) bool.

    Such a window is the trailing edge of a rise (the first reading back down, whose median
    still takes the two high readings before it) or the reading after a lost packet or a
    pause that follows a rise. The alert policy keeps it in a run of high windows but does
    not let it lengthen the run's span (``AlertPolicy.update``'s ``trailing``).

    Args:
        windows: (B, T, 3) physical units, T >= 3. signal: as :func:`evidence`. cfg: the
        model's signal parameters.
    """
    w, _ = _check_windows(windows, signal)
    raw = w.copy()
    raw[:, -3:-1, 0] = raw[:, -1:, 0]  # the median of three equal readings is the reading
    return np.asarray(evidence(w, signal, cfg) & ~evidence(raw, signal, cfg), dtype=bool)


def step_rise(
    windows: np.ndarray, signal: np.ndarray, cfg: SignalConfig, lr: np.ndarray | None = None
) -> np.ndarray:
    """The evidence gate's step route: (B,) bool, True where the (median-of-3 filtered) last
    gas reading has stepped up, within the last ``cfg.jump_readings`` (J) readings, by more
    than the window's own earlier wander, and stands ``cfg.min_log_ratio`` above the level.

    Why: a clean background that cycles widely (±25 % over hours, or a gas following a
    temperature cycle) is learned into the noise scale (15-42 % of the level), and a leak
    starting at the cycle's top then stood under ``z_hold`` scales: a 2x step raised
    nothing (newcomer of 1 Dec). Measured against the readings just before it, the step is
    plain. In detail, with g the filtered gas of the window, ``ref`` the median of
    g[-2J:-J] and ``wander`` the ``cfg.jump_wander_q`` quantile of |log ratio| of g[:-J] to
    ``ref`` (the window's own earlier movement: noise, and as much of a cycle or a daily
    swing as the window spans, e.g. 50 h of an hourly device's traffic cycle):

    - log((g[-1] + 1) / (ref + 1)), less what the temperature and humidity change since
      g[-2J:-J] explains (:func:`ambient_explained`'s factors), is at least
      ``min_log_ratio`` + ``wander``;
    - ``lr`` (the log ratio over the level, after :func:`ambient_explained`) is at least
      ``min_log_ratio``: a return from a dropout to 0 ppm is not a step over clean air.

    The model's probability still decides (:func:`app.ml.predictor.leak_scores`).

    Measured, 1 Dec, not shipped on (``jump_readings`` 0): with J = 10 and the wander's
    maximum (``jump_wander_q`` 1.0) the newcomer's cycle-top leaks are all raised (1 Hz in
    6-15 s; a 1-min device in 180 s, a 5-min one in 40 min) and lstm_svm's real clean
    stretches keep their 3 false alarms, air_quality_uci's benchmark recall >= 3 sd goes
    0.73 -> 0.86; but the pure SVM gains a false alarm on air_quality_uci test session 1
    and on the ±15 % 20-min HVAC square probe (each switch is a +30 % step), both models one
    on the smoke_iot test rows' background (1 -> 2) and one in the air_quality_uci LODO run;
    with the wander's 95 % quantile lstm_svm gained two on air_quality_uci sessions 0 and 1
    (``python main.py --mode evaluate ...`` with the field set; docs/DETECTION_LOG.md). And
    such an alert still closes while the leak goes on once the cycle falls: the level and
    scale kept at the raise are the cycle's.

    Args:
        windows: (B, T, 3) physical. signal: (B, 4) level, scale, t_level, rh_level (or
            (B, 2)). cfg: the model's signal parameters. lr: (B,) the log ratio over the
            level after the ambient allowance (computed here when None).

    Returns:
        (B,) bool; all False where T < 3 J.
    """
    w, b = _check_windows(windows, signal)
    j = int(cfg.jump_readings)
    if j <= 0 or w.shape[1] < 3 * j:
        return np.zeros(len(w), dtype=bool)
    if lr is None:
        lr = gas_rise(w, b)[0] - ambient_explained(w, b, cfg)
    g = np.maximum(median3(w[:, :, 0]), 0.0)
    ref = np.median(g[:, -2 * j : -j], axis=1)
    wander = np.quantile(
        np.abs(np.log((g[:, :-j] + 1.0) / (ref[:, None] + 1.0))), cfg.jump_wander_q, axis=1
    )
    t_ref = np.median(w[:, -2 * j : -j, 1], axis=1)
    rh_ref = np.median(w[:, -2 * j : -j, 2], axis=1)
    ambient = _explained(w[:, -1, 1] - t_ref, w[:, -1, 2] - rh_ref, cfg)
    step = np.log((g[:, -1] + 1.0) / (ref + 1.0)) - ambient
    with np.errstate(invalid="ignore"):
        out = (step >= cfg.min_log_ratio + wander) & (lr >= cfg.min_log_ratio)
    return np.asarray(out, dtype=bool)


def preprocess(windows: np.ndarray, signal: np.ndarray, norm: Mapping[str, float]) -> np.ndarray:
    """Physical windows -> model input.

    Args:
        windows: (B, T, 3) float, physical units, columns FEATURES.
        signal: (B, 2) or (B, 4) float, the device's gas level and noise scale (and ambient
            levels, unused here) at each window's last reading (gas unit; from
            :class:`app.ml.signal.DeviceSignal`).
        norm: mapping with NORM_KEYS (from ``fit_norm`` / the manifest).

    Returns:
        (B, T, 4) float32, a new array (inputs are not modified); CHANNELS, see PREPROCESSING.

    Raises:
        ValueError: wrong shapes.
    """
    w, b = _check_windows(windows, signal)
    out = np.empty((*w.shape[:2], len(CHANNELS)), dtype=np.float32)
    g = np.maximum(median3(w[:, :, 0]), 0.0)
    level, scale = b[:, :1], b[:, 1:2]
    out[:, :, 0] = np.clip(
        np.log((g + 1.0) / (np.maximum(level, 0.0) + 1.0)), -LOG_RATIO_CLIP, LOG_RATIO_CLIP
    )
    out[:, :, 1] = np.arcsinh((g - level) / scale)
    out[:, :, 2] = (w[:, :, 1] - w[:, :, 1].mean(1, keepdims=True)) / norm["temperature_dev_std"]
    out[:, :, 3] = (w[:, :, 2] - w[:, :, 2].mean(1, keepdims=True)) / norm["humidity_dev_std"]
    return out


def _slope(y: np.ndarray) -> np.ndarray:
    """Least-squares slope per reading of y (B, n) along axis 1 -> (B,)."""
    n = y.shape[1]
    t = np.arange(n, dtype=np.float64) - (n - 1) / 2.0
    return np.asarray((y * t).sum(axis=1) / (t * t).sum(), dtype=np.float64)


WINDOW_FEATURE_NAMES = (
    "lr_last",
    "lr_mean",
    "lr_max",
    "lr_min",
    "lr_std",
    "lr_slope",
    "lr_recent_mean",
    "lr_recent_max",
    "lr_recent_std",
    "lr_recent_slope",
    "lr_recent_minus_early",
    "z_last",
    "z_recent_mean",
    "z_recent_minus_early",
    "temp_dev_range",
    "temp_slope",
    "hum_dev_range",
    "hum_slope",
)


def window_features(x: np.ndarray) -> np.ndarray:
    """Hand-made features of preprocessed windows, for the SVMs.

    Args:
        x: (B, T, 4) preprocessed windows (output of ``preprocess``).

    Returns:
        (B, len(WINDOW_FEATURE_NAMES)) float64, in WINDOW_FEATURE_NAMES order. Slopes are per
        reading; ``z_*`` are in asinh noise-scale units.
    """
    x = np.asarray(x, dtype=np.float64)
    g, rec = x[:, :, 0], x[:, -RECENT:, 0]
    z, zr = x[:, :, 1], x[:, -RECENT:, 1]
    t, h = x[:, :, 2], x[:, :, 3]
    cols = [
        g[:, -1],
        g.mean(1),
        g.max(1),
        g.min(1),
        g.std(1),
        _slope(g),
        rec.mean(1),
        rec.max(1),
        rec.std(1),
        _slope(rec),
        rec.mean(1) - g[:, :RECENT].mean(1),
        z[:, -1],
        zr.mean(1),
        zr.mean(1) - z[:, :RECENT].mean(1),
        t.max(1) - t.min(1),
        _slope(t),
        h.max(1) - h.min(1),
        _slope(h),
    ]
    return np.stack(cols, axis=1)


def make_windows(
    series: np.ndarray, signal: np.ndarray, stride: int = 1, window: int = WINDOW
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut one device's series into the windows the service would score.

    Args:
        series: (T, 3) float, physical units, columns FEATURES, time order.
        signal: (T, k) float, the device's level and noise scale (and t_level, rh_level)
            after each reading (columns 1: of :func:`app.ml.signal.signal_series`); NaN
            while warming up.
        stride: readings between consecutive window ends (>= 1).
        window: readings per window.

    Returns:
        windows (N, window, 3) float32, signal (N, k) float64 at each window's last reading,
        end_index (N,) int64 index in ``series`` of each window's last reading. Only windows
        whose last reading has a warm signal (the warm-up is at least one window long, so a
        window never reaches back across a restart).

    Raises:
        ValueError: wrong shapes or stride.
    """
    s = np.asarray(series, dtype=np.float32)
    sig = np.asarray(signal, dtype=np.float64)
    if s.ndim != 2 or s.shape[1] != len(FEATURES) or sig.ndim != 2 or len(sig) != len(s):
        raise ValueError(f"series must be (T, 3) with (T, k) signal, got {s.shape}, {sig.shape}")
    if stride < 1:
        raise ValueError("stride must be >= 1")
    ends = np.arange(window - 1, len(s), stride, dtype=np.int64)
    ends = ends[np.isfinite(sig[ends, :2]).all(axis=1)]
    if len(ends) == 0:
        return np.empty((0, window, 3), np.float32), np.empty((0, sig.shape[1])), ends
    idx = ends[:, None] - np.arange(window - 1, -1, -1)[None, :]
    return s[idx], sig[ends], ends


def series_windows(
    series: np.ndarray,
    ts: np.ndarray,
    stride: int = 1,
    cfg: SignalConfig | None = None,
    window: int = WINDOW,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`make_windows` after running the series through a fresh device signal model.

    Args:
        series: (T, 3) float physical; ts: (T,) seconds; stride, cfg, window: as above.

    Returns:
        As :func:`make_windows`.
    """
    from app.ml.signal import signal_series

    sig = signal_series(np.asarray(series), ts, cfg)[:, 1:]
    return make_windows(series, sig, stride, window)
