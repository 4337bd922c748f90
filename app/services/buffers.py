"""Per-device ring buffers of the last ``window`` readings, in preallocated numpy arrays.

Memory is fixed per device: ``window * 3`` float32 values plus a few scalars, and a slot is
reused after its device is evicted. No Python object is kept per reading. Batches go through
:meth:`DeviceBuffers.store` in a few numpy operations (one per batch for devices with one
reading in it, one per device for devices with several); each reading's gas also goes to
the device's signal model (:class:`app.services.signals.SignalBank`), and a window is due
once that model is warm (its warm-up is at least one window long, so a window never reaches
back across a restart) and every ``stride`` readings after.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np

from app.services.signals import SignalBank
from app.services.windows import BAD_TS, CAPPED, LATE, STORED, Stored, WindowBatch

_GROW = 1024  # slots added at a time, so 10 devices do not pay for 100,000

__all__ = ["BAD_TS", "CAPPED", "LATE", "STORED", "DeviceBuffers", "DeviceCapReached"]


class DeviceCapReached(Exception):
    """Raised by :meth:`DeviceBuffers.slot_for` when ``max_devices`` are tracked already."""


def _grown(old: np.ndarray, capacity: int, fill: float) -> np.ndarray:
    new = np.full((capacity, *old.shape[1:]), fill, dtype=old.dtype)
    new[: old.shape[0]] = old
    return new


class DeviceBuffers:
    """Ring buffers for up to ``max_devices`` devices.

    Args:
        window: readings per window (the model's, from its manifest).
        max_devices: cap on tracked devices; :class:`DeviceCapReached` beyond it.
        signals: the devices' signal models; its warm-up must be >= ``window``.
        stride: a window is emitted every ``stride`` readings once the signal is warm.
        clock: monotonic seconds, for idle eviction (injected for tests).

    Raises:
        ValueError: the signal warm-up is shorter than the window.
    """

    def __init__(
        self,
        *,
        window: int,
        max_devices: int,
        signals: SignalBank,
        stride: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if signals.cfg.warmup < window:
            raise ValueError(f"signal warm-up {signals.cfg.warmup} < window {window}")
        self.window = window
        self.max_devices = max_devices
        self.stride = stride
        self.signals = signals
        self.clock = clock
        self._slot: dict[str, int] = {}
        self._owner: list[str | None] = []
        self._free: list[int] = []
        self._ring = np.arange(window)
        self.capacity = 0
        self.values = np.zeros((0, window, 3), np.float32)  # readings, ring order
        self.head = np.zeros(0, np.int32)  # next write position
        self.count = np.zeros(0, np.int64)  # readings since the device appeared
        self.last_ts = np.zeros(0, np.float64)  # newest stored reading time, epoch s
        self.last_seen = np.zeros(0, np.float64)  # clock() at its last reading, for eviction
        self.active = np.zeros(0, np.bool_)

    def _alloc(self, capacity: int) -> None:
        self.values = _grown(self.values, capacity, 0.0)
        self.head = _grown(self.head, capacity, 0)
        self.count = _grown(self.count, capacity, 0)
        self.last_ts = _grown(self.last_ts, capacity, -math.inf)
        self.last_seen = _grown(self.last_seen, capacity, 0.0)
        self.active = _grown(self.active, capacity, False)
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

    def store(
        self,
        device_ids: Sequence[str],
        ts: np.ndarray,
        values: np.ndarray,
        *,
        strict: bool = False,
        windows: bool = True,
    ) -> Stored:
        """Store a batch of readings in time order per device; collect the windows due.

        A reading older than its device's newest stored one (``strict``: not newer, so a
        redelivered reading is refused, as cluster mode needs) is ``LATE``, a new device beyond
        ``max_devices`` is ``CAPPED``, a non-finite ``ts`` is ``BAD_TS``; the rest are
        ``STORED`` (readings of one device in stable ``ts`` order).

        Args:
            device_ids: N device ids.
            ts: shape (N,), float64 epoch seconds.
            values: shape (N, 3), gas, temperature_c, humidity_pct.
            windows: False to only store and learn (a cluster takeover's replay, which
                scores nothing): no windows are assembled and ``Stored.windows`` is None.

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
        late = ts[known] <= prior[known] if strict else ts[known] < prior[known]
        codes[known[late]] = LATE
        codes[(codes == STORED) & ~finite] = BAD_TS
        ok = order[codes[order] == STORED]  # time order
        if ok.size == 0:
            return Stored(codes, None, prior)
        ok = ok[np.argsort(slots[ok], kind="stable")]  # grouped by slot, time order within
        s_ok = slots[ok]
        starts = np.flatnonzero(np.r_[True, s_ok[1:] != s_ok[:-1]])
        sizes = np.diff(np.r_[starts, ok.size])
        parts: list[WindowBatch | None] = []
        single = ok[starts[sizes == 1]]
        if single.size:
            parts.append(
                self._store_singles(slots[single], ts[single], values[single], windows=windows)
            )
        for a, m in zip(starts[sizes > 1].tolist(), sizes[sizes > 1].tolist(), strict=True):
            idx = ok[a : a + m]
            parts.append(self._store_run(int(s_ok[a]), ts[idx], values[idx], windows=windows))
        due = [p for p in parts if p is not None and len(p)]
        return Stored(codes, WindowBatch.concat(due) if due else None, prior)

    def _due(self, sig: np.ndarray) -> np.ndarray:
        """(m,) bool: warm signal and on the stride, from SignalBank.learn's (m, 5) output."""
        n = sig[:, 4]
        w = self.signals.cfg.warmup
        return np.asarray((n >= w) & ((n - w) % self.stride == 0), dtype=bool)

    def _store_singles(
        self, slots: np.ndarray, ts: np.ndarray, vals: np.ndarray, *, windows: bool = True
    ) -> WindowBatch | None:
        """One reading for each of several distinct slots: ring writes in numpy; the
        windows due (None when ``windows`` is False)."""
        head = self.head[slots]
        self.values[slots, head] = vals
        self.head[slots] = (head + 1) % self.window
        self.count[slots] += 1
        self.last_ts[slots] = ts
        self.last_seen[slots] = self.clock()
        owners = [self._owner[i] or "" for i in slots.tolist()]
        sig = self.signals.learn(owners, ts.tolist(), vals.tolist())  # one pass, one array
        if not windows:
            return None
        due = self._due(sig)
        s = slots[due]
        idx = (self.head[s, None] + self._ring) % self.window
        return WindowBatch(
            [d for d, k in zip(owners, due.tolist(), strict=True) if k],
            ts[due],
            self.values[s[:, None], idx],
            sig[due, :4],
        )

    def _store_run(
        self, slot: int, ts: np.ndarray, vals: np.ndarray, *, windows: bool = True
    ) -> WindowBatch | None:
        """Several readings of one slot, in time order; the windows due (None when
        ``windows`` is False)."""
        w, m = self.window, len(ts)
        head = int(self.head[slot])
        history = (  # the ring before this run, then the run: the windows' source
            np.concatenate(
                (self.values[slot, head:], self.values[slot, :head], vals.astype(np.float32))
            )
            if windows
            else None
        )
        k = min(m, w)  # only the last w readings of a long run stay in the ring
        self.values[slot, (head + m - k + np.arange(k)) % w] = vals[-k:]
        self.head[slot] = (head + m) % w
        self.count[slot] += m
        self.last_ts[slot] = ts[-1]
        self.last_seen[slot] = self.clock()
        device = self._owner[slot] or ""
        sig = self.signals.learn([device] * m, ts.tolist(), vals.tolist())
        if history is None:
            return None
        due = np.flatnonzero(self._due(sig))
        # window ending at reading j of the run = history rows [j + 1, j + 1 + w)
        views = np.lib.stride_tricks.sliding_window_view(history, w, axis=0)
        return WindowBatch(
            [device] * due.size, ts[due], views[due + 1].transpose(0, 2, 1).copy(), sig[due, :4]
        )

    def snapshot(self, slot: int) -> np.ndarray:
        """Copy of a slot's readings, oldest first: shape (window, 3), float32."""
        head = int(self.head[slot])
        return np.concatenate((self.values[slot, head:], self.values[slot, :head]))

    def info(self, device_id: str) -> dict[str, object] | None:
        """Fill, last reading and signal model of a device, or None when unknown."""
        slot = self._slot.get(device_id)
        if slot is None:
            return None
        n = int(self.count[slot])
        last = self.values[slot, (int(self.head[slot]) - 1) % self.window]
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
            "signal": self.signals.info(device_id, float(last[0])),
        }

    def evict_idle(self, *, idle_s: float, keep: set[str] | None = None) -> list[str]:
        """Forget devices with no reading for ``idle_s`` seconds, except those in ``keep``.

        Returns:
            The evicted device ids (their signal models are dropped too).
        """
        cutoff = self.clock() - idle_s
        stale = np.flatnonzero(self.active & (self.last_seen < cutoff)).tolist()
        keep = keep or set()
        gone = [d for s in stale if (d := self._owner[s]) is not None and d not in keep]
        for d in gone:
            self._reset(self._slot.pop(d))
        self.signals.forget(gone)
        return gone

    def drop(self, device_ids: Sequence[str]) -> None:
        """Forget devices now (cluster mode: their partition moved to another replica)."""
        gone = [d for d in device_ids if d in self._slot]
        for d in gone:
            self._reset(self._slot.pop(d))
        self.signals.forget(gone)

    def _reset(self, slot: int) -> None:
        self.head[slot] = 0
        self.count[slot] = 0
        self.last_ts[slot] = -math.inf
        self.active[slot] = False
        self._owner[slot] = None
        self._free.append(slot)

    def nbytes(self) -> int:
        """Bytes held by the preallocated arrays."""
        return sum(
            a.nbytes
            for a in (self.values, self.head, self.count, self.last_ts, self.last_seen, self.active)
        )
