"""Per-device ring buffers of the last ``window`` readings, in preallocated numpy arrays.

Memory is fixed per device: ``window * 3`` float32 values plus a few scalars, and a slot is
reused after its device is evicted. No Python object is kept per reading. Batches of
readings go through :meth:`DeviceBuffers.store` in a few numpy operations (one per batch for
devices with one reading in it, one per device for devices with several), and the windows
they make due come back as one :class:`WindowBatch` of stacked arrays.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from app.ml.baseline import TAU_UP_S, update_baseline, update_baseline_one

_GROW = 1024  # slots added at a time, so 10 devices do not pay for 100,000

#: Per-reading outcome codes of :meth:`DeviceBuffers.store`.
STORED, LATE, CAPPED, BAD_TS = 0, 1, 2, 3


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


@dataclass(frozen=True, slots=True)
class WindowBatch:
    """N windows as stacked arrays (copies, never views of the live buffers).

    ``device_ids`` has N ids; ``ts`` (N,) float64 epoch seconds of each window's last
    reading; ``values`` (N, window, 3) float32 oldest first; ``baseline`` (N,) float64.
    Windows of one device appear in time order. Iterating yields :class:`Window` objects.
    """

    device_ids: list[str]
    ts: np.ndarray
    values: np.ndarray
    baseline: np.ndarray

    def __len__(self) -> int:
        return len(self.device_ids)

    def __iter__(self) -> Iterator[Window]:
        for i, d in enumerate(self.device_ids):
            yield Window(d, float(self.ts[i]), self.values[i], float(self.baseline[i]))

    def __getitem__(self, key: slice) -> WindowBatch:
        return WindowBatch(self.device_ids[key], self.ts[key], self.values[key],
                           self.baseline[key])

    @classmethod
    def concat(cls, parts: Sequence[WindowBatch]) -> WindowBatch:
        """One batch holding ``parts`` in order (the part itself when there is one)."""
        if len(parts) == 1:
            return parts[0]
        return cls(
            [d for p in parts for d in p.device_ids],
            np.concatenate([p.ts for p in parts]),
            np.concatenate([p.values for p in parts]),
            np.concatenate([p.baseline for p in parts]),
        )

    @classmethod
    def of(cls, windows: Sequence[Window]) -> WindowBatch:
        """Stack single windows into a batch."""
        return cls(
            [w.device_id for w in windows],
            np.fromiter((w.ts for w in windows), np.float64, len(windows)),
            np.stack([w.values for w in windows]),
            np.fromiter((w.baseline for w in windows), np.float64, len(windows)),
        )


class Stored(NamedTuple):
    """Outcome of :meth:`DeviceBuffers.store`.

    ``codes`` (N,) uint8, one of STORED, LATE, CAPPED, BAD_TS per reading in input order;
    ``windows`` the windows due (device order unspecified, time order within a device) or
    None; ``prior_ts`` (N,) float64, each reading's device's newest stored time before the
    batch (NaN for a new device), to explain LATE.
    """

    codes: np.ndarray
    windows: WindowBatch | None
    prior_ts: np.ndarray


class DeviceBuffers:
    """Ring buffers for up to ``max_devices`` devices.

    Args:
        window: readings per window (seed design: 60).
        max_devices: cap on tracked devices; :class:`DeviceCapReached` beyond it.
        stride: a window is emitted every ``stride`` readings once the buffer is full.
        tau_up_s: rise time constant of the gas baseline, seconds (see app.ml.baseline).
    """

    _ARRAYS = ("values", "head", "count", "last_ts", "last_seen", "baseline", "last_prob",
               "active")

    def __init__(
        self, *, window: int, max_devices: int, stride: int = 1, tau_up_s: float = TAU_UP_S
    ) -> None:
        self.window = window
        self.max_devices = max_devices
        self.stride = stride
        self.tau_up_s = tau_up_s
        self._slot: dict[str, int] = {}
        self._owner: list[str | None] = []
        self._free: list[int] = []
        self._ring = np.arange(window)
        self.capacity = 0
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
        grow("active", (), np.bool_, False)
        self._free.extend(range(capacity - 1, self.capacity - 1, -1))
        self._owner.extend([None] * (capacity - self.capacity))
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
        self._owner[slot] = device_id
        self.active[slot] = True
        return slot

    def append(
        self, device_id: str, ts: float, values: tuple[float, float, float]
    ) -> Window | None:
        """Store one reading; return a :class:`Window` when one is due for scoring.

        The per-reading form of :meth:`store`. The caller has checked ``ts >= last_ts``
        (see :meth:`is_late`).

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

    def store(
        self, device_ids: Sequence[str], ts: np.ndarray, values: np.ndarray
    ) -> Stored:
        """Store a batch of readings in time order per device; collect the windows due.

        Same outcome as calling :meth:`is_late` and :meth:`append` for each reading in
        ``ts`` order (stable): a reading older than its device's newest stored one is
        ``LATE``, a new device beyond ``max_devices`` is ``CAPPED``, a non-finite ``ts`` is
        ``BAD_TS``; the rest are ``STORED``.

        Args:
            device_ids: N device ids.
            ts: shape (N,), float64 epoch seconds.
            values: shape (N, 3), gas_ppm, temperature_c, humidity_pct.

        Returns:
            A :class:`Stored`: codes per reading, the windows due, the prior times.
        """
        n = len(device_ids)
        ts = np.asarray(ts, dtype=np.float64)
        values = np.asarray(values, dtype=np.float64).reshape(n, 3)  # float32 once stored
        order = np.argsort(ts, kind="stable")
        codes = np.zeros(n, dtype=np.uint8)
        slots = np.full(n, -1, dtype=np.int64)
        finite = np.isfinite(ts)
        get = self._slot.get
        for i in order.tolist():
            d = device_ids[i]
            s = get(d)
            if s is None and finite[i]:
                try:
                    s = self.slot_for(d)
                except DeviceCapReached:
                    codes[i] = CAPPED
                    continue
            if s is not None:
                slots[i] = s
        known = np.flatnonzero(slots >= 0)
        prior = np.full(n, np.nan)
        prior[known] = self.last_ts[slots[known]]
        codes[known[ts[known] < prior[known]]] = LATE
        codes[(codes == STORED) & ~finite] = BAD_TS
        ok = order[codes[order] == STORED]  # time order
        if ok.size == 0:
            return Stored(codes, None, prior)
        ok = ok[np.argsort(slots[ok], kind="stable")]  # grouped by slot, time order within
        s_ok = slots[ok]
        starts = np.flatnonzero(np.r_[True, s_ok[1:] != s_ok[:-1]])
        sizes = np.diff(np.r_[starts, ok.size])
        parts = []
        single = ok[starts[sizes == 1]]
        if single.size:
            parts.append(self._store_singles(slots[single], ts[single], values[single]))
        for a, m in zip(starts[sizes > 1].tolist(), sizes[sizes > 1].tolist(), strict=True):
            idx = ok[a : a + m]
            parts.append(self._store_run(int(s_ok[a]), ts[idx], values[idx]))
        parts = [p for p in parts if len(p)]
        return Stored(codes, WindowBatch.concat(parts) if parts else None, prior)

    def _store_singles(self, slots: np.ndarray, ts: np.ndarray, vals: np.ndarray) -> WindowBatch:
        """One reading for each of several distinct slots, all in numpy."""
        head = self.head[slots]
        self.values[slots, head] = vals  # the baseline below sees float64 gas, as append does
        self.head[slots] = (head + 1) % self.window
        count = self.count[slots] + 1
        self.count[slots] = count
        prev = self.last_ts[slots]
        dt = np.where(np.isfinite(prev), ts - prev, 0.0)
        base = update_baseline(self.baseline[slots], vals[:, 0], dt, tau_up_s=self.tau_up_s)
        self.baseline[slots] = base
        self.last_ts[slots] = ts
        self.last_seen[slots] = time.monotonic()
        due = (count >= self.window) & ((count - self.window) % self.stride == 0)
        s = slots[due]
        idx = (self.head[s, None] + self._ring) % self.window
        return WindowBatch(
            [self._owner[i] for i in s.tolist()],  # type: ignore[misc]
            ts[due], self.values[s[:, None], idx], base[due],
        )

    def _store_run(self, slot: int, ts: np.ndarray, vals: np.ndarray) -> WindowBatch:
        """Several readings of one slot, in time order."""
        w, m = self.window, len(ts)
        head, n0 = int(self.head[slot]), int(self.count[slot])
        history = np.concatenate((self.values[slot, head:], self.values[slot, :head],
                                  vals.astype(np.float32)))
        k = min(m, w)  # only the last w readings of a long run stay in the ring
        self.values[slot, (head + m - k + np.arange(k)) % w] = vals[-k:]
        self.head[slot] = (head + m) % w
        self.count[slot] = n0 + m
        base = np.empty(m)
        b, prev = float(self.baseline[slot]), float(self.last_ts[slot])
        for j, (t, g) in enumerate(zip(ts.tolist(), vals[:, 0].tolist(), strict=True)):
            b = update_baseline_one(b, g, t - prev if math.isfinite(prev) else 0.0,
                                    tau_up_s=self.tau_up_s)
            base[j], prev = b, t
        self.baseline[slot] = b
        self.last_ts[slot] = prev
        self.last_seen[slot] = time.monotonic()
        count = n0 + 1 + np.arange(m)
        due = np.flatnonzero((count >= w) & ((count - w) % self.stride == 0))
        # window ending at reading j of the run = history rows [j + 1, j + 1 + w)
        views = np.lib.stride_tricks.sliding_window_view(history, w, axis=0)
        return WindowBatch(
            [self._owner[slot]] * due.size,  # type: ignore[list-item]
            ts[due], views[due + 1].transpose(0, 2, 1).copy(), base[due],
        )

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

        One numpy pass over the slots finds the candidates.

        Returns:
            The evicted device ids.
        """
        cutoff = time.monotonic() - idle_s
        stale = np.flatnonzero(self.active & (self.last_seen < cutoff)).tolist()
        keep = keep or set()
        gone = [d for s in stale if (d := self._owner[s]) is not None and d not in keep]
        for d in gone:
            self._reset(self._slot.pop(d))
        return gone

    def _reset(self, slot: int) -> None:
        self.head[slot] = 0
        self.count[slot] = 0
        self.last_ts[slot] = -math.inf
        self.baseline[slot] = math.nan
        self.last_prob[slot] = math.nan
        self.active[slot] = False
        self._owner[slot] = None
        self._free.append(slot)

    def nbytes(self) -> int:
        """Bytes held by the preallocated arrays."""
        return sum(getattr(self, n).nbytes for n in self._ARRAYS)
