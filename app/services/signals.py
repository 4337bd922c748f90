"""The signal models of all tracked devices (one :class:`app.ml.signal.DeviceSignal` each)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from app.ml.signal import DeviceSignal, SignalConfig


class SignalBank:
    """Device id -> :class:`DeviceSignal`, created on a device's first reading.

    Args:
        cfg: the signal model's parameters (from the model manifest).
    """

    def __init__(self, cfg: SignalConfig) -> None:
        self.cfg = cfg
        self._dev: dict[str, DeviceSignal] = {}
        #: device -> the last operator reset {device_id, by, reason, at, readings_to_warm}
        self.last_reset: dict[str, dict[str, Any]] = {}

    def __len__(self) -> int:
        return len(self._dev)

    def get(self, device_id: str) -> DeviceSignal:
        """The device's model, created when new."""
        sig = self._dev.get(device_id)
        if sig is None:
            sig = self._dev[device_id] = DeviceSignal(self.cfg)
        return sig

    def learn(
        self, device_ids: Sequence[str], ts: Sequence[float], values: Sequence[Sequence[float]]
    ) -> np.ndarray:
        """Learn readings (gas, °C, %RH) in time order per device; one output array.

        Args:
            device_ids: m device ids (a device may repeat; its readings in time order).
            ts: m epoch seconds. values: m rows (gas, temperature_c, humidity_pct).

        Returns:
            (m, 5) float64: level, scale, t_level, rh_level (NaN while warming up) and
            readings since the device's last (re)start, after each reading.
        """
        out = []
        get = self.get
        for d, t, (g, temp, rh) in zip(device_ids, ts, values, strict=True):
            sig = get(d)
            _, level, scale, t_level, rh_level = sig.learn_one(g, t, temp, rh)
            out.append((level, scale, t_level, rh_level, sig.n_))
        return np.asarray(out, dtype=np.float64).reshape(-1, 5)

    def hold(self, device_id: str, on: bool) -> None:
        """Hold a device's level while its leak episode is open (ignored if unknown)."""
        sig = self._dev.get(device_id)
        if sig is not None:
            sig.hold(on)

    def reset(self, device_id: str) -> bool:
        """Restart a device's warm-up (operator's baseline reset); False if unknown."""
        sig = self._dev.get(device_id)
        if sig is None:
            return False
        sig.reset()
        return True

    def forget(self, device_ids: Iterable[str]) -> None:
        """Drop evicted devices."""
        for d in device_ids:
            self._dev.pop(d, None)
            self.last_reset.pop(d, None)

    def info(self, device_id: str, gas: float | None = None) -> dict[str, Any] | None:
        """The device view's ``signal`` section, or None for an unknown device."""
        sig = self._dev.get(device_id)
        if sig is None:
            return None
        warm = sig.warm
        z = sig.score_one(gas) if (warm and gas is not None) else math.nan
        return {
            "state": "ready" if warm else "warming_up",
            "readings_to_warm": max(self.cfg.warmup - sig.n_, 0),
            "level": None if not warm else round(sig.level_, 6),
            "noise_scale": None if not warm else round(sig.scale_, 6),
            "z": None if math.isnan(z) else round(z, 3),
            "held": sig.held_,
            "restarts": sig.restarts_,
            "last_reset": self.last_reset.get(device_id),
        }
