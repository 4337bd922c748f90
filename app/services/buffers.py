"""Per-device ring buffers of the last ``window`` readings, in preallocated numpy arrays.

Memory is fixed per device: ``max(window, warmup)`` readings of a float32 gas value and
temperature and humidity as int16 hundredths (:class:`Ring`), plus two scalars and the time
line's four (517 B with the shipped model; the write position is the reading count modulo
the ring), in
the device's slot of the shared :class:`app.slab.SlotIndex`; a slot is reused after its
device is evicted. No Python object is kept per reading or per device. Batches go through
:meth:`DeviceBuffers.store` in a few numpy operations (one per batch for devices with one
reading in it, one per device for devices with several; a message of one reading takes a
scalar path, :meth:`DeviceBuffers._store_one`); a device with a detection axis (a raw-unit
profile's ``zero`` / ``polarity``: :func:`app.alerting.profiles.detected_gas`) has its gas
put on that axis first, so its ring, its signal model and its windows hold the gas as
detection sees it (:attr:`DeviceBuffers.axes`; the one place this happens); each reading's
gas also goes to
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

from app.alerting.profiles import Axis, detected_gas, sent_gas
from app.schemas.readings import iso
from app.services.signals import SignalBank
from app.services.windows import (
    BAD_TS,
    CAPPED,
    DUPLICATE,
    LATE,
    STORED,
    TWICE,
    Stored,
    WindowBatch,
    as_sent,
)
from app.slab import SlotIndex

__all__ = [
    "BAD_TS",
    "CAPPED",
    "CLOCK_BEHIND_S",
    "CLOCK_FAULT_READINGS",
    "CLOCK_FAULT_S",
    "CLOCK_STALE_PACE",
    "CLOCK_STALE_S",
    "CLOCK_STEP_S",
    "JUMP_FACTOR",
    "JUMP_MIN_S",
    "DUPLICATE",
    "LATE",
    "TWICE",
    "TWICE_FRACTION",
    "TWICE_MAX_S",
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

#: The jump rule (not in cluster mode, ``strict``). A reading stamped more than
#: ``max(JUMP_MIN_S, JUMP_FACTOR * typical interval)`` after its device's newest is stored,
#: but it does not become the device's newest for ordering until the next reading places it:
#: one stamped at or after it confirms it (a real pause: the signal model's gap rule then
#: applies, from the jumped reading, :meth:`app.ml.signal.SignalStates.restart_at`); one
#: between the old newest and it shows an outlier stamp, and the time line goes on from the
#: old newest. Outlier stamps seen by a newcomer: one reading without ``ts`` (stamped on
#: receipt) in a stream backfilled 15 min behind, or one stamped 20 s ahead of the server
#: clock in it, made the next 15 min of readings ``out_of_order``; one stamped 250 s ahead
#: restarted the warm-up (gap rule) and a leak starting 10 s later became the level. Until
#: it is placed, the signal model learns the jumped reading at the old newest's time (moving
#: nothing) and no window is scored for it (the next reading's window holds it). A reading
#: between the two that is itself that far from the old newest, and within that limit before
#: the pending one, is a backlog sent newest first (a store-and-forward gateway's, after an
#: outage), not an outlier stamp: it is refused (``LATE``, answered ``out_of_order``: send a
#: backlog oldest first) and the pending one stays, and so is each later reading within that
#: limit before the one refused before it, down to the old newest
#: (:meth:`DeviceBuffers._backward`); resent oldest first, they are all placed. Not while the
#: pending one stands more than :data:`CLOCK_STEP_S` ahead of the server clock (a clock
#: glitch). Before, each such reading replaced the pending one, so a 30-min backlog of a
#: 30-s device sent so was all "accepted" and none placed or scored; the first live reading
#: confirmed a 30-min gap and the warm-up learned the outage's leak as the level (newcomer
#: of 2 Dec). Known limit: after an outlier stamp that is not ahead of the server clock (a
#: reading sent without ``ts`` in a backfill), a reading that is a jump after the newest
#: and within one before the outlier is refused so (and the readings just before it, sent
#: after it). 5 typical
#: intervals: a regular device (smoke_iot at 1 Hz) never skips that many unless readings
#: were lost; 5 s: an outlier stamp within it delays at most a few readings (refused
#: ``out_of_order`` with their reason), and a pause of a fast device (10 Hz) shorter than
#: it is not worth a held-back window.
JUMP_MIN_S = 5.0
JUMP_FACTOR = 5.0
#: The jump rule applies only where an outlier stamp is possible: the device's newest reading
#: stands more than this behind the server clock (a backfill), or the new reading stands more
#: than :data:`CLOCK_STEP_S` ahead of it. A live device that slows its reporting (1 Hz, then
#: every 6 s) jumps 6 typical intervals with every reading; held back, its readings were
#: never scored again and a 3,000 ppm leak raised nothing for an hour (newcomer). 60 s: a
#: live device's newest reading is a few seconds behind the server clock at most.
JUMP_BACKFILL_S = 60.0

#: A broken device clock (not in cluster mode). Readings that do not advance their device's
#: time line, either stamped exactly at its newest time with other values (a stuck clock)
#: or more than :data:`CLOCK_BEHIND_S` behind it (a clock reset to 2000-01-01, a time zone
#: stamped as UTC), counted in a row (a reading that advances the line ends the run; a
#: reading a little behind, likely a redelivery, neither counts nor ends it): once the run
#: holds :data:`CLOCK_FAULT_READINGS` readings over at least ``CLOCK_FAULT_S`` of server
#: time, the device's clock is broken, and this reading and every later one that does not
#: advance its time line are stored at the server's receipt time (not before the device's
#: newest), with the safety rules' ``clock`` fault open. A reading that advances the line
#: again ends it. Before: a reset clock's readings were all refused as ``out_of_order`` (the
#: model and the fault rules saw none; ``silent`` after 5 min), and a stuck clock's alerts
#: never resolved (the off-delays are reading time). 60 s of server time and 3 readings:
#: a resent message arrives at one moment, and a gateway's retries of one message (even a
#: few hours old, which the 1 h bound also keeps out) stop once answered; a device reporting
#: every 5 min is caught at its third reading. Known limit: in that mode a resend of a
#: reading other than the newest cannot be told from a new one and is stored again.
CLOCK_FAULT_S = 60.0
CLOCK_FAULT_READINGS = 3
#: How far behind its device's newest a reading must be to count towards a broken clock, s:
#: 1 h, the smallest time-zone step that a clock stamping local time as UTC makes, and
#: beyond ordinary redeliveries (a gateway's retries within minutes).
CLOCK_BEHIND_S = 3600.0
#: A clock reset far back (not in cluster mode). A gateway whose clock reset to 2000-01-01
#: before its device's first reading (or after its slot was freed) advances its own time
#: line normally, so the run above never starts: its readings were stored at their stamps,
#: the history's retention pruner removed them within the hour, and no fault was raised
#: (newcomer). Readings stamped more than ``stale_s`` behind the server clock whose stamps
#: keep pace with it (they advance at most :data:`CLOCK_STALE_PACE` times the server time
#: since the run's first reading, plus :data:`CLOCK_STEP_S`) for :data:`CLOCK_FAULT_READINGS`
#: readings over ``CLOCK_FAULT_S`` of server time (however they are grouped into messages:
#: one a message, or beside other devices' readings in a gateway's poll) are a live device
#: with a broken clock:
#: this reading and every later one stamped that far behind are stored at the server's
#: receipt time with the ``clock`` fault open, as above, until a reading stamped within the
#: bound advances the time line again. A backlog or a replay of old readings (tests,
#: ``bench``, a gateway's store-and-forward buffer) advances its stamps much faster than the
#: server clock and is stored at its stamps as before. The readings of the run before it is
#: judged (the first minute) stay at their stamps. ``stale_s`` defaults to the readings
#: history's retention (``Settings.readings_retention_s``, 7 days; ``app/state.py`` passes
#: the setting): a reading stamped older than that cannot be kept by the history at its
#: stamp. The run in progress is kept per device only while there is one (a dict entry).
CLOCK_STALE_S = 7 * 86_400.0
#: A run of stale stamps (:data:`CLOCK_STALE_S`) keeps pace with the server clock while its
#: stamps advance at most this many times the server time since its first reading (plus
#: :data:`CLOCK_STEP_S` for a gateway that sends its readings in batches): a free-running
#: clock drifts by parts per million, a backlog catches up by orders of magnitude.
CLOCK_STALE_PACE = 2.0

#: A reading delivered twice (not in cluster mode, ``strict``). A reading with exactly its
#: device's newest stored values (gas, °C and %RH as kept), stamped later than it by less
#: than :data:`TWICE_FRACTION` of the device's typical interval and less than
#: :data:`TWICE_MAX_S` (less than :data:`TWICE_MAX_S` while that interval is not known: a
#: new device, or one warming up again after a pause), is the same reading again: a LoRaWAN
#: uplink heard by two gateways, a broker's or a gateway's redelivery, each copy stamped on
#: arrival. It is refused as ``duplicate`` and not stored. Stored, each copy counted as a
#: reading of its own: a one-sample glitch of a 300-s device, delivered twice 10-80 ms
#: apart, passed the running median of three and raised a leak alert at 94-287 of about 120
#: glitches in 720 device-hours (both models, live and offline), and a copy 0.05 s after
#: the first reading after a pause made the typical interval 0.05 s, so that every later
#: 320-600-s interval restarted the warm-up: the device stayed ``warming_up`` for 48 h and a
#: 2x leak was never raised (newcomer of 9 Dec). 0.1: a regular device's interval varies by
#: far less (clock jitter, a gateway's queue). 1 s: a network server's deduplication window
#: is a fraction of a second (ChirpStack's default ``deduplication_delay`` is 200 ms), and
#: the bound keeps a sensor whose readings stand still from losing readings to the rule
#: where its typical interval is overestimated (after a pause, :data:`JUMP_FACTOR`): at 10
#: times it (a fraction alone), a steady 1 Hz sensor lost 94 of its 100 readings after a
#: 250-s pause in a backfill, each refusal keeping the estimate up. A fast device whose
#: readings stand still loses about its first second of readings, once. Copies a second or
#: more apart (a gateway's retry after a timeout) are stored as readings (DETECTION_LOG,
#: open faults). Readings of one message that share a stamp (sent without ``ts``) are not
#: copies of each other.
TWICE_FRACTION = 0.1
TWICE_MAX_S = 1.0


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

    @staticmethod
    def as_stored(rows: Any) -> np.ndarray:
        """``rows`` (..., 3) as the ring gives them back once stored: float32, °C and %RH
        rounded to hundredths (a resend is recognised by these values)."""
        v = np.asarray(rows, dtype=np.float64)
        out = np.empty(v.shape, np.float32)
        out[..., 0] = v[..., 0]
        amb = np.clip(np.rint(v[..., 1:] * AMBIENT_SCALE), -32768, 32767).astype(np.int16)
        np.divide(amb, np.float32(AMBIENT_SCALE), out=out[..., 1:])
        return out

    def last(self, s: int, head: int, k: int) -> np.ndarray:
        """The last ``k`` readings of slot ``s``, oldest first, (k, 3) float32, where
        ``head`` is the slot's next write position: ``self[s, (head - k + arange(k)) %
        ring]`` with slices instead of an index array (the one-reading path: ~5 µs against
        ~26 µs with its index)."""
        r = self.gas.shape[1]
        start = (head - k) % r
        out = np.empty((k, 3), np.float32)
        amb = out[:, 1:]
        scale = np.float32(AMBIENT_SCALE)
        n = min(k, r - start)  # up to the end of the ring, then from its start
        out[:n, 0] = self.gas[s, start : start + n]
        np.divide(self.ambient[s, start : start + n], scale, out=amb[:n])
        if n < k:
            out[n:, 0] = self.gas[s, : k - n]
            np.divide(self.ambient[s, : k - n], scale, out=amb[n:])
        return out

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
        stale_s: a reading stamped more than this behind ``wall`` (s) is stored at its
            receipt time, its device's clock broken (:data:`CLOCK_STALE_S`).

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
        stale_s: float = CLOCK_STALE_S,
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
        self.stale_s = stale_s
        #: Slot -> (server time, stamp, readings) of its run of readings stamped more than
        #: ``stale_s`` behind the server clock not judged yet (:data:`CLOCK_STALE_S`).
        self.stale_runs: dict[int, tuple[float, float, int]] = {}
        #: Slot -> stamp of its last reading refused as part of a backlog sent newest first
        #: (:meth:`_backward`), while its jump is pending (:data:`JUMP_FACTOR`).
        self.backward: dict[int, float] = {}
        #: Slot -> (stamp, stored values (3,) float32) of its jump that an earlier reading
        #: placed before it replaced (:data:`JUMP_FACTOR`): the reading is stored already,
        #: so the same reading sent again is a ``DUPLICATE`` until the time line passes
        #: its stamp (:meth:`_place`).
        self.replaced: dict[int, tuple[float, np.ndarray]] = {}
        #: Readings stored as a device's clock put right (:data:`CLOCK_STEP_S`), in total.
        self.clock_steps = 0
        #: Readings stored at the server's receipt time, their device's clock broken
        #: (:data:`CLOCK_FAULT_S`), in total.
        self.receipt_stamped = 0
        self.index = SlotIndex(max_slots=max_devices)
        self.values = Ring(self.ring)  # readings, ring order
        self.count = np.zeros(0, np.int64)  # readings since the device appeared
        self.last_seen = np.zeros(0, np.float64)  # clock() at its last reading; inf = free
        # the time line's state (non-strict): the stamp of the newest stored reading where it
        # differs from the device's newest time (a jump not placed yet, :data:`JUMP_FACTOR`;
        # a reading stored at receipt time, :data:`CLOCK_FAULT_S`), NaN = none; the broken
        # clock's run: wall() at its first reading, its length, whether the clock is broken
        self.stamp_ts = np.zeros(0, np.float64)
        self.stall_since = np.zeros(0, np.float64)
        self.stall_n = np.zeros(0, np.int32)
        self.on_receipt = np.zeros(0, np.bool_)
        #: Readings stored at the device's newest time stamp (1 for most; more from a device
        #: that stamps several readings alike, e.g. 2 Hz with whole seconds), at most 255: a
        #: resend is recognised against all of them (:meth:`_resent`, :meth:`_same_as_tied`).
        self.tied = np.zeros(0, np.uint8)
        #: Device id -> (zero, sign) of the devices whose leak detection does not see the
        #: reading as it is (``Profiles.axes``, wired in ``app/state.py``; default: none).
        #: :meth:`store` puts their gas on that axis before anything else sees it, and
        #: :meth:`info` shows the last reading as sent.
        self.axes: dict[str, Axis] = {}
        #: Device id -> unit of the devices whose unit is not ppm (``Profiles.other_units``,
        #: wired in ``app/state.py``): a %LEL device's reading under 0 enters detection as 0.
        self.units: dict[str, str] = {}
        #: Device id -> (ts, gas as sent) of a %LEL reading under 0 that entered as 0: the
        #: device view shows it as sent while it is the device's newest reading.
        self.below_zero: dict[str, tuple[float, float]] = {}
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
        self.stamp_ts = _grown(self.stamp_ts, capacity, math.nan)
        self.stall_since = _grown(self.stall_since, capacity, math.nan)
        self.stall_n = _grown(self.stall_n, capacity, 0)
        self.on_receipt = _grown(self.on_receipt, capacity, False)
        self.tied = _grown(self.tied, capacity, 0)

    def clear(self, slot: int) -> None:
        """Empty a freed slot's ring (called by the index)."""
        if self.below_zero:
            d = self.index.owner(slot)
            if d is not None:
                self.below_zero.pop(d, None)
        self.count[slot] = 0
        self.last_seen[slot] = math.inf
        self.stamp_ts[slot] = self.stall_since[slot] = math.nan
        self.stall_n[slot] = 0
        self.on_receipt[slot] = False
        self.tied[slot] = 0
        if self.stale_runs:
            self.stale_runs.pop(slot, None)
        if self.backward:
            self.backward.pop(slot, None)
        if self.replaced:
            self.replaced.pop(slot, None)

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

    def heard(self, device_id: str) -> int:
        """The slot of a device heard from now although none of its readings is stored (all
        refused for a stamp too far ahead of the server clock): a new device takes a slot,
        so it counts against ``max_devices`` like any other, and it is idle (evictable)
        from now, not before its first stored reading.

        Raises:
            DeviceCapReached: the device is new and ``max_devices`` are tracked.
        """
        slot = self.slot_for(device_id)
        self.last_seen[slot] = self.clock()
        return slot

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
        stamped: np.ndarray | None = None,
    ) -> Stored:
        """Store a batch of readings in time order per device; collect the windows due.

        A reading older than its device's newest stored one (``strict``: not newer, so a
        redelivered reading is refused, as cluster mode needs) is ``LATE``; one that repeats
        its device's newest (same ``ts`` and values: a resend) is ``DUPLICATE``, not stored
        twice (not strict); a new device beyond
        ``max_devices`` is ``CAPPED``, a non-finite ``ts`` is ``BAD_TS``; the rest are
        ``STORED`` (readings of one device in stable ``ts`` order). Not strict, a device's
        time line also survives a bad stamp: a clock put right (:data:`CLOCK_STEP_S`), one
        reading that jumps ahead (:data:`JUMP_FACTOR`) and a broken clock
        (:data:`CLOCK_FAULT_S`); the readings of such devices go one at a time
        (:meth:`_one`), the others through a few numpy operations.

        Args:
            device_ids: N device ids.
            ts: shape (N,), float64 epoch seconds.
            values: shape (N, 3), gas, temperature_c, humidity_pct, as sent (not changed:
                the gas of a device in :attr:`axes` is put on its axis in a copy).
            windows: False to only store and learn (a cluster takeover's replay, which
                scores nothing): no windows are assembled and ``Stored.windows`` is None.
            stamped: (N,) bool, False for a reading the server stamped with its receipt
                time (sent without ``ts``): it cannot be a resend, so it is never
                ``DUPLICATE`` (readings of one device in one message without ``ts`` share
                the receipt time, and equal values among them are distinct readings). None:
                every reading was stamped by its sender.

        Returns:
            A :class:`Stored`: codes per reading, the windows due, the prior times, and
            where the readings went on the time line when any went elsewhere than its ``ts``.
        """
        n = len(device_ids)
        ts = np.asarray(ts, dtype=np.float64)
        values = np.asarray(values, dtype=np.float64).reshape(n, 3)  # float32 once stored
        if self.axes or (self.units and bool((values[:, 0] < 0.0).any())):
            values = self._on_axes(device_ids, ts, values)
        if n == 1:
            resend = stamped is None or bool(stamped[0])
            return self._store_one(device_ids[0], float(ts[0]), values, strict, windows, resend)
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
        parts: list[WindowBatch | None] = []
        placed: np.ndarray | None = None
        done = np.zeros(n, dtype=bool)
        if not strict:  # devices whose time line needs more than "newer": one at a time
            one = self._special(slots, known, ts, prior)
            if one.size:
                placed = ts.copy()
                for i in one[np.argsort(ts[one], kind="stable")].tolist():
                    code, at, win = self._one(
                        int(slots[i]),
                        device_ids[i],
                        float(ts[i]),
                        values[i : i + 1],
                        False,
                        windows,
                        stamped is None or bool(stamped[i]),
                    )
                    codes[i], placed[i] = code, at
                    parts.append(win)
                done[one] = True
                known = known[~done[known]]
        with np.errstate(invalid="ignore"):  # NaN prior: the device's first reading
            late = ts[known] <= prior[known] if strict else ts[known] < prior[known]
        codes[known[late]] = LATE
        if not strict:
            maybe = known if stamped is None else known[stamped[known]]
            codes[self._resent(slots, maybe, ts, prior, values)] = DUPLICATE
        codes[(codes == STORED) & ~finite & ~done] = BAD_TS
        ok = order[(codes[order] == STORED) & ~done[order]]  # time order
        if ok.size:
            ok = ok[np.argsort(slots[ok], kind="stable")]  # grouped by slot, time order within
            s_ok = slots[ok]
            starts = np.flatnonzero(np.r_[True, s_ok[1:] != s_ok[:-1]])
            sizes = np.diff(np.r_[starts, ok.size])
            single = ok[starts[sizes == 1]]
            if single.size:
                parts.append(
                    self._store_singles(slots[single], ts[single], values[single], windows=windows)
                )
            for a, m in zip(starts[sizes > 1].tolist(), sizes[sizes > 1].tolist(), strict=True):
                idx = ok[a : a + m]
                parts.append(self._store_run(int(s_ok[a]), ts[idx], values[idx], windows=windows))
        due = [p for p in parts if p is not None and len(p)]
        return Stored(codes, WindowBatch.concat(due) if due else None, prior, placed)

    def _on_axes(self, device_ids: Sequence[str], ts: np.ndarray, values: np.ndarray) -> np.ndarray:
        """``values`` (N, 3) float64 with the gas of each device in :attr:`axes` on its
        detection axis (:func:`app.alerting.profiles.detected_gas`), and a %LEL device's
        reading under 0 (a drifting zero, accepted down to -2.5 %LEL) at 0: no gas is less
        than none, and a level learned at a zero drifted to -0.5 %LEL made the re-zeroed
        detector's 0.0 a critical leak that never cleared (newcomer of 1 Dec 13:45); the
        reading as sent is kept for the device view (:attr:`below_zero`). A copy when any
        changes, ``values`` itself otherwise."""
        axes, units = self.axes, self.units
        hits: list[tuple[int, Axis | None]] = []
        for i, d in enumerate(device_ids):
            a = axes.get(d) if axes else None
            if a is not None:
                hits.append((i, a))
            elif values[i, 0] < 0.0 and units.get(d) == "%LEL":
                hits.append((i, None))
        if not hits:
            return values
        out = values.copy()
        for i, a in hits:
            if a is None:
                self.below_zero[device_ids[i]] = (float(ts[i]), float(out[i, 0]))
                out[i, 0] = 0.0
            else:
                out[i, 0] = detected_gas(out[i, 0], a)
        return out

    def _special(
        self, slots: np.ndarray, known: np.ndarray, ts: np.ndarray, prior: np.ndarray
    ) -> np.ndarray:
        """Indices of the readings (of ``known``, those with a slot) whose device's time
        line needs the per-reading rules of :meth:`_place`: a device with a reading not
        newer than the one before it (its newest, or the batch's previous), one that jumps
        ahead (:data:`JUMP_FACTOR`), one stamped too far behind the server clock
        (:data:`CLOCK_STALE_S`), or a time line state (a jump not placed yet, a broken
        clock's run), or one stamped within :meth:`_twice_window` of the reading before it (a
        reading delivered twice?). Readings in one message twice, late ones and resends are
        among them."""
        if known.size == 0:
            return known
        k = known[np.lexsort((ts[known], slots[known]))]
        sk, tk = slots[k], ts[k]
        first = np.r_[True, sk[1:] != sk[:-1]]
        prev = np.where(first, prior[k], np.r_[np.nan, tk[:-1]])
        limit = np.fmax(JUMP_FACTOR * self.signals.states.view("dt")[sk], JUMP_MIN_S)
        wall = self.wall()
        twice = self._twice_window(self.signals.states.view("dt")[sk])
        with np.errstate(invalid="ignore"):
            far = (wall - prev > JUMP_BACKFILL_S) | (tk - wall > CLOCK_STEP_S)
            odd = (tk <= prev) | ((tk - prev > limit) & far)
            odd |= (tk > prev) & (tk - prev < twice)  # maybe delivered twice: :meth:`_twice`
            stale = wall - tk > self.stale_s
        odd |= np.isfinite(self.stamp_ts[sk]) | (self.stall_n[sk] > 0) | self.on_receipt[sk]
        if stale.any() or self.stale_runs:
            odd |= np.isin(sk, self._stale_runs(sk, tk, stale, wall, np.unique(sk[odd])))
        if not odd.any():
            return known[:0]
        return k[np.isin(sk, sk[odd])]

    def _store_one(
        self,
        device_id: str,
        ts: float,
        values: np.ndarray,
        strict: bool,
        windows: bool,
        resend: bool = True,
    ) -> Stored:
        """:meth:`store` of one reading (``values`` (1, 3) float64) in scalar Python: the
        same codes, ring write, signal update and window as the batch path, without its
        few dozen numpy calls (a gateway posting each reading as it comes, or a WebSocket
        frame of one reading, is the common small message)."""
        codes = np.zeros(1, dtype=np.uint8)
        prior = np.full(1, math.nan)
        s = self.index.get(device_id)
        if s is None and math.isfinite(ts):
            try:
                s = self.slot_for(device_id)
            except DeviceCapReached:
                codes[0] = CAPPED
                return Stored(codes, None, prior)
        if s is None:
            codes[0] = BAD_TS
            return Stored(codes, None, prior)
        prior[0] = self.signals.states.last_ts[s]
        code, at, win = self._one(s, device_id, ts, values, strict, windows, resend)
        codes[0] = code
        return Stored(codes, win, prior, None if code or at == ts else np.array([at]))

    def _one(
        self,
        s: int,
        device_id: str,
        ts: float,
        values: np.ndarray,
        strict: bool,
        windows: bool,
        resend: bool = True,
    ) -> tuple[int, float, WindowBatch | None]:
        """One reading (``values`` (1, 3)) of slot ``s``: (its code, where it went on the
        time line (epoch s), its window or None). ``resend``: False for a reading stamped
        on receipt, never a ``DUPLICATE``."""
        if not math.isfinite(ts):
            return BAD_TS, ts, None
        if not strict and self._twice(s, ts, values[0]):
            return TWICE, ts, None
        last = self.signals.states.last_ts[s]
        at, learn_at, placed = ts, ts, True
        if strict:
            if ts <= last:
                return LATE, ts, None
        else:
            code, at, learn_at, placed = self._place(s, ts, values[0], last, resend)
            if code != STORED:
                return code, ts, None
        r, w = self.ring, self.signals.cfg.warmup
        count = int(self.count[s])
        row = values[0].tolist()
        tied = int(self.tied[s])
        self.tied[s] = min(tied + 1, 255) if at == last and tied else 1
        self.values.put(s, count % r, row[0], row[1], row[2])
        self.count[s] = count + 1
        self.last_seen[s] = self.clock()
        head = (count + 1) % r  # the next write position

        def recent(_: int) -> np.ndarray:
            return self.values.last(s, head, w)

        sig = self.signals.learn([s], [learn_at], values.tolist(), recent)
        k = sig[0, 5]
        if not (windows and placed and k >= w and (k - w) % self.stride == 0):
            return STORED, at, None
        win = self.values.last(s, head, self.window)[None]
        return STORED, at, WindowBatch([device_id], np.array([at]), win, sig[:, :5])

    def _place(
        self, s: int, ts: float, row: np.ndarray, last: float, resend: bool = True
    ) -> tuple[int, float, float, bool]:
        """The time line rules for one reading of slot ``s`` (not strict): its code, where
        it goes on the time line and where the signal model learns it (epoch s), and whether
        it is placed (False: a jump not confirmed yet, :data:`JUMP_FACTOR`). ``last``: the
        device's newest time (NaN: none). Updates the slot's time line state."""
        stamp = self.stamp_ts[s]
        jumped = not math.isnan(stamp)
        if resend and ts == (stamp if jumped else last) and self._same_as_tied(s, row):
            return DUPLICATE, ts, ts, True
        if self.replaced and self._was_replaced(s, ts, row, last, resend):
            return DUPLICATE, ts, ts, True
        wall = self.wall()
        if wall - ts > self.stale_s and self._stale(s, ts, wall):
            self.on_receipt[s], self.stamp_ts[s], self.stall_n[s] = True, ts, 0
            self.receipt_stamped += 1
            at = wall if math.isnan(last) else max(wall, last)
            return STORED, at, at, True
        if self.stale_runs and wall - ts <= self.stale_s:
            self.stale_runs.pop(s, None)  # a sane stamp ends a run of stale ones
        if not ts <= last:  # newer than the newest, or the device's first reading
            typical = self.signals.states.dt[s]
            if (
                jumped
                and ts < stamp
                and not self.on_receipt[s]
                and self._backward(s, ts, stamp, last, typical)
            ):
                return LATE, ts, ts, True  # a backlog sent newest first: the jump stays pending
            if self.backward:
                self.backward.pop(s, None)
            receipt, self.stall_n[s], self.on_receipt[s] = self.on_receipt[s], 0, False
            if jumped:
                self.stamp_ts[s] = math.nan
                states = self.signals.states
                if not receipt and ts < stamp:  # the jump, stored already, is replaced
                    self.replaced[s] = (stamp, self._newest_row(s))
                if not receipt and ts >= stamp:  # confirmed: the jump is the newest now
                    if stamp - last > states.gap_s(s) and not states.one_interval(s, 1):
                        if not states.recurring_pause(s, stamp - last):
                            states.restart_at(s, stamp, stamp - last)  # a pause: the gap rule
                    else:  # the device reports less often: its new interval counts
                        gap = stamp - last
                        typical = gap if math.isnan(typical) else max(typical, gap)
                        states.dt[s] = typical  # for the gap rule too (module doc)
                    last = stamp
            wall = self.wall()
            far = wall - last > JUMP_BACKFILL_S or ts - wall > CLOCK_STEP_S
            if far and ts - last > max(JUMP_FACTOR * typical, JUMP_MIN_S):
                self.stamp_ts[s] = ts  # not the newest until the next reading places it
                return STORED, ts, last, False
            return STORED, ts, ts, True
        if ts < last and self._stepped(last, ts):
            self.stall_n[s], self.on_receipt[s], self.stamp_ts[s] = 0, False, math.nan
            return STORED, ts, ts, True
        wall = self.wall()
        if self.on_receipt[s] or ts == last or last - ts > CLOCK_BEHIND_S:
            if self.stall_n[s] == 0:
                self.stall_since[s] = wall
            self.stall_n[s] += 1
            if self.on_receipt[s] or (
                self.stall_n[s] >= CLOCK_FAULT_READINGS
                and wall - self.stall_since[s] >= CLOCK_FAULT_S
            ):
                if not self.on_receipt[s]:
                    log.warning(
                        "device %s: %d readings in %.0f s did not advance its time line "
                        "(stuck or reset clock): stored at receipt time until they do",
                        self.index.owner(s),
                        int(self.stall_n[s]),
                        wall - self.stall_since[s],
                    )
                self.on_receipt[s], self.stamp_ts[s] = True, ts
                self.receipt_stamped += 1
                at = max(wall, last)
                return STORED, at, at, True
        if ts == last:  # the same time with other values: a new reading, as before
            self.stamp_ts[s] = math.nan
            return STORED, ts, ts, True
        return LATE, ts, ts, True

    def pending(self, device_id: str) -> float:
        """The stamp of ``device_id``'s reading stored as a jump not placed yet
        (:data:`JUMP_FACTOR`), epoch s; NaN when none (or the device is unknown)."""
        s = self.index.get(device_id)
        if s is None or self.on_receipt[s]:
            return math.nan
        return float(self.stamp_ts[s])

    def _backward(self, s: int, ts: float, stamp: float, last: float, typical: float) -> bool:
        """Whether slot ``s``'s reading stamped ``ts``, between its device's newest placed
        time ``last`` and its jump not placed yet ``stamp`` (epoch s), is part of a backlog
        sent newest first (:data:`JUMP_FACTOR`): the first such reading would be a jump
        itself (far from ``last``, where an outlier stamp is possible) and is within a
        jump's limit before the pending one; each later one is within that limit before
        the reading refused so before it (:attr:`backward`: the backlog goes on backwards,
        down to ``last``). Never while the pending one stands more than
        :data:`CLOCK_STEP_S` ahead of the server clock (a clock glitch, which the reading
        replaces as before). Records it as the last reading refused so."""
        wall = self.wall()
        if stamp - wall > CLOCK_STEP_S or not wall - last > JUMP_BACKFILL_S:
            return False
        limit = max(JUMP_FACTOR * typical, JUMP_MIN_S)
        ref = self.backward.get(s) if self.backward else None
        first = ref is None and ts - last > limit and stamp - ts <= limit
        ok = first or (ref is not None and 0.0 < ref - ts <= limit)
        if ok:
            self.backward[s] = ts
        return bool(ok)

    def _stale_runs(
        self, sk: np.ndarray, tk: np.ndarray, stale: np.ndarray, wall: float, placing: np.ndarray
    ) -> list[int]:
        """A message's runs of stale stamps (:data:`CLOCK_STALE_S`), judged per device, not
        per reading (a backlog of old readings stays on the numpy path): ``sk`` / ``tk``
        the readings' slots and stamps (sorted by slot, then stamp), ``stale`` which are
        stamped more than ``stale_s`` behind ``wall``, ``placing`` the slots whose readings
        go through :meth:`_place` already (its :meth:`_stale` counts each of their readings,
        so their runs are left to it). Returns the slots whose readings need :meth:`_place`
        (a run that this message completes); the other devices' runs are counted here, every
        stale reading of theirs in this message, and a device's sane stamp ends its run.
        Before (newcomer of 2 Dec), a run was counted here one reading short (``_stale``
        was to add the last one, but it runs only for the slots returned): a reset clock
        whose readings came one a message alongside another device's reading (a gateway's
        poll of several devices), or two reset devices in one message, never grew its run,
        so no ``clock`` fault was raised and its readings were kept at their year-2000
        stamps, which the retention pruner then removed."""
        out: list[int] = []
        busy = set(placing.tolist())
        for slot in np.unique(sk[stale]).tolist():
            if slot in busy:
                continue
            t = tk[(sk == slot) & stale]
            run = self.stale_runs.get(slot)
            if run is None or t[0] < run[1]:
                run = (wall, float(t[0]), 0)
            since, first, n = run
            if float(t[-1]) - first > CLOCK_STALE_PACE * (wall - since) + CLOCK_STEP_S:
                self.stale_runs[slot] = (wall, float(t[-1]), 1)  # catching up: a backlog
                continue
            if n + t.size >= CLOCK_FAULT_READINGS and wall - since >= CLOCK_FAULT_S:
                out.append(slot)  # :meth:`_stale` counts its readings, from the run as it was
                continue
            self.stale_runs[slot] = (since, first, n + t.size)
        if self.stale_runs:
            for slot in np.unique(sk[~stale]).tolist():
                if slot not in busy and slot not in out:  # :meth:`_place` ends those
                    self.stale_runs.pop(slot, None)
        return out

    def _stale(self, s: int, ts: float, wall: float) -> bool:
        """Whether slot ``s``'s reading stamped ``ts``, more than ``stale_s`` behind the
        server clock ``wall`` (epoch s), goes to its receipt time: its device's clock is
        known broken already, or this reading completes a run that keeps pace with the
        server clock (:data:`CLOCK_STALE_S`). Updates the run; logs once when it is judged."""
        if self.on_receipt[s]:
            return True
        run = self.stale_runs.get(s)
        if run is None or ts < run[1]:
            self.stale_runs[s] = (wall, ts, 1)
            return False
        since, first, n = run
        if ts - first > CLOCK_STALE_PACE * (wall - since) + CLOCK_STEP_S:
            self.stale_runs[s] = (wall, ts, 1)  # catching up: a backlog; a new run from here
            return False
        n += 1
        if n < CLOCK_FAULT_READINGS or wall - since < CLOCK_FAULT_S:
            self.stale_runs[s] = (since, first, n)
            return False
        del self.stale_runs[s]
        log.warning(
            "device %s: %d readings in %.0f s stamped from %s, more than %.0f s behind the "
            "server clock and keeping pace with it (a reset clock): stored at receipt time "
            "until its stamps are within that",
            self.index.owner(s),
            n,
            wall - since,
            iso(first),
            self.stale_s,
        )
        return True

    @staticmethod
    def _twice_window(dt: np.ndarray) -> np.ndarray:
        """How soon after its device's newest reading an equal one is a second delivery of
        it (s), for typical intervals ``dt`` (k,) (s, NaN: not known): :data:`TWICE_FRACTION`
        of the interval, at most :data:`TWICE_MAX_S` (that bound where the interval is not
        known). The batch path's test; :meth:`_twice` makes the same one in scalar Python."""
        with np.errstate(invalid="ignore"):
            return np.fmin(np.where(dt > 0.0, TWICE_FRACTION * dt, TWICE_MAX_S), TWICE_MAX_S)

    def _twice(self, s: int, ts: float, row: np.ndarray) -> bool:
        """Whether the reading (``ts`` epoch s, ``row`` (3,) as sent) of slot ``s`` is its
        device's newest reading delivered again (:data:`TWICE_FRACTION`): the same values
        as kept, stamped later by less than :meth:`_twice_window`. A device whose readings
        are stored at receipt time (a broken clock) is never judged so."""
        if self.on_receipt[s]:
            return False
        count = int(self.count[s])
        if count == 0:
            return False
        stamp = self.stamp_ts[s]  # a jump not placed yet is the newest stored reading
        newest = stamp if not math.isnan(stamp) else float(self.signals.states.last_ts[s])
        gap = ts - newest
        if not 0.0 < gap < TWICE_MAX_S:  # most readings end here (every reading comes here)
            return False
        typical = float(self.signals.states.dt[s])
        if typical > 0.0 and not gap < TWICE_FRACTION * typical:  # False for NaN: not known
            return False
        kept = self.values[s, (count - 1) % self.ring]
        return bool(np.array_equal(kept, Ring.as_stored(row), equal_nan=True))

    def _newest_row(self, slot: int) -> np.ndarray:
        """The values of the slot's newest stored reading, (3,) float32 as kept."""
        return np.array(self.values[slot, self._order(self._head(slice(slot, slot + 1)), 1)[0]][0])

    def _was_replaced(self, s: int, ts: float, row: np.ndarray, last: float, resend: bool) -> bool:
        """Whether the reading stamped ``ts`` with values ``row`` of slot ``s`` is its jump
        that an earlier reading replaced (:attr:`replaced`), sent again: stored already, it
        is a ``DUPLICATE``. Before, a gateway that resent a backlog oldest first as its
        refusal asks (the newest reading, held as the jump, among them) had that reading
        stored twice (final newcomer of 2 Dec); so did any reading resent at a replaced
        jump's stamp. Forgets the record once the time line (``last``) reaches the stamp."""
        rec = self.replaced.get(s)
        if rec is None:
            return False
        if last >= rec[0]:
            del self.replaced[s]
            return False
        return resend and ts == rec[0] and bool((rec[1] == Ring.as_stored(row)).all())

    def _same_as_tied(self, slot: int, row: np.ndarray) -> bool:
        """One of the slot's readings stored at its newest time stamp (:attr:`tied`; at
        least the newest) holds ``row``'s values (as float32, as kept)."""
        k = min(max(int(self.tied[slot]), 1), self.ring, int(self.count[slot]))
        if k == 0:
            return False
        rows = self.values[slot, self._order(self._head(slice(slot, slot + 1)), k)[0]]
        return bool((rows == Ring.as_stored(row)).all(axis=1).any())

    def _resent(
        self,
        slots: np.ndarray,
        known: np.ndarray,
        ts: np.ndarray,
        prior: np.ndarray,
        values: np.ndarray,
    ) -> np.ndarray:
        """Indices of readings that repeat one of their device's readings stored at its
        newest time stamp: the same ``ts`` and the same values (a gateway resending after a
        lost reply). Stored twice, the window would hold the reading twice and the rules
        would count it twice. All the readings at that stamp count (:attr:`tied`): against
        the newest alone, a resent batch of a device stamping 2 readings a second alike
        stored all but one of them again (newcomer of 2 Dec)."""
        same: np.ndarray = known[ts[known] == prior[known]]
        if same.size == 0:
            return same
        hit = [self._same_as_tied(int(slots[i]), values[i]) for i in same.tolist()]
        out: np.ndarray = same[np.array(hit, dtype=bool)]
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
        """(m,) bool: warm signal and on the stride, from SignalBank.learn's (m, 6) output."""
        n = sig[:, 5]
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
        tie = (ts == self.signals.states.view("last_ts")[slots]) & (self.tied[slots] > 0)
        self.tied[slots] = np.where(tie, np.minimum(self.tied[slots].astype(np.int64) + 1, 255), 1)
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
            sig[due, :5],
        )

    def _store_run(
        self, slot: int, ts: np.ndarray, vals: np.ndarray, *, windows: bool = True
    ) -> WindowBatch | None:
        """Several readings of one slot, in time order; the windows due (None when
        ``windows`` is False)."""
        r, w, m = self.ring, self.window, len(ts)
        head = int(self.count[slot] % r)
        history = np.concatenate(
            (self.values[slot, head:], self.values[slot, :head], Ring.as_stored(vals))
        )
        k = min(m, r)  # only the last r readings of a long run stay in the ring
        self.values[slot, (head + m - k + np.arange(k)) % r] = vals[-k:]
        at_end = int(np.count_nonzero(ts == ts[-1]))  # the run is in time order
        before = int(self.tied[slot])
        if at_end == m and before and ts[-1] == self.signals.states.last_ts[slot]:
            at_end += before
        self.tied[slot] = min(at_end, 255)
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
            sig[due, :5],
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
        self.tied[slot] = 1 if count else 0  # not in the snapshot: the newest alone
        self.last_seen[slot] = self.clock()
        return slot

    def snapshot(self, slot: int) -> np.ndarray:
        """Copy of a slot's last ``window`` readings, oldest first: shape (window, 3), float32."""
        order = self._order(self._head(slice(slot, slot + 1)), self.window)[0]
        rows: np.ndarray = self.values[slot, order]
        return rows

    def newest(self, device_id: str) -> np.ndarray | None:
        """The device's newest stored reading, (3,) float32 gas, °C, %RH; None when it has
        none (unknown, or only :meth:`heard`)."""
        slot = self.index.get(device_id)
        if slot is None or self.count[slot] == 0:
            return None
        row: np.ndarray = self.values[slot, (int(self.count[slot]) - 1) % self.ring]
        return row

    def info(self, device_id: str) -> dict[str, object] | None:
        """Fill, last reading and signal model of a device, or None when unknown or when
        none of its readings is stored (a device only :meth:`heard`)."""
        slot = self.index.get(device_id)
        if slot is None or self.count[slot] == 0:  # no reading stored yet (:meth:`heard`)
            return None
        n = int(self.count[slot])
        last = self.values[slot, (int(self.count[slot]) - 1) % self.ring]
        axis = self.axes.get(device_id)
        sent = last[0] if axis is None else np.float32(sent_gas(float(last[0]), axis))
        clipped = self.below_zero.get(device_id) if self.below_zero else None
        if clipped is not None and clipped[0] == float(self.signals.states.last_ts[slot]):
            sent = np.float32(clipped[1])  # a %LEL reading under 0, shown as sent
        return {
            "readings_seen": n,
            "buffer_fill": min(n, self.window),
            "window": self.window,
            "last_ts": float(self.signals.states.last_ts[slot]),
            "last_reading": {
                "gas_ppm": as_sent(sent),
                "temperature_c": as_sent(last[1]),
                "humidity_pct": as_sent(last[2]),
            },
            "signal": self.signals.info(device_id, float(last[0]), float(last[1]), float(last[2])),
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
        """Bytes held by the ring arrays and the time line's columns (21 B a slot)."""
        cols = (self.stamp_ts, self.stall_since, self.stall_n, self.on_receipt)
        return sum(a.nbytes for a in (self.values, self.count, self.last_seen, *cols))
