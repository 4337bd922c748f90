"""Per-device ring buffers of the last ``window`` readings, in preallocated numpy arrays.

Memory is fixed per device: ``max(window, warmup)`` readings of a float32 gas value and
temperature and humidity as int16 hundredths (:class:`Ring`), plus two scalars (496 B with
the shipped model; the write position is the reading count modulo the ring), in
the device's slot of the shared :class:`app.slab.SlotIndex`; a slot is reused after its
device is evicted. No Python object is kept per reading or per device. Batches go through
:meth:`DeviceBuffers.store` in a few numpy operations (one per batch for devices with one
reading in it, one per device for devices with several; a message of one reading takes a
scalar path, :meth:`DeviceBuffers._store_one`); each reading's gas also goes to
the device's signal model (:class:`app.services.signals.SignalBank`), and a window is due
once that model is warm (its warm-up is at least one window long, so a window never reaches
back across a restart) and every ``stride`` readings after.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from app.services.signals import SignalBank
from app.services.windows import (
    BAD_TS,
    CAPPED,
    DUPLICATE,
    LATE,
    STORED,
    Stored,
    WindowBatch,
)
from app.slab import SlotIndex

__all__ = [
    "BAD_TS",
    "CAPPED",
    "CLOCK_STEP_S",
    "DUPLICATE",
    "LATE",
    "STORED",
    "DeviceBuffers",
    "DeviceCapReached",
]

log = logging.getLogger(__name__)

#: A device's newest reading standing more than this far ahead of the server clock (s) was
#: stamped by a wrong clock: a later reading that is not ahead by as much, though older than
#: it, is the device's clock put right, and is stored, not refused as out of order. Without
#: this, one reading stamped minutes ahead (a gateway booting before NTP, a clock set by
#: hand) made every true reading of its device ``out_of_order`` until the server clock
#: passed it, and the model and the fault rules saw none of them (newcomer's probe). 30 s
#: is above the skew of an NTP-synchronised gateway (well under 1 s; RFC 5905) and of a
#: free-running RTC over a day (a 20 ppm crystal drifts ~2 s a day), and below the
#: schema's 300 s limit (:data:`app.schemas.readings.MAX_FUTURE_S`), so ordinary
#: redeliveries of a gateway that is a little fast are still refused.
CLOCK_STEP_S = 30.0


class DeviceCapReached(Exception):
    """Raised by :meth:`DeviceBuffers.slot_for` when ``max_devices`` are tracked already."""


#: Temperature and humidity are kept in hundredths of a °C and of a %RH: the resolution of
#: common combined sensors (Sensirion SHT3x/SHT4x datasheets: 0.01 °C, 0.01 %RH), and the
#: schema's ranges (-40 to 125 °C, 0 to 100 %RH: :class:`app.schemas.readings.Reading`) fit
#: an int16 at that scale. Gas stays float32: ppm readings span 0 to 1,000,000.
AMBIENT_SCALE = 100


class Ring:
    """Every device's last readings, as one ``(capacity, ring, 3)`` float32 array would hold
    them, in 8 bytes a reading instead of 12.

    Indexing takes the keys of the first two axes (slot, ring position) and gives or takes
    float32 ``(..., 3)`` rows (gas ppm, °C, %RH). Gas is stored as float32, temperature and
    humidity as int16 hundredths (:data:`AMBIENT_SCALE`): a value given to two decimals
    comes back as the same float32 it was stored as before (the quotient of an int by 100 is
    rounded once), finer digits are rounded to 0.01. 60 readings take 480 B a device, not 720
    (issue 13: ``<= 1,000`` B a tracked device).

    Args:
        ring: readings kept per device.
    """

    def __init__(self, ring: int) -> None:
        self.gas = np.zeros((0, ring), np.float32)
        self.ambient = np.zeros((0, ring, 2), np.int16)

    def __getitem__(self, key: Any) -> np.ndarray:
        g = self.gas[key]
        out = np.empty((*np.shape(g), 3), np.float32)
        out[..., 0] = g
        np.divide(self.ambient[key], np.float32(AMBIENT_SCALE), out=out[..., 1:])
        return out

    def __setitem__(self, key: Any, rows: Any) -> None:
        v = np.asarray(rows)
        self.gas[key] = v[..., 0]
        self.ambient[key] = np.clip(np.rint(v[..., 1:] * AMBIENT_SCALE), -32768, 32767)

    def put(self, s: int, i: int, gas: float, temp: float, rh: float) -> None:
        """``self[s, i] = (gas, temp, rh)`` for one reading, without numpy's array calls
        (the one-reading path: ~1 µs against ~9 µs)."""
        self.gas[s, i] = gas
        amb = self.ambient[s, i]
        amb[0] = min(max(round(temp * AMBIENT_SCALE), -32768), 32767)
        amb[1] = min(max(round(rh * AMBIENT_SCALE), -32768), 32767)

    def grow(self, capacity: int) -> None:
        """Room for ``capacity`` slots (new ones zero)."""
        self.gas = _grown(self.gas, capacity, 0.0)
        self.ambient = _grown(self.ambient, capacity, 0)

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays."""
        return int(self.gas.nbytes + self.ambient.nbytes)


def _grown(old: np.ndarray, capacity: int, fill: float) -> np.ndarray:
    new = np.full((capacity, *old.shape[1:]), fill, dtype=old.dtype)
    new[: old.shape[0]] = old
    return new


class DeviceBuffers:
    """Ring buffers for up to ``max_devices`` devices.

    Every device has one slot in :attr:`index` (a :class:`app.slab.SlotIndex`, shared with the
    signal models, the safety rules and the registry), and every per-device array or column is
    indexed by it. A ring holds ``max(window, warmup)`` readings: the signal model's warm-up
    is computed from them (:meth:`app.ml.signal.SignalStates.warm_up`), so nothing else keeps
    a copy; with the shipped model both are 60.

    Args:
        window: readings per window (the model's, from its manifest).
        max_devices: cap on tracked devices; :class:`DeviceCapReached` beyond it.
        signals: the devices' signal models; its warm-up must be >= ``window``. It is bound to
            this object's slot index.
        stride: a window is emitted every ``stride`` readings once the signal is warm.
        clock: monotonic seconds, for idle eviction (injected for tests).
        wall: epoch seconds, the server clock a reading's ``ts`` is compared with for a
            clock step (:data:`CLOCK_STEP_S`; injected for tests).

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
        wall: Callable[[], float] = time.time,
    ) -> None:
        if signals.cfg.warmup < window:
            raise ValueError(f"signal warm-up {signals.cfg.warmup} < window {window}")
        self.window = window
        self.ring = max(window, signals.cfg.warmup)  # readings kept per device
        self.max_devices = max_devices
        self.stride = stride
        self.signals = signals
        self.clock = clock
        self.wall = wall
        #: Readings stored as a device's clock put right (:data:`CLOCK_STEP_S`), in total.
        self.clock_steps = 0
        self.index = SlotIndex(max_slots=max_devices)
        self.values = Ring(self.ring)  # readings, ring order
        self.count = np.zeros(0, np.int64)  # readings since the device appeared
        self.last_seen = np.zeros(0, np.float64)  # clock() at its last reading; inf = free
        self.index.attach(self)
        signals.bind(self.index)

    @property
    def capacity(self) -> int:
        """Slots allocated (used or free)."""
        return self.index.capacity

    def grow(self, capacity: int) -> None:
        """Make room for ``capacity`` slots (called by the index)."""
        self.values.grow(capacity)
        self.count = _grown(self.count, capacity, 0)
        self.last_seen = _grown(self.last_seen, capacity, math.inf)

    def clear(self, slot: int) -> None:
        """Empty a freed slot's ring (called by the index)."""
        self.count[slot] = 0
        self.last_seen[slot] = math.inf

    def __len__(self) -> int:
        return len(self.index)

    def __contains__(self, device_id: str) -> bool:
        return device_id in self.index

    def device_ids(self) -> list[str]:
        """All tracked device ids (a copy)."""
        return list(self.index)

    def slot_for(self, device_id: str) -> int:
        """The slot of ``device_id``, allocating one for a new device.

        Raises:
            DeviceCapReached: the device is new and ``max_devices`` are tracked.
        """
        slot = self.index.get(device_id)
        if slot is not None:
            return slot
        if len(self.index) >= self.max_devices:
            raise DeviceCapReached(device_id)
        return self.index.add(device_id)

    @property
    def last_ts(self) -> np.ndarray:
        """(capacity,) float64: newest stored reading time of each slot, epoch s (NaN: none
        yet). A copy of the signal models' column, which is where it is kept."""
        return np.array(self.signals.states.last_ts, dtype=np.float64)

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
        redelivered reading is refused, as cluster mode needs) is ``LATE``; one that repeats
        its device's newest (same ``ts`` and values: a resend) is ``DUPLICATE``, not stored
        twice (not strict); a new device beyond
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
        if n == 1:
            return self._store_one(device_ids[0], float(ts[0]), values, strict, windows)
        order = np.argsort(ts, kind="stable")
        codes = np.zeros(n, dtype=np.uint8)
        slots = np.full(n, -1, dtype=np.int64)
        finite = np.isfinite(ts)
        get = self.index.get
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
        prior[known] = self.signals.states.view("last_ts")[slots[known]]
        with np.errstate(invalid="ignore"):  # NaN prior: the device's first reading
            late = ts[known] <= prior[known] if strict else ts[known] < prior[known]
            if not strict and late.any():
                late &= ~self._stepped(prior[known], ts[known])
        codes[known[late]] = LATE
        if not strict:
            codes[self._resent(slots, known, ts, prior, values)] = DUPLICATE
        codes[(codes == STORED) & ~finite] = BAD_TS
        ok = order[codes[order] == STORED]  # time order
        if ok.size == 0:
            return Stored(codes, None, prior)
        ok = ok[np.argsort(slots[ok], kind="stable")]  # grouped by slot, time order within
        if not strict and ok.size > 1:  # a reading twice in one message: stored once
            again = np.flatnonzero(
                (slots[ok[1:]] == slots[ok[:-1]])
                & (ts[ok[1:]] == ts[ok[:-1]])
                & np.all(values[ok[1:]] == values[ok[:-1]], axis=1)
            )
            if again.size:
                codes[ok[again + 1]] = DUPLICATE
                ok = np.delete(ok, again + 1)
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

    def _store_one(
        self, device_id: str, ts: float, values: np.ndarray, strict: bool, windows: bool
    ) -> Stored:
        """:meth:`store` of one reading (``values`` (1, 3) float64) in scalar Python: the
        same codes, ring write, signal update and window as the batch path, without its
        few dozen numpy calls (a gateway posting each reading as it comes, or a WebSocket
        frame of one reading, is the common small message)."""
        codes = np.zeros(1, dtype=np.uint8)
        prior = np.full(1, math.nan)
        finite = math.isfinite(ts)
        s = self.index.get(device_id)
        if s is None and finite:
            try:
                s = self.slot_for(device_id)
            except DeviceCapReached:
                codes[0] = CAPPED
                return Stored(codes, None, prior)
        if s is not None:
            last = self.signals.states.last_ts[s]
            prior[0] = last
            if ts <= last if strict else ts < last and not self._stepped(last, ts):
                codes[0] = LATE
                return Stored(codes, None, prior)
            if not strict and ts == last and self._same_as_last(s, values[0]):
                codes[0] = DUPLICATE
                return Stored(codes, None, prior)
        if not finite:
            codes[0] = BAD_TS
            return Stored(codes, None, prior)
        assert s is not None
        r, w = self.ring, self.signals.cfg.warmup
        count = int(self.count[s])
        row = values[0].tolist()
        self.values.put(s, count % r, row[0], row[1], row[2])
        self.count[s] = count + 1
        self.last_seen[s] = self.clock()
        head = np.array([count + 1])  # the next write position (modulo the ring)

        def recent(_: int) -> np.ndarray:
            rows: np.ndarray = self.values[s, self._order(head, w)[0]]
            return rows

        sig = self.signals.learn([s], [ts], values.tolist(), recent)
        if not windows:
            return Stored(codes, None, prior)
        k = sig[0, 4]
        if not (k >= w and (k - w) % self.stride == 0):
            return Stored(codes, None, prior)
        win = self.values[s, self._order(head, self.window)]
        return Stored(codes, WindowBatch([device_id], np.array([ts]), win, sig[:, :4]), prior)

    def _same_as_last(self, slot: int, row: np.ndarray) -> bool:
        """The slot's newest stored reading holds ``row``'s values (as float32, as kept)."""
        last = self.values[slot, (int(self.count[slot]) - 1) % self.ring]
        return bool(np.array_equal(last, row.astype(np.float32)))

    def _resent(
        self,
        slots: np.ndarray,
        known: np.ndarray,
        ts: np.ndarray,
        prior: np.ndarray,
        values: np.ndarray,
    ) -> np.ndarray:
        """Indices of readings that repeat their device's newest stored reading: the same
        ``ts`` and the same values (a gateway resending after a lost reply). Stored twice,
        the window would hold the reading twice and the rules would count it twice."""
        same: np.ndarray = known[ts[known] == prior[known]]
        if same.size == 0:
            return same
        s = slots[same]
        last = self.values[s, (self.count[s] - 1) % self.ring]
        out: np.ndarray = same[np.all(last == values[same].astype(np.float32), axis=1)]
        return out

    def _stepped(self, prior: Any, ts: Any) -> Any:
        """Which readings older than their device's newest (``prior``, epoch s) are its clock
        put right (:data:`CLOCK_STEP_S`): the newest stands more than that far ahead of the
        server clock and the reading does not. Scalars -> bool, arrays -> bool array; each
        such reading is counted in :attr:`clock_steps` and logged.

        The buffers just go on from the reading: the window keeps the wrongly stamped reading
        in its place (the signal model's median of three removes one), and the device's time
        line restarts from the reading's ``ts``.
        """
        limit = self.wall() + CLOCK_STEP_S
        out = (prior > limit) & (ts <= limit)
        k = int(np.count_nonzero(out))
        if k:
            self.clock_steps += k
            log.warning(
                "%d reading(s) older than their device's newest, which stands more than %g s "
                "ahead of the server clock: stored as the device's clock put right",
                k,
                CLOCK_STEP_S,
            )
        return out

    def _due(self, sig: np.ndarray) -> np.ndarray:
        """(m,) bool: warm signal and on the stride, from SignalBank.learn's (m, 5) output."""
        n = sig[:, 4]
        w = self.signals.cfg.warmup
        return np.asarray((n >= w) & ((n - w) % self.stride == 0), dtype=bool)

    def _head(self, slots: np.ndarray | slice) -> np.ndarray:
        """Next write position of each slot: ``count % ring`` (no array of its own)."""
        head: np.ndarray = self.count[slots] % self.ring
        return head

    def _order(self, head: np.ndarray, k: int) -> np.ndarray:
        """Ring positions of the last ``k`` readings, oldest first: (len(head), k)."""
        return (head[:, None] + (self.ring - k) + np.arange(k)) % self.ring

    def _store_singles(
        self, slots: np.ndarray, ts: np.ndarray, vals: np.ndarray, *, windows: bool = True
    ) -> WindowBatch | None:
        """One reading for each of several distinct slots: ring writes in numpy; the
        windows due (None when ``windows`` is False)."""
        head = self._head(slots)
        self.values[slots, head] = vals
        head = (head + 1) % self.ring
        self.count[slots] += 1
        self.last_seen[slots] = self.clock()
        warmup = self.signals.cfg.warmup

        def recent(i: int) -> np.ndarray:
            rows: np.ndarray = self.values[slots[i], self._order(head[i : i + 1], warmup)[0]]
            return rows

        sig = self.signals.learn(slots.tolist(), ts.tolist(), vals.tolist(), recent)
        if not windows:
            return None
        due = self._due(sig)
        s = slots[due]
        owner = self.index.owner
        return WindowBatch(
            [owner(i) or "" for i in s.tolist()],
            ts[due],
            self.values[s[:, None], self._order(self._head(s), self.window)],
            sig[due, :4],
        )

    def _store_run(
        self, slot: int, ts: np.ndarray, vals: np.ndarray, *, windows: bool = True
    ) -> WindowBatch | None:
        """Several readings of one slot, in time order; the windows due (None when
        ``windows`` is False)."""
        r, w, m = self.ring, self.window, len(ts)
        head = int(self.count[slot] % r)
        history = np.concatenate(
            (self.values[slot, head:], self.values[slot, :head], vals.astype(np.float32))
        )
        k = min(m, r)  # only the last r readings of a long run stay in the ring
        self.values[slot, (head + m - k + np.arange(k)) % r] = vals[-k:]
        self.count[slot] += m
        self.last_seen[slot] = self.clock()
        warmup = self.signals.cfg.warmup

        def recent(j: int) -> np.ndarray:  # history row r + j is reading j of the run
            return history[r + j + 1 - warmup : r + j + 1]

        sig = self.signals.learn([slot] * m, ts.tolist(), vals.tolist(), recent)
        if not windows:
            return None
        due = np.flatnonzero(self._due(sig))
        # window ending at reading j of the run = history rows [r + j + 1 - w, r + j + 1)
        views = np.lib.stride_tricks.sliding_window_view(history, w, axis=0)
        device = self.index.owner(slot) or ""
        return WindowBatch(
            [device] * due.size,
            ts[due],
            views[due + 1 + r - w].transpose(0, 2, 1).copy(),
            sig[due, :4],
        )

    def export(self, slot: int) -> tuple[np.ndarray, int]:
        """A slot's ring for a snapshot: (its last ``min(count, ring)`` readings, oldest
        first, shape (k, 3) float32 (a copy); the readings it has had, ``count``)."""
        count = int(self.count[slot])
        k = min(count, self.ring)
        rows: np.ndarray = self.values[slot, self._order(self._head(slice(slot, slot + 1)), k)[0]]
        return rows.copy(), count

    def restore(self, device_id: str, rows: np.ndarray, count: int) -> int:
        """Put back a device's ring from :meth:`export` (its signal model is set apart, in
        :attr:`signals`); the device's slot.

        Args:
            rows: shape (k, 3), oldest first; only the last ``ring`` are kept.
            count: readings the device had had (``count % ring`` is the write position).

        Raises:
            DeviceCapReached: ``max_devices`` are tracked already.
        """
        slot = self.slot_for(device_id)
        rows = np.asarray(rows, dtype=np.float32).reshape(-1, 3)[-self.ring :]
        k = min(len(rows), count)
        self.values[slot, (count - k + np.arange(k)) % self.ring] = rows[len(rows) - k :]
        self.count[slot] = count
        self.last_seen[slot] = self.clock()
        return slot

    def snapshot(self, slot: int) -> np.ndarray:
        """Copy of a slot's last ``window`` readings, oldest first: shape (window, 3), float32."""
        order = self._order(self._head(slice(slot, slot + 1)), self.window)[0]
        rows: np.ndarray = self.values[slot, order]
        return rows

    def info(self, device_id: str) -> dict[str, object] | None:
        """Fill, last reading and signal model of a device, or None when unknown."""
        slot = self.index.get(device_id)
        if slot is None:
            return None
        n = int(self.count[slot])
        last = self.values[slot, (int(self.count[slot]) - 1) % self.ring]
        return {
            "readings_seen": n,
            "buffer_fill": min(n, self.window),
            "window": self.window,
            "last_ts": float(self.signals.states.last_ts[slot]),
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
            The evicted device ids (their slots, and so their signal models, are freed).
        """
        cutoff = self.clock() - idle_s
        stale = np.flatnonzero(self.last_seen < cutoff).tolist()
        keep = keep or set()
        owner = self.index.owner
        gone = [d for s in stale if (d := owner(s)) is not None and d not in keep]
        self.drop(gone)
        return gone

    def drop(self, device_ids: Sequence[str]) -> None:
        """Forget devices now (eviction; cluster mode: their partition moved elsewhere). Their
        slot is freed: every holder of per-slot state clears it."""
        gone = [d for d in device_ids if d in self.index]
        for d in gone:
            self.index.remove(d)
        self.signals.forget(gone)

    def nbytes(self) -> int:
        """Bytes held by the ring arrays."""
        return sum(a.nbytes for a in (self.values, self.count, self.last_seen))
