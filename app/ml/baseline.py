"""Per-device clean-air baseline for the gas channel, learned online.

The tracker follows the gas signal down at once and up only slowly (time constant
``tau_up_s``). A leak therefore stands out against the baseline for a long time, while slow
sensor drift, ageing and a new sensor's absolute scale are absorbed. This is the idea of
"automatic baseline correction" (ABC) used by NDIR CO2 sensors (Senseair ABC: the lowest
reading over a period is taken as fresh air) and of the baseline compensation inside
Sensirion's SGP30 MOX sensor, written as a one-pole low-pass filter that only rises slowly.

The model sees gas as ``log((gas + 1) / (baseline + 1))``: dimensionless, so ppm, kOhm and
ADC counts look alike. MOX sensor datasheets (e.g. Figaro TGS2600) state responses as the
ratio Rs/R0 to the clean-air value for the same reason; the +1 keeps a 0 ppm baseline finite.
"""

from __future__ import annotations

import math

import numpy as np

#: Default rise time constant of the baseline, seconds (6 h). A leak lasting 20 minutes
#: moves the baseline about 5 % of the way towards the leak level.
TAU_UP_S = 6 * 3600.0


def update_baseline(
    baseline: np.ndarray, gas: np.ndarray, dt_s: np.ndarray | float, *, tau_up_s: float = TAU_UP_S
) -> np.ndarray:
    """Advance baselines by one reading each.

    Args:
        baseline: shape (N,), float; the previous baseline per device, NaN where none yet.
        gas: shape (N,), float; the new gas reading per device (any unit, same as baseline).
        dt_s: seconds since each device's previous reading, scalar or shape (N,), >= 0.
        tau_up_s: rise time constant in seconds (> 0).

    Returns:
        shape (N,), float64: the new baselines. A NaN baseline starts at the reading;
        a reading below the baseline becomes the baseline; otherwise the baseline moves
        ``1 - exp(-dt / tau_up_s)`` of the way up to the reading.
    """
    baseline = np.asarray(baseline, dtype=np.float64)
    gas = np.asarray(gas, dtype=np.float64)
    alpha = 1.0 - np.exp(-np.maximum(np.asarray(dt_s, dtype=np.float64), 0.0) / tau_up_s)
    risen = baseline + alpha * (gas - baseline)
    out = np.where(gas < baseline, gas, risen)
    return np.where(np.isnan(baseline), gas, out)


def update_baseline_one(
    baseline: float, gas: float, dt_s: float, *, tau_up_s: float = TAU_UP_S
) -> float:
    """Scalar form of :func:`update_baseline` for the per-reading hot path (same formula).

    Args:
        baseline: previous baseline, NaN where none yet.
        gas: new reading (same unit).
        dt_s: seconds since the previous reading.
        tau_up_s: rise time constant in seconds.

    Returns:
        The new baseline (float).
    """
    if math.isnan(baseline) or gas < baseline:
        return float(gas)
    alpha = 1.0 - math.exp(-max(dt_s, 0.0) / tau_up_s)
    return baseline + alpha * (gas - baseline)


def baseline_series(
    gas: np.ndarray, dt_s: np.ndarray | float, *, tau_up_s: float = TAU_UP_S
) -> np.ndarray:
    """Run the tracker over one device's series, as the service would online.

    Args:
        gas: shape (T,), float; readings in time order.
        dt_s: seconds between readings, scalar or shape (T,) (element 0 is ignored).
        tau_up_s: rise time constant in seconds.

    Returns:
        shape (T,), float64: the baseline after each reading (element t includes reading t).
    """
    gas = np.asarray(gas, dtype=np.float64)
    dts = np.broadcast_to(np.asarray(dt_s, dtype=np.float64), gas.shape)
    out = np.empty_like(gas)
    b = math.nan
    for t in range(gas.shape[0]):
        b = update_baseline_one(b, float(gas[t]), float(dts[t]), tau_up_s=tau_up_s)
        out[t] = b
    return out


def gas_log_ratio(gas: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """Gas relative to the device's baseline: ``log((gas + 1) / (baseline + 1))``.

    Args:
        gas: any shape, float, >= 0 (ppm or raw sensor units).
        baseline: broadcastable to ``gas``, same unit.

    Returns:
        float32 array of ``gas``'s shape; 0 at the baseline, positive above it.
    """
    g = np.maximum(np.asarray(gas, dtype=np.float64), 0.0)
    b = np.maximum(np.asarray(baseline, dtype=np.float64), 0.0)
    return np.log((g + 1.0) / (b + 1.0)).astype(np.float32)
