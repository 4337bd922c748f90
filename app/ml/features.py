"""Pure window functions shared by training and inference.

A *window* is ``np.ndarray`` float32 of shape (B, WINDOW, 3) in physical units, columns
``FEATURES`` = (gas, temperature °C, humidity %RH), oldest reading first. Its *baseline* is the
device's online gas baseline (``app.ml.baseline``) at the window's last reading, shape (B,).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from app.ml.baseline import gas_log_ratio

FEATURES: tuple[str, str, str] = ("gas_ppm", "temperature_c", "humidity_pct")
WINDOW = 60
#: Readings at the end of a window that count as "now" (label and hand features).
RECENT = 10
#: The gas log-ratio is clipped to [-LOG_RATIO_CLIP, LOG_RATIO_CLIP] (e^6 ≈ 400× the baseline).
LOG_RATIO_CLIP = 6.0
#: Keys of the normalisation dict (fitted on training windows, stored in the manifest).
NORM_KEYS = ("temperature_mean", "temperature_std", "humidity_mean", "humidity_std")

PREPROCESSING = (
    "channel 0: clip(log((gas+1)/(baseline+1)), -6, 6) with the device baseline at the window's "
    "last reading; channels 1, 2: (x - mean) / std with temperature/humidity mean and std "
    "fitted on the training windows"
)


def _check_windows(windows: np.ndarray, baselines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w = np.asarray(windows, dtype=np.float64)
    b = np.asarray(baselines, dtype=np.float64)
    if w.ndim != 3 or w.shape[1:] != (WINDOW, len(FEATURES)):
        raise ValueError(f"windows must have shape (B, {WINDOW}, {len(FEATURES)}), got {w.shape}")
    if b.shape != (w.shape[0],):
        raise ValueError(f"baselines must have shape ({w.shape[0]},), got {b.shape}")
    return w, b


def fit_norm(windows: np.ndarray) -> dict[str, float]:
    """Temperature/humidity mean and std over training windows (B, WINDOW, 3) -> NORM_KEYS dict."""
    w = np.asarray(windows, dtype=np.float64)
    t, h = w[:, :, 1], w[:, :, 2]
    return {
        "temperature_mean": float(t.mean()),
        "temperature_std": float(max(t.std(), 1e-6)),
        "humidity_mean": float(h.mean()),
        "humidity_std": float(max(h.std(), 1e-6)),
    }


def preprocess(
    windows: np.ndarray, baselines: np.ndarray, norm: Mapping[str, float]
) -> np.ndarray:
    """Physical windows -> model input.

    Args:
        windows: (B, WINDOW, 3) float, physical units, columns FEATURES.
        baselines: (B,) float, gas baseline at each window's last reading (gas unit).
        norm: mapping with NORM_KEYS (from ``fit_norm`` / the manifest).

    Returns:
        (B, WINDOW, 3) float32, a new array (inputs are not modified); see PREPROCESSING.

    Raises:
        ValueError: wrong shapes.
    """
    w, b = _check_windows(windows, baselines)
    out = np.empty(w.shape, dtype=np.float32)
    lr = gas_log_ratio(w[:, :, 0], b[:, None])
    out[:, :, 0] = np.clip(lr, -LOG_RATIO_CLIP, LOG_RATIO_CLIP)
    out[:, :, 1] = (w[:, :, 1] - norm["temperature_mean"]) / norm["temperature_std"]
    out[:, :, 2] = (w[:, :, 2] - norm["humidity_mean"]) / norm["humidity_std"]
    return out


def _slope(y: np.ndarray) -> np.ndarray:
    """Least-squares slope per reading of y (B, n) along axis 1 -> (B,)."""
    n = y.shape[1]
    t = np.arange(n, dtype=np.float64) - (n - 1) / 2.0
    return (y * t).sum(axis=1) / (t * t).sum()


WINDOW_FEATURE_NAMES = (
    "gas_last", "gas_mean", "gas_max", "gas_min", "gas_std", "gas_slope",
    "gas_recent_mean", "gas_recent_max", "gas_recent_std", "gas_recent_slope",
    "gas_recent_minus_early", "temp_mean", "temp_slope", "hum_mean", "hum_slope",
)  # fmt: skip


def window_features(x: np.ndarray) -> np.ndarray:
    """Hand-made features of preprocessed windows, for the pure SVM.

    Args:
        x: (B, WINDOW, 3) preprocessed windows (output of ``preprocess``).

    Returns:
        (B, len(WINDOW_FEATURE_NAMES)) float64, in WINDOW_FEATURE_NAMES order. Slopes are per
        reading.
    """
    x = np.asarray(x, dtype=np.float64)
    g, rec = x[:, :, 0], x[:, -RECENT:, 0]
    cols = [
        g[:, -1], g.mean(1), g.max(1), g.min(1), g.std(1), _slope(g),
        rec.mean(1), rec.max(1), rec.std(1), _slope(rec),
        rec.mean(1) - g[:, :RECENT].mean(1),
        x[:, :, 1].mean(1), _slope(x[:, :, 1]), x[:, :, 2].mean(1), _slope(x[:, :, 2]),
    ]  # fmt: skip
    return np.stack(cols, axis=1)


def make_windows(
    series: np.ndarray, baselines: np.ndarray, stride: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut one device's series into full windows.

    Args:
        series: (T, 3) float, physical units, columns FEATURES, time order.
        baselines: (T,) float, baseline after each reading (``baseline_series``).
        stride: readings between consecutive window ends (>= 1).

    Returns:
        windows (N, WINDOW, 3) float32, baselines (N,) float64 at each window's last reading,
        end_index (N,) int64 index in ``series`` of each window's last reading. N = 0 when
        T < WINDOW. No window before the first WINDOW readings (no score before a full window).
    """
    s = np.asarray(series, dtype=np.float32)
    if s.ndim != 2 or s.shape[1] != len(FEATURES) or len(baselines) != len(s):
        raise ValueError(f"series must be (T, 3) with T baselines, got {s.shape}, {len(baselines)}")
    if stride < 1:
        raise ValueError("stride must be >= 1")
    ends = np.arange(WINDOW - 1, len(s), stride, dtype=np.int64)
    if len(ends) == 0:
        return np.empty((0, WINDOW, 3), np.float32), np.empty(0), ends
    idx = ends[:, None] - np.arange(WINDOW - 1, -1, -1)[None, :]
    return s[idx], np.asarray(baselines, dtype=np.float64)[ends], ends
