"""Per-device ring buffers of the last ``window`` readings, in preallocated numpy arrays.

Memory is fixed per device: ``window * 3`` float32 values plus a few scalars, and a slot is
reused after its device is evicted. No Python object is kept per reading.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from app.ml.baseline import TAU_UP_S, update_baseline_one

_GROW = 1024  # slots added at a time, so 10 devices do not pay for 100,000


class DeviceCapReached(Exception):
    """Raised by :meth:`DeviceBuffers.slot_for` when ``max_devices`` are tracked already."""


@dataclass(frozen=True, slots=True)
class Window:
    """An immutable snapshot of one full window, ready for scoring.

    ``values`` has shape (window, 3), float32, columns gas_ppm, temperature_c, humidity_pct,
    oldest first; ``baseline`` is the device's gas baseline after the last reading (same unit
    as gas); ``ts`` is the last reading's time, epoch seconds.
    """

    device_id: str
    ts: float
    values: np.ndarray
    baseline: float


class DeviceBuffers:
    """Ring buffers for up to ``max_devices`` devices.

    Args:
        window: readings per window (seed design: 60).
        max_devices: cap on tracked devices; :class:`DeviceCapReached` beyond it.
        stride: a window is emitted every ``stride`` readings once the buffer is full.
        tau_up_s: rise time constant of the gas baseline, seconds (see app.ml.baseline).
    """

    def __init__(
        self, *, window: int, max_devices: int, stride: int = 1, tau_up_s: float = TAU_UP_S
    ) -> None:
        self.window = window
        self.max_devices = max_devices
        self.stride = stride
        self.tau_up_s = tau_up_s
        self._slot: dict[str, int] = {}
        self._free: list[int] = []
        self._alloc(0)

    def _alloc(self, capacity: int) -> None:
        def grow(name: str, shape: tuple[int, ...], dtype: type, fill: float) -> None:
            new = np.full((capacity, *shape), fill, dtype=dtype)
            old = getattr(self, name, None)
            if old is not None:
                new[: old.shape[0]] = old
            setattr(self, name, new)

        grow("values", (self.window, 3), np.float32, 0.0)
        grow("head", (), np.int32, 0)  # next write position
        grow("count", (), np.int64, 0)  # readings seen since the device appeared
        grow("last_ts", (), np.float64, -math.inf)
        grow("last_seen", (), np.float64, 0.0)  # monotonic receive time, for eviction
        grow("baseline", (), np.float64, math.nan)
        grow("last_prob", (), np.float64, math.nan)
        self._free.extend(range(capacity - 1, len(self._slot) + len(self._free) - 1, -1))
        self.capacity = capacity

    def __len__(self) -> int:
        return len(self._slot)

    def __contains__(self, device_id: str) -> bool:
        return device_id in self._slot

    def device_ids(self) -> list[str]:
        """All tracked device ids (a copy)."""
        return list(self._slot)

    def slot_for(self, device_id: str) -> int:
        """The slot of ``device_id``, allocating one for a new device.

        Raises:
            DeviceCapReached: the device is new and ``max_devices`` are tracked.
        """
        slot = self._slot.get(device_id)
        if slot is not None:
            return slot
        if len(self._slot) >= self.max_devices:
            raise DeviceCapReached(device_id)
        if not self._free:
            self._alloc(min(self.max_devices, self.capacity + max(_GROW, self.capacity // 2)))
        slot = self._free.pop()
        self._slot[device_id] = slot
        return slot

    def append(
        self, device_id: str, ts: float, values: tuple[float, float, float]
    ) -> Window | None:
        """Store one reading; return a :class:`Window` when one is due for scoring.

        The caller has checked ``ts >= last_ts`` (see :meth:`is_late`).

        Raises:
            DeviceCapReached: from :meth:`slot_for`.
        """
        slot = self.slot_for(device_id)
        head = int(self.head[slot])
        self.values[slot, head] = values
        self.head[slot] = (head + 1) % self.window
        n = int(self.count[slot]) + 1
        self.count[slot] = n
        prev_ts = float(self.last_ts[slot])
        dt = ts - prev_ts if math.isfinite(prev_ts) else 0.0
        b = update_baseline_one(float(self.baseline[slot]), values[0], dt, tau_up_s=self.tau_up_s)
        self.baseline[slot] = b
        self.last_ts[slot] = ts
        self.last_seen[slot] = time.monotonic()
        if n < self.window or (n - self.window) % self.stride:
            return None
        return Window(device_id, ts, self.snapshot(slot), b)

    def is_late(self, device_id: str, ts: float) -> bool:
        """Whether ``ts`` is older than the device's latest stored reading."""
        slot = self._slot.get(device_id)
        return slot is not None and ts < self.last_ts[slot]

    def snapshot(self, slot: int) -> np.ndarray:
        """Copy of a slot's readings, oldest first: shape (window, 3), float32."""
        head = int(self.head[slot])
        return np.concatenate((self.values[slot, head:], self.values[slot, :head]))

    def info(self, device_id: str) -> dict[str, object] | None:
        """Fill, last reading, baseline and last probability of a device, or None."""
        slot = self._slot.get(device_id)
        if slot is None:
            return None
        n = int(self.count[slot])
        last = self.values[slot, (int(self.head[slot]) - 1) % self.window]
        prob = float(self.last_prob[slot])
        return {
            "readings_seen": n,
            "buffer_fill": min(n, self.window),
            "window": self.window,
            "last_ts": float(self.last_ts[slot]),
            "last_reading": {
                "gas_ppm": float(last[0]),
                "temperature_c": float(last[1]),
                "humidity_pct": float(last[2]),
            },
            "gas_baseline": float(self.baseline[slot]),
            "last_probability": None if math.isnan(prob) else prob,
        }

    def set_probability(self, device_id: str, prob: float) -> None:
        """Record the latest leak probability of a device (ignored if it was evicted)."""
        slot = self._slot.get(device_id)
        if slot is not None:
            self.last_prob[slot] = prob

    def evict_idle(self, *, idle_s: float, keep: set[str] | None = None) -> list[str]:
        """Forget devices with no reading for ``idle_s`` seconds, except those in ``keep``.

        Returns:
            The evicted device ids.
        """
        cutoff = time.monotonic() - idle_s
        gone = [
            d
            for d, s in self._slot.items()
            if self.last_seen[s] < cutoff and not (keep and d in keep)
        ]
        for d in gone:
            self._reset(self._slot.pop(d))
        return gone

    def _reset(self, slot: int) -> None:
        self.head[slot] = 0
        self.count[slot] = 0
        self.last_ts[slot] = -math.inf
        self.baseline[slot] = math.nan
        self.last_prob[slot] = math.nan
        self._free.append(slot)

    def nbytes(self) -> int:
        """Bytes held by the preallocated arrays."""
        return sum(
            getattr(self, n).nbytes
            for n in ("values", "head", "count", "last_ts", "last_seen", "baseline", "last_prob")
        )
